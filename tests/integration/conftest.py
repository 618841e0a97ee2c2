"""Fixtures that start real components: Prometheus (Debian package) and metric exporters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from autoscaler.backends.local.spark import LocalSparkCluster
from hubscale import processes
from hubscale.processes import ProcessSpec
from hubscale.prometheus_server import PrometheusServer
from hubscale.scrape_targets import ScrapeTarget, write_file_sd
from hubscale.spark_conf import SparkClusterPorts
from tests.support import free_port, wait_for

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


@pytest.fixture
def prometheus_factory(tmp_path_factory: pytest.TempPathFactory):
    """Start Prometheus servers of a test's own (to stop and restart); all stopped afterwards."""
    started: list[PrometheusServer] = []

    def start() -> PrometheusServer:
        directory = tmp_path_factory.mktemp("own-prometheus")
        server = PrometheusServer(directory, free_port(), scrape_interval_s=SCRAPE_INTERVAL_S)
        started.append(server.start())
        return server

    yield start
    for server in started:
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


@dataclass
class RunningSpark:
    """A real standalone master and one worker, shared by the session's Spark tests."""

    cluster: LocalSparkCluster
    master: ProcessSpec
    workers: list[ProcessSpec]

    @property
    def master_ui(self) -> str:
        return f"http://127.0.0.1:{self.cluster.ports.master_ui}"

    def state(self) -> dict:
        return httpx.get(f"{self.master_ui}/json/", timeout=5).json()


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSpark]:
    ports = SparkClusterPorts(free_port(), free_port(), free_port())
    cluster = LocalSparkCluster(tmp_path_factory.mktemp("spark"), ports, 1, 1024)
    cluster.prepare()
    running = RunningSpark(cluster, cluster.master(), [cluster.worker("w0", free_port())])
    processes.start(running.master)
    for worker in running.workers:
        processes.start(worker)
    try:
        wait_for(lambda: _alive_workers(running) == len(running.workers), timeout_s=90)
        yield running
    finally:
        for spec in [*running.workers, running.master]:
            processes.stop(spec.pid_file)


def _alive_workers(running: RunningSpark) -> int:
    try:
        return running.state()["aliveworkers"]
    except (httpx.HTTPError, ValueError, KeyError):
        return 0
