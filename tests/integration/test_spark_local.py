"""A real Spark standalone cluster from the pyspark package, started as the local backend does.

Shares one master and worker for the session; each test runs its own driver (a PySpark program
in the Spark environment, as a user's kernel would).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from autoscaler.backends.local.spark import cds_dir
from autoscaler.backends.local.spark_cds import ROLES, archive
from hubscale import processes
from hubscale.engines import spark_python
from tests.support import free_port, wait_for

DRIVER = """
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("hubscale-test").getOrCreate()
print("RESULT", spark.sparkContext.parallelize(range(10000), 20).map(lambda x: x * x).sum())
spark.stop()
"""


def test_worker_registers_and_the_master_serves_prometheus_metrics(spark):
    assert spark.state()["aliveworkers"] == 1
    metrics = httpx.get(f"{spark.master_ui}/metrics/master/prometheus/", timeout=5).text
    assert "metrics_master_waitingApps_Value" in metrics
    assert "metrics_master_aliveWorkers_Value" in metrics


def test_the_cluster_config_is_private_and_binds_to_loopback(spark):
    conf = spark.cluster.conf_dir / "spark-defaults.conf"
    assert os.stat(conf).st_mode & 0o777 == 0o600
    assert os.stat(spark.cluster.secret_file).st_mode & 0o777 == 0o600
    text = conf.read_text()
    assert "spark.authenticate true" in text and "spark.master.rest.enabled false" in text
    assert spark.cluster.secret_file.read_text().strip() in text
    assert f"spark://127.0.0.1:{spark.cluster.ports.master}" in text


def test_a_driver_with_the_clusters_config_gets_the_exact_result(spark, tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    result = subprocess.run(
        [str(spark_python()), str(script)],
        env=spark.cluster.env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"RESULT {sum(x * x for x in range(10000))}" in result.stdout


def test_a_driver_with_another_users_secret_is_refused_by_the_master(spark, tmp_path):
    own = (spark.cluster.conf_dir / "spark-defaults.conf").read_text().splitlines(keepends=True)
    other = tmp_path / "other-user-conf"
    other.mkdir()
    lines = [line for line in own if not line.startswith("spark.authenticate.secret ")]
    (other / "spark-defaults.conf").write_text("".join(lines) + "spark.authenticate.secret x\n")
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    driver = subprocess.Popen(
        [str(spark_python()), str(script)],
        env={**spark.cluster.env(), "SPARK_CONF_DIR": str(other)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    refused = False
    deadline = time.monotonic() + 120
    try:
        for line in driver.stdout:
            assert not line.startswith("RESULT"), "a driver with the wrong secret ran a job"
            if "SaslException" in line:
                refused = True
                break
            if time.monotonic() > deadline:
                break
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    assert refused
    assert spark.state()["activeapps"] == []


def test_a_pid_file_adopts_only_the_process_it_recorded(spark, tmp_path):
    pid = processes.running_pid(spark.master.pid_file)
    assert pid is not None
    started = processes.start_time(pid)
    reused = tmp_path / "reused.pid"
    reused.write_text(f"{pid} {started + 1}\n")  # same pid, other start: not ours
    assert processes.running_pid(reused) is None
    assert processes.stop(reused) is False
    assert processes.running_pid(spark.master.pid_file) == pid


SLOW_TASKS_DRIVER = """
import time
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("hubscale-cds-test").getOrCreate()
rdd = spark.sparkContext.parallelize(range(4), 1)
print("RESULT", rdd.map(lambda x: time.sleep(8) or x).sum())
spark.stop()
"""


def mapped(pid: int, path) -> bool:
    """Has the JVM ``pid`` mapped ``path``? (A JVM that rejects an archive does not map it.)"""
    return str(path) in Path(f"/proc/{pid}/maps").read_text()


def executors(worker: int) -> list[int]:
    return [
        pid
        for pid in processes.children(worker)
        if b"CoarseGrainedExecutorBackend" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def test_the_master_lists_its_worker_as_registered_by_web_ui_port(spark):
    """What the local backend waits for before it starts a cluster's next worker."""
    (worker,) = spark.workers
    port = int(worker.argv[worker.argv.index("--webui-port") + 1])
    assert spark.cluster.registered({"w0": port, "w9": free_port()}) == {"w0"}


def registered_executor_log(worker_dir: Path, executor: int) -> bytes | None:
    """The stderr of the executor JVM ``executor`` once it has registered with its driver."""
    arguments = Path(f"/proc/{executor}/cmdline").read_bytes().split(b"\0")
    app_id = arguments[arguments.index(b"--app-id") + 1].decode()
    executor_id = arguments[arguments.index(b"--executor-id") + 1].decode()
    for log in worker_dir.glob(f"work/*/{app_id}/{executor_id}/stderr"):
        text = log.read_bytes()
        if b"Successfully registered with driver" in text:
            return text
    return None


def test_the_jvms_start_from_their_class_data_sharing_archives(spark, tmp_path):
    """``make install`` trained the archives; master, worker and an executor all map theirs."""
    for role in ROLES:
        assert archive(cds_dir(), role).is_file(), f"no {role} archive: `make install` makes it"
    master = processes.running_pid(spark.master.pid_file)
    (worker,) = [processes.running_pid(w.pid_file) for w in spark.workers]
    assert mapped(master, archive(cds_dir(), "master")), spark.master.log_file.read_text()[-3000:]
    assert mapped(worker, archive(cds_dir(), "worker")), spark.workers[0].log_file.read_text()[
        -3000:
    ]
    script = tmp_path / "driver.py"
    script.write_text(SLOW_TASKS_DRIVER)
    driver = subprocess.Popen(
        [str(spark_python()), str(script)], env=spark.cluster.env(),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        (executor,) = wait_for(lambda: executors(worker), timeout_s=120)
        # the JVM maps its archive while it boots, before it registers with the driver
        stderr = wait_for(
            lambda: registered_executor_log(spark.workers[0].cwd, executor), timeout_s=120
        )
        command = Path(f"/proc/{executor}/cmdline").read_bytes().replace(b"\0", b" ")
        assert mapped(executor, archive(cds_dir(), "executor")), (command + stderr).decode()
        out, _ = driver.communicate(timeout=120)
    finally:
        driver.kill()
    assert "RESULT 6" in out
