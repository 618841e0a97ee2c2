"""Dry-run mode on both backends: the real controller (``python -m autoscaler --dry-run``) says
what it would scale to in the status (and on Kubernetes in Events) and adds no worker. Locally the
Spark master is a real JVM; on Kubernetes it runs against the API-server double (this proves the
API calls, not a cluster)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hubscale.prometheus_server import PrometheusServer
from tests.integration.controller_fixtures import MASTER_UP_S, LocalPlatform, running_platform
from tests.kube.apiserver import ApiServerDouble
from tests.kube.controller import controller_process, status_of, workers_wanted
from tests.kube.fixtures import NAMESPACE, create_cluster, running_double
from tests.support import free_port, wait_for

LOOPS_S = 8.0  # a handful of the controller's loops (interval 1 s locally, 0.5 s on the double)


@pytest.fixture
def dry_platform(prometheus: PrometheusServer, tmp_path: Path) -> Iterator[LocalPlatform]:
    yield from running_platform(prometheus, tmp_path, "--dry-run")


def test_locally_a_dry_run_says_it_would_scale_and_starts_no_worker(dry_platform):
    dry_platform.apply("dry-spark", minWorkers=1, maxWorkers=2)

    def said() -> bool:
        status = dry_platform.status("dry-spark")
        return status is not None and "would scale to 1" in status.reason

    wait_for(said, timeout_s=MASTER_UP_S, every_s=1)
    deadline = time.monotonic() + LOOPS_S  # more loops pass: still none, at any moment
    while time.monotonic() < deadline:
        assert dry_platform.worker_pids("dry-spark") == {}
        time.sleep(0.5)

    status = dry_platform.status("dry-spark")
    assert (status.desired, status.workers) == (1, 0)
    assert {c.type: c.status for c in status.conditions}["DryRun"] == "True"
    assert dry_platform.worker_pids("dry-spark") == {}
    assert "would-scale cluster=dry-spark from=0 to=1" in dry_platform.log()
    metrics = httpx.get(dry_platform.url("/metrics"), timeout=10).text
    assert "hubscale_controller_dry_run 1.0" in metrics


@pytest.fixture
def apiserver() -> Iterator[ApiServerDouble]:
    with running_double() as double:
        yield double


def test_on_kubernetes_a_dry_run_writes_status_and_an_event_and_no_replica(
    apiserver, prometheus, tmp_path
):
    controller = controller_process(
        apiserver, tmp_path, "dry",
        "--dry-run", "--prometheus-url", prometheus.url, "--interval", "0.5",
        "--listen", f"127.0.0.1:{free_port()}",
    )  # fmt: skip
    try:
        create_cluster(apiserver, "dry", minWorkers=1, maxWorkers=2)
        wait_for(lambda: status_of(apiserver, "dry").get("desired") == 1, timeout_s=60)
        # The Event is posted after the status it is about: waited for, then watched over more
        # loops: still no replica, no second event.
        wait_for(lambda: events_about(apiserver, "dry"), timeout_s=60)
        deadline = time.monotonic() + LOOPS_S / 2
        while time.monotonic() < deadline:
            assert workers_wanted(apiserver, "dry") in (None, 0)  # created at zero, never scaled
            assert [e["reason"] for e in events_about(apiserver, "dry")] == ["WouldScaleUp"]
            time.sleep(0.25)

        assert "dry run: would scale to 1 (running 0)" in status_of(apiserver, "dry")["reason"]
        assert "would scale to 1" in events_about(apiserver, "dry")[0]["message"]
    finally:
        controller.send_signal(signal.SIGTERM)
        controller.wait(30)


def events_about(apiserver: ApiServerDouble, name: str) -> list[dict]:
    """The Events the API server holds for the ComputeCluster ``name``."""
    events = apiserver.objects("events", NAMESPACE)
    return [e for e in events if e["involvedObject"]["name"] == name]
