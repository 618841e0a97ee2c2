"""A controller killed in the middle of its first loop over 1,000 clusters, and the one started
after it (issue 17): the second adopts every object the first created, recreates or rewrites
none of them, and creates only what was missing. The real controller as a process against the
API-server double, Prometheus a stand-in (benchmarks.controller_scale), the test playing kubelet:
it proves the API calls, not a cluster."""

from __future__ import annotations

import os
import re
import signal
from collections import Counter
from pathlib import Path

import pytest

from benchmarks.controller_scale import StandInPrometheus, cluster_names, kubelet, start_controller
from hubscale.kube_conf import STATUS_FILE
from hubscale.names import CLUSTER_LABEL, ENGINE_LABEL, HEAD_ROLE, ROLE_LABEL
from tests.builders import cluster_document
from tests.kube.apiserver import ApiServerDouble
from tests.kube.fixtures import NAMESPACE
from tests.support import wait_for

CLUSTERS = 1000
KILL_AFTER = 200  # worker Deployments created when the first controller is killed
TIMEOUT_S = 600.0  # each phase's limit: minutes on two cores shared with other work
OWNED = ("secrets", "services", "deployments", "networkpolicies")
# Per cluster: config Secret, head Service, head + worker Deployments, NetworkPolicies.
EXPECTED = {"secrets": 1000, "services": 1000, "deployments": 2000, "networkpolicies": 1500}
APPLIED = re.compile(r"^(POST|PATCH) /apis?/.*/(services|deployments|networkpolicies)(/[^/?]+)?$")


def owned(double: ApiServerDouble) -> dict[str, dict[str, dict]]:
    """Every owned object by kind and name."""
    return {
        plural: {obj["metadata"]["name"]: obj for obj in double.objects(plural, NAMESPACE)}
        for plural in OWNED
    }


def workers_created(double: ApiServerDouble) -> int:
    with double.store.lock:
        return sum(
            1
            for (plural, _, name) in double.store.objects
            if plural == "deployments" and name.endswith(("-worker", "-taskmanager"))
        )


def settled(double: ApiServerDouble, seen: list[str]) -> bool:
    """Every cluster Ready or Idle (its head runs), every object there; ``seen``: how far."""
    phases = Counter(
        c.get("status", {}).get("phase") for c in double.objects("computeclusters", NAMESPACE)
    )
    counts = {plural: len(found) for plural, found in owned(double).items()}
    seen[:] = [f"phases {dict(phases)}, objects {counts}"]
    return phases["Ready"] + phases["Idle"] == CLUSTERS and counts == EXPECTED


@pytest.mark.slow
def test_a_controller_killed_mid_loop_at_1000_clusters_is_succeeded_without_duplicates(
    tmp_path: Path,
):
    clusters = cluster_names(CLUSTERS)
    prometheus = StandInPrometheus(clusters)
    with ApiServerDouble(history_limit=30 * CLUSTERS) as double, prometheus.running():
        for name, engine in clusters:
            double.create("computeclusters", NAMESPACE, cluster_document(name, engine))
        first, _ = start_controller(double, prometheus.url, tmp_path)
        try:
            wait_for(
                lambda: workers_created(double) >= KILL_AFTER, timeout_s=TIMEOUT_S, every_s=0.1
            )
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(30)
        before = owned(double)
        assert len(before["deployments"]) < EXPECTED["deployments"], "killed after its loop"
        requests_before = len(double.requests)

        second, _ = start_controller(double, prometheus.url, tmp_path)
        try:
            with kubelet(double):
                seen: list[str] = []
                try:
                    wait_for(lambda: settled(double, seen), timeout_s=TIMEOUT_S, every_s=2.0)
                except AssertionError as error:
                    raise AssertionError(f"{error}: {seen[0]}") from None
        finally:
            second.terminate()
            second.wait(30)
        after = owned(double)

    for plural, objects in before.items():  # adopted: the same objects, unchanged
        for name, obj in objects.items():
            assert after[plural][name]["metadata"]["uid"] == obj["metadata"]["uid"], name
    for name, secret in before["secrets"].items():  # the RPC secret and REST credential kept
        kept = {key: value for key, value in secret["data"].items() if key != STATUS_FILE}
        assert {key: after["secrets"][name]["data"][key] for key in kept} == kept, name
    applied = Counter(
        (match[1], match[2])
        for line in double.requests[requests_before:]
        if (match := APPLIED.match(line.split("?")[0]))
    )
    missing = {plural: len(after[plural]) - len(before[plural]) for plural in OWNED}
    for plural in ("services", "deployments", "networkpolicies"):
        # Each missing one created (a create racing the killed controller's last one gets 409:
        # the names are fixed, so an object cannot be created twice), nothing adopted rewritten.
        assert applied["POST", plural] >= missing[plural], plural
        assert applied["PATCH", plural] == 0, plural
    assert not [line for line in double.requests[requests_before:] if line.startswith("DELETE")]
    heads = Counter(
        pod["metadata"]["labels"][CLUSTER_LABEL]
        for pod in double.objects("pods", NAMESPACE)
        if pod["metadata"]["labels"].get(ROLE_LABEL)
        == HEAD_ROLE[pod["metadata"]["labels"][ENGINE_LABEL]]
    )
    assert len(heads) == CLUSTERS and set(heads.values()) == {1}  # one head each, none doubled
