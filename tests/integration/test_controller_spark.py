"""The controller process with real Spark JVMs and a real Prometheus: grow, shrink, survive.

Each test applies its own ComputeCluster object (as the spawner would), runs PySpark drivers with
the cluster's client configuration (as a user's kernel would) and watches processes and status.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time

import httpx

from hubscale import processes
from hubscale.engines import spark_python
from hubscale.processes import kill_group
from hubscale.state_dir import pid_dir, runtime_dir
from hubscale.store import LocalClusterStore
from tests.integration.controller_fixtures import LocalPlatform
from tests.support import wait_for

SMALL_WORKER = {"cores": 1, "memory": "1Gi"}

# Many short tasks: dynamic allocation asks for one executor per pending task, so the demand is
# far above maxWorkers and the cluster grows to its bound.
MANY_TASKS = """
import time
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("many-tasks").getOrCreate()
def slow_square(x):
    time.sleep(0.005)
    return x * x
print("RESULT", spark.sparkContext.parallelize(range(4000), {partitions}).map(slow_square).sum())
spark.stop()
"""
EXPECTED = sum(x * x for x in range(4000))


def run_driver(platform, name: str, partitions: int, tmp_path) -> subprocess.CompletedProcess:
    script = tmp_path / f"driver-{name}.py"
    script.write_text(MANY_TASKS.format(partitions=partitions))
    return subprocess.run(
        [str(spark_python()), str(script)],
        env=platform.driver_env(name),
        capture_output=True,
        text=True,
        timeout=300,
    )


class MaxWorkers:
    """Polls a cluster's worker JVMs in the background and keeps the highest count."""

    def __init__(self, platform, name: str) -> None:
        self.seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, args=(platform, name), daemon=True)

    def _poll(self, platform, name: str) -> None:
        while not self._stop.wait(0.5):
            self.seen = max(self.seen, len(platform.worker_pids(name)))

    def __enter__(self) -> MaxWorkers:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def status_workers(platform, name: str) -> int | None:
    status = platform.status(name)
    return None if status is None else status.workers


def ready(platform, name: str) -> bool:
    status = platform.status(name)
    return status is not None and status.phase in ("Idle", "Ready")


def test_a_job_grows_the_cluster_to_its_bound_and_idle_shrinks_it_to_zero(platform, tmp_path):
    name = "grow-shrink"
    platform.apply(name, minWorkers=0, maxWorkers=2, worker=SMALL_WORKER, idleTimeoutSeconds=15)
    wait_for(lambda: ready(platform, name), timeout_s=60)
    assert platform.worker_pids(name) == {}

    with MaxWorkers(platform, name) as workers:
        result = run_driver(platform, name, partitions=40, tmp_path=tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    assert f"RESULT {EXPECTED}" in result.stdout
    assert workers.seen == 2  # grew from zero, and never past maxWorkers
    wait_for(lambda: status_workers(platform, name) == 0 and not platform.worker_pids(name), 120)
    status = platform.status(name)
    assert status.desired == 0 and status.phase == "Idle"
    assert f"scale cluster={name} from=2 to=0 cause=idle" in platform.log()


def test_a_scale_down_during_a_job_keeps_its_result_exact(platform, tmp_path):
    name = "shrink-mid-job"
    platform.apply(name, minWorkers=0, maxWorkers=2, worker=SMALL_WORKER, idleTimeoutSeconds=600)
    wait_for(lambda: ready(platform, name), timeout_s=60)
    outcome: dict[str, subprocess.CompletedProcess] = {}
    driver = threading.Thread(
        target=lambda: outcome.setdefault("run", run_driver(platform, name, 200, tmp_path))
    )
    driver.start()
    try:
        wait_for(lambda: len(platform.worker_pids(name)) == 2, timeout_s=120)
        time.sleep(5)  # both workers run tasks now
        # An admin lowers the bound mid-job: one worker must go while its tasks run.
        platform.apply(name, minWorkers=0, maxWorkers=1, worker=SMALL_WORKER)
        wait_for(lambda: len(platform.worker_pids(name)) == 1, timeout_s=120)
    finally:
        driver.join(300)
    result = outcome["run"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"RESULT {EXPECTED}" in result.stdout
    assert "bounded to 1" in platform.log() or "maxWorkers" in platform.log()


def test_a_killed_controller_adopts_its_processes_without_duplicates(platform):
    name = "adopt"
    platform.apply(name, minWorkers=2, maxWorkers=2, worker=SMALL_WORKER)
    # Kill the controller as soon as it has started the first worker: mid-scale.
    wait_for(lambda: platform.worker_pids(name), timeout_s=60, every_s=0.05)
    platform.kill_controller(signal.SIGKILL)
    # What the dead controller had recorded (pid files) is adopted; a JVM it started but had not
    # recorded yet is stopped and started again by design, so it is not part of "before".
    pids = pid_dir(runtime_dir(platform.state_dir, name))
    before = {
        marker: pid
        for marker, pid in platform.jvm_leaders(name).items()
        if processes.running_pid(pids / f"{marker.removeprefix(platform.prefix(name))}.pid") == pid
    }
    assert platform.prefix(name) + "master" in before

    platform.start_controller()
    wait_for(lambda: len(platform.worker_pids(name)) == 2, timeout_s=60)
    wait_for(lambda: status_workers(platform, name) == 2, timeout_s=30)
    time.sleep(3)  # a few more loops: nothing else may start
    after = platform.jvm_leaders(name)
    assert sorted(after) == [
        platform.prefix(name) + role for role in ("master", "worker-w0", "worker-w1")
    ]
    for marker, pid in before.items():
        assert after[marker] == pid  # adopted, not restarted


def test_a_dead_worker_is_restored_and_a_deleted_cluster_stops_everything(platform):
    name = "restore"
    platform.apply(name, minWorkers=1, maxWorkers=1, worker=SMALL_WORKER)
    wait_for(lambda: len(platform.worker_pids(name)) == 1, timeout_s=60)
    (victim,) = platform.worker_pids(name).values()
    kill_group(victim)
    wait_for(lambda: set(platform.worker_pids(name).values()) - {victim}, timeout_s=60)

    platform.store.delete(name)
    wait_for(lambda: not platform.leftovers(), timeout_s=60)
    wait_for(lambda: platform.status(name) is None, timeout_s=30)


def test_prometheus_down_holds_the_workers_and_scaling_resumes_when_it_is_back(
    tmp_path, prometheus_factory
):
    own = prometheus_factory()
    platform = LocalPlatform(tmp_path / "state", own, LocalClusterStore(tmp_path / "state"))
    platform.start_controller()
    name = "prom-down"
    try:
        platform.apply(name, minWorkers=1, maxWorkers=2, worker=SMALL_WORKER)
        wait_for(lambda: status_workers(platform, name) == 1, timeout_s=60)
        own.stop()
        # Nothing needs the worker now, and the idle timeout is long gone; without metrics the
        # controller must still keep it.
        platform.apply(name, minWorkers=0, maxWorkers=2, worker=SMALL_WORKER, idleTimeoutSeconds=0)
        wait_for(lambda: "Prometheus" in platform.status(name).reason, timeout_s=30)
        time.sleep(5)
        status = platform.status(name)
        assert status.workers == 1 and status.desired == 1, status
        assert "no scale-down without metrics" in status.reason
        assert len(platform.worker_pids(name)) == 1
        metrics = httpx.get(platform.url("/metrics"), timeout=5).text
        assert 'hubscale_controller_prometheus_errors_total{kind="unavailable"}' in metrics

        own.start()
        wait_for(lambda: status_workers(platform, name) == 0, timeout_s=90)
        assert not platform.worker_pids(name)
    finally:
        platform.store.delete(name)
        wait_for(lambda: not platform.leftovers(), timeout_s=60)
        platform.kill_controller(signal.SIGTERM)
