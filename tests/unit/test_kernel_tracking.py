"""What MLflow runs in an engine kernel record (spawner/kernel_tracking.py), against real git
repositories and status files; the module runs by plain name in the kernels, so it is loaded so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SPAWNER = Path(__file__).resolve().parents[2] / "spawner"


@pytest.fixture
def tracking(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(SPAWNER))
    import kernel_tracking

    return kernel_tracking


def committed_repository(directory: Path) -> str:
    (directory / "train.py").write_text("x = 1\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for args in (["init", "-q"], ["add", "train.py"], ["commit", "-q", "-m", "one"]):
        subprocess.run([*git, *args], cwd=directory, check=True)
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True
    ).stdout.strip()


def test_a_run_records_the_commit_and_that_tracked_files_changed_since(tracking, tmp_path):
    commit = committed_repository(tmp_path)
    (tmp_path / "scratch.txt").write_text("untracked: not a change to the code\n")
    clean = tracking.git_state(tmp_path)
    (tmp_path / "train.py").write_text("x = 2\n")
    dirty = tracking.git_state(tmp_path)

    assert clean == {
        "mlflow.source.git.commit": commit,
        "hubscale.git.commit": commit,
        "hubscale.git.dirty": "false",
    }
    assert dirty["hubscale.git.dirty"] == "true"


def test_outside_a_repository_a_run_has_no_git_tags(tracking, tmp_path):
    assert tracking.git_state(tmp_path) == {}


def test_a_run_records_the_engine_cluster_and_its_workers_now(tracking, tmp_path):
    status = tmp_path / "jane-spark.status.yaml"
    status.write_text("workers: 3\ndesired: 4\nphase: Scaling\n")
    env = {
        "HUBSCALE_KERNEL_ENGINE": "spark",
        "HUBSCALE_SPARK_CLUSTER": "jane-spark",
        "HUBSCALE_SPARK_STATUS_FILE": str(status),
    }

    assert tracking.cluster_tags(env) == {
        "hubscale.engine": "spark",
        "hubscale.cluster": "jane-spark",
        "hubscale.workers.start": "3",
    }
    assert "hubscale.workers.start" not in tracking.cluster_tags(
        {**env, "HUBSCALE_SPARK_STATUS_FILE": str(tmp_path / "missing.yaml")}
    )


def test_without_a_tracking_uri_nothing_is_hooked(tracking, monkeypatch):
    finders = list(sys.meta_path)

    tracking.install({"HUBSCALE_KERNEL_ENGINE": "spark"})

    assert sys.meta_path == finders


def test_a_failing_hook_is_one_line_on_stderr_not_a_failed_import(tracking, capsys):
    def broken(_module: object) -> None:
        raise RuntimeError("registry moved")

    tracking._harmless(broken)(object())

    assert "MLflow run tags/autologging are off" in capsys.readouterr().err
