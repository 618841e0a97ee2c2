"""The API-server double's storage: objects, one resourceVersion counter, an event history for
watches, and the semantics of create/replace/patch/delete with the status and scale subresources.

Thread-safe (one lock): the HTTP handlers and the test (playing kubelet) both write to it.
What it leaves out, on purpose: admission, schema validation, defaulting beyond a few fields,
finalizers and graceful deletion (a delete removes at once), server-side apply.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.kube.protocol import (
    ApiError,
    Json,
    already_exists,
    bad_request,
    conflict,
    gone,
    json_patch,
    merge_patch,
    not_found,
)

MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@dataclass(frozen=True)
class Resource:
    """One REST resource the double serves."""

    group: str
    version: str
    plural: str
    kind: str
    subresources: tuple[str, ...] = ()
    custom: bool = False  # a CRD's resource: no strategic merge, resourceVersion needed on update
    short_names: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


RESOURCES = [
    Resource("", "v1", "pods", "Pod", ("status",)),
    Resource("", "v1", "services", "Service", ("status",)),
    Resource("", "v1", "secrets", "Secret"),
    Resource("", "v1", "configmaps", "ConfigMap"),
    Resource("", "v1", "events", "Event"),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", ("status",)),
    Resource("apps", "v1", "deployments", "Deployment", ("status", "scale")),
    Resource("apps", "v1", "statefulsets", "StatefulSet", ("status", "scale")),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
    Resource("coordination.k8s.io", "v1", "leases", "Lease"),
    Resource(
        "hubscale.io", "v1alpha1", "computeclusters", "ComputeCluster", ("status",), True, ("cc",)
    ),
]
Key = tuple[str, str, str]  # (plural, namespace, name)
Predicate = Callable[[Json], bool]


@dataclass
class Watcher:
    """One open watch: events go to ``queue`` on the server's event loop; None ends it."""

    resource: Resource
    namespace: str | None
    matches: Predicate
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Json | None]

    def send(self, item: Json | None) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


@dataclass(frozen=True)
class Change:
    resource_version: int
    resource: Resource
    namespace: str
    old: Json | None
    new: Json | None


class Store:
    """All objects of the double, with an etcd-like history bounded by ``history_limit``."""

    def __init__(self, history_limit: int = 1000) -> None:
        self.lock = threading.RLock()
        self.resource_version = 0
        self.objects: dict[Key, Json] = {}
        self.history: deque[Change] = deque()
        self.history_limit = history_limit
        self.compacted = 0  # a watch from a resourceVersion below this gets 410 Gone
        self.watchers: list[Watcher] = []

    # Reads

    def get(self, resource: Resource, namespace: str, name: str) -> Json:
        with self.lock:
            found = self.objects.get((resource.plural, namespace, name))
            if found is None:
                raise not_found(resource.kind, resource.group, name)
            return copy.deepcopy(found)

    def list(
        self, resource: Resource, namespace: str | None, matches: Predicate
    ) -> tuple[list[Json], str]:
        with self.lock:
            items = [
                copy.deepcopy(obj)
                for (plural, ns, _), obj in sorted(self.objects.items())
                if plural == resource.plural and namespace in (None, ns) and matches(obj)
            ]
            return items, str(self.resource_version)

    # Writes

    def create(self, resource: Resource, namespace: str, body: Json) -> Json:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if meta.get("namespace", namespace) != namespace:
            raise bad_request("the namespace of the object does not match the request")
        with self.lock:
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            name = meta.get("name")
            if not name:
                raise ApiError(422, "Invalid", "metadata.name: Required value: name is required")
            if (resource.plural, namespace, name) in self.objects:
                raise already_exists(resource.kind, resource.group, name)
            obj["apiVersion"], obj["kind"] = resource.api_version, resource.kind
            meta.update(
                namespace=namespace,
                uid=str(uuid.uuid4()),
                creationTimestamp=_now(),
                generation=1,
            )
            if "status" in resource.subresources:
                obj["status"] = {"phase": "Pending"} if resource.kind == "Pod" else {}
            if resource.kind in ("Deployment", "StatefulSet"):
                obj.setdefault("spec", {}).setdefault("replicas", 1)
            return self._commit(resource, namespace, None, _stored(obj))

    def replace(
        self, resource: Resource, namespace: str, name: str, body: Json, sub: str | None
    ) -> Json:
        with self.lock:
            current = self.get(resource, namespace, name)
            sent_version = body.get("metadata", {}).get("resourceVersion")
            if resource.custom and not sent_version:
                raise ApiError(
                    422,
                    "Invalid",
                    f'{resource.kind} "{name}" is invalid: metadata.resourceVersion: Invalid '
                    "value: 0x0: must be specified for an update",
                )
            if sent_version and sent_version != current["metadata"]["resourceVersion"]:
                raise conflict(resource.kind, resource.group, name)
            if body.get("metadata", {}).get("name", name) != name:
                raise bad_request("the name of the object does not match the name on the URL")
            return self._write(resource, namespace, current, copy.deepcopy(body), sub)

    def patch(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        content_type: str,
        body: Any,
        sub: str | None,
    ) -> Json:
        with self.lock:
            current = self.get(resource, namespace, name)
            view = scale_of(current) if sub == "scale" else current
            if content_type == JSON_PATCH:
                patched = json_patch(view, body)
            elif content_type == MERGE_PATCH or (
                content_type == STRATEGIC_MERGE_PATCH and not resource.custom
            ):
                if not isinstance(body, dict):
                    raise bad_request("merge patch body must be a JSON object")
                patched = merge_patch(view, body)  # the double treats strategic merge as merge
            else:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types "
                    f"include: {JSON_PATCH}, {MERGE_PATCH}"
                    + ("" if resource.custom else f", {STRATEGIC_MERGE_PATCH}"),
                )
            sent_version = patched.get("metadata", {}).get("resourceVersion")
            if sent_version != view["metadata"]["resourceVersion"]:
                raise conflict(resource.kind, resource.group, name)
            return self._write(resource, namespace, current, patched, sub)

    def delete(
        self,
        resource: Resource,
        namespace: str,
        name: str,
        preconditions: dict[str, str] | None = None,
    ) -> Json:
        """Delete an object; DeleteOptions' ``preconditions`` (uid, resourceVersion) must hold."""
        with self.lock:
            current = self.get(resource, namespace, name)
            for key, wanted in (preconditions or {}).items():
                found = current["metadata"].get(key)
                if wanted is not None and wanted != found:
                    what = {"uid": "UID", "resourceVersion": "ResourceVersion"}.get(key, key)
                    raise ApiError(
                        409,
                        "Conflict",
                        f"Precondition failed: {what} in precondition: {wanted},"
                        f" {what} in object meta: {found}",
                    )
            self._commit(resource, namespace, current, None)
            return current

    def _write(
        self, resource: Resource, namespace: str, current: Json, new: Json, sub: str | None
    ) -> Json:
        """The object after an update of the main resource or a subresource."""
        current, new = copy.deepcopy(current), copy.deepcopy(new)
        if sub == "scale":
            replicas = new.get("spec", {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise ApiError(422, "Invalid", "spec.replicas: must be a non-negative integer")
            new = merge_patch(current, {"spec": {"replicas": replicas}})
        elif sub == "status":
            new = {**current, "status": new.get("status", {})}
        else:
            new["apiVersion"], new["kind"] = resource.api_version, resource.kind
            keep = ("uid", "creationTimestamp", "generation", "namespace", "name")
            new["metadata"] = {
                **new.get("metadata", {}),
                **{key: current["metadata"][key] for key in keep},
            }
            if "status" in resource.subresources:
                new["status"] = current.get("status", {})
            if new.get("spec") != current.get("spec"):
                new["metadata"]["generation"] = current["metadata"]["generation"] + 1
        new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        new = _stored(new)
        if new == current:
            return current  # a no-op write: no new resourceVersion, no watch event
        return self._commit(resource, namespace, current, new)

    def _commit(
        self, resource: Resource, namespace: str, old: Json | None, new: Json | None
    ) -> Json:
        """Store a change under the next resourceVersion and tell the watchers."""
        self.resource_version += 1
        version = str(self.resource_version)
        if new is not None:
            new["metadata"]["resourceVersion"] = version
            self.objects[(resource.plural, namespace, new["metadata"]["name"])] = new
        else:
            assert old is not None
            old = copy.deepcopy(old)
            old["metadata"]["resourceVersion"] = version
            del self.objects[(resource.plural, namespace, old["metadata"]["name"])]
        change = Change(self.resource_version, resource, namespace, old, new)
        self.history.append(change)
        while len(self.history) > self.history_limit:
            self.compacted = self.history.popleft().resource_version
        for watcher in self.watchers:
            event = _event_for(watcher, change)
            if event is not None:
                watcher.send(event)
        return copy.deepcopy(new if new is not None else old)

    # Watches

    def watch(self, watcher: Watcher, since: str | None) -> list[Json]:
        """Register a watch from resourceVersion ``since``; the events it missed come back.

        No ``since`` (or "0") starts with an ADDED event per existing object.
        """
        with self.lock:
            if since in (None, "", "0"):
                items, _ = self.list(watcher.resource, watcher.namespace, watcher.matches)
                backlog = [{"type": "ADDED", "object": item} for item in items]
            else:
                try:
                    start = int(since)
                except ValueError:
                    raise bad_request(f"invalid resourceVersion {since!r}") from None
                if start < self.compacted:
                    raise gone(since)
                changes = (c for c in self.history if c.resource_version > start)
                backlog = [e for c in changes if (e := _event_for(watcher, c)) is not None]
            self.watchers.append(watcher)
            return backlog

    def unwatch(self, watcher: Watcher) -> None:
        with self.lock:
            if watcher in self.watchers:
                self.watchers.remove(watcher)

    def end_watches(self) -> None:
        """Close every open watch, as an API server restart does."""
        with self.lock:
            for watcher in self.watchers:
                watcher.send(None)
            self.watchers.clear()

    def compact(self) -> None:
        """Forget the history: a watch from any earlier resourceVersion gets 410 Gone."""
        with self.lock:
            self.history.clear()
            self.compacted = self.resource_version


def scale_of(obj: Json) -> Json:
    """The autoscaling/v1 Scale view of a Deployment or StatefulSet."""
    meta = obj["metadata"]
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            key: meta[key]
            for key in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        },
        "spec": {"replicas": obj["spec"].get("replicas", 1)},
        "status": {"replicas": obj.get("status", {}).get("replicas", 0)},
    }


def _event_for(watcher: Watcher, change: Change) -> Json | None:
    """The event a watcher sees: objects entering or leaving its selector are ADDED or DELETED."""
    if change.resource != watcher.resource or watcher.namespace not in (None, change.namespace):
        return None
    was = change.old is not None and watcher.matches(change.old)
    now = change.new is not None and watcher.matches(change.new)
    if was and now:
        return {"type": "MODIFIED", "object": copy.deepcopy(change.new)}
    if now:
        return {"type": "ADDED", "object": copy.deepcopy(change.new)}
    if was:
        gone_object = copy.deepcopy(change.new or change.old)
        gone_object["metadata"]["resourceVersion"] = str(change.resource_version)
        return {"type": "DELETED", "object": gone_object}
    return None


def _stored(obj: Json) -> Json:
    """As the API server stores it: a Secret's ``stringData`` moves into ``data`` (base64)."""
    if obj.get("kind") == "Secret" and "stringData" in obj:
        encoded = {k: base64.b64encode(v.encode()).decode() for k, v in obj["stringData"].items()}
        obj["data"] = {**(obj.get("data") or {}), **encoded}
        del obj["stringData"]
    return obj


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
