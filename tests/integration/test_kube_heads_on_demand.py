"""Heads on demand in Kubernetes mode, against the API-server double: the real controller (a
process, kubeconfig pointing at the double, unmodified kubernetes_asyncio), the real Prometheus
scraping a real Jupyter server's activity page on its own port with the activity token (as the
chart's PodMonitor does a notebook pod's), a real kernel started and stopped through the server's
API. An idle cluster's master Deployment stays at 0 replicas, a Spark kernel brings it to 1 with
HeadRunning true, a backlog adds workers, and after the kernel and the backlog are gone the
workers go to 0, then the master. The test plays kubelet and checks on every pass that no worker
is wanted while the master is not. This proves the API calls and the signal path, not a cluster.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from hubscale.names import head_name, worker_name
from hubscale.prometheus_server import PrometheusServer, activity_token_file, notebook_targets_dir
from hubscale.scrape_targets import ScrapeTarget, write_file_sd
from hubscale_nb.activity import PORT_VARIABLE, ROUTE
from tests.integration.activity_fixtures import jupyter_server, start_kernel, stop_kernel
from tests.kube.apiserver import ApiServerDouble
from tests.kube.controller import start_controller, status_of, waiting_apps
from tests.kube.fixtures import NAMESPACE, create_cluster, running_double
from tests.kube.protocol import ApiError
from tests.support import free_port, wait_for

IDLE_TIMEOUT_S = 3
WAIT_S = 90  # each settled state; generous: the machine's cores are shared


def replicas(double: ApiServerDouble, deployment: str) -> int | None:
    try:
        return double.get("deployments", NAMESPACE, deployment)["spec"].get("replicas")
    except ApiError:
        return None


def head_condition(double: ApiServerDouble, cluster: str) -> dict:
    conditions = status_of(double, cluster).get("conditions") or []
    return next((c for c in conditions if c["type"] == "HeadRunning"), {})


def head_message(double: ApiServerDouble, cluster: str) -> str:
    return head_condition(double, cluster).get("message", "")


@contextlib.contextmanager
def kubelet(double: ApiServerDouble, cluster: str) -> Iterator[list[str]]:
    """The kubelet's part on a thread (every Deployment's pods, Running), checking on each pass
    that the worker Deployment wants no replica while the master's wants none; the violations."""
    head, workers = head_name(cluster, "spark"), worker_name(cluster, "spark")
    violations: list[str] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(0.05):
            double.play_kubelet(NAMESPACE)
            with double.store.lock:  # both read at one instant
                wanted = (replicas(double, head), replicas(double, workers))
            if wanted[0] == 0 and wanted[1]:
                violations.append(f"master 0, workers {wanted[1]}")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield violations
    finally:
        stop.set()
        thread.join(10)


@contextlib.contextmanager
def notebook_server(prometheus: PrometheusServer, tmp_path: Path, user: str) -> Iterator[str]:
    """A notebook server whose activity page has its own port, scraped with the platform
    Prometheus's activity token and labelled as the PodMonitor labels a notebook pod."""
    token = activity_token_file(prometheus.directory).read_text().strip()
    port = free_port()
    target = notebook_targets_dir(prometheus.file_sd_dir) / f"kube-{tmp_path.name}.json"
    with jupyter_server(tmp_path, token, **{PORT_VARIABLE: str(port)}) as url:
        labels = {"user": user, "server": "", "role": "notebook"}
        write_file_sd(target, [ScrapeTarget(f"127.0.0.1:{port}", labels, ROUTE)])
        try:
            yield url
        finally:
            target.unlink(missing_ok=True)


def test_a_kernel_brings_its_head_up_and_idle_takes_workers_then_head_down_against_the_api_server_double(  # noqa: E501
    prometheus, tmp_path
):
    user = f"hod-{tmp_path.name}"[:40]
    cluster = "hod-spark"
    head, workers = head_name(cluster, "spark"), worker_name(cluster, "spark")
    with (
        running_double() as double,
        notebook_server(prometheus, tmp_path, user) as url,
        kubelet(double, cluster) as violations,
    ):
        controller = start_controller(double, prometheus, tmp_path, "controller")
        try:
            create_cluster(
                double, cluster, owner=user, headOnDemand=True, maxWorkers=2,
                idleTimeoutSeconds=IDLE_TIMEOUT_S,
            )  # fmt: skip
            # No kernel (once the server's page is scraped): the objects exist, the master
            # Deployment at 0, the status says why.
            wait_for(lambda: "no Spark kernel" in head_message(double, cluster), WAIT_S)
            assert head_condition(double, cluster)["status"] == "False"
            assert replicas(double, head) == 0 and replicas(double, workers) == 0
            assert status_of(double, cluster)["phase"] == "Idle"

            kernel = start_kernel(url, "spark")
            wait_for(lambda: head_condition(double, cluster).get("status") == "True", WAIT_S)
            assert replicas(double, head) == 1
            assert "1 Spark kernels are open" in head_condition(double, cluster)["message"]

            with waiting_apps(prometheus, cluster, user) as waiting:
                waiting.set(2)
                wait_for(lambda: replicas(double, workers) == 2, WAIT_S)
                stop_kernel(url, kernel)
                waiting.set(0)
                # Idle: the workers go first, then the master; the Service stays.
                wait_for(lambda: replicas(double, workers) == 0, WAIT_S)
                wait_for(lambda: replicas(double, head) == 0, WAIT_S)
            wait_for(lambda: head_condition(double, cluster).get("status") == "False", WAIT_S)
            assert double.get("services", NAMESPACE, head)["metadata"]["name"] == head
            assert violations == []
        finally:
            controller.send_signal(signal.SIGTERM)
            controller.wait(30)
