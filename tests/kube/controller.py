"""The real controller as a process in Kubernetes mode (kubeconfig pointing at the API-server
double, leader election on), and what it wrote there, for the tests that run it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from hubscale.names import worker_name
from hubscale.prometheus_server import PrometheusServer
from hubscale.scrape_targets import ScrapeTarget, write_file_sd
from tests.kube.apiserver import ApiServerDouble
from tests.kube.fixtures import NAMESPACE, write_kubeconfig
from tests.kube.protocol import ApiError
from tests.support import free_port

REPO = Path(__file__).resolve().parents[2]


def controller_process(double: ApiServerDouble, directory: Path, name: str, *args: str):
    """``python -m autoscaler --backend kubernetes`` on the double with ``args``; its kubeconfig
    and log (``<name>.log``) in ``directory``."""
    kubeconfig = write_kubeconfig(double, directory / "kubeconfig")
    log = open(directory / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
    return subprocess.Popen(
        [sys.executable, "-m", "autoscaler", "--backend", "kubernetes", "--namespace", NAMESPACE,
         *args],
        cwd=REPO,
        env={**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(directory)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


# Renewed every third of it: a leader starved for a few seconds on a loaded machine keeps its
# Lease (at 3 s a standby could take over mid-test and act beside it).
LEASE_S = 10


def start_controller(double, prometheus, tmp_path: Path, name: str) -> subprocess.Popen:
    """The controller with leader election and a fast loop, as the tests run it."""
    return controller_process(
        double, tmp_path, name,
        "--leader-election", "--lease-duration", str(LEASE_S), "--prometheus-url", prometheus.url,
        "--interval", "0.5", "--listen", f"127.0.0.1:{free_port()}",
    )  # fmt: skip


def workers_wanted(double: ApiServerDouble, cluster: str) -> int | None:
    """The replicas of the Spark cluster's worker Deployment (None: not created yet)."""
    try:
        deployment = double.get("deployments", NAMESPACE, worker_name(cluster, "spark"))
    except ApiError:
        return None
    return deployment["spec"].get("replicas")


def status_of(double: ApiServerDouble, cluster: str) -> dict:
    """The ComputeCluster's status as the controller last wrote it."""
    return double.get("computeclusters", NAMESPACE, cluster).get("status", {})


@contextlib.contextmanager
def waiting_apps(prometheus: PrometheusServer, cluster: str, user: str) -> Iterator[Gauge]:
    """The Spark master's ``waitingApps`` gauge for ``cluster``, scraped by Prometheus."""
    registry = CollectorRegistry()
    gauge = Gauge("metrics_master_waitingApps_Value", "Apps waiting.", registry=registry)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    target_file = prometheus.file_sd_dir / f"waiting-apps-{cluster}.json"
    labels = {"cluster": cluster, "user": user, "engine": "spark", "role": "master"}
    write_file_sd(target_file, [ScrapeTarget(f"127.0.0.1:{port}", labels)])
    try:
        yield gauge
    finally:
        target_file.unlink(missing_ok=True)
        server.shutdown()
        thread.join()
