"""Fixtures that start real components: Prometheus (Debian package) and metric exporters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from autoscaler.prometheus_server import PrometheusServer
from autoscaler.scrape_targets import ScrapeTarget, write_file_sd
from tests.support import free_port

SCRAPE_INTERVAL_S = 1.0


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    """One real Prometheus for the session, scraping every second."""
    server = PrometheusServer(
        tmp_path_factory.mktemp("prometheus"), free_port(), scrape_interval_s=SCRAPE_INTERVAL_S
    )
    server.start()
    yield server
    server.stop()


@dataclass
class Exporter:
    """A real /metrics endpoint (prometheus_client) registered with Prometheus as one target."""

    cluster: str
    gauge: Gauge
    target_file: Path
    stop: Callable[[], None]


@pytest.fixture
def exporters(prometheus: PrometheusServer, request) -> Iterator[Callable[[str], Exporter]]:
    """Start exporters for cluster names unique to this test; removed again afterwards."""
    started: list[Exporter] = []

    def start(cluster: str) -> Exporter:
        registry = CollectorRegistry()
        gauge = Gauge("hubscale_test_needed", "Test demand.", registry=registry)
        port = free_port()
        server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
        target_file = prometheus.file_sd_dir / f"{request.node.name}-{cluster}.json"
        labels = {"cluster": cluster, "user": "tester", "engine": "spark", "role": "master"}
        write_file_sd(target_file, [ScrapeTarget(f"127.0.0.1:{port}", labels)])

        def stop() -> None:
            target_file.unlink(missing_ok=True)
            server.shutdown()
            thread.join()

        exporter = Exporter(cluster, gauge, target_file, stop)
        started.append(exporter)
        return exporter

    yield start
    for exporter in started:
        exporter.stop()
