"""One user's Flink session cluster as local processes from the apache-flink (pyflink) package.

A directory per cluster (mode 0700) holds the configuration, logs, Flink's own pid files and the
temporary directories: Flink writes nothing to site-packages or /tmp (JVM hsperfdata aside). The
JobManager and each TaskManager run ``start-foreground``, which exec's the JVM: the recorded pid
is the JVM's. The same ``conf/`` is the client configuration for ``flink run`` and PyFlink
(``FLINK_CONF_DIR``). The REST API takes only clients with the cluster's credential, generated
once into ``tls/`` (``hubscale.flink_tls``).
"""

from __future__ import annotations

import functools
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import httpx
import yaml

from autoscaler.backends.local.backend import RuntimeRecord
from hubscale import flink_tls, processes
from hubscale.atomic_files import replace_if_changed
from hubscale.engines import flink_client_env, flink_home, flink_python
from hubscale.flink_conf import (
    MIN_TASKMANAGER_MEMORY_MIB,
    REST_KEYSTORE,
    FlinkClusterPorts,
    dynamic_properties,
    flink_config,
    render_config,
    rest_tls_config,
    rest_url,
    shipped_java_opts,
)
from hubscale.ports import free_port, free_port_range
from hubscale.scrape_targets import ScrapeTarget
from hubscale.spec import ComputeCluster
from hubscale.state_dir import pid_dir, rest_tls_dir

TASKMANAGER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")  # also a path and a -D value


@dataclass(frozen=True)
class LocalFlinkCluster:
    """Paths, configuration and process commands of one cluster; starts nothing by itself."""

    directory: Path
    ports: FlinkClusterPorts
    slots_per_taskmanager: int = 1
    taskmanager_memory_mib: int = 1024
    rescale_cooldown_s: int = 30
    drain_timeout_s: ClassVar[float | None] = None  # never stop a TaskManager with tasks on it

    @property
    def conf_dir(self) -> Path:
        return self.directory / "conf"

    @property
    def rest_url(self) -> str:
        return rest_url(self.ports)

    @property
    def tls_dir(self) -> Path:
        return rest_tls_dir(self.directory)

    def prepare(self) -> None:
        """Write the configuration and the distribution's log4j files into our own conf dir; the
        REST credential is generated on the first call, and kept."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.conf_dir.mkdir(exist_ok=True, mode=0o700)
        for name in ("logs", "run", "tmp", "web"):
            (self.directory / name).mkdir(exist_ok=True, mode=0o700)
        log4j, java_opts = shipped_conf(flink_home() / "conf")
        for name, text in log4j.items():
            replace_if_changed(self.conf_dir / name, text)
        config = flink_config(
            self.ports,
            self.directory,
            flink_python(),
            java_opts,
            self.slots_per_taskmanager,
            self.taskmanager_memory_mib,
            rescale_cooldown_s=self.rescale_cooldown_s,
        )
        tls = flink_tls.ensure(self.tls_dir)
        config.update(rest_tls_config(self.tls_dir / REST_KEYSTORE, tls.password))
        replace_if_changed(self.conf_dir / "config.yaml", render_config(config))

    def rest_tls(self) -> ssl.SSLContext | None:
        """The controller's TLS client context for this JobManager; None before ``prepare``."""
        tls = flink_tls.load(self.tls_dir)
        return None if tls is None else flink_tls.client_context(tls)

    def env(self) -> dict[str, str]:
        """Environment for the daemons and for a client (``flink run``, PyFlink) of this cluster."""
        return {
            **os.environ,
            **flink_client_env(self.conf_dir),
            "FLINK_LOG_DIR": str(self.directory / "logs"),
            "FLINK_PID_DIR": str(self.directory / "run"),
            "TMPDIR": str(self.directory / "tmp"),
        }

    def jobmanager(self) -> processes.ProcessSpec:
        argv = [
            "bash",
            str(flink_home() / "bin" / "jobmanager.sh"),
            "start-foreground",
            *dynamic_properties({"metrics.reporter.prom.port": str(self.ports.jobmanager_metrics)}),
        ]
        return self._process("jobmanager", argv)

    def taskmanager(self, name: str, metrics_port: int | None = None) -> processes.ProcessSpec:
        """A TaskManager whose resource id, its id in the REST API, is ``name``.

        Its metrics carry ``tm_id`` = ``name`` with "-" (any character Prometheus does not allow)
        turned into "_". Without ``metrics_port`` its reporter takes a free port of the range.
        """
        if not TASKMANAGER_NAME.match(name):
            raise ValueError(f"TaskManager name {name!r}: use letters, digits, '-' and '_'")
        properties = {"taskmanager.resource-id": name}
        if metrics_port is not None:
            properties["metrics.reporter.prom.port"] = str(metrics_port)
        argv = [
            "bash",
            str(flink_home() / "bin" / "taskmanager.sh"),
            "start-foreground",
            *dynamic_properties(properties),
        ]
        return self._process(f"taskmanager-{name}", argv)

    def _process(self, role: str, argv: list[str]) -> processes.ProcessSpec:
        # Flink names its log after a per-pid-dir counter: one log and pid dir per process.
        own_logs = self.directory / "logs" / role
        own_run = self.directory / "run" / role
        for path in (own_logs, own_run):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return processes.ProcessSpec(
            argv=argv,
            env={**self.env(), "FLINK_LOG_DIR": str(own_logs), "FLINK_PID_DIR": str(own_run)},
            pid_file=pid_dir(self.directory) / f"{role}.pid",
            log_file=self.directory / "logs" / f"{role}.log",
            cwd=self.directory,
            marker=f"{self.directory}/{role}",
        )

    # The local backend's engine interface (autoscaler.backends.local.backend.LocalEngine).

    def head(self) -> processes.ProcessSpec:
        return self.jobmanager()

    def worker(self, name: str, port: int) -> processes.ProcessSpec:
        return self.taskmanager(name, metrics_port=port)

    def begin_drain(self, name: str, pid: int) -> None:
        """Nothing to tell Flink: the TaskManager goes once its slots are free (``drained``).

        Stopping it earlier would fail and restart the jobs on it; they keep their slots until
        they finish or are cancelled.
        """

    def drained(self, name: str, pid: int) -> bool:
        """True once the JobManager reports every slot of this TaskManager free (or lost it)."""
        taskmanagers = self._taskmanagers()
        if taskmanagers is None:
            return False  # cannot tell: keep it
        for taskmanager in taskmanagers:
            if taskmanager.get("id") == name:
                return taskmanager.get("freeSlots") == taskmanager.get("slotsNumber")
        return True  # not registered (any more): it runs nothing

    def registered(self, workers: Mapping[str, int]) -> set[str]:
        """The TaskManagers the JobManager knows (none while it does not answer)."""
        known = {taskmanager.get("id") for taskmanager in self._taskmanagers() or []}
        return {name for name in workers if name in known}

    def _taskmanagers(self) -> list[dict] | None:
        """The JobManager's ``/taskmanagers``; None while it does not answer."""
        try:
            context = self.rest_tls()
            if context is None:
                return None
            response = httpx.get(f"{self.rest_url}/taskmanagers", timeout=5, verify=context)
            return list(response.json()["taskmanagers"])
        except (httpx.HTTPError, ssl.SSLError, ValueError, KeyError, TypeError):
            return None

    def targets(self, workers: Mapping[str, int]) -> list[ScrapeTarget]:
        """The JobManager's and each TaskManager's Prometheus reporter."""
        jobmanager = ScrapeTarget(
            f"127.0.0.1:{self.ports.jobmanager_metrics}", {"role": "jobmanager"}, "/metrics"
        )
        return [
            jobmanager,
            *(
                ScrapeTarget(f"127.0.0.1:{port}", {"role": "taskmanager", "worker": name})
                for name, port in workers.items()
            ),
        ]

    def client_config(self) -> dict[str, str]:
        """What a notebook needs to reach this cluster."""
        return {
            "engine": "flink",
            "rest_url": self.rest_url,
            "conf_dir": str(self.conf_dir),
            "rest_tls_dir": str(self.tls_dir),
        }


@functools.cache
def shipped_conf(shipped: Path) -> tuple[dict[str, str], str]:
    """The distribution's log4j files (name -> text) and its JVM options, read once per process:
    parsing its config.yaml took ~40 ms, paid by every Flink cluster's ensure."""
    log4j = {path.name: path.read_text() for path in sorted(shipped.glob("log4j*.properties"))}
    default = yaml.safe_load((shipped / "config.yaml").read_text()) or {}
    return log4j, shipped_java_opts(default)


def allocate_ports() -> dict[str, int]:
    """Ports for a new cluster (TaskManagers get their reporter port when they start)."""
    metrics_first = free_port_range(2)
    ports = FlinkClusterPorts(
        free_port(), free_port(), free_port(), metrics_first, metrics_first + 1
    )
    return asdict(ports)


def engine_for(
    cluster: ComputeCluster, directory: Path, record: RuntimeRecord
) -> LocalFlinkCluster:
    """The local backend's adapter for one Flink ComputeCluster: one slot per worker core."""
    worker = cluster.spec.worker
    return LocalFlinkCluster(
        directory,
        FlinkClusterPorts(**record.ports),
        slots_per_taskmanager=worker.cores,
        taskmanager_memory_mib=max(MIN_TASKMANAGER_MEMORY_MIB, worker.memory_mib),
    )
