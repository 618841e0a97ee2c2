"""The controller process with a real Flink session cluster: a waiting job grows TaskManagers,
cancelling it lets them go. Jobs are PyFlink programs submitted with ``flink run`` and the
cluster's client configuration, as a user's kernel would submit them."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from hubscale import processes
from hubscale.engines import flink_client_env
from tests.integration.flink_fixtures import client_tls, rest_call, submit_job
from tests.support import wait_for

TASKMANAGER = {"cores": 1, "memory": "1Gi"}
JOB = """
from pyflink.table import EnvironmentSettings, TableEnvironment

env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
env.execute_sql(
    "CREATE TABLE src (x BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '50')"
)
env.execute_sql("CREATE TABLE sink (x BIGINT, n BIGINT) WITH ('connector' = 'blackhole')")
env.execute_sql("INSERT INTO sink SELECT x % 10, COUNT(*) FROM src GROUP BY x % 10")
"""


def taskmanagers(platform, name: str) -> dict[str, int]:
    return processes.group_leaders(f"{platform.prefix(name)}taskmanager-")


def running_on_all_slots(client: dict, job: str, slots: int) -> bool:
    """The job runs, and every slot of the cluster is taken by it."""

    async def look(rest):
        return await rest.jobs(), await rest.taskmanagers()

    jobs, registered = rest_call(client["rest_url"], look, tls=client_tls(client))
    state = next(j.state for j in jobs if j.id == job)
    used = sum(tm.slots_total - tm.slots_free for tm in registered)
    return state == "RUNNING" and used == slots == sum(tm.slots_total for tm in registered)


def submit(platform, name: str, tmp_path: Path, parallelism: int) -> str:
    script = tmp_path / "job.py"
    script.write_text(JOB)
    conf_dir = Path(platform.client(name)["conf_dir"])
    env = {**os.environ, **flink_client_env(conf_dir), "TMPDIR": str(tmp_path)}
    return submit_job(env, script, parallelism)


def test_a_waiting_job_grows_taskmanagers_and_cancelling_it_shrinks_them(platform, tmp_path):
    name = "flink-grow"
    platform.apply(
        name, engine="flink", minWorkers=0, maxWorkers=3, worker=TASKMANAGER, idleTimeoutSeconds=15
    )
    wait_for(lambda: platform.status(name) and platform.status(name).phase == "Idle", 180)
    client = platform.client(name)

    job = submit(platform, name, tmp_path, parallelism=2)

    wait_for(lambda: len(taskmanagers(platform, name)) == 2, timeout_s=180)
    wait_for(lambda: running_on_all_slots(client, job, 2), timeout_s=240, every_s=1)
    assert len(taskmanagers(platform, name)) == 2  # the job wanted 2 slots: never the bound of 3
    # Grown for the waiting job (a just-submitted job may count one slot for a loop first).
    assert re.search(rf"scale cluster={name} from=[01] to=2 cause=backlog", platform.log())

    rest_call(client["rest_url"], lambda rest: rest.cancel(job), tls=client_tls(client))
    wait_for(lambda: not taskmanagers(platform, name), timeout_s=180)
    wait_for(lambda: (platform.status(name).workers, platform.status(name).desired) == (0, 0), 30)
    assert f"scale cluster={name} from=2 to=0 cause=idle" in platform.log()


def test_a_taskmanager_running_a_job_stays_until_its_slots_are_free(platform, tmp_path):
    name = "flink-drain"
    platform.apply(name, engine="flink", minWorkers=2, maxWorkers=2, worker=TASKMANAGER)
    wait_for(lambda: len(taskmanagers(platform, name)) == 2, timeout_s=180)
    client = platform.client(name)
    job = submit(platform, name, tmp_path, parallelism=2)
    wait_for(lambda: running_on_all_slots(client, job, 2), timeout_s=240, every_s=1)

    # An admin lowers the bound: one TaskManager must go, but it runs part of the job.
    platform.apply(name, engine="flink", minWorkers=0, maxWorkers=1, worker=TASKMANAGER)
    wait_for(lambda: platform.status(name).desired == 1, timeout_s=30)
    time.sleep(10)
    assert len(taskmanagers(platform, name)) == 2  # draining, not stopped under the job
    assert running_on_all_slots(client, job, 2)  # never restarted onto fewer slots
    assert platform.status(name).phase == "Scaling"

    rest_call(client["rest_url"], lambda rest: rest.cancel(job), tls=client_tls(client))
    wait_for(lambda: len(taskmanagers(platform, name)) == 1, timeout_s=120)
