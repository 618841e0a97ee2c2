"""Watch-fed caches of every kind the Kubernetes backend owns, indexed by cluster.

One ``Reflector`` per kind (Secrets, Services, Deployments, NetworkPolicies, Pods), each listing
and watching the objects labelled ``hubscale.io/cluster`` and keeping only what the backend reads
of them (a few KiB of pod template per Deployment would make 10,000 clusters' caches weigh
gigabytes). Each cache reports the clusters whose objects moved: owned objects feed ``ensure``'s
work list, pods and heads the observations. A relist (start, 410 Gone, a failed watch) reports
every cluster: after a gap the controller looks at everything again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from kubernetes_asyncio import client

from autoscaler.backends.kubernetes.manifests import DELETION_COST, MANIFEST_HASH
from autoscaler.backends.kubernetes.watch import Json, Reflector
from hubscale import flink_tls
from hubscale.kube_api import Retry
from hubscale.names import CLUSTER_LABEL

AUTH_SECRET_KEY = "secret"
# What a cached object keeps: the metadata the backend reads, and per kind a little more.
KEPT_METADATA = (
    "name", "labels", "resourceVersion", "uid", "creationTimestamp", "deletionTimestamp"
)  # fmt: skip
KEPT_ANNOTATIONS = (MANIFEST_HASH, DELETION_COST)
SECRET_KEYS = (AUTH_SECRET_KEY, *flink_tls.FILES)
OWNED_KINDS = ("Secret", "Service", "Deployment", "NetworkPolicy")  # what ``ensure`` applies


def cluster_of(obj: Json) -> str | None:
    """The cluster an object belongs to (its ``hubscale.io/cluster`` label)."""
    return (obj["metadata"].get("labels") or {}).get(CLUSTER_LABEL)


def slim(obj: Json) -> Json:
    """What the backend reads of any owned object or pod; the rest is dropped."""
    meta = obj.get("metadata") or {}
    kept = {key: meta[key] for key in KEPT_METADATA if meta.get(key) is not None}
    annotations = meta.get("annotations") or {}
    kept["annotations"] = {k: annotations[k] for k in KEPT_ANNOTATIONS if k in annotations}
    found: Json = {"metadata": kept}
    kind = obj.get("kind")
    if kind == "Deployment" or "replicas" in (obj.get("spec") or {}):
        found["spec"] = {"replicas": (obj.get("spec") or {}).get("replicas")}
    if kind == "Secret" or "data" in obj:
        data = obj.get("data") or {}
        found["data"] = {key: data[key] for key in SECRET_KEYS if key in data}
    status = obj.get("status") or {}
    if "phase" in status:  # a pod's (a Deployment's status is the cluster's pods, watched apart)
        found["status"] = {
            "phase": status.get("phase"),
            "conditions": [
                {"type": c.get("type"), "status": c.get("status")}
                for c in status.get("conditions") or []
            ],
        }
    return found


class OwnedCaches:
    """The five caches of one namespace, and which clusters changed since last asked."""

    def __init__(
        self, api_client: client.ApiClient, namespace: str, retry: Retry, watch_timeout_s: int
    ) -> None:
        core = client.CoreV1Api(api_client)
        apps = client.AppsV1Api(api_client)
        networking = client.NetworkingV1Api(api_client)
        lists: dict[str, Callable[..., Awaitable[Any]]] = {
            "Secret": core.list_namespaced_secret,
            "Service": core.list_namespaced_service,
            "Deployment": apps.list_namespaced_deployment,
            "NetworkPolicy": networking.list_namespaced_network_policy,
            "Pod": core.list_namespaced_pod,
        }
        self.kinds: dict[str, Reflector] = {}
        self.owned_changed: set[str] = set()  # clusters whose applied objects moved
        self.observed_changed: set[str] = set()  # clusters whose pods, heads or Secret moved
        for kind, listing in lists.items():
            reflector = Reflector(
                f"{kind.lower()}s",
                functools.partial(listing, namespace, label_selector=CLUSTER_LABEL),
                retry,
                watch_timeout_s,
                transform=slim,
                index=cluster_of,
            )
            reflector.changed = functools.partial(self._changed, kind)
            self.kinds[kind] = reflector

    def _changed(self, kind: str, clusters: Iterable[str]) -> None:
        clusters = set(clusters)
        if kind in OWNED_KINDS:
            self.owned_changed |= clusters
        if kind in ("Pod", "Deployment", "Secret"):
            self.observed_changed |= clusters

    @property
    def synced(self) -> bool:
        """Every kind listed at least once: until then the caches cannot say "absent"."""
        return all(reflector.synced.is_set() for reflector in self.kinds.values())

    async def wait_synced(self) -> None:
        for reflector in self.kinds.values():
            await reflector.synced.wait()

    def get(self, kind: str, name: str) -> Json | None:
        return self.kinds[kind].objects.get(name)

    def of_cluster(self, kind: str, cluster: str) -> list[Json]:
        return list(self.kinds[kind].indexed(cluster).values())

    def clusters(self, kind: str) -> set[str]:
        return set(self.kinds[kind].by_key)

    def take_owned_changed(self) -> set[str]:
        changed, self.owned_changed = self.owned_changed, set()
        return changed

    def take_observed_changed(self) -> set[str]:
        changed, self.observed_changed = self.observed_changed, set()
        return changed

    async def run(self, stop: asyncio.Event) -> None:
        """List and watch every kind until ``stop`` is set."""
        tasks = [asyncio.create_task(r.run(stop)) for r in self.kinds.values()]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
