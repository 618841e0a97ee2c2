"""The controller process with real Spark JVMs and a real Prometheus: grow and shrink.

Each test applies its own ComputeCluster object (as the spawner would), runs PySpark drivers with
the cluster's client configuration (as a user's kernel would) and watches processes and status.
Surviving faults (a killed controller or worker, Prometheus down) is test_fault_matrix.py's.
"""

from __future__ import annotations

import subprocess
import threading
import time

from tests.integration.controller_fixtures import EXPECTED, ready, run_driver, status_workers
from tests.support import wait_for

SMALL_WORKER = {"cores": 1, "memory": "1Gi"}


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
