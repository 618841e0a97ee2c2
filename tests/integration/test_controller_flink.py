"""The controller process with a real Flink session cluster: a waiting job grows TaskManagers,
cancelling it lets them go. Jobs are PyFlink programs submitted with ``flink run`` and the
cluster's client configuration, as a user's kernel would submit them."""

from __future__ import annotations

import re
import time

from tests.integration.flink_fixtures import (
    client_tls,
    rest_call,
    running_on_all_slots,
    submit,
    taskmanagers,
)
from tests.support import wait_for

TASKMANAGER = {"cores": 1, "memory": "1Gi"}


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
    wait_for(lambda: (platform.status(name).workers, platform.status(name).desired) == (0, 0), 90)
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
    wait_for(lambda: platform.status(name).desired == 1, timeout_s=90)
    deadline = time.monotonic() + 10  # ten loops of the controller
    while time.monotonic() < deadline:
        assert len(taskmanagers(platform, name)) == 2  # draining, not stopped under the job
        time.sleep(0.5)
    # Never restarted onto fewer slots: both TaskManagers stayed, and the job still holds both
    # slots (waited for: one /taskmanagers answer can miss a TaskManager slow to heartbeat).
    wait_for(lambda: running_on_all_slots(client, job, 2), timeout_s=60, every_s=1)
    assert platform.status(name).phase == "Scaling"

    rest_call(client["rest_url"], lambda rest: rest.cancel(job), tls=client_tls(client))
    wait_for(lambda: len(taskmanagers(platform, name)) == 1, timeout_s=120)
