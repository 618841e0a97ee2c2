"""The tests' one way to write a ComputeCluster: as a document, an object or a spec.

A test names only what it is about; the rest is alice's Spark cluster with the model's defaults.
A Flink cluster's manifests also need a REST credential: ``rest_tls``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from autoscaler.policy.decision import Decision
from hubscale import flink_tls
from hubscale.spec import API_VERSION, KIND, ComputeCluster, ComputeClusterSpec, parse_cluster


def cluster_document(
    name: str = "alice-spark",
    engine: str = "spark",
    owner: str = "alice",
    namespace: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A ComputeCluster as the spawner writes it; ``spec`` in the document's spelling."""
    metadata = {"name": name} if namespace is None else {"name": name, "namespace": namespace}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": {"owner": owner, "engine": engine, **spec},
    }


def cluster(
    name: str = "alice-spark",
    engine: str = "spark",
    owner: str = "alice",
    namespace: str | None = None,
    **spec: Any,
) -> ComputeCluster:
    """``cluster_document`` parsed, as the controller reads it."""
    return parse_cluster(cluster_document(name, engine, owner, namespace, **spec))


def cluster_spec(engine: str = "spark", owner: str = "alice", **fields: Any) -> ComputeClusterSpec:
    """A spec alone (what the policy reads); ``fields`` by name or by the document's spelling."""
    return ComputeClusterSpec(owner=owner, engine=engine, **fields)


@functools.cache
def rest_tls() -> flink_tls.RestTls:
    """A Flink cluster's REST credential, generated once per test session (~10 ms)."""
    return flink_tls.generate(["alice-flink-jobmanager.hub.svc"])


@dataclass(frozen=True)
class FixedPolicy:
    """A simulator policy for tests: always the same target (so the accounting can be computed
    by hand), asked every ``interval_s``."""

    target: int
    name: str = "fixed"
    interval_s: float = 5.0

    def decide(self, spec, signal, state, now):
        return Decision(self.target, "fixed", "steady", (), state.memo)

    def describe(self) -> str:
        return f"always {self.target}"
