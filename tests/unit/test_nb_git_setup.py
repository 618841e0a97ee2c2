"""A user's home set up at spawn: git diff and merge on notebooks go through nbdime, and jupytext
pairs every notebook with a py:percent twin. Real git, nbdime and jupytext."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from jupyterhub.objects import Hub

import spawner.local as local_spawner
from hubscale_nb import git_setup
from hubscale_nb.git_setup import (
    JUPYTEXT_CONFIG,
    GitSetupError,
    configure_user,
    nbdime_scripts_dir,
)
from spawner.progress import ProgressLog
from tests.kube.hub import HubUser
from tests.nb_support import git, git_env, notebook, write


def three_cells() -> nbformat.NotebookNode:
    nb = notebook("a = 1", "b = 2", "c = 3")
    for count, cell in enumerate(nb.cells, start=1):
        cell.execution_count = count
    return nb


def edit(path: Path, index: int, source: str, count: int) -> None:
    nb = nbformat.read(path, as_version=4)
    nb.cells[index].source = source
    nb.cells[0].execution_count = count  # every re-run renumbers: a textual conflict
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a user's server whose home ``configure_user`` set up."""
    home = tmp_path_factory.mktemp("user") / "home"
    base = git_env(home, {"PATH": "/usr/bin:/bin"})  # nbdime's scripts not on PATH yet
    return {**base, **configure_user(home, path=base["PATH"])}


def committed_notebook(repo: Path, env: dict[str, str]) -> Path:
    """A new repository on ``main`` with one committed three-cell notebook."""
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main", env=env)
    path = write(repo / "model.ipynb", three_cells())
    git(repo, "add", ".", env=env)
    git(repo, "commit", "-qm", "first", env=env)
    return path


def test_git_diff_on_a_notebook_is_cell_aware_for_a_configured_user(user, tmp_path):
    repo = tmp_path / "repo"
    path = committed_notebook(repo, user)
    edit(path, 1, "b = 20", count=5)

    diff = git(repo, "diff", env=user)
    plain = git(repo, "diff", env=git_env(tmp_path / "plain-home"))

    assert diff.startswith("nbdiff ")
    assert "## modified /cells/1/source:" in diff
    assert '"cell_type"' not in diff
    assert re.search(r'^\+\s+"b = 20"$', plain, re.M) and not plain.startswith("nbdiff")


def test_git_merge_of_two_edits_to_one_notebook_goes_through_nbdimes_merge_driver(user, tmp_path):
    repo = tmp_path / "repo"
    path = committed_notebook(repo, user)
    git(repo, "checkout", "-qb", "feature", env=user)
    edit(path, 0, "a = 10", count=5)
    git(repo, "commit", "-qam", "feature", env=user)
    git(repo, "checkout", "-q", "main", env=user)
    edit(path, 2, "c = 30", count=9)
    git(repo, "commit", "-qam", "main", env=user)

    plain_env = git_env(tmp_path / "plain-home")
    plain = git(repo, "merge", "feature", "-m", "merge", env=plain_env, check=False)
    git(repo, "merge", "--abort", env=plain_env)
    git(repo, "merge", "feature", "-m", "merge", env=user)

    assert "CONFLICT" in plain  # line-based git stumbles over the execution counts
    merged = nbformat.read(path, as_version=4)
    assert [cell.source for cell in merged.cells] == ["a = 10", "b = 2", "c = 30"]


def test_jupytext_pairs_every_notebook_with_a_percent_twin_for_the_user(user, tmp_path):
    folder = tmp_path / "work"
    path = write(folder / "study.ipynb", notebook("x = 1"))
    env = {key: value for key, value in user.items() if key != "XDG_CONFIG_HOME"}

    subprocess.run(
        [sys.executable, "-m", "jupytext", "--sync", str(path)],
        env=env, cwd=folder, check=True, capture_output=True, timeout=120,
    )  # fmt: skip

    twin = (folder / "study.py").read_text()
    assert "format_name: percent" in twin and "# %%\nx = 1" in twin


def test_setting_up_again_changes_nothing_and_keeps_the_users_own_jupytext_config(tmp_path):
    home, config = tmp_path / "home", tmp_path / "etc" / "user.gitconfig"
    own = home / ".config" / "jupytext" / "jupytext.toml"
    own.parent.mkdir(parents=True)
    own.write_text('formats = "ipynb,md"\n')

    first = configure_user(home, git_config=config, path="/usr/bin")
    written = config.read_text()
    attributes = (home / ".config" / "git" / "attributes").read_text()
    second = configure_user(home, git_config=config, path="/usr/bin")

    assert (
        first
        == second
        == {
            "GIT_CONFIG_GLOBAL": str(config),
            "PATH": os.pathsep.join([str(nbdime_scripts_dir()), "/usr/bin"]),
        }
    )
    assert "git-nbdiffdriver diff" in written and not (home / ".gitconfig").exists()
    assert config.read_text() == written
    assert (home / ".config" / "git" / "attributes").read_text() == attributes
    assert attributes.count("diff=jupyternotebook") == 1
    assert own.read_text() == 'formats = "ipynb,md"\n'
    assert JUPYTEXT_CONFIG.strip().endswith('formats = "ipynb,py:percent"')


def test_the_images_system_setup_enables_nbdime_for_every_user(tmp_path):
    """What the singleuser image runs at build (``hubscale-nb setup-git``), into a system config
    of the test's own (``GIT_CONFIG_SYSTEM``) instead of /etc."""
    system = tmp_path / "etc" / "gitconfig"
    system.parent.mkdir()
    env = {**os.environ, "GIT_CONFIG_SYSTEM": str(system), "HOME": str(tmp_path / "nobody")}
    command = [sys.executable, "-m", "hubscale_nb", "setup-git"]
    subprocess.run(
        [*command, "--jupytext-dir", str(tmp_path / "jupytext")], env=env, check=True, timeout=120
    )

    def system_config(key: str) -> str:
        run = ["git", "config", "--system", "--get", key]
        return subprocess.run(run, env=env, capture_output=True, text=True).stdout.strip()

    assert system_config("diff.jupyternotebook.command") == "git-nbdiffdriver diff"
    assert system_config("merge.jupyternotebook.driver").startswith("git-nbmergedriver merge")
    attributes = (tmp_path / "etc" / "gitattributes").read_text().split()
    assert {"diff=jupyternotebook", "merge=jupyternotebook"} <= set(attributes)
    assert (tmp_path / "jupytext" / "jupytext.toml").read_text() == JUPYTEXT_CONFIG


def git_config_value(config: Path, key: str) -> str:
    done = subprocess.run(["git", "config", "--file", str(config), key], capture_output=True)
    return done.stdout.decode().strip()


def test_nbdime_runs_once_per_process_and_each_login_only_copies_its_settings(
    tmp_path, monkeypatch
):
    configure_user(tmp_path / "first")
    # nbdime's command (seconds of imports) is not run again: a broken one goes unnoticed
    monkeypatch.setattr(git_setup, "NBDIME_CONFIG_GIT", ("-c", "raise SystemExit(3)"))
    configure_user(tmp_path / "second")

    second = tmp_path / "second"
    assert git_config_value(second / ".gitconfig", "diff.jupyternotebook.command") == (
        "git-nbdiffdriver diff"
    )
    assert (
        "mergetool.nbdime.cmd"
        in subprocess.run(
            ["git", "config", "--file", str(second / ".gitconfig"), "--list"], capture_output=True
        ).stdout.decode()
    )
    attributes = (second / ".config" / "git" / "attributes").read_text()
    assert "*.ipynb\tdiff=jupyternotebook" in attributes


def test_a_user_s_own_attributes_are_kept_and_nbdime_s_lines_are_not_doubled(tmp_path):
    home = tmp_path / "home"
    attributes = home / ".config" / "git" / "attributes"
    attributes.parent.mkdir(parents=True)
    attributes.write_text("*.csv\tdiff=csv\n")

    configure_user(home)
    configure_user(home)

    lines = attributes.read_text().splitlines()
    assert lines[0] == "*.csv\tdiff=csv"
    assert lines.count("*.ipynb\tdiff=jupyternotebook") == 1


def test_a_failing_git_set_up_is_a_warning_and_the_server_still_starts(tmp_path, monkeypatch):
    def broken(home: Path) -> dict[str, str]:
        raise GitSetupError("git config failed: disk full")

    monkeypatch.setattr(local_spawner, "configure_user", broken)
    hub = Hub(ip="127.0.0.1", port=8081, base_url="/hub/")
    spawner = local_spawner.LocalSpawner(user=HubUser("zoe"), hub=hub, state_dir=str(tmp_path))
    spawner.progress_log = ProgressLog()

    env = asyncio.run(spawner._git_env())

    assert env == {}
    assert [event["message"] for event in spawner.progress_log.events] == [
        "Could not set up nbdime for git; git diff shows notebooks as JSON this time"
    ]
