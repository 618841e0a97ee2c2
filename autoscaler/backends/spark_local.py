"""One user's Spark standalone cluster as local processes from the pyspark package.

A directory per cluster holds the configuration (mode 0700, files 0600: it has the secret), logs,
pid files and the workers' scratch space. The master and each worker are ``spark-class`` JVMs
bound to 127.0.0.1; the same ``conf/`` is the client configuration a driver uses
(``SPARK_CONF_DIR``).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from autoscaler.atomic_files import write_atomic
from autoscaler.backends import processes
from autoscaler.backends.spark_conf import (
    SparkClusterPorts,
    executor_memory_mib,
    metrics_properties,
    render_properties,
    spark_defaults,
)

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
DAEMON_MEMORY = "256m"  # master and worker daemons; executors get the worker's memory


class SparkNotInstalled(RuntimeError):
    """No Spark distribution: ``make install`` puts pyspark in ``.venv-spark``."""


def spark_python() -> Path:
    """The Python of the Spark environment (pyspark cannot share a venv with apache-flink)."""
    configured = os.environ.get("HUBSCALE_SPARK_PYTHON")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / ".venv-spark" / "bin" / "python"


def spark_home() -> Path:
    """``SPARK_HOME``: the installed pyspark package directory (it ships the jars and scripts)."""
    configured = os.environ.get("SPARK_HOME")
    if configured:
        return Path(configured)
    venv = spark_python().parent.parent
    found = sorted(venv.glob("lib/python3*/site-packages/pyspark"))
    if not found or not (found[-1] / "bin" / "spark-class").exists():
        raise SparkNotInstalled(f"no pyspark under {venv}: run `make install`")
    return found[-1]


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

    @property
    def conf_dir(self) -> Path:
        return self.directory / "conf"

    @property
    def secret_file(self) -> Path:
        return self.directory / "secret"

    def prepare(self) -> None:
        """Write the configuration; the secret is generated once and kept across restarts."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.conf_dir.mkdir(exist_ok=True, mode=0o700)
        if not self.secret_file.exists():
            write_atomic(self.secret_file, new_secret())
        secret = self.secret_file.read_text().strip()
        metrics = self.conf_dir / "metrics.properties"
        write_atomic(metrics, metrics_properties())
        defaults = spark_defaults(
            self.ports,
            secret,
            self.worker_cores,
            executor_memory_mib(self.worker_memory_mib),
            str(metrics),
        )
        write_atomic(self.conf_dir / "spark-defaults.conf", render_properties(defaults))

    def env(self) -> dict[str, str]:
        """Environment for the daemons and for a driver using this cluster."""
        return {
            **os.environ,
            "SPARK_HOME": str(spark_home()),
            "SPARK_CONF_DIR": str(self.conf_dir),
            "SPARK_LOG_DIR": str(self.directory / "logs"),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
            "PYSPARK_PYTHON": str(spark_python()),
            "PYSPARK_DRIVER_PYTHON": str(spark_python()),
        }

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
        return self._process("master", argv)

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
        return self._process(f"worker-{name}", argv)

    def _process(self, role: str, argv: list[str]) -> processes.ProcessSpec:
        return processes.ProcessSpec(
            argv=argv,
            env=self.env(),
            pid_file=self.directory / "pids" / f"{role}.pid",
            log_file=self.directory / "logs" / f"{role}.log",
            cwd=self.directory,
        )
