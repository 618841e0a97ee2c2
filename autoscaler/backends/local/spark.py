"""One user's Spark standalone cluster as local processes from the pyspark package.

A directory per cluster holds the configuration (mode 0700, files 0600: it has the secret), logs,
pid files and the workers' scratch space. The master and each worker are ``spark-class`` JVMs
bound to 127.0.0.1; the same ``conf/`` is the client configuration a driver uses
(``SPARK_CONF_DIR``). The daemons read it as ``--properties-file`` and start from their class-data
sharing archives when ``make install`` made them (``spark_cds``).
"""

from __future__ import annotations

import os
import secrets
import signal
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import httpx

from autoscaler.backends.local.backend import RuntimeRecord
from autoscaler.backends.local.spark_cds import use_options
from hubscale import processes
from hubscale.atomic_files import replace_if_changed, write_atomic
from hubscale.engines import spark_client_env, spark_home, spark_python
from hubscale.ports import free_port, free_port_range
from hubscale.scrape_targets import ScrapeTarget
from hubscale.spark_conf import (
    DECOMMISSION_TIMEOUT_S,
    SparkClusterPorts,
    executor_memory_mib,
    master_url,
    metrics_properties,
    render_properties,
    spark_defaults,
)
from hubscale.spec import ComputeCluster
from hubscale.state_dir import pid_dir

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
DAEMON_MEMORY = "256m"  # master and worker daemons; executors get the worker's memory


def cds_dir() -> Path:
    """Where the JVMs' class-data sharing archives are: beside the pyspark they were made from."""
    return spark_python().parent.parent / "share" / "hubscale-cds"


def master_state(master_ui: str) -> dict[str, Any] | None:
    """The master's ``/json/`` state (``aliveworkers``, apps...), None while it does not answer."""
    try:
        return httpx.get(f"{master_ui}/json/", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return None


def new_secret() -> str:
    """A per-cluster secret for spark.authenticate."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class LocalSparkCluster:
    """Paths, configuration and process commands of one cluster; starts nothing by itself."""

    directory: Path
    ports: SparkClusterPorts
    worker_cores: int = 1
    worker_memory_mib: int = 1024
    drain_timeout_s: ClassVar[float | None] = float(DECOMMISSION_TIMEOUT_S)

    @property
    def conf_dir(self) -> Path:
        return self.directory / "conf"

    @property
    def secret_file(self) -> Path:
        return self.directory / "secret"

    @property
    def master_ui(self) -> str:
        return f"http://127.0.0.1:{self.ports.master_ui}"

    def prepare(self) -> None:
        """Write the configuration; the secret is generated once and kept across restarts."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.conf_dir.mkdir(exist_ok=True, mode=0o700)
        if not self.secret_file.exists():
            write_atomic(self.secret_file, new_secret())
        secret = self.secret_file.read_text().strip()
        metrics = self.conf_dir / "metrics.properties"
        replace_if_changed(metrics, metrics_properties())
        defaults = spark_defaults(
            self.ports,
            secret,
            self.worker_cores,
            executor_memory_mib(self.worker_memory_mib),
            str(metrics),
        )
        executor_options = use_options(cds_dir(), "executor")
        if executor_options:  # the drivers pass it on to the executors they get
            defaults["spark.executor.extraJavaOptions"] = executor_options
        replace_if_changed(self.conf_dir / "spark-defaults.conf", render_properties(defaults))

    def env(self) -> dict[str, str]:
        """Environment for a driver using this cluster, and the base of the daemons' (its log
        directory and daemon memory are theirs)."""
        return {
            **os.environ,
            **spark_client_env(self.conf_dir),
            "SPARK_LOG_DIR": str(self.directory / "logs"),
            "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
        }

    def daemon_env(self, kind: str) -> dict[str, str]:
        """Environment for a master or worker (``kind``): no configuration directory on its class
        path (the archive's class path), its archive's JVM options."""
        env = self.env()
        del env["SPARK_CONF_DIR"]
        env["SPARK_DAEMON_JAVA_OPTS"] = use_options(cds_dir(), kind)
        return env

    def _spark_class(self, *arguments: str) -> list[str]:
        properties = str(self.conf_dir / "spark-defaults.conf")
        return [
            str(spark_home() / "bin" / "spark-class"),
            *arguments,
            "--properties-file",
            properties,
        ]

    def master(self) -> processes.ProcessSpec:
        argv = self._spark_class(
            MASTER_CLASS,
            "--host", "127.0.0.1",
            "--port", str(self.ports.master),
            "--webui-port", str(self.ports.master_ui),
        )  # fmt: skip
        return self._process("master", argv, "master")

    def worker(self, name: str, webui_port: int) -> processes.ProcessSpec:
        work_dir = self.directory / "work" / name
        work_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        argv = self._spark_class(
            WORKER_CLASS,
            "--host", "127.0.0.1",
            "--cores", str(self.worker_cores),
            "--memory", f"{self.worker_memory_mib}m",
            "--webui-port", str(webui_port),
            "--work-dir", str(work_dir),
            f"spark://127.0.0.1:{self.ports.master}",
        )  # fmt: skip
        return self._process(f"worker-{name}", argv, "worker")

    def _process(self, role: str, argv: list[str], kind: str) -> processes.ProcessSpec:
        return processes.ProcessSpec(
            argv=argv,
            env=self.daemon_env(kind),
            pid_file=pid_dir(self.directory) / f"{role}.pid",
            log_file=self.directory / "logs" / f"{role}.log",
            cwd=self.directory,
            marker=f"{self.directory}/{role}",
        )

    # The local backend's engine interface (autoscaler.backends.local.backend.LocalEngine).

    def head(self) -> processes.ProcessSpec:
        return self.master()

    def begin_drain(self, name: str, pid: int) -> None:
        """Spark's graceful decommission: the worker's executors finish or migrate, then exit."""
        os.kill(pid, signal.SIGPWR)

    def drained(self, name: str, pid: int) -> bool:
        """True once the worker runs no executor (its executors are its child processes)."""
        return not processes.children(pid)

    def registered(self, workers: Mapping[str, int]) -> set[str]:
        """The workers the master lists as alive, by web UI port (none while it does not answer)."""
        state = master_state(self.master_ui) or {}
        alive = {
            worker.get("webuiaddress", "").rpartition(":")[2]
            for worker in state.get("workers", [])
            if worker.get("state") == "ALIVE"
        }
        return {name for name, port in workers.items() if str(port) in alive}

    def targets(self, workers: Mapping[str, int]) -> list[ScrapeTarget]:
        """Master, each worker, and every port of the drivers' UI range."""
        master = ScrapeTarget(
            f"127.0.0.1:{self.ports.master_ui}", {"role": "master"}, "/metrics/master/prometheus/"
        )
        per_worker = [
            ScrapeTarget(f"127.0.0.1:{port}", {"role": "worker", "worker": name}, METRICS_PATH)
            for name, port in workers.items()
        ]
        first = self.ports.driver_ui_first
        drivers = [
            ScrapeTarget(f"127.0.0.1:{port}", {"role": "driver"}, METRICS_PATH)
            for port in range(first, first + self.ports.driver_ui_count)
        ]
        return [master, *per_worker, *drivers]

    def rest_tls(self) -> None:
        """The controller reads nothing from a Spark master but Prometheus' metrics."""
        return None

    def client_config(self) -> dict[str, str]:
        """What a notebook needs to reach this cluster (SPARK_CONF_DIR carries the secret)."""
        return {
            "engine": "spark",
            "master_url": master_url(self.ports),
            "master_ui": self.master_ui,
            "conf_dir": str(self.conf_dir),
        }


METRICS_PATH = "/metrics/prometheus/"


def allocate_ports(driver_ui_count: int = 8) -> dict[str, int]:
    """Ports for a new cluster, kept in its runtime record for its whole life."""
    ports = SparkClusterPorts(
        free_port(), free_port(), free_port_range(driver_ui_count), driver_ui_count
    )
    return asdict(ports)


def engine_for(
    cluster: ComputeCluster, directory: Path, record: RuntimeRecord
) -> LocalSparkCluster:
    """The local backend's adapter for one Spark ComputeCluster."""
    worker = cluster.spec.worker
    return LocalSparkCluster(
        directory,
        SparkClusterPorts(**record.ports),
        worker.cores,
        worker.memory_mib,
    )
