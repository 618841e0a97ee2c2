"""The review page in a real Jupyter server (the extension as the spawner enables it): a large
review never stalls the user's server, and the server's authorizer decides who may read it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hubscale.ports import free_port
from spawner.notebook_env import REVIEW_EXTENSION
from tests.nb_support import git, git_env, notebook, write
from tests.support import wait_for

TOKEN = "review-test-token"
NOTEBOOKS, CELLS = 40, 150  # a review nbdime takes seconds over


def big_change(root: Path, env: dict[str, str]) -> None:
    """A repository whose last commit rewrites every cell of many notebooks."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main", env=env)
    for version in ("old", "new"):
        for number in range(NOTEBOOKS):
            cells = [f"value_{cell} = '{version} {number} {cell}'" for cell in range(CELLS)]
            write(root / f"nb{number:02}.ipynb", notebook(*cells))
        git(root, "add", "-A", env=env)
        git(root, "commit", "-qm", version, env=env)


DENY_CONTENTS = """
from jupyter_server.auth import Authorizer

class DenyContents(Authorizer):
    def is_authorized(self, handler, user, action, resource):
        return resource != "contents"
"""


def start_server(root: Path, tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [
        sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", f"--port={port}",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.jpserver_extensions={REVIEW_EXTENSION}=True", *extra,
    ]  # fmt: skip
    env = {**git_env(tmp_path / "server-home"), "PYTHONPATH": str(tmp_path)}
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(f"{url}/api/status"), timeout_s=60)
    return process, url


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, headers=HEADERS, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


HEADERS = {"Authorization": f"token {TOKEN}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp_path = tmp_path_factory.mktemp("review-server")
    root = tmp_path / "root"
    big_change(root / "big", git_env(tmp_path / "home"))
    (root / "unreadable.ipynb").write_text("{}")  # no cells: nbformat cannot read it
    (root / "broken.ipynb").symlink_to(tmp_path / "gone.ipynb")
    process, url = start_server(root, tmp_path)
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_a_large_review_does_not_stall_the_users_server(served):
    """While a review of seconds runs, the server keeps answering: no request waits for it."""
    review: dict[str, float] = {}

    def run_review() -> None:
        review["start"] = time.monotonic()
        page = httpx.get(
            f"{served}/hubscale/review", params={"repo": "big", "range": "main~1..main"},
            headers=HEADERS, timeout=300,
        )  # fmt: skip
        review["end"] = time.monotonic()
        review["ok"] = page.status_code == 200 and "nb39.ipynb" in page.text

    reviewing = threading.Thread(target=run_review)
    reviewing.start()
    waits = []
    while reviewing.is_alive():
        asked = time.monotonic()
        assert httpx.get(f"{served}/api/status", headers=HEADERS, timeout=300).status_code == 200
        waits.append(time.monotonic() - asked)
        time.sleep(0.05)
    assert review["ok"]
    duration = review["end"] - review["start"]
    # a server blocked by the review makes the first status request wait for most of it
    assert max(waits) < duration / 2, (waits, duration)


def test_error_pages_name_paths_relative_to_the_root(served):
    page = httpx.get(
        f"{served}/hubscale/review", params={"repo": "big", "range": "nope..main"},
        headers=HEADERS, timeout=60,
    )  # fmt: skip
    assert page.status_code == 400 and "nope" in page.text
    assert "/root" not in page.text, page.text


@pytest.mark.parametrize(
    "path",
    [
        "/api/contents/unreadable.ipynb",
        "/api/contents/broken.ipynb",
        "/nbconvert/html/unreadable.ipynb",
        "/nbconvert/html/broken.ipynb",
    ],
)
def test_the_servers_own_error_pages_show_no_absolute_path(served, path):
    """Issue 14, finding 10: Jupyter Server's contents and nbconvert errors named the notebook
    by its absolute path (``Unreadable Notebook: /…/root/unreadable.ipynb``)."""
    page = httpx.get(f"{served}{path}", headers=HEADERS, timeout=60)
    assert page.status_code >= 400
    assert "review-server" not in page.text and "/tmp" not in page.text, page.text
    assert "ipynb" in page.text  # still says which notebook, relative to the root


def test_the_servers_authorizer_decides_who_reads_a_review(tmp_path):
    (tmp_path / "deny_contents.py").write_text(DENY_CONTENTS)
    root = tmp_path / "root"
    root.mkdir()
    process, url = start_server(
        root, tmp_path, "--ServerApp.authorizer_class=deny_contents.DenyContents"
    )
    try:
        page = httpx.get(f"{url}/hubscale/review", headers=HEADERS, timeout=60)
        assert page.status_code == 403
        assert httpx.get(f"{url}/api/status", headers=HEADERS, timeout=60).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)
