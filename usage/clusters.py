"""The users' clusters as the service sees them: each ComputeCluster's spec and status.

Local mode reads ``hubscale.store.LocalClusterStore``; on Kubernetes ``usage.kube_clusters``
lists the ComputeCluster custom resources; both are a ``ClusterSource``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from hubscale.spec import ComputeCluster, ComputeClusterStatus
from hubscale.store import LocalClusterStore
from usage.db import ClusterKey

CAPACITY_LIMITED = "CapacityLimited"  # the controller's condition while at a limit


@dataclass(frozen=True, slots=True)
class ClusterView:
    """One cluster now: whose, how big a worker is, and what the controller last wrote."""

    key: ClusterKey
    cores_per_worker: int
    max_workers: int
    status: ComputeClusterStatus | None
    budget_cores: int | None = None  # the owner's budget as this cluster's spec says

    @property
    def workers(self) -> int:
        return self.status.workers if self.status is not None else 0

    @property
    def desired(self) -> int:
        return self.status.desired if self.status is not None else 0

    @property
    def at_limit(self) -> bool:
        conditions = self.status.conditions if self.status is not None else []
        return any(c.type == CAPACITY_LIMITED and c.status == "True" for c in conditions)

    def as_json(self) -> dict[str, Any]:
        """What ``/api/clusters`` says of it."""
        status = self.status
        return {
            "name": self.key.cluster,
            "server": self.key.server,
            "engine": self.key.engine,
            "phase": status.phase if status is not None else None,
            "workers": self.workers,
            "desired": self.desired,
            "maxWorkers": self.max_workers,
            "coresPerWorker": self.cores_per_worker,
            "userBudgetCores": self.budget_cores,
            "reason": status.reason if status is not None else "",
            "lastScaleTime": status.last_scale_time if status is not None else None,
        }


class ClusterSource(Protocol):
    def clusters(self) -> list[ClusterView]: ...


def view_of(name: str, cluster: ComputeCluster, status: ComputeClusterStatus | None) -> ClusterView:
    """What the service keeps of one ComputeCluster."""
    spec = cluster.spec
    key = ClusterKey(name, spec.owner, spec.server, spec.engine)
    return ClusterView(key, spec.worker.cores, spec.max_workers, status, spec.user_budget_cores)


class LocalClusters:
    """The local store's objects; unreadable documents are skipped (the controller flags them)."""

    def __init__(self, store: LocalClusterStore) -> None:
        self.store = store

    def clusters(self) -> list[ClusterView]:
        views = []
        for stored in self.store.list():
            if stored.cluster is None:
                continue
            views.append(view_of(stored.name, stored.cluster, stored.status))
        return views


def budgets(views: Iterable[ClusterView]) -> dict[str, int]:
    """Each user's budget in cores: the smallest their clusters' specs say (as the controller
    reads it); a user without one is absent."""
    found: dict[str, int] = {}
    for view in views:
        if view.budget_cores is not None:
            owner = view.key.owner
            found[owner] = min(found.get(owner, view.budget_cores), view.budget_cores)
    return found
