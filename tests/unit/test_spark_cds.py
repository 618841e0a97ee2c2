"""Which JVM options a Spark daemon or executor gets from its class-data sharing archive."""

from __future__ import annotations

import subprocess
from pathlib import Path

from autoscaler.backends.local import spark_cds
from autoscaler.backends.local.spark import LocalSparkCluster
from autoscaler.backends.local.spark_cds import SWITCH, archive, complete, use_options
from hubscale.spark_conf import SparkClusterPorts


def test_an_archive_is_used_only_when_it_exists_and_sharing_is_not_switched_off(tmp_path):
    assert use_options(tmp_path, "worker", {}) == ""  # not trained: start the usual way
    archive(tmp_path, "worker").write_bytes(b"archive")
    expected = f"-XX:SharedArchiveFile={tmp_path / 'worker.jsa'}"
    assert use_options(tmp_path, "worker", {}) == expected
    assert use_options(tmp_path, "worker", {SWITCH: "on"}) == expected
    assert use_options(tmp_path, "worker", {SWITCH: " OFF "}) == ""
    assert use_options(tmp_path, "master", {}) == ""  # each role its own archive


def test_daemons_keep_the_clusters_config_directory_off_their_class_path(tmp_path, monkeypatch):
    """An archive records its class path; CDS refuses a non-empty directory on it."""
    monkeypatch.setenv("SPARK_HOME", str(tmp_path / "spark"))
    monkeypatch.setenv("SPARK_CONF_DIR", "/somewhere/else")
    cluster = LocalSparkCluster(tmp_path / "c", SparkClusterPorts(7077, 8080, 4040))
    for spec in (cluster.master(), cluster.worker("w0", 8081)):
        assert "SPARK_CONF_DIR" not in spec.env
        assert "--properties-file" in spec.argv  # the configuration comes this way instead
    assert cluster.env()["SPARK_CONF_DIR"] == str(cluster.conf_dir)  # a driver's: unchanged


def test_only_an_archive_written_to_its_end_counts_as_complete(tmp_path):
    """A JVM writes a dynamic archive's header last: one killed while writing leaves zeros."""
    written = archive(tmp_path, "worker")
    subprocess.run(
        ["java", f"-XX:ArchiveClassesAtExit={written}", "-version"], check=True, capture_output=True
    )
    assert complete(written)
    with written.open("r+b") as file:
        file.write(bytes(16))  # what a dump cut short looks like
    assert not complete(written)
    assert not complete(tmp_path / "never-written.jsa")


def test_training_is_retried_when_an_archive_comes_out_incomplete(tmp_path, monkeypatch, capsys):
    written = tmp_path / "master.jsa"
    written.write_bytes(b"archive")
    outcomes = [RuntimeError("no complete archive written for executor"), [written]]

    def train(directory: Path) -> list[Path]:
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    monkeypatch.setattr(spark_cds, "train", train)

    assert spark_cds.main(["--dir", str(tmp_path)]) == 0
    assert "attempt 1 failed: no complete archive written for executor" in capsys.readouterr().err


def test_training_fails_after_its_last_attempt(tmp_path, monkeypatch):
    def train(directory: Path) -> list[Path]:
        raise RuntimeError("not done within 300 s")

    monkeypatch.setattr(spark_cds, "train", train)

    assert spark_cds.main(["--dir", str(tmp_path), "--attempts", "2"]) == 1
