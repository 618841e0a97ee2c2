"""What the review's picker and links need from a repository: branches, the default branch, the
checked-out branch, and the host's compare page when the remote is on GitHub or GitLab."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

from git import GitCommandError, Repo

DEFAULT_NAMES = ("main", "master", "trunk", "develop")  # tried in order without origin/HEAD
REMOTE = re.compile(
    r"^(?:(?:https?|ssh|git)://(?:[^@/]+@)?(?P<host>[^/:]+)(?::\d+)?/"
    r"|[^@/]+@(?P<scp_host>[^:/]+):)(?P<path>[^?#]+?)(?:\.git)?/?$"
)


def open_repo(path: Path) -> Repo:
    return Repo(str(path), search_parent_directories=True)


def branches(repo: Repo) -> list[str]:
    """Local branches, the default one first."""
    names = sorted(head.name for head in repo.heads)
    default = default_branch(repo)
    return sorted(names, key=lambda name: name != default)


def default_branch(repo: Repo) -> str | None:
    """origin's HEAD if known, else the first of main/master/trunk/develop there, else the
    checked-out branch."""
    try:
        target = repo.git.symbolic_ref("--quiet", "refs/remotes/origin/HEAD")
    except GitCommandError:
        target = ""
    local = {head.name for head in repo.heads}
    name = target.removeprefix("refs/remotes/origin/")
    if name in local:
        return name
    for name in DEFAULT_NAMES:
        if name in local:
            return name
    return current_branch(repo)


def current_branch(repo: Repo) -> str | None:
    """The checked-out branch; None when HEAD is detached."""
    return None if repo.head.is_detached else repo.active_branch.name


def remote_url(repo: Repo, name: str = "origin") -> str | None:
    try:
        return repo.remote(name).url
    except ValueError:
        return None


def compare_url(remote: str | None, base: str, head: str) -> str | None:
    """The host's compare page for ``base...head`` when ``remote`` is on GitHub or GitLab."""
    match = REMOTE.match(remote or "")
    if not match:
        return None
    host = (match["host"] or match["scp_host"]).lower()
    path = match["path"].strip("/")
    refs = f"{quote(base)}...{quote(head)}"
    if "github" in host:
        return f"https://{host}/{path}/compare/{refs}"
    if "gitlab" in host:
        return f"https://{host}/{path}/-/compare/{refs}"
    return None
