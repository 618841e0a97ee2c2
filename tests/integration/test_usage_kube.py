"""The usage service's Kubernetes cluster source against the API-server double: the official
``kubernetes`` client lists the ComputeCluster custom resources over real HTTP (this proves the
API calls, not a cluster)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kubernetes import client

from hubscale.spec import API_VERSION
from tests.kube.apiserver import ApiServerDouble
from tests.kube.fixtures import NAMESPACE, create_cluster, running_double
from usage.accounting import Sample
from usage.db import AccountingDB, default_url
from usage.kube_clusters import KubeClusters
from usage.sampler import Sampler


@pytest.fixture
def apiserver() -> Iterator[ApiServerDouble]:
    with running_double() as double:
        yield double


def write_status(double: ApiServerDouble, name: str, **status: object) -> None:
    """The status subresource written as the controller does (a merge patch)."""
    url = f"{double.url}/apis/{API_VERSION}/namespaces/{NAMESPACE}/computeclusters/{name}/status"
    response = httpx.patch(
        url,
        content=json.dumps({"status": status}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text


def source(double: ApiServerDouble) -> KubeClusters:
    return KubeClusters(client.ApiClient(client.Configuration(host=double.url)), NAMESPACE)


def test_the_custom_resources_become_views_with_their_status_and_budget(apiserver):
    create_cluster(apiserver, "alice-spark", maxWorkers=4, userBudgetCores=8)
    create_cluster(apiserver, "bob-flink", engine="flink", owner="bob")
    write_status(apiserver, "bob-flink", workers=2, desired=3, phase="Scaling",
                 reason="3 slots needed")  # fmt: skip

    before = list(apiserver.requests)
    views = {view.key.cluster: view for view in source(apiserver).clusters()}
    made = apiserver.requests[len(before) :]

    assert set(views) == {"alice-spark", "bob-flink"}
    assert (views["alice-spark"].key.owner, views["alice-spark"].budget_cores) == ("alice", 8)
    assert views["alice-spark"].status is None and views["alice-spark"].max_workers == 4
    # One list of the collection, nothing else: what the chart's Role grants (list).
    assert [r.split("?")[0] for r in made] == [
        f"GET /apis/{API_VERSION}/namespaces/{NAMESPACE}/computeclusters"
    ]
    bob = views["bob-flink"]
    assert (bob.key.engine, bob.workers, bob.desired, bob.status.reason) == (
        "flink", 2, 3, "3 slots needed"
    )  # fmt: skip


def test_the_sampler_accounts_kubernetes_clusters_like_local_ones(apiserver, tmp_path: Path):
    create_cluster(apiserver, "alice-spark")
    write_status(apiserver, "alice-spark", workers=1, desired=1, phase="Ready", reason="steady")
    db = AccountingDB(default_url(tmp_path))

    class NoBusy:
        def busy_cores(self) -> dict[str, float]:
            return {"alice-spark": 0.5}

    sampler = Sampler(source(apiserver), NoBusy(), db)
    sampler.sample(1000.0)
    sampler.sample(1010.0)

    assert db.totals(since_day=0)["alice"].held == 10  # 1 worker x 1 core x 10 s
    assert db.last_sample("alice-spark") == (Sample(1010.0, 1, 1, 0.5), 1)
