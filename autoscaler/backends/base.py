"""The one interface every backend offers the controller: ensure, scale, delete, observe.

A backend turns ComputeCluster objects into running clusters (processes locally, Deployments on
Kubernetes) and reports what runs. It keeps nothing in memory it cannot rebuild from what it
runs, so a restarted controller picks up where the last one stopped.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from hubscale import flink_tls
from hubscale.kube_api import KubeError
from hubscale.spec import ComputeCluster, Engine


class BackendError(RuntimeError):
    """A cluster could not be brought to the asked state; the controller retries next loop."""


class BackendOverdue(BackendError):
    """A backend call on one cluster missed its deadline (it may still be running)."""


# What a backend call may raise for the controller to count and retry next loop: the backend's own
# error, or a Kubernetes API call's (``hubscale.kube_api``, shared with the spawner).
BACKEND_ERRORS = (BackendError, KubeError)


@dataclass(frozen=True, slots=True)
class Observation:
    """What runs for one cluster now."""

    name: str
    engine: Engine
    head_running: bool  # the Spark master or the Flink JobManager
    workers: tuple[str, ...] = ()  # serving workers (starting or registered), oldest first
    draining: tuple[str, ...] = ()  # leaving: finishing their tasks, no longer counted
    endpoints: Mapping[str, str] = field(default_factory=dict)  # e.g. master_url, rest_url
    # How the controller authenticates to the head's API (Flink REST: mutual TLS); None: not at all
    rest_tls: ssl.SSLContext | None = field(default=None, compare=False, repr=False)
    # ... or the credential to build that context from, only when the head is asked (building
    # one costs tens of milliseconds: thousands of idle Flink clusters must not each pay it)
    rest_credential: flink_tls.RestTls | None = field(default=None, compare=False, repr=False)

    def tls_context(self) -> ssl.SSLContext | None:
        """The TLS client context for the head's API, None for plain HTTP."""
        if self.rest_tls is not None or self.rest_credential is None:
            return self.rest_tls
        return flink_tls.client_context(self.rest_credential)


class Backend(Protocol):
    """Runs clusters; every call is idempotent and safe to repeat after a crash."""

    async def ensure(self, cluster: ComputeCluster, head: bool = True) -> Observation:
        """Create what the cluster needs besides its workers (config, secret, client
        description) and run its master/JobManager, or stop it (``head=False``; never while
        workers remain)."""
        ...

    async def scale(self, cluster: ComputeCluster, workers: int, victims: Sequence[str]) -> None:
        """Hold ``workers`` serving workers; to shrink, drain ``victims`` first, then others."""
        ...

    async def delete(self, name: str) -> None:
        """Stop every process or object of the cluster and forget it."""
        ...

    async def observe(self) -> dict[str, Observation]:
        """Every cluster the backend runs, including ones whose object is gone."""
        ...


def changed_clusters(backend: Backend) -> set[str] | None:
    """The clusters whose running objects changed since last asked, if the backend can tell
    (``changed()``, e.g. from watches); None: it cannot, every cluster needs its ``ensure``."""
    changed = getattr(backend, "changed", None)
    return None if changed is None else changed()


def ensures_at_once(backend: Backend) -> int:
    """How many clusters the backend may ensure at the same time (``ensures_at_once``, e.g.
    API calls that wait on the network); 1 when it does not say."""
    return max(1, int(getattr(backend, "ensures_at_once", 1)))
