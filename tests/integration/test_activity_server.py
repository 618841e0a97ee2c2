"""The notebook server's activity page (hubscale_nb.activity) in a real Jupyter server, scraped by a
real Prometheus with the dedicated token: kernels per engine, and no page without the token."""

from __future__ import annotations

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
from hubscale_nb.activity import PORT_VARIABLE, ROUTE
from tests.integration.activity_fixtures import LOGIN_TOKEN, jupyter_server
from tests.support import free_port, wait_for


@pytest.fixture
def scraped(tmp_path: Path, prometheus: PrometheusServer) -> Iterator[tuple[str, str]]:
    """A Jupyter server given the hash of the session Prometheus's activity token and
    registered as its target; (server URL, that token)."""
    token = activity_token_file(prometheus.directory).read_text().strip()
    target = notebook_targets_dir(prometheus.file_sd_dir) / f"{tmp_path.name}.json"
    with jupyter_server(tmp_path, token) as url:
        labels = {"user": tmp_path.name, "server": "", "role": "notebook"}
        port = url.rsplit(":", 1)[1]
        write_file_sd(target, [ScrapeTarget(f"127.0.0.1:{port}", labels, ROUTE)])
        try:
            yield url, token
        finally:
            target.unlink(missing_ok=True)


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


def test_with_its_own_port_the_activity_page_is_served_there_and_not_on_the_servers(tmp_path):
    """Kubernetes: ``HUBSCALE_ACTIVITY_PORT`` puts the page on a port of its own (which only
    Prometheus may reach), the same token still required; the server's port has no such page."""
    token, port = "a-scrape-token", free_port()
    with jupyter_server(tmp_path, token, **{PORT_VARIABLE: str(port)}) as url:
        login = {"Authorization": f"token {LOGIN_TOKEN}"}
        kernel = httpx.post(f"{url}/api/kernels", json={"name": "flink"}, headers=login, timeout=60)
        assert kernel.status_code == 201, kernel.text
        own = f"http://127.0.0.1:{port}{ROUTE}"
        page = httpx.get(own, headers={"Authorization": f"Bearer {token}"})
        assert page.status_code == 200
        assert 'hubscale_notebook_kernels{engine="flink"} 1.0' in page.text
        assert httpx.get(own).status_code == 403
        assert httpx.get(own, headers=login).status_code == 403
        assert httpx.get(f"http://127.0.0.1:{port}/api/status").status_code == 404  # page only
        on_server = httpx.get(f"{url}{ROUTE}", headers={"Authorization": f"Bearer {token}"})
        assert on_server.status_code != 200
