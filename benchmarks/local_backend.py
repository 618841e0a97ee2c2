"""``python -m benchmarks.local_backend``: the local backend measured with real JVMs.

1. Worker JVM start: a Spark worker process started -> registered with its master (median of 3).
2. Scale from zero: a driver starts a session on a 0-worker cluster under the real controller and
   submits a job at once -> its first task runs; printed next to (1) as a ratio and a difference
   (target: <= JVM start + 3 s). The session's registration is what wakes the cluster (the
   master's waiting app), so its worker starts while the driver finishes its own start.
3. Memory: RSS of an idle Spark master and worker, Flink JobManager and TaskManager, the
   controller; how many idle users (their clusters at zero workers) fit in 24 GiB.

Prometheus scrapes every second and the controller loops every second, as in ``make up``.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from autoscaler.backends.local.spark import cds_dir, master_state
from autoscaler.backends.local.spark_cds import ROLES, SWITCH, archive
from hubscale import flink_tls, processes
from hubscale.engines import spark_client_env, spark_python
from hubscale.ports import free_port
from hubscale.prometheus_server import PrometheusServer
from hubscale.spec import parse_cluster
from hubscale.state_dir import client_file, runtime_dir
from hubscale.store import LocalClusterStore

MACHINE_GIB = 24
ZERO_RUNS = 3  # scale from zero is measured this many times; the median run is reported
FIRST_TASK_DRIVER = """
import time
began = time.time()
import datetime, json, urllib.request
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("bench-scale-from-zero").getOrCreate()
submitted = time.time()
first = spark.sparkContext.parallelize(range(8), 8).map(lambda _: time.time()).min()
print("LATENCY", first - submitted)
sc = spark.sparkContext
url = f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}/executors"
executors = [e for e in json.load(urllib.request.urlopen(url)) if e["id"] != "driver"]
added = min(
    datetime.datetime.strptime(e["addTime"], "%Y-%m-%dT%H:%M:%S.%f%Z")
    .replace(tzinfo=datetime.timezone.utc).timestamp()
    for e in executors
)
print("PHASES", began, submitted, added, first)
spark.stop()
"""


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait(condition, timeout_s: float, every_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    raise TimeoutError(f"not within {timeout_s} s")


def measure(work: Path, class_data_sharing: bool = True, flink: bool = True) -> dict[str, float]:
    """The figures of one run; ``class_data_sharing`` False starts Spark's JVMs without their
    archives (``HUBSCALE_SPARK_CDS=off``), the baseline."""
    work.mkdir(parents=True, exist_ok=True)
    prometheus = PrometheusServer(work / "prometheus", free_port(), scrape_interval_s=1.0).start()
    state = work / "state"
    store = LocalClusterStore(state)
    controller = subprocess.Popen(
        [
            sys.executable, "-m", "autoscaler", "--state-dir", str(state),
            "--file-sd-dir", str(prometheus.file_sd_dir), "--prometheus-url", prometheus.url,
            "--interval", "1", "--listen", f"127.0.0.1:{free_port()}",
        ],
        stdout=open(work / "controller.log", "ab"),  # noqa: SIM115 - the child keeps it
        stderr=subprocess.STDOUT,
        env={**os.environ, SWITCH: "on" if class_data_sharing else "off"},
    )  # fmt: skip
    try:
        figures = _spark_figures(store, state)
        if flink:
            figures.update(_flink_figures(store, state))
        figures["controller_rss_mib"] = rss_mib(controller.pid)
        return figures
    finally:
        for name in (SPARK, FLINK):
            store.delete(name)
        wait(lambda: not _leftovers(store), 90, 0.5)
        controller.terminate()
        controller.wait(30)
        for pid in _leftovers(store):
            processes.kill_group(pid)
        prometheus.stop()


SPARK, FLINK = "bench-spark", "bench-flink"


# Longer than a driver's own start here (~10 s on 2 busy cores): the worker its session's
# registration started must not be released as idle before the session's first job.
IDLE_TIMEOUT_S = 30


def _document(name: str, engine: str, min_workers: int = 0) -> dict:
    spec = {
        "owner": "bench", "engine": engine, "minWorkers": min_workers, "maxWorkers": 2,
        "worker": {"cores": 1, "memory": "1Gi"}, "idleTimeoutSeconds": IDLE_TIMEOUT_S,
    }  # fmt: skip
    return {"metadata": {"name": name}, "spec": spec}


def _spark_figures(store: LocalClusterStore, state: Path) -> dict[str, float]:
    store.apply(parse_cluster(_document(SPARK, "spark")))
    client = wait(lambda: _client(state, SPARK), 60)
    master_ui = client["master_ui"]
    wait(lambda: master_state(master_ui) is not None, 60)
    time.sleep(3)  # master settled
    figures = {"master_idle_rss_mib": rss_mib(_leader(store, SPARK, "master"))}
    runs = sorted(
        (_scale_from_zero(store, client) for _ in range(ZERO_RUNS)),
        key=lambda run: run["scale_from_zero_s"],
    )
    figures.update(runs[len(runs) // 2])  # the median run, with its phases
    starts = [_worker_start_s(store, master_ui) for _ in range(3)]
    figures["worker_jvm_start_s"] = statistics.median(starts)
    store.apply(parse_cluster(_document(SPARK, "spark", min_workers=1)))
    wait(lambda: (master_state(master_ui) or {}).get("aliveworkers") == 1, 60, 0.5)
    time.sleep(3)
    (worker_pid,) = _workers(store, SPARK).values()
    figures["worker_idle_rss_mib"] = rss_mib(worker_pid)
    store.delete(SPARK)
    return figures


def _scale_from_zero(store: LocalClusterStore, client: dict[str, str]) -> dict[str, float]:
    """One job on the cluster at zero workers: its latency to the first task, and the phases."""
    result = subprocess.run(
        [str(spark_python()), "-c", FIRST_TASK_DRIVER],
        env={**os.environ, **spark_client_env(Path(client["conf_dir"]))},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    latency = [line for line in result.stdout.splitlines() if line.startswith("LATENCY")]
    phases = [line for line in result.stdout.splitlines() if line.startswith("PHASES")]
    if not latency or not phases:
        raise RuntimeError(f"driver failed: {result.stderr[-2000:]}")
    # The first worker (the job may have asked for a second); still there: the idle timeout.
    ages = [processes.age_s(pid) or 0.0 for pid in _workers(store, SPARK).values()]
    worker_started = time.time() - max(ages)
    began, submitted, added, first = (float(word) for word in phases[0].split()[1:])
    wait(lambda: not _workers(store, SPARK), 300, 0.5)  # back to zero after the idle timeout
    return {
        "scale_from_zero_s": float(latency[0].split()[1]),
        "zero_session_to_task_s": first - began,
        "zero_detect_s": worker_started - submitted,
        "zero_worker_to_executor_s": added - worker_started,
        "zero_executor_to_task_s": first - added,
    }


def _flink_figures(store: LocalClusterStore, state: Path) -> dict[str, float]:
    """Idle JobManager and TaskManager (registered, no job)."""
    store.apply(parse_cluster(_document(FLINK, "flink", min_workers=1)))
    client = wait(lambda: _client(state, FLINK), 60)
    wait(lambda: _taskmanagers(client) == ["w0"], 300, 0.5)
    time.sleep(3)  # settled after the registration
    return {
        "jobmanager_idle_rss_mib": rss_mib(_leader(store, FLINK, "jobmanager")),
        "taskmanager_idle_rss_mib": rss_mib(_leader(store, FLINK, "taskmanager-w0")),
    }


def _prefix(store: LocalClusterStore, name: str) -> str:
    """The marker prefix of a cluster's processes: its runtime directory."""
    return f"{runtime_dir(store.state_dir, name)}/"


def _leader(store: LocalClusterStore, name: str, role: str) -> int | None:
    """The JVM we started for this role."""
    marker = _prefix(store, name) + role
    return processes.group_leaders(marker).get(marker)


def _leftovers(store: LocalClusterStore) -> dict[int, str]:
    return {**processes.marked(_prefix(store, SPARK)), **processes.marked(_prefix(store, FLINK))}


def _worker_start_s(store: LocalClusterStore, master_ui: str) -> float:
    """minWorkers 0 -> 1 and back: time from the worker process's start to its registration."""
    store.apply(parse_cluster(_document(SPARK, "spark", min_workers=1)))
    (pid,) = wait(lambda: _workers(store, SPARK).values(), 60, 0.01)
    started = time.time() - (processes.age_s(pid) or 0.0)
    wait(lambda: (master_state(master_ui) or {}).get("aliveworkers") == 1, 60, 0.02)
    registered = time.time()
    store.apply(parse_cluster(_document(SPARK, "spark")))
    wait(lambda: not _workers(store, SPARK), 120, 0.5)
    wait(lambda: (master_state(master_ui) or {}).get("aliveworkers") == 0, 60, 0.5)
    return registered - started


def _workers(store: LocalClusterStore, name: str) -> dict[str, int]:
    return processes.group_leaders(_prefix(store, name) + "worker-")


def _client(state: Path, name: str) -> dict | None:
    try:
        return json.loads(client_file(runtime_dir(state, name)).read_text())
    except (OSError, ValueError):
        return None


def _taskmanagers(client: dict) -> list[str]:
    """The TaskManagers the JobManager knows, asked with the cluster's REST credential."""
    tls = flink_tls.load(Path(client["rest_tls_dir"]))
    if tls is None:
        return []
    url = f"{client['rest_url']}/taskmanagers"
    try:
        answer = httpx.get(url, timeout=2, verify=flink_tls.client_context(tls)).json()
        return [tm["id"] for tm in answer["taskmanagers"]]
    except (httpx.HTTPError, ssl.SSLError, ValueError, KeyError, TypeError):
        return []


MEMORY_ROWS = (
    ("idle Spark master", "master_idle_rss_mib"),
    ("idle Spark worker", "worker_idle_rss_mib"),
    ("idle Flink JobManager", "jobmanager_idle_rss_mib"),
    ("idle Flink TaskManager", "taskmanager_idle_rss_mib"),
    ("controller", "controller_rss_mib"),
)


def report(figures: dict[str, float], baseline: dict[str, float] | None = None) -> str:
    """The figures; with ``baseline`` (no class-data sharing) beside them as ratios."""
    jvm = figures["worker_jvm_start_s"]
    zero = figures["scale_from_zero_s"]
    idle_user_mib = figures["master_idle_rss_mib"] + figures["jobmanager_idle_rss_mib"]
    fits = int(MACHINE_GIB * 1024 // idle_user_mib)
    title = "local backend (real JVMs; Prometheus scrape 1 s, controller loop 1 s"
    title += "; Spark JVMs with class-data sharing)" if baseline else ")"
    lines = [
        title,
        f"  {'Spark worker JVM start -> registered':38} {jvm:6.1f} s (median of 3)",
        f"  {'scale from zero: job -> first task':38} {zero:6.1f} s = {zero / jvm:.2f} x JVM"
        f" start ({zero - jvm:+.1f} s; target <= +3 s; median of {ZERO_RUNS})",
        f"    {'driver began -> first task':36} {figures['zero_session_to_task_s']:6.1f} s"
        " (the session's own JVM start included)",
        f"    {'job submitted -> worker process started':36} {figures['zero_detect_s']:6.1f} s"
        " (< 0: started at the session's registration)",
        f"    {'worker process -> executor added':36} {figures['zero_worker_to_executor_s']:6.1f} s"
        " (worker JVM, registration, executor JVM)",
        f"    {'executor added -> first task ran':36} {figures['zero_executor_to_task_s']:6.1f} s"
        " (task launch, Python worker)",
    ]
    lines += [f"  {label + ' RSS':38} {figures[key]:6.0f} MiB" for label, key in MEMORY_ROWS]
    lines.append(f"  idle users (clusters at zero workers) in {MACHINE_GIB} GiB: {fits}")
    if baseline:
        lines.append("  without class-data sharing (same run), and this run's ratio to it:")
        for label, key, unit in BASELINE_ROWS:
            before, after = baseline[key], figures[key]
            lines.append(f"    {label:36} {before:6.1f} {unit} -> {after / before:.2f} x")
    return "\n".join(lines)


BASELINE_ROWS = (
    ("Spark worker JVM start", "worker_jvm_start_s", "s"),
    ("scale from zero: job -> first task", "scale_from_zero_s", "s"),
    ("idle Spark master RSS", "master_idle_rss_mib", "MiB"),
    ("idle Spark worker RSS", "worker_idle_rss_mib", "MiB"),
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.local_backend")
    parser.add_argument("--out", type=Path, default=Path("bench/results/local.json"))
    args = parser.parse_args(argv)
    archives = all(archive(cds_dir(), role).is_file() for role in ROLES)
    with tempfile.TemporaryDirectory(prefix="hubscale-bench-") as work:
        figures = measure(Path(work) / "cds")
        baseline = measure(Path(work) / "plain", False, flink=False) if archives else None
    if not archives:
        print(f"(no class-data sharing archives in {cds_dir()}: `make install` makes them)")
    print(report(figures, baseline))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({**figures, "without_cds": baseline}, indent=1))


if __name__ == "__main__":
    main()
