"""The project's own example notebooks, run by the notebook pytest plugin on real local Spark and
Flink clusters that the real controller starts and scales, with the environment the local
spawner gives a user's notebook server."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import httpx
import pytest

from hubscale.engines import spark_client_env
from spawner.cluster_clients import read_client
from spawner.flink_client import write_client_dir
from spawner.notebook_env import flink_env, spark_env
from tests.integration.flink_fixtures import client_tls
from tests.nb_support import REPO, engine_kernels_env, run_pytest
from tests.support import wait_for

EXAMPLES = REPO / "examples"
WELCOME = REPO / "hubscale_nb" / "welcome_notebooks"  # what a first login opens
WORKER = {"cores": 1, "memory": "1Gi"}


@pytest.fixture(scope="module")
def kernels_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return engine_kernels_env(tmp_path_factory.mktemp("kernels"))


def test_the_examples_and_the_welcome_run_green_on_the_users_own_spark_and_flink_clusters(
    platform, kernels_env, tmp_path
):
    names = {"spark": "nb-examples-spark", "flink": "nb-examples-flink"}
    for engine, name in names.items():
        platform.apply(name, engine=engine, minWorkers=0, maxWorkers=2, worker=WORKER)
    spark, flink = (
        wait_for(lambda name=name: read_client(platform.state_dir, name), timeout_s=240)
        for name in names.values()
    )
    flink_client = write_client_dir(Path(flink["conf_dir"]), tmp_path / "flink-client")
    server_env = {  # what spawner.local.LocalSpawner gives the user's server
        **spark_client_env(Path(spark["conf_dir"])),
        **spark_env(spark),
        **flink_env(flink, flink_client),
    }
    env = {**os.environ, **kernels_env, **server_env, "TMPDIR": str(tmp_path)}

    started = time.monotonic()
    run = run_pytest(
        "-v", "--durations=0", str(EXAMPLES), str(WELCOME), cwd=tmp_path, env=env, timeout_s=1500
    )
    elapsed_s = time.monotonic() - started

    durations = re.findall(r"^([\d.]+)s call\s+(\S+)", run.stdout, re.M)
    print(f"nb-examples seconds={elapsed_s:.1f} per-notebook={durations}")
    assert "spark_batch.ipynb::notebook PASSED" in run.stdout, run.stdout[-6000:]
    assert "flink_streaming.ipynb::notebook PASSED" in run.stdout, run.stdout[-6000:]
    assert "flink_batch.ipynb::notebook PASSED" in run.stdout, run.stdout[-6000:]
    assert "Welcome.ipynb::notebook PASSED" in run.stdout, run.stdout[-6000:]
    assert "welcome_notebooks/Flink.ipynb::notebook PASSED" in run.stdout, run.stdout[-6000:]
    assert "5 passed" in run.stdout
    assert ".py" not in " ".join(re.findall(r"^\S+::notebook", run.stdout, re.M))  # twins

    # They ran on the user's clusters, not on a local Spark or a mini-cluster in the kernel.
    apps = httpx.get(f"{spark['master_ui']}/json/", timeout=10).json()["completedapps"]
    assert {"examples-spark-batch", "welcome"} <= {app["name"] for app in apps}
    overview = httpx.get(f"{flink['rest_url']}/jobs/overview", timeout=10, verify=client_tls(flink))
    jobs = overview.json()["jobs"]
    kinds = sorted((job["jobType"], job["state"]) for job in jobs)
    assert kinds == [("BATCH", "FINISHED"), ("BATCH", "FINISHED"), ("STREAMING", "FINISHED")]


def test_a_failing_example_points_at_its_cell_through_the_same_plugin(kernels_env, tmp_path):
    """No cluster needed to fail: the Spark kernel itself reports the cell (a broken import)."""
    notebook = (EXAMPLES / "spark_batch.ipynb").read_text()
    broken = notebook.replace("from pyspark.sql import functions as F", "import pyspark.nope", 1)
    (tmp_path / "spark_batch.ipynb").write_text(broken)
    env = {**os.environ, **kernels_env}

    run = run_pytest(str(tmp_path), cwd=tmp_path, env=env, timeout_s=600)

    assert "spark_batch.ipynb: cell 2 (index 1, In [1]) raised ModuleNotFoundError" in run.stdout
    assert "----> 2 import pyspark.nope" in run.stdout, run.stdout[-4000:]
