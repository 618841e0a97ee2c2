"""A real Flink session cluster from the pyflink distribution, shared by the session's Flink tests.

One JobManager and one 1-slot TaskManager, started as the local backend starts them (its REST API
over mutual TLS with the cluster's own credential); tests may add TaskManagers and must stop them
again.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import subprocess
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

from autoscaler.backends.local.flink import LocalFlinkCluster
from autoscaler.readers.flink_rest import FlinkRest
from hubscale import flink_tls, processes
from hubscale.engines import flink_client_env, flink_home
from hubscale.flink_conf import FlinkClusterPorts
from hubscale.ports import free_port_range
from hubscale.processes import ProcessSpec
from tests.integration.controller_fixtures import LocalPlatform
from tests.support import free_port, wait_for

STARTUP_TIMEOUT_S = 120  # ~10 s each here; 30 s and more beside other JVMs on 2 cores
RESCALE_COOLDOWN_S = 5  # Flink's 30 s would hold a just-started job back from a new TaskManager
METRICS_PORTS = 6  # the JobManager's and up to five TaskManagers' Prometheus reporters
T = TypeVar("T")


def submit_job(env: dict[str, str], script: Path, parallelism: int) -> str:
    """Submit a PyFlink program with ``flink run -d`` as a user's kernel would; its job id."""
    flink = str(flink_home() / "bin" / "flink")
    result = subprocess.run(
        [flink, "run", "-d", "-p", str(parallelism), "-py", str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    found = re.search(r"JobID ([0-9a-f]{32})", result.stdout)
    assert found, result.stdout[-2000:]
    return found.group(1)


def rest_call(
    url: str,
    call: Callable[[FlinkRest], Awaitable[T]],
    timeout_s: float = 10,
    tls: ssl.SSLContext | None = None,
) -> T:
    """Run one FlinkRest call from synchronous test code (``tls``: the cluster's credential)."""

    async def run() -> T:
        async with FlinkRest(url, timeout_s=timeout_s, tls=tls) as rest:
            return await call(rest)

    return asyncio.run(run())


def client_tls(client: Mapping[str, str]) -> ssl.SSLContext:
    """The controller's TLS context for the cluster a ``client.json`` describes."""
    found = flink_tls.load(Path(client["rest_tls_dir"]))
    assert found is not None, f"no REST credential in {client['rest_tls_dir']}"
    return flink_tls.client_context(found)


def processes_mentioning(text: str) -> list[int]:
    """Live processes (not zombies) whose command line or environment contains ``text``."""
    found = []
    needle = text.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            if stat[stat.rindex(")") + 2] == "Z":
                continue
            if (
                needle in (entry / "cmdline").read_bytes()
                or needle in (entry / "environ").read_bytes()
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@dataclass
class RunningFlink:
    """The session's cluster: its JobManager and the TaskManagers running now, by name."""

    cluster: LocalFlinkCluster
    jobmanager: ProcessSpec
    taskmanagers: dict[str, ProcessSpec] = field(default_factory=dict)

    @property
    def rest_url(self) -> str:
        return self.cluster.rest_url

    @property
    def tls(self) -> ssl.SSLContext:
        return client_tls(self.cluster.client_config())

    def rest(self, call: Callable[[FlinkRest], Awaitable[T]]) -> T:
        return rest_call(self.rest_url, call, tls=self.tls)

    def registered(self) -> set[str]:
        """The started TaskManagers the JobManager knows (none while it is not up): the local
        backend's own check (``LocalFlinkCluster.registered``)."""
        return self.cluster.registered(dict.fromkeys(self.taskmanagers, 0))

    def start_taskmanager(self, name: str, metrics_port: int | None = None) -> int:
        spec = self.cluster.taskmanager(name, metrics_port)
        self.taskmanagers[name] = spec
        return processes.start(spec)

    def stop_taskmanager(self, name: str) -> None:
        processes.stop(self.taskmanagers.pop(name).pid_file)


@pytest.fixture(scope="session")
def flink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFlink]:
    metrics_first = free_port_range(METRICS_PORTS)
    metrics_last = metrics_first + METRICS_PORTS - 1
    ports = FlinkClusterPorts(free_port(), free_port(), free_port(), metrics_first, metrics_last)
    directory = tmp_path_factory.mktemp("flink")
    cluster = LocalFlinkCluster(directory, ports, 1, 1024, rescale_cooldown_s=RESCALE_COOLDOWN_S)
    cluster.prepare()
    running = RunningFlink(cluster, cluster.jobmanager())
    processes.start(running.jobmanager)
    running.start_taskmanager("tm-0", metrics_port=metrics_first + 1)
    try:
        wait_for(lambda: running.registered() == {"tm-0"}, timeout_s=STARTUP_TIMEOUT_S, every_s=0.5)
        yield running
    finally:
        for name in list(running.taskmanagers):
            running.stop_taskmanager(name)
        processes.stop(running.jobmanager.pid_file)
        wait_for(lambda: not processes_mentioning(f"{cluster.directory}/"), timeout_s=60)


# A streaming SQL job (datagen -> group by -> blackhole), submitted as a user's kernel would.
JOB = """
from pyflink.table import EnvironmentSettings, TableEnvironment

env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
env.execute_sql(
    "CREATE TABLE src (x BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '50')"
)
env.execute_sql("CREATE TABLE sink (x BIGINT, n BIGINT) WITH ('connector' = 'blackhole')")
env.execute_sql("INSERT INTO sink SELECT x % 10, COUNT(*) FROM src GROUP BY x % 10")
"""


def taskmanagers(platform: LocalPlatform, name: str) -> dict[str, int]:
    """The TaskManager JVMs of a controller-managed cluster, by marker."""
    return processes.group_leaders(f"{platform.prefix(name)}taskmanager-")


def running_on_all_slots(client: Mapping[str, str], job: str, slots: int) -> bool:
    """The job runs, and every slot of the cluster (its ``client.json``) is taken by it."""

    async def look(rest):
        return await rest.jobs(), await rest.taskmanagers()

    jobs, registered = rest_call(client["rest_url"], look, tls=client_tls(client))
    state = next(j.state for j in jobs if j.id == job)
    used = sum(tm.slots_total - tm.slots_free for tm in registered)
    return state == "RUNNING" and used == slots == sum(tm.slots_total for tm in registered)


def submit(platform: LocalPlatform, name: str, tmp_path: Path, parallelism: int) -> str:
    """Submit JOB to a controller-managed cluster with its client configuration; the job id."""
    script = tmp_path / "job.py"
    script.write_text(JOB)
    conf_dir = Path(platform.client(name)["conf_dir"])
    env = {**os.environ, **flink_client_env(conf_dir), "TMPDIR": str(tmp_path)}
    return submit_job(env, script, parallelism)
