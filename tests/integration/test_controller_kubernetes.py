"""Two controller processes in Kubernetes mode with leader election, over HTTP against the
API-server double (kubeconfig pointing at it, unmodified kubernetes_asyncio inside). This proves
the controller's API calls and the Lease handover, not a cluster."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator

import pytest

from autoscaler.controller.shard import Shard
from tests.kube.apiserver import ApiServerDouble
from tests.kube.controller import (
    controller_process,
    start_controller,
    status_of,
    workers_wanted,
)
from tests.kube.fixtures import NAMESPACE, create_cluster, running_double
from tests.kube.protocol import ApiError
from tests.support import CONTROLLER_UP_S, free_port, wait_for

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


def start_shard(apiserver, prometheus, tmp_path, shard: Shard):
    """A controller for one shard, leading through that shard's own Lease."""
    return controller_process(
        apiserver, tmp_path, f"shard{shard.index}",
        "--leader-election", "--lease-duration", "3",
        "--lease-name", f"{LEASE}-{shard.index}", "--shard", str(shard),
        "--prometheus-url", prometheus.url, "--interval", "0.5",
        "--listen", f"127.0.0.1:{free_port()}",
    )  # fmt: skip


def test_two_shards_each_handle_only_their_own_clusters_with_their_own_lease(
    apiserver, prometheus, tmp_path
):
    """Issue 17, sharding: ``--shard I/2`` beside ``--shard 1-I/2``; every cluster is scaled by
    exactly the shard its name hashes to, and each shard leads through its own Lease."""
    names = [f"c{index}" for index in range(8)]
    shards = [Shard(index, 2) for index in range(2)]
    assert all(any(shard.owns(name) for name in names) for shard in shards)  # both have work
    controllers = [start_shard(apiserver, prometheus, tmp_path, shard) for shard in shards]
    try:
        for name in names:
            create_cluster(apiserver, name, minWorkers=1, maxWorkers=2)
        wait_for(lambda: all(workers_wanted(apiserver, n) == 1 for n in names), timeout_s=90)
        wait_for(lambda: all(status_of(apiserver, n).get("desired") == 1 for n in names))
        for shard, controller in zip(shards, controllers, strict=True):
            log = (tmp_path / f"shard{shard.index}.log").read_text()
            scaled = set(re.findall(r"scale cluster=(\S+)", log))
            assert scaled == {name for name in names if shard.owns(name)}
            lease = apiserver.get("leases", NAMESPACE, f"{LEASE}-{shard.index}")
            assert lease["spec"]["holderIdentity"].endswith(f"_{controller.pid}")
    finally:
        for controller in controllers:
            if controller.poll() is None:
                controller.send_signal(signal.SIGTERM)
                controller.wait(30)
