"""The team starter kit: copied by ``init``, its configuration files valid for the real tools
(pre-commit, GitHub's workflow schema, jupytext, ruff) and its notebook green under pytest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from jupytext.config import load_jupytext_configuration_file

from hubscale_nb.__main__ import main
from hubscale_nb.starter_kit import TEMPLATE, init
from tests.nb_support import engine_kernels_env, run_pytest

BIN = Path(sys.executable).parent
KIT_FILES = {
    ".gitattributes",
    ".github/workflows/notebooks.yml",
    ".pre-commit-config.yaml",
    "README.md",
    "jupytext.toml",
    "notebooks/start_here.ipynb",
    "notebooks/start_here.py",
    "requirements-notebooks.txt",
    "ruff.toml",
}


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    team = tmp_path_factory.mktemp("team-repo")
    assert main(["init", str(team)]) == 0
    return team


def tool(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *args], cwd=cwd, capture_output=True, text=True, timeout=180
    )


def test_init_copies_the_whole_kit(kit):
    copied = {str(path.relative_to(kit)) for path in kit.rglob("*") if path.is_file()}
    assert copied == KIT_FILES
    assert all((kit / name).read_bytes() == (TEMPLATE / name).read_bytes() for name in KIT_FILES)


def test_init_keeps_a_teams_own_files_unless_forced(tmp_path):
    (tmp_path / "README.md").write_text("# Our team\n")

    kept = init(tmp_path)
    assert (tmp_path / "README.md").read_text() == "# Our team\n"
    assert kept.kept == [tmp_path / "README.md"] and len(kept.written) == len(KIT_FILES) - 1
    forced = init(tmp_path, force=True)
    assert len(forced.written) == len(KIT_FILES) and not forced.kept


def test_the_pre_commit_config_is_valid(kit):
    run = tool("pre-commit", "validate-config", ".pre-commit-config.yaml", cwd=kit)
    assert run.returncode == 0, run.stdout + run.stderr


def test_the_ci_workflow_is_valid_and_runs_the_notebooks_and_the_review(kit):
    workflow = ".github/workflows/notebooks.yml"
    run = tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", workflow, cwd=kit)
    assert run.returncode == 0, run.stdout + run.stderr
    text = (kit / workflow).read_text()
    assert "pytest notebooks/ -p hubscale_nb.pytest_plugin" in text
    assert "python -m hubscale_nb review" in text and "actions/upload-artifact" in text


def test_jupytext_reads_the_pairing_and_git_the_nbdime_attributes(kit):
    config = load_jupytext_configuration_file(str(kit / "jupytext.toml"))
    assert config.formats == ["ipynb,py:percent"]
    attributes = subprocess.run(
        ["git", "check-attr", "diff", "merge", "--", "notebooks/start_here.ipynb"],
        cwd=kit, capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    if not attributes:  # not a repository yet: make it one, as a team would
        subprocess.run(["git", "init", "-q"], cwd=kit, check=True)
        attributes = subprocess.run(
            ["git", "check-attr", "diff", "merge", "--", "notebooks/start_here.ipynb"],
            cwd=kit, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
    assert "diff: jupyternotebook" in attributes and "merge: jupyternotebook" in attributes


def test_ruff_passes_on_the_kits_notebooks_and_twins(kit):
    run = tool("ruff", "check", "--no-cache", "notebooks", cwd=kit)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "All checks passed" in run.stdout


def test_the_kits_notebook_passes_as_ci_runs_it(kit, tmp_path):
    env = {**os.environ, **engine_kernels_env(tmp_path / "kernels")}
    run = run_pytest("notebooks/", cwd=kit, env=env)
    assert "1 passed" in run.stdout, run.stdout + run.stderr


def test_the_kits_notebook_and_its_twin_are_in_sync(kit, tmp_path):
    shutil.copytree(kit / "notebooks", tmp_path / "notebooks")
    run = tool("jupytext", "--sync", "notebooks/start_here.py", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "Updating notebooks/start_here.ipynb" not in run.stderr
