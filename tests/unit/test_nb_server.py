"""The review page's choice of repository: only under the server's root, listed for the index."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hubscale_nb.review import ReviewError
from hubscale_nb.server import repositories, repository_under


def git_init(path: Path) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


def test_a_repository_under_the_root_is_found_and_nothing_outside_it(tmp_path):
    root = tmp_path / "home"
    repo = git_init(root / "work" / "team")
    assert repository_under(root.resolve(), "work/team") == repo.resolve()
    for escape in ("..", "../..", "work/../../", "/etc"):
        with pytest.raises(ReviewError, match="outside"):
            repository_under(root.resolve(), escape)
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(ReviewError, match="outside"):
        repository_under(root.resolve(), "link")
    with pytest.raises(ReviewError, match="not a directory"):
        repository_under(root.resolve(), "missing")


def test_the_index_lists_repositories_two_levels_deep_skipping_hidden_folders(tmp_path):
    root = tmp_path
    git_init(root / "a")
    git_init(root / "work" / "b")
    git_init(root / "work" / "deep" / "c")  # three levels: not listed
    git_init(root / ".cache" / "d")
    assert repositories(root) == ["a", "work/b"]


def test_the_notebook_server_has_the_git_panel_rendered_diffs_and_the_text_twins():
    """JupyterLab's extensions from the ``notebooks`` extra: git panel, nbdime, jupytext."""
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    text = listed.stdout + listed.stderr
    for extension in ("@jupyterlab/git", "nbdime-jupyterlab", "jupyterlab-jupytext"):
        assert re.search(rf"{re.escape(extension)} v\S+ .*enabled.*OK", text), text


def test_a_parent_repository_of_the_root_is_not_reviewed(tmp_path):
    """nbdime looks for a repository upwards: the root's parent's must not be found."""
    parent = git_init(tmp_path / "project")
    root = parent / "home"
    (root / "plain").mkdir(parents=True)
    for relative in (".", "plain"):
        with pytest.raises(ReviewError, match="not in a git repository under the root"):
            repository_under(root.resolve(), relative)
    inner = git_init(root / "mine")
    assert repository_under(root.resolve(), "mine") == inner.resolve()


def test_the_index_does_not_follow_symlinks_out_of_the_root(tmp_path):
    root = tmp_path / "home"
    root.mkdir()
    git_init(tmp_path / "elsewhere" / "secret")
    (root / "link").symlink_to(tmp_path / "elsewhere")
    (root / "repo-link").symlink_to(tmp_path / "elsewhere" / "secret")
    git_init(root / "own")
    assert repositories(root) == ["own"]
