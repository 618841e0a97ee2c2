"""The notebook server's activity page (spawner.activity) in a real Jupyter server, scraped by a
real Prometheus with the dedicated token: kernels per engine, and no page without the token."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hubscale.prometheus_server import (
    PrometheusServer,
    activity_token_file,
    notebook_targets_dir,
)
from hubscale.scrape_targets import ScrapeTarget, write_file_sd
from spawner.activity import ROUTE, TOKEN_DIGEST_VARIABLE, token_digest
from spawner.notebook_env import server_args
from tests.support import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
LOGIN_TOKEN = "the-users-own-login-token"


@pytest.fixture
def scraped(tmp_path: Path, prometheus: PrometheusServer) -> Iterator[tuple[str, str]]:
    """A Jupyter server with the platform's arguments, given the hash of the session
    Prometheus's activity token and registered as its target; (server URL, that token)."""
    token = activity_token_file(prometheus.directory).read_text().strip()
    port = free_port()
    env = {
        **os.environ,
        TOKEN_DIGEST_VARIABLE: token_digest(token),
        "PYTHONPATH": str(REPO),  # this checkout's extension, not the installed one
    }
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable, "-m", "jupyter_server", "--no-browser",
            f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.root_dir={tmp_path}", f"--IdentityProvider.token={LOGIN_TOKEN}",
            *server_args(activity=True), *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        env=env, stdout=subprocess.DEVNULL, stderr=log,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    target = notebook_targets_dir(prometheus.file_sd_dir) / f"{tmp_path.name}.json"
    try:
        wait_for(lambda: _answers(f"{url}/api/status"), timeout_s=60)
        labels = {"user": tmp_path.name, "server": "", "role": "notebook"}
        write_file_sd(target, [ScrapeTarget(f"127.0.0.1:{port}", labels, ROUTE)])
        yield url, token
    finally:
        target.unlink(missing_ok=True)
        server.terminate()
        server.wait(30)
        log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, headers={"Authorization": f"token {LOGIN_TOKEN}"}).is_success
    except httpx.HTTPError:
        return False


def test_the_activity_page_counts_kernels_per_engine_for_the_scrape_token_only(scraped, prometheus):
    url, token = scraped
    login = {"Authorization": f"token {LOGIN_TOKEN}"}
    kernel = httpx.post(f"{url}/api/kernels", json={"name": "spark"}, headers=login, timeout=60)
    assert kernel.status_code == 201, kernel.text

    page = httpx.get(f"{url}{ROUTE}", headers={"Authorization": f"Bearer {token}"}, timeout=60)
    assert page.status_code == 200
    assert 'hubscale_notebook_kernels{engine="spark"} 1.0' in page.text
    assert 'hubscale_notebook_kernels{engine="flink"} 0.0' in page.text
    assert httpx.get(f"{url}{ROUTE}").status_code == 403
    assert httpx.get(f"{url}{ROUTE}", headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert httpx.get(f"{url}{ROUTE}", headers=login).status_code == 403  # not the user's login
    assert httpx.get(f"{url}/hubscale/review", headers=login).status_code == 200  # both loaded

    def scraped_kernels() -> list:
        answer = httpx.get(
            f"{prometheus.url}/api/v1/query",
            params={"query": 'hubscale_notebook_kernels{engine="spark",role="notebook"}'},
            timeout=30,
        ).json()
        return [r for r in answer["data"]["result"] if r["value"][1] == "1"]

    found = wait_for(scraped_kernels, timeout_s=90)  # file_sd refresh (5 s), then a scrape
    assert found[0]["metric"]["job"] == "hubscale-notebooks"
