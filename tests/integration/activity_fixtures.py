"""A real Jupyter server with the platform's arguments and the activity page
(``hubscale_nb.activity``), for the tests of heads on demand, and its kernels."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from hubscale_nb.activity import TOKEN_DIGEST_VARIABLE, token_digest
from spawner.notebook_env import server_args
from tests.support import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
LOGIN_TOKEN = "the-users-own-login-token"
LOGIN = {"Authorization": f"token {LOGIN_TOKEN}"}


@contextlib.contextmanager
def jupyter_server(tmp_path: Path, token: str, **env: str) -> Iterator[str]:
    """A Jupyter server with the platform's arguments, given the hash of the activity ``token``
    (and ``env``), until the block ends; its URL."""
    port = free_port()
    environment = {
        **os.environ,
        TOKEN_DIGEST_VARIABLE: token_digest(token),
        "PYTHONPATH": str(REPO),  # this checkout's extension, not the installed one
        **env,
    }
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter_server", "--no-browser",
            f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.root_dir={tmp_path}", f"--IdentityProvider.token={LOGIN_TOKEN}",
            *server_args(activity=True), *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        env=environment, stdout=subprocess.DEVNULL, stderr=log,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(f"{url}/api/status"), timeout_s=60)
        yield url
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def start_kernel(url: str, engine: str) -> str:
    """A kernel of ``engine`` started through the server's REST API, as JupyterLab does; its id."""
    answer = httpx.post(f"{url}/api/kernels", json={"name": engine}, headers=LOGIN, timeout=60)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def stop_kernel(url: str, kernel: str) -> None:
    answer = httpx.delete(f"{url}/api/kernels/{kernel}", headers=LOGIN, timeout=60)
    assert answer.status_code == 204, answer.text


def answers(url: str) -> bool:
    try:
        return httpx.get(url, headers={"Authorization": f"token {LOGIN_TOKEN}"}).is_success
    except httpx.HTTPError:
        return False
