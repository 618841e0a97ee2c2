"""Class-data sharing for Spark's JVMs: a worker or an executor starts in about half the time.

Most of a Spark JVM's start is loading and verifying the same few thousand classes from Spark's
jars. A dynamic AppCDS archive (JDK 13+: ``-XX:ArchiveClassesAtExit`` at the end of one run,
``-XX:SharedArchiveFile`` afterwards) maps them in already parsed. ``make install`` makes one
archive per role (master, worker, executor) with a tiny cluster and job: ``python -m
autoscaler.backends.local.spark_cds``. A JVM whose archive is missing, or no longer matches its
JDK or jars, starts the usual way (``-Xshare:auto``, the default): an archive never stops a start.

An archive records the class path it was made with, so the daemons run with the same one as at
training: no cluster configuration directory on it (they read ``--properties-file``), which also
keeps the non-empty directory CDS refuses off the path.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

ROLES = ("master", "worker", "executor")
# HotSpot's CDS_DYNAMIC_ARCHIVE_MAGIC (0xf00baba8), as the header stores it (little-endian)
DYNAMIC_ARCHIVE_MAGIC = (0xF00BABA8).to_bytes(4, "little")
SWITCH = "HUBSCALE_SPARK_CDS"  # "off": start every JVM without its archive (benchmark baseline)
TRAINING_JOB = """
from pyspark.sql import SparkSession, functions as F
spark = SparkSession.builder.appName("hubscale-cds-training").getOrCreate()
rdd = spark.sparkContext.parallelize(range(1000), 4)
assert rdd.map(lambda x: (x % 7, x)).reduceByKey(lambda a, b: a + b).count() == 7
frame = spark.range(1000).withColumn("k", F.col("id") % 5).groupBy("k").count()
assert frame.count() == 5
spark.stop()
"""


# Under heavy load an executor may still be writing its archive when its worker's 10 s kill
# timeout ends (seen at load 20 on 2 cores): the archive is then incomplete and training is retried.
TRAINING_ATTEMPTS = 3


def archive(directory: Path, role: str) -> Path:
    return directory / f"{role}.jsa"


def complete(path: Path) -> bool:
    """Was a dynamic archive written to its end? Its header, with the magic, is written last."""
    try:
        with path.open("rb") as file:
            return file.read(4) == DYNAMIC_ARCHIVE_MAGIC
    except FileNotFoundError:
        return False


def enabled(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get(SWITCH, "").strip().lower() != "off"


def use_options(directory: Path, role: str, env: Mapping[str, str] | None = None) -> str:
    """JVM options mapping ``role``'s archive; "" when there is none or CDS is switched off."""
    path = archive(directory, role)
    if not enabled(env) or not path.is_file():
        return ""
    return f"-XX:SharedArchiveFile={path}"


def train(directory: Path, timeout_s: float = 300.0) -> list[Path]:
    """Run a master, a worker and one job's executor that write their archives at exit, then
    move the archives into ``directory`` (each replaced whole, never half-written)."""
    from autoscaler.backends.local.spark import LocalSparkCluster, allocate_ports, master_state
    from hubscale import processes
    from hubscale.engines import spark_client_env, spark_python
    from hubscale.spark_conf import SparkClusterPorts

    with tempfile.TemporaryDirectory(prefix="hubscale-cds-") as scratch:
        work = Path(scratch)
        dumps = {role: work / f"{role}.jsa" for role in ROLES}
        cluster = LocalSparkCluster(work / "cluster", SparkClusterPorts(**allocate_ports()))
        cluster.prepare()
        started = []
        for role, spec in (("master", cluster.master()), ("worker", cluster.worker("w0", 0))):
            options = {"SPARK_DAEMON_JAVA_OPTS": f"-XX:ArchiveClassesAtExit={dumps[role]}"}
            spec = dataclasses.replace(spec, env={**spec.env, **options})
            processes.start(spec)
            started.append(spec.pid_file)
        try:
            # A driver that finds no master retries only after 20 s: start it once one is there.
            master_ui = cluster.client_config()["master_ui"]
            _wait_for(lambda: (master_state(master_ui) or {}).get("aliveworkers") == 1, timeout_s)
            job = subprocess.run(
                [str(spark_python()), "-c", TRAINING_JOB],
                env={
                    **os.environ,
                    **spark_client_env(cluster.conf_dir),
                    "PYSPARK_SUBMIT_ARGS": "--conf spark.executor.extraJavaOptions="
                    f"-XX:ArchiveClassesAtExit={dumps['executor']} pyspark-shell",
                },
                capture_output=True, text=True, timeout=timeout_s,
            )  # fmt: skip
            if job.returncode != 0:
                raise RuntimeError(f"the training job failed:\n{job.stderr[-3000:]}")
            # The executor writes its archive as it exits, header last: wait until it is gone.
            worker = processes.running_pid(started[-1])
            _wait_for(lambda: worker is None or not processes.children(worker), timeout_s)
        finally:
            for pid_file in reversed(started):
                processes.stop(pid_file, timeout_s=60, first_signal=signal.SIGTERM)
        broken = [role for role, path in dumps.items() if not complete(path)]
        if broken:
            raise RuntimeError(f"no complete archive written for {', '.join(broken)}")
        directory.mkdir(parents=True, exist_ok=True)
        installed = []
        for role, path in dumps.items():
            target = archive(directory, role)
            staged = target.with_suffix(".jsa.new")
            shutil.copyfile(path, staged)
            os.replace(staged, target)
            installed.append(target)
        return installed


def _wait_for(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"not done within {timeout_s:g} s")
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    from autoscaler.backends.local.spark import cds_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help="default: next to pyspark's venv")
    parser.add_argument("--attempts", type=int, default=TRAINING_ATTEMPTS)
    args = parser.parse_args(argv)
    for attempt in range(1, args.attempts + 1):
        try:
            installed = train(args.dir or cds_dir())
            break
        except RuntimeError as error:
            print(f"class-data sharing: attempt {attempt} failed: {error}", file=sys.stderr)
    else:
        return 1
    for path in installed:
        print(f"{path} ({path.stat().st_size // 2**20} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
