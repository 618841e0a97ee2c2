"""The fault matrix: each row is a fault, how it is injected, and the outcome that must hold.

Every row also checks "nothing lost": a job that runs gives its exact result, no JVM is orphaned or
duplicated (real processes counted by their markers, ``hubscale.processes``), no object is lost.
Rows share what is expensive: one controller on one state directory for the local rows (behind a
Prometheus proxy that can go down, answer garbage or stall), the session's Prometheus; each
Kubernetes row gets a fresh API-server double (in-process, milliseconds). Rows marked ``slow`` run
real JVMs; ``make test`` runs them all.

Elsewhere, on purpose: one user's JobManager answering garbage or hanging is pinned with fakes in
tests/unit/test_controller.py (a real JobManager cannot be made to lie); the hub restarted while
servers run is tests/integration/test_hub.py's killed-platform test (it needs that module's hub
and user); 20 concurrent spawns are the hub bench's job (``python -m benchmarks.login --users
20``), too slow for the suite on 2 cores.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from autoscaler.backends.kubernetes.backend import KubernetesBackend
from autoscaler.backends.kubernetes.objects import KubeClusterObjects
from autoscaler.controller.status import status_after
from autoscaler.policy.decision import Decision
from hubscale import processes
from hubscale.prometheus_server import PrometheusServer
from hubscale.spec import ComputeClusterStatus, parse_cluster
from hubscale.state_dir import clusters_dir, pid_dir, runtime_dir
from hubscale.store import LocalClusterStore
from tests.integration.controller_fixtures import (
    EXPECTED,
    LocalPlatform,
    run_driver,
    status_workers,
)
from tests.integration.flink_fixtures import (
    client_tls,
    rest_call,
    running_on_all_slots,
    submit,
    taskmanagers,
)
from tests.kube.apiserver import ApiServerDouble, resource
from tests.kube.fixtures import (
    NAMESPACE,
    create_cluster,
    eventually,
    run_backend,
    run_objects,
    running_double,
)
from tests.support import free_port, wait_for

SMALL_WORKER = {"cores": 1, "memory": "1Gi"}
PROMETHEUS_TIMEOUT_S = 5.0  # the controller's client timeout (readers.prometheus)


# The faults' injectors


class PrometheusFaults:
    """A proxy in front of the session's Prometheus that passes, drops connections ("down"),
    answers an HTML page ("garbage") or stalls past the controller's timeout ("slow")."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.mode = "pass"
        faults = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                faults.answer(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> PrometheusFaults:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        mode = self.mode
        if mode == "down":
            request.close_connection = True
            return  # no answer at all: the client sees the connection closed
        if mode == "garbage":
            self._reply(request, 200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
            return
        if mode == "slow":
            time.sleep(PROMETHEUS_TIMEOUT_S + 2)
        upstream = httpx.get(self.upstream + request.path, timeout=10)
        content_type = upstream.headers.get("content-type", "application/json")
        self._reply(request, upstream.status_code, upstream.content, content_type)

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, body: bytes, kind: str) -> None:
        try:
            request.send_response(status)
            request.send_header("Content-Type", kind)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        except OSError:
            pass  # the client gave up first (a stalled answer)


@dataclass
class LocalRig:
    """The local rows' platform: one controller for the module, its Prometheus behind faults."""

    platform: LocalPlatform
    faults: PrometheusFaults
    tmp_path: Path

    def prometheus_errors(self, kind: str) -> float:
        """The controller's count of Prometheus failures of this kind so far."""
        metrics = httpx.get(self.platform.url("/metrics"), timeout=5).text
        counter = f'hubscale_controller_prometheus_errors_total{{kind="{kind}"}} '
        line = next((line for line in metrics.splitlines() if line.startswith(counter)), None)
        return 0.0 if line is None else float(line.removeprefix(counter))


@pytest.fixture(scope="module")
def local_rig(
    prometheus: PrometheusServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalRig]:
    faults = PrometheusFaults(prometheus.url).start()
    state_dir = tmp_path_factory.mktemp("fault-matrix") / "state"
    platform = LocalPlatform(
        state_dir, prometheus, LocalClusterStore(state_dir), prometheus_url=faults.url
    )
    platform.start_controller()
    try:
        yield LocalRig(platform, faults, tmp_path_factory.mktemp("drivers"))
    finally:
        platform.kill_controller(signal.SIGTERM)
        for pid in platform.leftovers():
            processes.kill_group(pid)
        faults.stop()


@pytest.fixture
def local(local_rig: LocalRig) -> Iterator[LocalRig]:
    """The shared platform for one row; afterwards every cluster is deleted and every one of its
    processes must be gone (no orphan), with Prometheus and the controller healthy again."""
    yield local_rig
    platform = local_rig.platform
    local_rig.faults.mode = "pass"
    if platform.process is None or platform.process.poll() is not None:
        platform.start_controller()
    for stored in platform.store.list():
        platform.store.delete(stored.name)
    for path in clusters_dir(platform.state_dir).glob("*.yaml"):
        path.unlink()  # malformed documents the store cannot name
    wait_for(lambda: not platform.leftovers(), timeout_s=90)
    wait_for(lambda: not platform.store.list(), timeout_s=30)


@pytest.fixture
def apiserver() -> Iterator[ApiServerDouble]:
    with running_double() as double:
        yield double


# The rows' checks: local platform, real JVMs


def hold_without_metrics(mode: str, kind: str) -> Callable[[LocalRig], None]:
    """Prometheus fails as ``mode``: the worker is held (no scale-down without metrics), the
    error is counted as ``kind``; when Prometheus is back, scaling resumes."""

    def check(rig: LocalRig) -> None:
        platform, name = rig.platform, f"prom-{mode}"
        platform.apply(name, minWorkers=1, maxWorkers=2, worker=SMALL_WORKER)
        wait_for(lambda: status_workers(platform, name) == 1, timeout_s=90)
        (worker,) = platform.worker_pids(name).values()
        errors_before = rig.prometheus_errors(kind)
        rig.faults.mode = mode
        # Nothing needs the worker now and the idle timeout is long gone: without metrics the
        # controller must still keep it.
        platform.apply(name, minWorkers=0, maxWorkers=2, worker=SMALL_WORKER, idleTimeoutSeconds=0)
        wait_for(lambda: "Prometheus" in platform.status(name).reason, timeout_s=60)
        held_until = time.monotonic() + 3 * PROMETHEUS_TIMEOUT_S
        while time.monotonic() < held_until:
            status = platform.status(name)
            assert (status.workers, status.desired) == (1, 1), status
            assert list(platform.worker_pids(name).values()) == [worker]  # the same JVM
            time.sleep(0.5)
        assert "no scale-down without metrics" in platform.status(name).reason
        assert rig.prometheus_errors(kind) > errors_before

        rig.faults.mode = "pass"
        wait_for(lambda: status_workers(platform, name) == 0, timeout_s=90)
        wait_for(lambda: not platform.worker_pids(name), timeout_s=60)

    return check


def recorded_jvms(platform: LocalPlatform, name: str) -> dict[str, int]:
    """The cluster's JVMs the controller had recorded in pid files (what a restart adopts)."""
    pids = pid_dir(runtime_dir(platform.state_dir, name))
    prefix = platform.prefix(name)
    return {
        marker: pid
        for marker, pid in platform.jvm_leaders(name).items()
        if processes.running_pid(pids / f"{marker.removeprefix(prefix)}.pid") == pid
    }


def settles(platform: LocalPlatform, name: str, roles: list[str]) -> dict[str, int]:
    """Wait until exactly ``roles`` run for the cluster and stay so for a few loops."""
    expected = sorted(platform.prefix(name) + role for role in roles)
    wait_for(lambda: sorted(platform.jvm_leaders(name)) == expected, timeout_s=90)
    wait_for(lambda: status_workers(platform, name) == len(roles) - 1, timeout_s=60)
    seen = platform.jvm_leaders(name)
    time.sleep(3)  # a few more loops of 1 s: nothing else may start or stop
    assert platform.jvm_leaders(name) == seen
    return seen


def controller_killed_mid_scale_up(rig: LocalRig) -> None:
    platform, name = rig.platform, "killed-up"
    platform.apply(name, minWorkers=2, maxWorkers=2, worker=SMALL_WORKER)
    wait_for(lambda: platform.worker_pids(name), timeout_s=90, every_s=0.05)  # the first worker
    platform.kill_controller(signal.SIGKILL)
    # A JVM started but not yet recorded is stopped and started again by design: not "before".
    before = recorded_jvms(platform, name)
    assert platform.prefix(name) + "master" in before

    platform.start_controller()
    after = settles(platform, name, ["master", "worker-w0", "worker-w1"])
    for marker, pid in before.items():
        assert after[marker] == pid  # adopted, not restarted


def controller_killed_mid_scale_down(rig: LocalRig) -> None:
    platform, name = rig.platform, "killed-down"
    platform.apply(name, minWorkers=2, maxWorkers=2, worker=SMALL_WORKER)
    settles(platform, name, ["master", "worker-w0", "worker-w1"])
    master = platform.jvm_leaders(name)[platform.prefix(name) + "master"]
    platform.apply(name, minWorkers=0, maxWorkers=2, worker=SMALL_WORKER, idleTimeoutSeconds=0)
    wait_for(lambda: len(platform.worker_pids(name)) < 2, timeout_s=90, every_s=0.05)
    platform.kill_controller(signal.SIGKILL)

    platform.start_controller()
    after = settles(platform, name, ["master"])
    assert after == {platform.prefix(name) + "master": master}  # adopted, not restarted
    assert platform.status(name).desired == 0


def worker_killed_during_a_spark_job(rig: LocalRig) -> None:
    platform, name = rig.platform, "killed-worker"
    platform.apply(name, minWorkers=1, maxWorkers=2, worker=SMALL_WORKER, idleTimeoutSeconds=600)
    wait_for(lambda: len(platform.worker_pids(name)) == 1, timeout_s=90)
    outcome: dict[str, subprocess.CompletedProcess] = {}
    driver = threading.Thread(
        target=lambda: outcome.setdefault("run", run_driver(platform, name, 200, rig.tmp_path))
    )
    driver.start()
    try:
        wait_for(lambda: len(platform.worker_pids(name)) == 2, timeout_s=120)
        time.sleep(3)  # executors on both workers run tasks now
        victim = platform.worker_pids(name)[platform.prefix(name) + "worker-w0"]
        processes.kill_group(victim)
        wait_for(lambda: victim not in platform.worker_pids(name).values(), timeout_s=30)
    finally:
        driver.join(300)
    result = outcome["run"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"RESULT {EXPECTED}" in result.stdout  # exact, across the lost executor
    # The dead worker is replaced while the cluster still wants it; never two of one marker.
    assert len(platform.worker_pids(name)) <= 2
    assert victim not in platform.worker_pids(name).values()
    platform.store.delete(name)
    wait_for(lambda: not platform.leftovers(), timeout_s=90)
    wait_for(lambda: platform.status(name) is None, timeout_s=30)


def taskmanager_killed_during_a_flink_job(rig: LocalRig) -> None:
    platform, name = rig.platform, "killed-taskmanager"
    platform.apply(name, engine="flink", minWorkers=2, maxWorkers=2, worker=SMALL_WORKER)
    wait_for(lambda: len(taskmanagers(platform, name)) == 2, timeout_s=180)
    client = platform.client(name)
    job = submit(platform, name, rig.tmp_path, parallelism=2)
    wait_for(lambda: running_on_all_slots(client, job, 2), timeout_s=240, every_s=1)
    marker = platform.prefix(name) + "taskmanager-w0"
    victim = taskmanagers(platform, name)[marker]

    processes.kill_group(victim)
    wait_for(lambda: taskmanagers(platform, name).get(marker, victim) != victim, timeout_s=60)
    # The same job (not lost, not resubmitted) runs again on both slots of two TaskManagers.
    wait_for(lambda: running_on_all_slots(client, job, 2), timeout_s=240, every_s=1)
    assert sorted(taskmanagers(platform, name)) == [
        platform.prefix(name) + f"taskmanager-w{i}" for i in (0, 1)
    ]
    assert victim not in processes.marked(platform.prefix(name))  # its whole group is gone
    rest_call(client["rest_url"], lambda rest: rest.cancel(job), tls=client_tls(client))


def malformed_file_among_good_ones(rig: LocalRig) -> None:
    platform = rig.platform
    platform.apply("good-neighbour", minWorkers=1, maxWorkers=1, worker=SMALL_WORKER)
    platform.apply("bad-bounds", minWorkers=0, maxWorkers=1, worker=SMALL_WORKER)
    bad_file = next(clusters_dir(platform.state_dir).glob("bad-bounds*.yaml"))
    bad_file.write_text(bad_file.read_text().replace("minWorkers: 0", "minWorkers: 5"))
    (clusters_dir(platform.state_dir) / "garbage.yaml").write_text("[" * 5000)

    wait_for(lambda: len(platform.worker_pids("good-neighbour")) == 1, timeout_s=90)
    wait_for(lambda: status_workers(platform, "good-neighbour") == 1, timeout_s=60)
    wait_for(lambda: phase(platform, "bad-bounds") == "Error", timeout_s=60)
    assert "spec.maxWorkers" in platform.status("bad-bounds").reason
    assert platform.process is not None and platform.process.poll() is None  # still running


def phase(platform: LocalPlatform, name: str) -> str | None:
    status = platform.status(name)
    return None if status is None else status.phase


# The rows' checks: the Kubernetes side over HTTP against the API-server double


KINDS_OF_A_SPARK_CLUSTER = {
    "deployments": ["alice-spark-master", "alice-spark-worker"],
    "networkpolicies": ["alice-spark-drivers", "alice-spark-ingress"],
    "services": ["alice-spark-master"],
}


def names(double: ApiServerDouble, plural: str) -> list[str]:
    return sorted(obj["metadata"]["name"] for obj in double.objects(plural, NAMESPACE))


def ensure_through(double: ApiServerDouble) -> None:
    """Ensure alice's Spark cluster: afterwards every object exists exactly once."""
    cluster = parse_cluster(create_cluster(double, "alice-spark", maxWorkers=4))

    async def ensure(backend: KubernetesBackend) -> None:
        await backend.ensure(cluster)

    run_backend(double, ensure)
    for plural, expected in KINDS_OF_A_SPARK_CLUSTER.items():
        assert names(double, plural) == expected
    assert len(names(double, "secrets")) == 1


def api_500_on_creates(double: ApiServerDouble) -> None:
    double.fail(r"^POST .*/deployments", status=500, times=2)
    double.fail(r"^GET .*/services/", status=503, times=1)
    double.fail(r"^POST .*/networkpolicies", status=500, after=True)  # created, then 500
    ensure_through(double)


def api_timing_out(double: ApiServerDouble) -> None:
    double.fail(r"^GET .*/secrets/", delay_s=3.0)  # longer than the client's 2 s timeout
    double.fail(r"^POST .*/services", delay_s=3.0, times=1)
    ensure_through(double)


def status(desired: int) -> ComputeClusterStatus:
    decision = Decision(target=desired, reason="backlog", cause="backlog", memo={})
    return status_after(decision, desired, 1_714_564_800.0, "Ready", None)  # type: ignore[arg-type]


def api_500_on_status_writes(double: ApiServerDouble) -> None:
    create_cluster(double, "alice-spark")
    double.fail(r"^PUT .*/status$", status=500, times=2)

    async def scenario(objects: KubeClusterObjects) -> None:
        objects.write_status("alice-spark", status(4))
        await eventually(lambda: not objects.pending)

    run_objects(double, scenario)
    assert double.count("PUT", "/status$") == 3  # two 500s, then the write
    assert double.get("computeclusters", NAMESPACE, "alice-spark")["status"]["desired"] == 4


def api_409_on_a_stale_status_write(double: ApiServerDouble) -> None:
    create_cluster(double, "alice-spark")

    async def scenario(objects: KubeClusterObjects) -> None:
        # Someone else changes the object; our cache still holds the old version.
        double.store.patch(
            resource("computeclusters"), NAMESPACE, "alice-spark", "application/merge-patch+json",
            {"metadata": {"labels": {"team": "data"}}}, None,
        )  # fmt: skip
        objects.reflector.objects["alice-spark"]["metadata"]["resourceVersion"] = "1"
        objects.write_status("alice-spark", status(2))
        await objects.flush()

    run_objects(double, scenario)
    assert double.count("PUT", "/status$") == 2  # 409, then the write after the re-read
    assert double.count("GET", r"/computeclusters/alice-spark$") == 1
    stored = double.get("computeclusters", NAMESPACE, "alice-spark")
    # Neither write is lost: ours and the other writer's label.
    assert stored["status"]["desired"] == 2 and stored["metadata"]["labels"] == {"team": "data"}


def api_410_on_watch(double: ApiServerDouble) -> None:
    create_cluster(double, "alice-spark")

    async def scenario(objects: KubeClusterObjects) -> None:
        with double.watches_down():  # the API server restarts with its history compacted
            create_cluster(double, "bob-flink", engine="flink")
            double.compact()
        await eventually(lambda: len(objects.list()) == 2)
        assert objects.reflector.lists == 2
        assert [item.name for item in objects.list()] == ["alice-spark", "bob-flink"]

    run_objects(double, scenario)


def malformed_object_among_good_ones(double: ApiServerDouble) -> None:
    create_cluster(double, "good")
    # The double does not run CEL rules: a malformed object gets through to the controller.
    create_cluster(double, "bad", minWorkers=5, maxWorkers=2)
    create_cluster(double, "worse", worker={"cores": "many"})

    async def scenario(objects: KubeClusterObjects) -> None:
        stored = {item.name: item for item in objects.list()}
        assert sorted(stored) == ["bad", "good", "worse"]  # none dropped
        assert stored["good"].cluster is not None and stored["good"].error is None
        assert stored["bad"].cluster is None
        assert stored["bad"].error.field == "spec.maxWorkers"
        assert stored["worse"].error.field == "spec.worker.cores"

    run_objects(double, scenario)


# The matrix


@dataclass(frozen=True)
class Fault:
    """One row: the fault, how it is injected, the outcome that must hold, and its check."""

    name: str
    injected: str
    outcome: str
    rig: str  # the fixture the check runs against
    check: Callable[[Any], None]
    slow: bool = False


MATRIX = [
    Fault(
        "prometheus-down",
        "the proxy in front of Prometheus drops every connection",
        "the worker is held (no scale-down without metrics), errors counted; resumes after",
        "local", hold_without_metrics("down", "unavailable"), slow=True,
    ),
    Fault(
        "prometheus-garbage",
        "the proxy answers an HTML page with 200",
        "held as when down, counted as bad-response; resumes after",
        "local", hold_without_metrics("garbage", "bad-response"), slow=True,
    ),
    Fault(
        "prometheus-slow",
        "the proxy stalls each answer past the controller's 5 s timeout",
        "held as when down, counted as unavailable; resumes after",
        "local", hold_without_metrics("slow", "unavailable"), slow=True,
    ),
    Fault(
        "controller-killed-mid-scale-up",
        "SIGKILL to the controller once the first of two workers started",
        "the new controller adopts the recorded JVMs and ends with exactly master + 2 workers",
        "local", controller_killed_mid_scale_up, slow=True,
    ),
    Fault(
        "controller-killed-mid-scale-down",
        "SIGKILL to the controller once the first of two workers stopped",
        "the new controller finishes the scale-down: the same master, no worker, desired 0",
        "local", controller_killed_mid_scale_down, slow=True,
    ),
    Fault(
        "worker-killed-during-spark-job",
        "SIGKILL to a worker's process group while a 200-partition job runs on two",
        "the job's result is exact; the worker is replaced, never duplicated; delete stops all",
        "local", worker_killed_during_a_spark_job, slow=True,
    ),
    Fault(
        "taskmanager-killed-during-flink-job",
        "SIGKILL to a TaskManager's process group while a parallelism-2 streaming job runs",
        "the TaskManager is replaced, never duplicated; the same job runs again on both slots",
        "local", taskmanager_killed_during_a_flink_job, slow=True,
    ),
    Fault(
        "malformed-file-among-good-ones",
        "a cluster file edited to minWorkers > maxWorkers and a file nested 5000 deep",
        "the bad one gets phase Error naming the field; the good one is scaled; the loop runs on",
        "local", malformed_file_among_good_ones, slow=True,
    ),
    Fault(
        "api-500",
        "500 on creates (before and after the work) and 503 on a read",
        "ensure retries; every object exactly once",
        "apiserver", api_500_on_creates,
    ),
    Fault(
        "api-500-on-status",
        "500 on the first two status writes",
        "the status write is retried and lands",
        "apiserver", api_500_on_status_writes,
    ),
    Fault(
        "api-timeout",
        "a read and a create answered after the client's 2 s timeout",
        "ensure retries; every object exactly once (a timed-out create is not duplicated)",
        "apiserver", api_timing_out,
    ),
    Fault(
        "api-409",
        "a status write with a stale resourceVersion",
        "409, one re-read, the write lands; the other writer's change is kept",
        "apiserver", api_409_on_a_stale_status_write,
    ),
    Fault(
        "api-410-on-watch",
        "watches end, history compacted, an object created meanwhile",
        "410 Gone, one re-list, both objects seen",
        "apiserver", api_410_on_watch,
    ),
    Fault(
        "malformed-object-among-good-ones",
        "ComputeClusters with minWorkers > maxWorkers and cores 'many' beside a good one",
        "each bad one is an error naming its field; the good one parses; none is dropped",
        "apiserver", malformed_object_among_good_ones,
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(row, id=row.name, marks=[pytest.mark.slow] if row.slow else [])
        for row in MATRIX
    ],
)
def test_fault(fault: Fault, request: pytest.FixtureRequest) -> None:
    fault.check(request.getfixturevalue(fault.rig))


def test_every_row_names_its_injection_and_outcome_once() -> None:
    assert len({row.name for row in MATRIX}) == len(MATRIX)
    for row in MATRIX:
        assert re.fullmatch(r"[a-z0-9-]+", row.name) and row.injected and row.outcome
