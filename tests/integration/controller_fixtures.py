"""Run the real controller (``python -m autoscaler``) against real Prometheus and real JVMs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from hubscale import processes
from hubscale.engines import spark_client_env, spark_python
from hubscale.prometheus_server import PrometheusServer
from hubscale.spec import ComputeCluster, ComputeClusterStatus
from hubscale.state_dir import client_file, runtime_dir
from hubscale.store import LocalClusterStore
from tests.builders import cluster
from tests.support import CONTROLLER_UP_S, free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
MASTER_UP_S = 120.0  # a cluster's Spark master JVM, beside other tests' JVMs on two cores


@dataclass
class LocalPlatform:
    """A state directory, its store, and the controller process managing it."""

    state_dir: Path
    prometheus: PrometheusServer
    store: LocalClusterStore
    listen_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    names: set[str] = field(default_factory=set)  # every cluster applied, for the cleanup
    prometheus_url: str | None = None  # the controller asks here instead (a fault proxy, say)
    extra_args: tuple[str, ...] = ()  # more of the controller's flags (--dry-run, say)

    def start_controller(self) -> None:
        log = open(self.state_dir / "controller.log", "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "autoscaler",
                "--state-dir", str(self.state_dir),
                "--file-sd-dir", str(self.prometheus.file_sd_dir),
                "--prometheus-url", self.prometheus_url or self.prometheus.url,
                "--interval", "1",
                "--listen", f"127.0.0.1:{self.listen_port}",
                *self.extra_args,
            ],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        # imports and the first loop: ~5 s idle, over a minute seen on two loaded cores
        wait_for(self._healthy, timeout_s=CONTROLLER_UP_S)

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:  # no use waiting on
            raise AssertionError(f"the controller exited:\n{self.log()[-3000:]}")
        try:
            return httpx.get(self.url("/healthz"), timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.listen_port}{path}"

    def kill_controller(self, signum: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)
            self.process.wait(30)

    def log(self) -> str:
        return (self.state_dir / "controller.log").read_text(errors="replace")

    def apply(
        self, name: str, owner: str = "alice", engine: str = "spark", **spec
    ) -> ComputeCluster:
        self.names.add(name)
        return self.store.apply(cluster(name, engine, owner, **spec))

    def status(self, name: str) -> ComputeClusterStatus | None:
        stored = self.store.get(name)
        return stored.status if stored else None

    def client(self, name: str) -> dict[str, str]:
        return json.loads(client_file(runtime_dir(self.state_dir, name)).read_text())

    def driver_env(self, name: str) -> dict[str, str]:
        return {**os.environ, **spark_client_env(Path(self.client(name)["conf_dir"]))}

    def prefix(self, name: str) -> str:
        """The marker prefix of this cluster's processes (its runtime directory)."""
        return f"{runtime_dir(self.state_dir, name)}/"

    def worker_pids(self, name: str) -> dict[str, int]:
        """The worker JVMs of this cluster, by marker."""
        return processes.group_leaders(f"{self.prefix(name)}worker-")

    def leftovers(self) -> dict[int, str]:
        """Processes of this platform's clusters still running."""
        found: dict[int, str] = {}
        for name in self.names:
            found.update(processes.marked(self.prefix(name)))
        return found

    def jvm_leaders(self, name: str) -> dict[str, int]:
        """Every JVM of this cluster we started: master and workers."""
        return processes.group_leaders(self.prefix(name))


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


def run_driver(
    platform: LocalPlatform, name: str, partitions: int, tmp_path: Path
) -> subprocess.CompletedProcess:
    """Run the many-tasks PySpark driver on the cluster, as a user's kernel would."""
    script = tmp_path / f"driver-{name}.py"
    script.write_text(MANY_TASKS.format(partitions=partitions))
    return subprocess.run(
        [str(spark_python()), str(script)],
        env=platform.driver_env(name),
        capture_output=True,
        text=True,
        timeout=300,
    )


def status_workers(platform: LocalPlatform, name: str) -> int | None:
    status = platform.status(name)
    return None if status is None else status.workers


def ready(platform: LocalPlatform, name: str) -> bool:
    status = platform.status(name)
    return status is not None and status.phase in ("Idle", "Ready")


@pytest.fixture
def platform(prometheus: PrometheusServer, tmp_path: Path) -> Iterator[LocalPlatform]:
    """The controller on a fresh state dir; every cluster deleted (and checked gone) at the end."""
    yield from running_platform(prometheus, tmp_path)


def running_platform(
    prometheus: PrometheusServer, tmp_path: Path, *extra_args: str
) -> Iterator[LocalPlatform]:
    """``platform``'s body, the controller given ``extra_args`` (a generator for a fixture)."""
    state_dir = tmp_path / "state"
    running = LocalPlatform(
        state_dir, prometheus, LocalClusterStore(state_dir), extra_args=extra_args
    )
    running.start_controller()
    try:
        yield running
    finally:
        for stored in running.store.list():
            running.store.delete(stored.name)
        try:
            if running.process is not None and running.process.poll() is None:
                wait_for(lambda: not running.leftovers(), timeout_s=90)
        finally:
            running.kill_controller(signal.SIGTERM)
            for pid in running.leftovers():  # the controller could not: do not leak JVMs
                processes.kill_group(pid)
