"""The controller process with real Spark JVMs and a real Prometheus: grow and shrink.

Each test applies its own ComputeCluster object (as the spawner would), runs PySpark drivers with
the cluster's client configuration (as a user's kernel would) and watches processes and status.
Surviving faults (a killed controller or worker, Prometheus down) is test_fault_matrix.py's.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import threading
import time

from autoscaler.readers.prometheus import PrometheusClient
from autoscaler.sim.from_prometheus import Reconstruction, reconstruct
from autoscaler.sim.trace import Session, SparkJob
from hubscale.scrape_targets import ScrapeTarget, write_file_sd
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


def replayed(url: str, start: float, end: float, step_s: float) -> Reconstruction:
    """The trace ``hubscale-sim --from-prometheus`` rebuilds from ``[start, end]``."""

    async def read() -> Reconstruction:
        async with PrometheusClient(url, timeout_s=30.0) as prometheus:
            return await reconstruct(prometheus, start, end, step_s)

    return asyncio.run(read())


def test_a_job_grows_the_cluster_to_its_bound_and_idle_shrinks_it_to_zero(platform, tmp_path):
    name = "grow-shrink"
    # Idle means no task (a session without a job holds nothing). A loaded machine took over
    # 15 s from the driver's registration to its job: at idleTimeoutSeconds 15 the cluster went
    # back to zero in between, and a draining worker beside two new ones made three JVMs. At 60
    # the policy's shortest keep-warm (30 s, the user's usual pause) is the earliest release.
    platform.apply(name, minWorkers=0, maxWorkers=2, worker=SMALL_WORKER, idleTimeoutSeconds=60)
    wait_for(lambda: ready(platform, name), timeout_s=MASTER_UP_S)
    assert platform.worker_pids(name) == {}

    # Prometheus scrapes the controller as under `make up`: its series are the replay's sessions.
    controller_targets = platform.prometheus.file_sd_dir / f"controller-{name}.json"
    controller = ScrapeTarget(f"127.0.0.1:{platform.listen_port}", {"role": "controller"})
    write_file_sd(controller_targets, [controller])
    try:
        submitted = time.time()
        with MaxWorkers(platform, name) as workers:
            result = run_driver(platform, name, partitions=40, tmp_path=tmp_path)
        finished = time.time()
        time.sleep(4)  # the driver's and the controller's last samples scraped (2 steps)
    finally:
        controller_targets.unlink()

    assert result.returncode == 0, result.stderr[-3000:]
    assert f"RESULT {EXPECTED}" in result.stdout
    assert workers.seen == 2  # grew from zero, and never past maxWorkers
    assert_replayed_from_prometheus(platform, name, submitted, finished)

    def idle_at_zero() -> bool:  # one status (one loop's), not its fields read apart
        status = platform.status(name)
        settled = status is not None and status.phase == "Idle"
        return settled and (status.workers, status.desired) == (0, 0)

    # idle timeout, Spark's decommissioning of the executors (~30 s), the JVMs' exit
    wait_for(lambda: idle_at_zero() and not platform.worker_pids(name), 300)
    # At idleTimeoutSeconds 60 the policy may first keep one worker warm for the user's usual
    # pause (2 -> 1, cause=shrink) and then release it (1 -> 0): either way the last step is idle.
    assert re.search(rf"scale cluster={name} from=[12] to=0 cause=idle", platform.log())


def assert_replayed_from_prometheus(platform, name: str, submitted: float, finished: float):
    """The job just run comes back from the real Prometheus that scraped the real JVMs (issue 15's
    "replay your own week" on a real day: test_replay_prometheus.py covers the rules on a backfill).
    """
    step_s = 2.0  # two scrapes: one scrape missed on a loaded machine does not split the job
    rebuilt = replayed(platform.prometheus.url, submitted - 30, finished + 2 * step_s, step_s)
    t0 = rebuilt.start
    jobs = [e for e in rebuilt.events if isinstance(e, SparkJob) and e.job.startswith(f"{name}-")]
    assert len(jobs) == 1, rebuilt.events  # one job, not split by a missed sample
    (job,) = jobs
    assert job.user == "alice"
    # Demand shows once the driver is scraped (after its start) and ends with its last task.
    assert submitted - step_s <= t0 + job.t <= finished
    assert t0 + job.t + sum(stage.task_seconds for stage in job.stages) <= finished + 2 * step_s
    assert 1 <= max(stage.tasks for stage in job.stages) <= 40  # 40 partitions, 1-core executors
    sessions = [e for e in rebuilt.events if isinstance(e, Session) and e.user == "alice"]
    assert any(s.state == "start" and s.t <= job.t for s in sessions)


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
