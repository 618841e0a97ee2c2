"""Two controller processes in Kubernetes mode with leader election, over HTTP against the
API-server double (kubeconfig pointing at it, unmodified kubernetes_asyncio inside). This proves
the controller's API calls and the Lease handover, not a cluster."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from tests.kube.apiserver import ApiServerDouble
from tests.kube.controller import CONTROLLER_UP_S, start_controller, status_of, workers_wanted
from tests.kube.fixtures import NAMESPACE, create_cluster, running_double
from tests.kube.protocol import ApiError
from tests.support import wait_for

LEASE = "hubscale-autoscaler"


@pytest.fixture
def apiserver() -> Iterator[ApiServerDouble]:
    with running_double() as double:
        yield double


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
        wait_for(lambda: workers_wanted(apiserver, "first") == 1, timeout_s=CONTROLLER_UP_S)
        leader_identity = wait_for(lambda: holder(apiserver), timeout_s=10)
        pids = {c.pid: c for c in controllers}
        leader = pids[int(leader_identity.rsplit("_", 1)[1])]
        standby = next(c for c in controllers if c is not leader)
        standby_log = tmp_path / ("a.log" if standby is controllers[0] else "b.log")
        assert "scale cluster=" not in standby_log.read_text()  # it never acted

        leader.send_signal(signal.SIGKILL)
        leader.wait(10)
        create_cluster(apiserver, "second", minWorkers=1, maxWorkers=2)
        wait_for(lambda: workers_wanted(apiserver, "second") == 1, timeout_s=120)
        assert holder(apiserver) == f"{leader_identity.rsplit('_', 1)[0]}_{standby.pid}"
        lease = apiserver.get("leases", NAMESPACE, LEASE)
        assert lease["spec"]["leaseTransitions"] >= 1

        def held() -> bool:  # no metrics for it: hold (one status, not two reads of it)
            status = status_of(apiserver, "second")
            return status.get("desired") == 1 and "holding" in status.get("reason", "")

        wait_for(held, timeout_s=60)
    finally:
        for controller in controllers:
            if controller.poll() is None:
                controller.send_signal(signal.SIGTERM)
                controller.wait(30)
