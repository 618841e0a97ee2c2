"""The kernels' head wait on the real engine libraries: pyspark's ``getOrCreate`` and PyFlink's
gateway (every TableEnvironment's first step) wait for the head and fail with the cluster's
reason, each in its engine's own environment, as kernel_startup installs it."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from hubscale.engines import flink_python, spark_python

SPAWNER = Path(__file__).resolve().parents[2] / "spawner"
KERNEL = """
import sys
sys.path.insert(0, {spawner!r})
import head_wait
head_wait.install()
{use}
"""
USES = {
    "spark": "from pyspark.sql import SparkSession\nSparkSession.builder.getOrCreate()",
    "flink": (
        "from pyflink.table import EnvironmentSettings, TableEnvironment\n"
        "TableEnvironment.create(EnvironmentSettings.in_batch_mode())"
    ),
}
ADDRESS = {"spark": "SPARK_MASTER", "flink": "FLINK_REST_URL"}
URL = {"spark": "spark://127.0.0.1:{port}", "flink": "https://127.0.0.1:{port}"}


@pytest.mark.parametrize("engine", ["spark", "flink"])
def test_the_first_session_waits_for_the_head_and_fails_with_its_reason(engine, tmp_path: Path):
    python = spark_python() if engine == "spark" else flink_python()
    if not python.exists():
        pytest.skip(f"no {python}: make install")
    status = tmp_path / "status.yaml"
    reason = "Spark master stopped: no Spark kernel, no workers; starts with one"
    status.write_text(yaml.safe_dump({"conditions": [{"type": "HeadRunning", "message": reason}]}))
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))  # bound, never listening: the head is not there
        env = {
            **os.environ,
            "HUBSCALE_KERNEL_ENGINE": engine,
            ADDRESS[engine]: URL[engine].format(port=unused.getsockname()[1]),
            f"HUBSCALE_{engine.upper()}_STATUS_FILE": str(status),
            "HUBSCALE_HEAD_WAIT_S": "1",
        }
        code = KERNEL.format(spawner=str(SPAWNER), use=USES[engine])
        run = subprocess.run(
            [str(python), "-c", code], env=env, capture_output=True, text=True, timeout=300
        )
    assert run.returncode != 0
    assert "hubscale: waiting for your" in run.stderr
    assert "head_wait.HeadNotReady" in run.stderr and reason in run.stderr
