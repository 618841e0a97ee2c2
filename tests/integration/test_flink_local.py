"""A real Flink session cluster from the pyflink package, started as the local backend does.

Shares one JobManager and 1-slot TaskManager for the session; a test that adds TaskManagers or
jobs stops and cancels them again. Jobs are PyFlink programs with a Python UDF, submitted with
``flink run`` from the Flink environment, as a user's kernel would.
"""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest
import yaml

from autoscaler.readers.flink_rest import (
    FlinkBadResponse,
    FlinkJobNotFound,
    FlinkRequestRejected,
    FlinkUnavailable,
)
from hubscale import flink_tls, processes
from hubscale.engines import flink_client_env, flink_python
from spawner.flink_client import write_client_dir
from spawner.notebook_env import flink_env
from tests.integration.flink_fixtures import (
    STARTUP_TIMEOUT_S,
    RunningFlink,
    processes_mentioning,
    rest_call,
    submit_job,
)
from tests.support import free_port, wait_for

RESCALE_TIMEOUT_S = 120  # ~10 s idle (resource stabilization), longer on a busy machine

JOB = """
from pyflink.table import DataTypes, EnvironmentSettings, TableEnvironment
from pyflink.table.udf import udf

env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
env.get_config().set("pipeline.name", "{name}")
env.create_temporary_function("plus_one", udf(lambda x: x + 1, result_type=DataTypes.BIGINT()))
env.execute_sql(
    "CREATE TABLE src (x BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '20')"
)
env.execute_sql("CREATE TABLE sink (y BIGINT) WITH ('connector' = 'blackhole')")
env.execute_sql("INSERT INTO sink SELECT plus_one(x) FROM src")
"""


def submit(flink: RunningFlink, tmp_path: Path, name: str, parallelism: int) -> str:
    """Submit a streaming job that runs until cancelled; its job id."""
    script = tmp_path / f"{name}.py"
    script.write_text(JOB.format(name=name))
    return submit_job(flink.cluster.env(), script, parallelism)


def job_state(flink: RunningFlink, job_id: str) -> str | None:
    jobs = flink.rest(lambda rest: rest.jobs())
    return next((job.state for job in jobs if job.id == job_id), None)


def cancel(flink: RunningFlink, job_id: str) -> None:
    flink.rest(lambda rest: rest.cancel(job_id))
    wait_for(lambda: job_state(flink, job_id) == "CANCELED", timeout_s=60)


def test_the_jobmanager_answers_and_knows_the_taskmanager_by_our_name(flink):
    def known() -> bool:
        overview = flink.rest(lambda rest: rest.overview())
        taskmanagers = flink.rest(lambda rest: rest.taskmanagers())
        return (overview.taskmanagers, overview.slots_total) == (1, 1) and [
            (tm.id, tm.slots_total) for tm in taskmanagers
        ] == [("tm-0", 1)]

    # Two answers read at different moments, on a JobManager that may not have settled on the
    # TaskManager's slot report yet: the settled state is waited for, not read once.
    wait_for(known, timeout_s=STARTUP_TIMEOUT_S)


def test_rest_failures_come_back_as_typed_errors(flink):
    unknown_job = "0" * 32
    with pytest.raises(FlinkJobNotFound):  # Flink answers 500 with FlinkJobNotFoundException
        flink.rest(lambda rest: rest.resource_requirements(unknown_job))
    with pytest.raises(FlinkJobNotFound):  # and 404 here
        flink.rest(lambda rest: rest.cancel(unknown_job))
    with pytest.raises(FlinkRequestRejected, match="does not specify resource requirements"):
        flink.rest(lambda rest: rest.set_resource_requirements(unknown_job, {}))
    with pytest.raises(FlinkUnavailable):
        rest_call(f"http://127.0.0.1:{free_port()}", lambda rest: rest.overview(), timeout_s=2)
    reporter = f"http://127.0.0.1:{flink.cluster.ports.jobmanager_metrics}"
    with pytest.raises(FlinkBadResponse):  # Prometheus text, not Flink's JSON
        rest_call(reporter, lambda rest: rest.overview())
    with pytest.raises(ValueError, match="not a Flink job"):
        flink.rest(lambda rest: rest.cancel("../taskmanagers"))
    with pytest.raises(FlinkBadResponse):  # /jobs/overview: Flink's JSON, but not an overview
        rest_call(f"{flink.rest_url}/jobs", lambda rest: rest.overview(), tls=flink.tls)


def test_the_rest_api_answers_only_clients_with_the_clusters_certificate(flink):
    """Issue 14, finding 2: any local process could submit, cancel and read jobs here."""
    url = f"{flink.rest_url}/overview"
    assert url.startswith("https://127.0.0.1:")
    plain = httpx.get(url.replace("https://", "http://"), timeout=10)
    assert plain.status_code != 200 and not plain.content  # a redirect to https, no data
    for refused in (no_certificate(), a_certificate(flink_tls.generate(["127.0.0.1"]))):
        with pytest.raises((httpx.HTTPError, ssl.SSLError)):
            httpx.get(url, verify=refused, timeout=10).raise_for_status()
    answer = httpx.get(url, verify=flink.tls, timeout=10)  # the controller's own context
    assert answer.status_code == 200 and answer.json()["taskmanagers"] >= 1


def test_another_clusters_certificate_is_refused_even_where_it_trusts_this_one(flink, tmp_path):
    """Another cluster's credential (as the local backend generates one per cluster) opens only
    that cluster: the JobManager trusts its own certificate and no other."""
    other = flink_tls.ensure(tmp_path / "other-cluster" / "tls")
    assert other.fingerprint() != flink_tls.load(flink.cluster.tls_dir).fingerprint()
    own = flink_tls.load(flink.cluster.tls_dir)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=own.certificate.decode())  # trusts this JobManager
    context.load_cert_chain(
        tmp_path / "other-cluster" / "tls" / flink_tls.CERTIFICATE,
        tmp_path / "other-cluster" / "tls" / flink_tls.PRIVATE_KEY,
    )
    with pytest.raises((httpx.HTTPError, ssl.SSLError)):
        httpx.get(f"{flink.rest_url}/jobs/overview", verify=context, timeout=10).raise_for_status()
    with pytest.raises(FlinkUnavailable):  # and the controller's client says so, typed
        rest_call(flink.rest_url, lambda rest: rest.jobs(), tls=flink_tls.client_context(other))


BATCH_JOB = """
from pyflink.table import EnvironmentSettings, TableEnvironment

env = TableEnvironment.create(EnvironmentSettings.in_batch_mode())
rows = env.execute_sql("SELECT SUM(x) FROM (VALUES (1), (2), (3), (4)) AS t(x)").collect()
with rows:
    print("SUM", [row[0] for row in rows])
"""


def test_a_pyflink_batch_job_runs_from_the_notebooks_client_config(flink, tmp_path):
    """The kernel's path: the client directory the spawner writes (its own keystore copy and
    config), the environment a Flink kernel gets, PyFlink's gateway submitting remotely."""
    client_dir = write_client_dir(flink.cluster.conf_dir, tmp_path / "client")
    config = yaml.safe_load((client_dir / "conf" / "config.yaml").read_text())
    assert config["security.ssl.rest.keystore"] == str(client_dir / "conf" / "rest.p12")
    assert (client_dir / "conf" / "rest.p12").stat().st_mode & 0o777 == 0o600
    script = tmp_path / "batch.py"
    script.write_text(BATCH_JOB)
    env = {
        **os.environ,
        **flink_client_env(client_dir / "conf"),
        **flink_env(flink.cluster.client_config(), client_dir),
        "TMPDIR": str(tmp_path),
    }
    result = subprocess.run(
        [str(flink_python()), str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "SUM [10]" in result.stdout
    jobs = flink.rest(lambda rest: rest.jobs())  # it ran on the session cluster, not in-process
    assert any(job.state == "FINISHED" for job in jobs)


def no_certificate() -> ssl.SSLContext:
    """A client that accepts any server and presents nothing."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def a_certificate(tls: flink_tls.RestTls) -> ssl.SSLContext:
    """A client that accepts any server and presents ``tls``'s certificate."""
    context = no_certificate()
    with tempfile.TemporaryDirectory() as scratch:
        chain, key = Path(scratch) / flink_tls.CERTIFICATE, Path(scratch) / flink_tls.PRIVATE_KEY
        chain.write_bytes(tls.certificate)
        key.write_bytes(tls.private_key)
        context.load_cert_chain(chain, key)
    return context


def test_jobmanager_and_taskmanager_serve_prometheus_metrics_on_loopback(flink):
    ports = flink.cluster.ports
    slots = 'flink_jobmanager_taskSlotsTotal{host="127_0_0_1",} 1.0'

    def jobmanager_metrics() -> str:
        text = httpx.get(f"http://127.0.0.1:{ports.jobmanager_metrics}/metrics", timeout=5).text
        return text if slots in text else ""

    # The JVM's metrics come first; the slot gauges once the resource manager has registered them.
    jobmanager = wait_for(jobmanager_metrics, timeout_s=60)
    assert "flink_jobmanager_numRegisteredTaskManagers" in jobmanager
    assert "flink_jobmanager_numRunningJobs" in jobmanager

    def taskmanager_metrics() -> bool:
        url = f"http://127.0.0.1:{ports.metrics_first + 1}/metrics"
        text = httpx.get(url, timeout=5).text
        # The reporter turns characters Prometheus does not allow into "_": tm-0 becomes tm_0.
        return bool(re.search(r'flink_taskmanager_Status_JVM_CPU_Load\{.*tm_id="tm_0"', text))

    wait_for(taskmanager_metrics, timeout_s=60)  # a gauge is registered after the reporter's port


def test_a_job_rescales_onto_a_new_taskmanager_and_survives_its_stop_leaving_no_processes(
    flink, tmp_path
):
    """One job's life, in one test to keep the file short (each submission costs ~15 s).

    Demand 2 on 1 slot; a second TaskManager → parallelism 2; stopping that TaskManager leaves
    none of its JVM or Python UDF workers; lower bounds (FLIP-291) → RUNNING at 1; cancel.
    """
    job_id = submit(flink, tmp_path, "hubscale-rescale", parallelism=2)
    try:
        wait_for(lambda: job_state(flink, job_id) == "RUNNING", timeout_s=STARTUP_TIMEOUT_S)
        assert flink.rest(lambda rest: rest.job_demand_slots()) == 2
        assert flink.rest(lambda rest: rest.overview()).slots_total == 1
        bounds = flink.rest(lambda rest: rest.resource_requirements(job_id))
        assert bounds and set(bounds.values()) == {(1, 2)}

        pid = flink.start_taskmanager("tm-1")
        wait_for(lambda: parallelism(flink, job_id) == {2}, timeout_s=2 * STARTUP_TIMEOUT_S)
        # The REST answers are snapshots taken at different moments (Flink caches a job's graph
        # for a few seconds; a TaskManager slow to heartbeat on a loaded machine re-registers),
        # so the settled state is waited for as a whole, not read once.
        wait_for(
            lambda: (
                job_state(flink, job_id) == "RUNNING"
                and parallelism(flink, job_id) == {2}
                and free_slots_by_taskmanager(flink) == [("tm-0", 0), ("tm-1", 0)]
            ),
            timeout_s=RESCALE_TIMEOUT_S,
        )
        assert flink.rest(lambda rest: rest.job_demand_slots()) == 2
        wait_for(lambda: not missing_job_metrics(flink, job_id), timeout_s=RESCALE_TIMEOUT_S)

        # Its own process group holds the TaskManager's Python workers; stop() takes them along.
        marker = str(flink.cluster.directory / "run" / "taskmanager-tm-1")  # in their environment
        workers = wait_for(lambda: python_workers(marker), timeout_s=RESCALE_TIMEOUT_S)
        assert {process_group(worker) for worker in workers} == {pid}
        assert processes.stop(flink.taskmanagers.pop("tm-1").pid_file)
        # its Python workers exit on the group's SIGTERM, slowly on a loaded machine
        wait_for(lambda: not processes_mentioning(marker), timeout_s=60)

        # FLIP-291: bounds set at runtime are the demand from then on (the controller's lever).
        flink.rest(
            lambda rest: rest.set_resource_requirements(job_id, dict.fromkeys(bounds, (1, 1)))
        )
        assert set(flink.rest(lambda rest: rest.resource_requirements(job_id)).values()) == {(1, 1)}
        assert flink.rest(lambda rest: rest.job_demand_slots()) == 1
        wait_for(
            lambda: job_state(flink, job_id) == "RUNNING" and parallelism(flink, job_id) == {1},
            timeout_s=RESCALE_TIMEOUT_S,
        )

        cancel(flink, job_id)
        assert flink.rest(lambda rest: rest.job_demand_slots()) == 0
        wait_for(lambda: flink.rest(lambda rest: rest.overview()).slots_available == 1)
    finally:
        if job_state(flink, job_id) not in (None, "CANCELED"):
            flink.rest(lambda rest: rest.cancel(job_id))
        if "tm-1" in flink.taskmanagers:
            flink.stop_taskmanager("tm-1")
    # tm-1 left the JobManager too (it says goodbye on SIGTERM; a busy JobManager may take a while)
    wait_for(lambda: [tm for tm, _ in free_slots_by_taskmanager(flink)] == ["tm-0"], timeout_s=60)


def free_slots_by_taskmanager(flink: RunningFlink) -> list[tuple[str, int]]:
    return sorted((tm.id, tm.slots_free) for tm in flink.rest(lambda rest: rest.taskmanagers()))


def parallelism(flink: RunningFlink, job_id: str) -> set[int]:
    return set(flink.rest(lambda rest: rest.vertex_parallelism(job_id)).values())


def missing_job_metrics(flink: RunningFlink, job_id: str) -> list[str]:
    """The per-task gauges (with the job and our TaskManager name, "-" turned into "_") and the
    JobManager's slot and rescale gauges not yet exported: a task registers its gauges when it
    starts, which may come after the job reads RUNNING."""
    ports = flink.cluster.ports
    taskmanager = httpx.get(f"http://127.0.0.1:{ports.metrics_first + 1}/metrics", timeout=5).text
    jobmanager = httpx.get(f"http://127.0.0.1:{ports.jobmanager_metrics}/metrics", timeout=5).text
    wanted = {
        metric: (
            taskmanager,
            rf'flink_taskmanager_job_task_{metric}\{{job_id="{job_id}",.*tm_id="tm_0"',
        )
        for metric in (
            "busyTimeMsPerSecond",
            "backPressuredTimeMsPerSecond",
            "numRecordsOutPerSecond",
        )
    }
    wanted["taskSlotsTotal 2"] = (
        jobmanager,
        r'flink_jobmanager_taskSlotsTotal\{host="127_0_0_1",\} 2\.0',
    )
    wanted["numRescales"] = (jobmanager, rf'flink_jobmanager_job_numRescales\{{job_id="{job_id}"')
    return [name for name, (text, pattern) in wanted.items() if not re.search(pattern, text)]


def python_workers(marker: str) -> list[int]:
    """PyFlink's UDF workers (Beam's boot process) started by the TaskManager ``marker`` names."""
    found = []
    for pid in processes_mentioning(marker):
        try:
            if b"beam_boot" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def process_group(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[2])
