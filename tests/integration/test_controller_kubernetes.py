"""Two controller processes in Kubernetes mode with leader election, over HTTP against the
API-server double (kubeconfig pointing at it, unmodified kubernetes_asyncio inside). This proves
the controller's API calls and the Lease handover, not a cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubscale.names import worker_name
from tests.kube.apiserver import ApiServerDouble
from tests.kube.fixtures import NAMESPACE, create_cluster, running_double, write_kubeconfig
from tests.kube.protocol import ApiError
from tests.support import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
LEASE = "hubscale-autoscaler"


@pytest.fixture
def apiserver() -> Iterator[ApiServerDouble]:
    with running_double() as double:
        yield double


def start_controller(double, prometheus, tmp_path: Path, name: str) -> subprocess.Popen:
    kubeconfig = write_kubeconfig(double, tmp_path / "kubeconfig")
    log = open(tmp_path / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
    return subprocess.Popen(
        [
            sys.executable, "-m", "autoscaler", "--backend", "kubernetes",
            "--namespace", NAMESPACE, "--leader-election", "--lease-duration", "3",
            "--prometheus-url", prometheus.url, "--interval", "0.5",
            "--listen", f"127.0.0.1:{free_port()}",
        ],
        cwd=REPO,
        env={**os.environ, "KUBECONFIG": str(kubeconfig), "HOME": str(tmp_path)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def workers_wanted(double: ApiServerDouble, cluster: str) -> int | None:
    try:
        deployment = double.get("deployments", NAMESPACE, worker_name(cluster, "spark"))
    except ApiError:
        return None
    return deployment["spec"].get("replicas")


def status_of(double: ApiServerDouble, cluster: str) -> dict:
    return double.get("computeclusters", NAMESPACE, cluster).get("status", {})


def holder(double: ApiServerDouble) -> str | None:
    try:
        return double.get("leases", NAMESPACE, LEASE)["spec"].get("holderIdentity")
    except ApiError:
        return None


def test_one_controller_leads_and_a_standby_takes_over_when_it_dies(
    apiserver, prometheus, tmp_path
):
    controllers = [start_controller(apiserver, prometheus, tmp_path, n) for n in ("a", "b")]
    try:
        create_cluster(apiserver, "first", minWorkers=1, maxWorkers=2)
        wait_for(lambda: workers_wanted(apiserver, "first") == 1, timeout_s=60)
        leader_identity = wait_for(lambda: holder(apiserver), timeout_s=10)
        pids = {c.pid: c for c in controllers}
        leader = pids[int(leader_identity.rsplit("_", 1)[1])]
        standby = next(c for c in controllers if c is not leader)
        standby_log = tmp_path / ("a.log" if standby is controllers[0] else "b.log")
        assert "scale cluster=" not in standby_log.read_text()  # it never acted

        leader.send_signal(signal.SIGKILL)
        leader.wait(10)
        create_cluster(apiserver, "second", minWorkers=1, maxWorkers=2)
        wait_for(lambda: workers_wanted(apiserver, "second") == 1, timeout_s=60)
        assert holder(apiserver) == f"{leader_identity.rsplit('_', 1)[0]}_{standby.pid}"
        lease = apiserver.get("leases", NAMESPACE, LEASE)
        assert lease["spec"]["leaseTransitions"] >= 1
        wait_for(lambda: status_of(apiserver, "second").get("desired") == 1, timeout_s=30)
        assert "holding" in status_of(apiserver, "second")["reason"]  # no metrics for it: hold
    finally:
        for controller in controllers:
            if controller.poll() is None:
                controller.send_signal(signal.SIGTERM)
                controller.wait(30)
