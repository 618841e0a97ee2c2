"""The picker's branches and default branch, and the host's compare page for a remote."""

from __future__ import annotations

import pytest

from hubscale_nb.review_repo import branches, compare_url, default_branch, open_repo
from tests.nb_support import git, git_env, notebook, write


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        (
            "git@github.com:team/analysis.git",
            "https://github.com/team/analysis/compare/main...dev/x",
        ),
        (
            "https://github.com/team/analysis",
            "https://github.com/team/analysis/compare/main...dev/x",
        ),
        (
            "ssh://git@gitlab.com/group/sub/analysis.git",
            "https://gitlab.com/group/sub/analysis/-/compare/main...dev/x",
        ),
        (
            "https://gitlab.example.org/data/analysis.git",
            "https://gitlab.example.org/data/analysis/-/compare/main...dev/x",
        ),
        ("https://example.org/team/analysis.git", None),
        ("/srv/git/analysis.git", None),
        (None, None),
    ],
)
def test_compare_urls_for_github_and_gitlab_remotes_only(remote, expected):
    assert compare_url(remote, "main", "dev/x") == expected


def test_branches_list_the_default_first_whatever_is_checked_out(tmp_path):
    root, env = tmp_path / "repo", git_env(tmp_path / "home")
    root.mkdir()
    git(root, "init", "-q", "-b", "main", env=env)
    write(root / "a.ipynb", notebook("x = 1"))
    git(root, "add", "-A", env=env)
    git(root, "commit", "-qm", "first", env=env)
    for name in ("zeta", "alpha"):
        git(root, "branch", name, env=env)
    git(root, "checkout", "-q", "zeta", env=env)

    repo = open_repo(root)

    assert default_branch(repo) == "main"
    assert branches(repo) == ["main", "alpha", "zeta"]
