"""Controller scale bench (issue 17): the real controller, as a process in Kubernetes mode, over the
API-server double with N ComputeClusters, most idle.

Half the clusters are Spark, half Flink, one user each; a tenth of the Spark ones have a driver
that wants executors. Prometheus is a stand-in that answers the controller's nine queries (the
same for every loop: "steady" means no spec and no demand change); the double plays the kubelet.
Figures per N: loop duration (each loop's, from the controller's own histogram), API requests
per loop while the clusters come up and once steady, status writes per steady loop, Prometheus
queries per loop, the controller's RSS, and the policy's time for N decisions in this process.
It is a double, not a cluster: the API server's own cost is not what a real one would be.

``python -m benchmarks.controller_scale [--clusters 1000 ...] [--json out.json]``. Bringing N
clusters up takes about six requests each through the double (16 clusters at a time): at
10,000, nine minutes of the run on a loaded 2-core machine (README, "The controller at scale").
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import re
import statistics
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
from prometheus_client.parser import text_string_to_metric_families

from autoscaler.policy.decision import ClusterState
from autoscaler.policy.hold import decide_or_hold
from autoscaler.policy.hubscale import DEFAULT_POLICY
from autoscaler.policy.signals import SparkSignal
from autoscaler.readers import signal_queries as queries
from benchmarks.results import write_json
from hubscale import processes
from hubscale.ports import free_port
from tests.builders import cluster_document, cluster_spec
from tests.kube.apiserver import ApiServerDouble
from tests.kube.controller import controller_process
from tests.kube.fixtures import NAMESPACE
from tests.support import wait_for

ACTIVE_SHARE = 0.1  # of the Spark clusters: a driver wants executors
LOOP_S = 2.0
STEADY_LOOPS = 5
CONVERGE_TIMEOUT_S = 3600.0
# Past the first statuses, the wait for every head to run (the double's kubelet, then one more
# status write per cluster): at 10,000 clusters on a loaded machine it took longer than the rest
# of the run, so the steady loops start after this at the latest and the run says it.
SETTLE_LIMIT_S = 300.0
LOOP_METRIC = "hubscale_controller_loop_duration_seconds"
STATUS_WRITE = re.compile(r"^(PUT|PATCH) .*/computeclusters/[^/?]+/status")


@dataclass
class Run:
    """What one size measured; "steady": loops with no spec and no demand change."""

    clusters: int
    loop_p50_s: float
    loop_p95_s: float
    api_calls_per_loop: float  # while the clusters came up (first status of every cluster)
    api_calls_per_loop_steady: float
    prometheus_queries_per_loop: float
    status_writes_per_loop_steady: float
    controller_cpu_s_per_loop_steady: float  # the controller's own CPU, apart from the double's
    controller_rss_mib: float
    decide_ms: float
    converge_s: float
    settled: bool  # every head ran and every cluster had its workers before the steady loops


def cluster_names(count: int) -> list[tuple[str, str]]:
    """(name, engine) of each cluster: half Spark, half Flink; user ``uNNNNN`` has one of each."""
    spark = [(f"u{index:05d}-spark", "spark") for index in range(count - count // 2)]
    return spark + [(f"u{index:05d}-flink", "flink") for index in range(count // 2)]


class _Server(ThreadingHTTPServer):
    """Room for the controller's nine queries at once: with the default listen backlog (5)
    the kernel drops the others' SYNs and they retry a second later (each loop took >= 1 s)."""

    request_queue_size = 64


class StandInPrometheus:
    """Answers the controller's instant queries from fixed per-cluster values; counts them."""

    def __init__(self, clusters: list[tuple[str, str]], active_share: float = ACTIVE_SHARE) -> None:
        spark = [name for name, engine in clusters if engine == "spark"]
        flink = [name for name, engine in clusters if engine == "flink"]
        active = spark[: math.ceil(len(spark) * active_share)]
        self.answers: dict[str, Mapping[str, float]] = {
            queries.SPARK_NEEDED_EXECUTORS: dict.fromkeys(active, 2.0),
            queries.SPARK_WAITING_APPS: dict.fromkeys(spark, 0.0),
            queries.FLINK_JOBS: dict.fromkeys(flink, 0.0),
            queries.FLINK_RUNNING_JOBS: dict.fromkeys(flink, 0.0),
        }
        self.queries = 0
        self.lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def answer(self, promql: str) -> dict:
        with self.lock:
            self.queries += 1
        values = self.answers.get(promql, {})
        result = [
            {"metric": {"cluster": name}, "value": [time.time(), repr(value)]}
            for name, value in values.items()
        ]
        return {"status": "success", "data": {"resultType": "vector", "result": result}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._reply(parse_qs(urlparse(self.path).query))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                self._reply(parse_qs(self.rfile.read(length).decode()))

            def _reply(self, params: dict[str, list[str]]) -> None:
                body = json.dumps(stand_in.answer(params.get("query", [""])[0])).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        return Handler

    @contextlib.contextmanager
    def running(self) -> Iterator[StandInPrometheus]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()


class LoopWatch:
    """Each controller loop's duration, read off its /metrics histogram (count and sum)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.durations: list[float] = []
        self.count, self.sum = 0.0, 0.0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def loops(self) -> int:
        return int(self.count)

    def _run(self) -> None:
        # Twice a second: a loop is at least the 2 s interval apart from the next, and at
        # 10,000 clusters each read renders 20,000 series in the controller.
        while not self.stopped.wait(0.5):
            with contextlib.suppress(httpx.HTTPError):
                count, total = self._read()
                if count > self.count:
                    loops = count - self.count
                    self.durations += [(total - self.sum) / loops] * int(loops)
                    self.count, self.sum = count, total

    def _read(self) -> tuple[float, float]:
        text = httpx.get(self.url, timeout=5.0).text
        samples = {
            sample.name: sample.value
            for family in text_string_to_metric_families(text)
            if family.name == LOOP_METRIC
            for sample in family.samples
        }
        return samples.get(f"{LOOP_METRIC}_count", 0.0), samples.get(f"{LOOP_METRIC}_sum", 0.0)

    @contextlib.contextmanager
    def watching(self) -> Iterator[LoopWatch]:
        self.thread.start()
        try:
            yield self
        finally:
            self.stopped.set()
            self.thread.join()


@contextlib.contextmanager
def kubelet(double: ApiServerDouble) -> Iterator[None]:
    """Pods for every Deployment's replicas, Running, every other second."""
    stopped = threading.Event()

    def play() -> None:
        while not stopped.wait(2.0):
            double.play_kubelet(NAMESPACE)

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopped.set()
        thread.join()


def start_controller(double: ApiServerDouble, prometheus_url: str, directory: Path) -> tuple:
    """The controller process at the platform's loop interval; (process, its /metrics URL)."""
    listen = f"127.0.0.1:{free_port()}"
    process = controller_process(
        double, directory, "controller",
        "--no-leader-election", "--prometheus-url", prometheus_url, "--interval", str(LOOP_S),
        "--listen", listen, "--log-level", "WARNING",
    )  # fmt: skip
    return process, f"http://{listen}/metrics"


def settle_within(double: ApiServerDouble, process: subprocess.Popen, limit_s: float) -> bool:
    """Wait until ``settled``, at most ``limit_s``; whether it did."""
    try:
        wait_for(lambda: process.poll() is not None or settled(double), timeout_s=limit_s)
    except AssertionError:
        return False
    return process.poll() is None


def wait_until(condition, process: subprocess.Popen) -> None:
    """``tests.support.wait_for`` on ``condition``, failing at once if the controller exits."""

    def running_and() -> object:
        if process.poll() is not None:
            raise RuntimeError(f"the controller exited with {process.returncode}")
        return condition()

    wait_for(running_and, timeout_s=CONVERGE_TIMEOUT_S, every_s=0.5)


def phases(double: ApiServerDouble) -> Counter[str | None]:
    """Each cluster's status phase, counted. Read in place under the store's lock: a listing
    sorts every object of every kind and deep-copies the clusters (tens of thousands at 10,000
    clusters, twice a second, while the double's requests wait for that lock)."""
    with double.store.lock:
        return Counter(
            obj.get("status", {}).get("phase")
            for (plural, _, _), obj in double.store.objects.items()
            if plural == "computeclusters"
        )


def all_have_status(double: ApiServerDouble) -> bool:
    return phases(double)[None] == 0


def settled(double: ApiServerDouble) -> bool:
    """Every head's pod runs and every cluster has the workers it wants (at 10,000 clusters the
    double's kubelet takes minutes past the first statuses)."""
    counted = phases(double)
    return counted["Pending"] == counted["Scaling"] == counted[None] == 0


def decide_ms(count: int) -> float:
    """The policy's time for ``count`` decisions (one loop's worth), in this process."""
    now = time.time()
    specs = [cluster_spec("spark", f"u{index}") for index in range(count)]
    signal = SparkSignal(sampled_at=now - 1.0, needed_executors=0.0, waiting_apps=0.0)
    state = ClusterState(workers=0, desired=0)
    started = time.perf_counter()
    for spec in specs:
        decide_or_hold(DEFAULT_POLICY, spec, signal, state, now)
    return (time.perf_counter() - started) * 1000


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 30 s: a controller slow to stop must not lose the figures."""
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(30)


def status_writes(double: ApiServerDouble) -> int:
    return sum(1 for request in list(double.requests) if STATUS_WRITE.match(request))


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(count: int, directory: Path, say=print) -> Run:
    clusters = cluster_names(count)
    prometheus = StandInPrometheus(clusters)
    with ApiServerDouble(history_limit=10 * count + 1000) as double, prometheus.running():
        for name, engine in clusters:
            owner = name.rsplit("-", 1)[0]
            double.create("computeclusters", NAMESPACE, cluster_document(name, engine, owner))
        process, metrics_url = start_controller(double, prometheus.url, directory)
        try:
            with kubelet(double), LoopWatch(metrics_url).watching() as watch:
                started = time.monotonic()
                wait_until(lambda: all_have_status(double), process)
                converge_s = time.monotonic() - started
                up_requests, up_loops = len(double.requests), max(watch.loops(), 1)
                say(f"  {count} clusters: every status written after {converge_s:.0f} s")
                calm = settle_within(double, process, SETTLE_LIMIT_S)
                settle = watch.loops() + 3  # the statuses that say so are written
                wait_until(lambda: watch.loops() >= settle, process)
                first = watch.loops()
                requests, writes = len(double.requests), status_writes(double)
                asked, cpu = prometheus.queries, processes.cpu_s(process.pid) or 0.0
                steady_end = first + STEADY_LOOPS
                wait_until(lambda: watch.loops() >= steady_end, process)
                loops = watch.loops() - first
                cpu_per_loop = ((processes.cpu_s(process.pid) or 0.0) - cpu) / loops
                rss = (processes.rss_kib(process.pid) or 0) / 1024
                return Run(
                    clusters=count,
                    loop_p50_s=round(statistics.median(watch.durations[first:]), 3),
                    loop_p95_s=round(quantile(watch.durations[first:], 0.95), 3),
                    api_calls_per_loop=round(up_requests / up_loops, 1),
                    api_calls_per_loop_steady=round((len(double.requests) - requests) / loops, 1),
                    prometheus_queries_per_loop=round((prometheus.queries - asked) / loops, 1),
                    status_writes_per_loop_steady=round(
                        (status_writes(double) - writes) / loops, 1
                    ),
                    controller_cpu_s_per_loop_steady=round(cpu_per_loop, 2),
                    controller_rss_mib=round(rss, 0),
                    decide_ms=round(decide_ms(count), 1),
                    converge_s=round(converge_s, 1),
                    settled=calm,
                )
        finally:
            stop(process)


# The printed table: header, Run field, width, format.
COLUMNS = (
    ("clusters", "clusters", 8, "d"),
    ("loop p50 s", "loop_p50_s", 10, ".2f"),
    ("p95 s", "loop_p95_s", 7, ".2f"),
    ("API/loop", "api_calls_per_loop", 9, ".0f"),
    ("steady", "api_calls_per_loop_steady", 7, ".0f"),
    ("writes", "status_writes_per_loop_steady", 7, ".0f"),
    ("CPU s", "controller_cpu_s_per_loop_steady", 6, ".2f"),
    ("PromQL", "prometheus_queries_per_loop", 6, ".0f"),
    ("RSS MiB", "controller_rss_mib", 8, ".0f"),
    ("decide ms", "decide_ms", 9, ".1f"),
)


def run_sizes(argv: list[str] | None, prog: str, description: str | None, measure) -> list:
    """``--clusters N ...`` and ``--json``: ``measure(count, directory, say)`` per size, each in a
    temporary directory of its own, printed as JSON as it ends; the runs (also written out)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--clusters", type=int, nargs="+", default=[1000])
    parser.add_argument("--json", type=Path, help="also write the runs here")
    args = parser.parse_args(argv)
    runs = []
    for count in args.clusters:
        with tempfile.TemporaryDirectory(prefix="hubscale-controller-bench-") as directory:
            runs.append(measure(count, Path(directory), functools.partial(print, flush=True)))
        print(json.dumps(asdict(runs[-1])), flush=True)
    write_json(args.json, {"runs": [asdict(r) for r in runs]})
    return runs


def main(argv: list[str] | None = None) -> None:
    runs = run_sizes(argv, "python -m benchmarks.controller_scale", __doc__, run)
    print(" ".join(f"{header:>{width}}" for header, _, width, _ in COLUMNS))
    for r in runs:
        print(" ".join(f"{getattr(r, field):>{width}{form}}" for _, field, width, form in COLUMNS))


if __name__ == "__main__":
    main()
