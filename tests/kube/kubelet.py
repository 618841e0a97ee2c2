"""What the test plays besides the API server: the ReplicaSet/StatefulSet controllers and the
kubelet (pods for each workload's replicas, marked Running), and the garbage collector (objects
whose owners are gone). Simplified on purpose: a Deployment owns its pods directly, no ReplicaSet.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from tests.kube.protocol import Json
from tests.kube.store import RESOURCES, Resource, Store

PODS = next(r for r in RESOURCES if r.plural == "pods")
WORKLOADS = [r for r in RESOURCES if r.kind in ("Deployment", "StatefulSet")]
WORKLOAD_PLURALS = {r.plural: r for r in WORKLOADS}
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
_pod_ips = itertools.count(2)


def sync_workloads(store: Store, namespace: str, running: bool = True) -> None:
    """Give every Deployment and StatefulSet its replicas as pods; Running and Ready if asked.
    One pass over the pods (thousands of workloads in the controller bench); a workload's status
    is written only when it changes, as the real controllers do."""
    with store.lock:  # read in place (no copies: 10,000 clusters' objects in the bench)
        owned: dict[str, list[Json]] = defaultdict(list)
        workloads: list[tuple[Resource, Json]] = []
        for (plural, ns, _), obj in store.objects.items():
            if ns != namespace:
                continue
            if plural == PODS.plural:
                for ref in obj["metadata"].get("ownerReferences", []):
                    owned[ref.get("uid")].append(obj)
            elif plural in WORKLOAD_PLURALS:
                workloads.append((WORKLOAD_PLURALS[plural], obj))
        for resource, workload in workloads:
            pods = owned[workload["metadata"]["uid"]]
            if not _synced(workload, pods, running):
                _sync(store, namespace, resource, workload, list(pods), running)


def _synced(workload: Json, pods: list[Json], running: bool) -> bool:
    """Nothing to do: as many pods as replicas, each Running if asked, the status says so."""
    wanted = workload["spec"].get("replicas", 1)
    status = workload.get("status", {})
    ready = wanted if running else 0
    if len(pods) != wanted or (status.get("replicas"), status.get("readyReplicas")) != (
        wanted,
        ready,
    ):
        return False
    if status.get("observedGeneration") != workload["metadata"]["generation"]:
        return False
    return not running or all(pod.get("status", {}).get("phase") == "Running" for pod in pods)


def _sync(
    store: Store,
    namespace: str,
    resource: Resource,
    workload: Json,
    pods: list[Json],
    running: bool,
) -> None:
    wanted = workload["spec"].get("replicas", 1)
    for index in range(len(pods), wanted):
        pods.append(_create_pod(store, namespace, resource, workload, index))
    if len(pods) > wanted:
        leaving = sorted(pods, key=_deletion_rank)[: len(pods) - wanted]
        for pod in leaving:
            store.delete(PODS, namespace, pod["metadata"]["name"])
        pods = [pod for pod in pods if pod not in leaving]
    if running:
        for pod in pods:
            run_pod(store, namespace, pod)
    ready = len(pods) if running else 0
    status = {
        "status": {
            "observedGeneration": workload["metadata"]["generation"],
            "replicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "updatedReplicas": len(pods),
        }
    }
    if workload.get("status", {}).items() >= status["status"].items():
        return
    store.patch(
        resource, namespace, workload["metadata"]["name"], "application/merge-patch+json",
        status, "status",
    )  # fmt: skip


def _create_pod(
    store: Store, namespace: str, resource: Resource, workload: Json, index: int
) -> Json:
    template = workload["spec"]["template"]
    name = workload["metadata"]["name"]
    owner = {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "name": name,
        "uid": workload["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    metadata: dict[str, Any] = {
        **template.get("metadata", {}),
        "ownerReferences": [owner],
    }
    if resource.kind == "StatefulSet":
        metadata["name"] = f"{name}-{index}"
    else:
        metadata["generateName"] = f"{name}-"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]}
    return store.create(PODS, namespace, pod)


def run_pod(store: Store, namespace: str, pod: Json) -> None:
    """Running and Ready with a pod IP (already Running: unchanged)."""
    if pod.get("status", {}).get("phase") == "Running":
        return
    status = {
        "status": {
            "phase": "Running",
            "podIP": f"10.244.0.{next(_pod_ips) % 250 + 2}",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [
                {
                    "name": c["name"],
                    "image": c.get("image", ""),
                    "imageID": "",
                    "ready": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": pod["metadata"]["creationTimestamp"]}},
                }
                for c in pod.get("spec", {}).get("containers", [])
            ],
        }
    }
    store.patch(
        PODS, namespace, pod["metadata"]["name"], "application/merge-patch+json", status, "status"
    )


def _deletion_rank(pod: Json) -> tuple[int, int, int, str, str]:
    """The ReplicaSet controller's order, shortened: not running, not ready, cheap, newest."""
    status = pod.get("status", {})
    running = status.get("phase") == "Running"
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions", [])
    )
    cost = int(pod["metadata"].get("annotations", {}).get(DELETION_COST, "0"))
    created = pod["metadata"]["creationTimestamp"]
    return (running, ready, cost, _descending(created), _descending(pod["metadata"]["name"]))


def _descending(text: str) -> str:
    return "".join(chr(0x10FFFF - ord(character)) for character in text)


def collect_garbage(store: Store) -> list[str]:
    """Delete objects whose owners are all gone, until none is left; returns what went."""
    removed: list[str] = []
    while True:
        with store.lock:
            uids = {obj["metadata"]["uid"] for obj in store.objects.values()}
            orphans = [
                (plural, namespace, name)
                for (plural, namespace, name), obj in store.objects.items()
                if (refs := obj["metadata"].get("ownerReferences"))
                and not any(ref.get("uid") in uids for ref in refs)
            ]
        if not orphans:
            return removed
        for plural, namespace, name in orphans:
            resource = next(r for r in RESOURCES if r.plural == plural)
            store.delete(resource, namespace, name)
            removed.append(f"{plural}/{name}")
