"""Where the Spark and Flink installations are, and what a client needs to use a cluster of each.

pyspark and apache-flink pin different py4j versions, so each engine has an environment of its own
(``make install``: ``.venv-spark``, ``.venv-flink``). The local backend starts the clusters' JVMs
from them; the spawner gives the users' kernels the same client environment.
"""

from __future__ import annotations

import os
from pathlib import Path


class SparkNotInstalled(RuntimeError):
    """No Spark distribution: ``make install`` puts pyspark in ``.venv-spark``."""


class FlinkNotInstalled(RuntimeError):
    """No Flink distribution: ``make install`` puts apache-flink in ``.venv-flink``."""


def spark_python() -> Path:
    """The Python of the Spark environment (pyspark cannot share a venv with apache-flink)."""
    configured = os.environ.get("HUBSCALE_SPARK_PYTHON")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[1] / ".venv-spark" / "bin" / "python"


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


def spark_client_env(conf_dir: Path) -> dict[str, str]:
    """What a driver on this machine (a kernel in local mode, a test) needs to use a cluster:
    this Spark installation and the cluster's client configuration."""
    return {
        "SPARK_HOME": str(spark_home()),
        "SPARK_CONF_DIR": str(conf_dir),
        "SPARK_LOCAL_IP": "127.0.0.1",  # else the driver binds the external interface, slowly
        "PYSPARK_PYTHON": str(spark_python()),
        "PYSPARK_DRIVER_PYTHON": str(spark_python()),
    }


def flink_python() -> Path:
    """The Python of the Flink environment (apache-flink cannot share a venv with pyspark)."""
    configured = os.environ.get("HUBSCALE_FLINK_PYTHON")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[1] / ".venv-flink" / "bin" / "python"


def flink_home() -> Path:
    """``FLINK_HOME``: the installed pyflink package directory (a full Flink distribution)."""
    venv = flink_python().parent.parent
    found = sorted(venv.glob("lib/python3*/site-packages/pyflink"))
    if not found or not (found[-1] / "bin" / "jobmanager.sh").exists():
        raise FlinkNotInstalled(f"no apache-flink under {venv}: run `make install`")
    return found[-1]


def flink_client_env(conf_dir: Path) -> dict[str, str]:
    """What a client on this machine (``flink run``, a PyFlink kernel in local mode) needs:
    this Flink installation and the configuration in ``conf_dir``."""
    return {
        "FLINK_HOME": str(flink_home()),
        "FLINK_CONF_DIR": str(conf_dir),
        "PYFLINK_CLIENT_EXECUTABLE": str(flink_python()),
    }
