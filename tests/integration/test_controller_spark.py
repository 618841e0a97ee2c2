"""The controller process with real Spark JVMs and a real Prometheus: grow and shrink.

Each test applies its own ComputeCluster object (as the spawner would), runs PySpark drivers with
the cluster's client configuration (as a user's kernel would) and watches processes and status.
Surviving faults (a killed controller or worker, Prometheus down) is test_fault_matrix.py's.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time

from tests.integration.controller_fixtures import (
    EXPECTED,
    MASTER_UP_S,
    ready,
    run_driver,
)
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
    # Idle means no task (a session without a job holds nothing). A loaded machine took over
    # 15 s from the driver's registration to its job: at idleTimeoutSeconds 15 the cluster went
    # back to zero in between, and a draining worker beside two new ones made three JVMs. At 60
    # the policy's shortest keep-warm (30 s, the user's usual pause) is the earliest release.
    platform.apply(name, minWorkers=0, maxWorkers=2, worker=SMALL_WORKER, idleTimeoutSeconds=60)
    wait_for(lambda: ready(platform, name), timeout_s=MASTER_UP_S)
    assert platform.worker_pids(name) == {}

    with MaxWorkers(platform, name) as workers:
        result = run_driver(platform, name, partitions=40, tmp_path=tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    assert f"RESULT {EXPECTED}" in result.stdout
    assert workers.seen == 2  # grew from zero, and never past maxWorkers

    def idle_at_zero() -> bool:  # one status (one loop's), not its fields read apart
        status = platform.status(name)
        settled = status is not None and status.phase == "Idle"
        return settled and (status.workers, status.desired) == (0, 0)

    # idle timeout, Spark's decommissioning of the executors (~30 s), the JVMs' exit
    wait_for(lambda: idle_at_zero() and not platform.worker_pids(name), 300)
    # At idleTimeoutSeconds 60 the policy may first keep one worker warm for the user's usual
    # pause (2 -> 1, cause=shrink) and then release it (1 -> 0): either way the last step is idle.
    assert re.search(rf"scale cluster={name} from=[12] to=0 cause=idle", platform.log())


def test_a_scale_down_during_a_job_keeps_its_result_exact(platform, tmp_path):
    name = "shrink-mid-job"
    platform.apply(name, minWorkers=0, maxWorkers=2, worker=SMALL_WORKER, idleTimeoutSeconds=600)
    wait_for(lambda: ready(platform, name), timeout_s=MASTER_UP_S)
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
