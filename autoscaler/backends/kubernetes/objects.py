"""The ComputeCluster custom resources of one namespace, as the controller's ``ClusterObjects``.

The controller's interface is synchronous, so reads come from a watch-fed cache (a
``Reflector``) and status writes are queued: ``run`` writes them to the ``status`` subresource
(a PUT conditional on the resourceVersion; on 409 it re-reads and writes again) and records an
Event for each scaling decision or new error. Before a status whose desired workers or
CapacityLimited condition moved, its short form goes into the cluster's config Secret (one merge
patch of one key), which the notebook pod mounts for its kernels: the local status file's twin.
Until the first list, ``list`` refuses to answer: an empty answer would read as "every object
was deleted".
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import functools
import logging
import socket
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client

from autoscaler.backends.kubernetes.events import decision_event
from autoscaler.backends.kubernetes.watch import Reflector
from hubscale.crd import GROUP, PLURAL, VERSION
from hubscale.kube_api import MERGE_PATCH, KubeError, Retry, call, read_compute_cluster
from hubscale.kube_conf import STATUS_FILE, short_status, short_status_changed
from hubscale.names import config_secret_name
from hubscale.spec import ComputeClusterStatus, SpecError, parse_cluster
from hubscale.store import StoredCluster

log = logging.getLogger(__name__)

CONFLICT_ATTEMPTS = 5
WRITES_AT_ONCE = 8  # statuses written side by side (thousands come due when clusters come up)


class NotSynced(RuntimeError):
    """The objects have not been listed yet: the controller must not act on an empty list."""


class KubeClusterObjects:
    """ComputeClusters in ``namespace``; call ``run`` (a task) for the watch and the writes."""

    def __init__(
        self,
        api_client: client.ApiClient,
        namespace: str,
        retry: Retry | None = None,
        watch_timeout_s: int = 300,
        instance: str | None = None,
    ) -> None:
        self.namespace = namespace
        self.retry = retry or Retry()
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.instance = instance or socket.gethostname()  # the pod name, in Events
        listing = functools.partial(
            self.custom.list_namespaced_custom_object, GROUP, VERSION, namespace, PLURAL
        )
        self.reflector = Reflector(PLURAL, listing, self.retry, watch_timeout_s)
        self.pending: dict[str, ComputeClusterStatus] = {}
        self._parsed: dict[str, tuple[str | None, StoredCluster]] = {}  # by resourceVersion
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()  # one writer at a time: a status is written once

    async def run(self, stop: asyncio.Event) -> None:
        """Watch the objects and write queued statuses until ``stop`` is set."""
        writer = asyncio.create_task(self._write_forever())
        try:
            await self.reflector.run(stop)
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    # The controller's ClusterObjects interface.

    def list(self) -> list[StoredCluster]:
        """Every object, sorted by name, with queued statuses in place of the written ones.

        Each object is parsed once per resourceVersion: an unchanged object is the same
        ``StoredCluster`` (and status) loop after loop."""
        if not self.reflector.synced.is_set():
            raise NotSynced(f"{PLURAL} in {self.namespace} not listed yet")
        objects = self.reflector.objects
        for gone in self._parsed.keys() - objects.keys():
            del self._parsed[gone]
        listed = []
        for name, obj in sorted(objects.items()):
            version = obj["metadata"].get("resourceVersion")
            known = self._parsed.get(name)
            if known is None or known[0] != version:
                known = self._parsed[name] = (version, _stored(name, obj, None))
            stored, pending = known[1], self.pending.get(name)
            if pending is not None:
                stored = dataclasses.replace(stored, status=pending)
            listed.append(stored)
        return listed

    def write_status(self, name: str, status: ComputeClusterStatus) -> bool:
        """Queue a status for the object; False if it is gone."""
        if name not in self.reflector.objects:
            return False
        self.pending[name] = status
        self._wake.set()
        return True

    def delete_status(self, name: str) -> bool:
        """On Kubernetes the status goes with its object: only a queued write is dropped."""
        self.pending.pop(name, None)
        return False

    def orphaned_statuses(self) -> list[str]:
        """None: a status cannot outlive its object on Kubernetes."""
        return []

    # Writing.

    async def flush(self) -> None:
        """Write every queued status now, ``WRITES_AT_ONCE`` clusters at a time (each cluster's
        own writes in order); a failed one stays queued for the next try."""
        async with self._flushing:
            slots = asyncio.Semaphore(WRITES_AT_ONCE)

            async def write(name: str, status: ComputeClusterStatus) -> None:
                async with slots:
                    try:
                        await self._write(name, status)
                    except KubeError as error:
                        log.warning("status-write-failed cluster=%s error=%r", name, str(error))
                        return
                if self.pending.get(name) is status:
                    del self.pending[name]

            await asyncio.gather(*(write(n, s) for n, s in list(self.pending.items())))

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()
            if self.pending:
                await asyncio.sleep(self.retry.delay_s(1))
                self._wake.set()

    async def _write(self, name: str, status: ComputeClusterStatus) -> None:
        """PUT the status on the version we know; on 409 read the object again and retry."""
        obj = self.reflector.objects.get(name)
        if obj is not None and short_status_changed(_status(obj), status):
            await self._write_short_status(name, status)
        for _ in range(CONFLICT_ATTEMPTS):
            if obj is None:
                return  # deleted: nothing to write
            body = {
                **obj,
                "status": status.model_dump(mode="json", by_alias=True, exclude_none=True),
            }
            try:
                written = await call(
                    f"write status of {name}",
                    self.custom.replace_namespaced_custom_object_status,
                    GROUP, VERSION, self.namespace, PLURAL, name, body,
                    retry=self.retry,
                )  # fmt: skip
            except KubeError as error:
                if error.status == 404:
                    return
                if error.status != 409:
                    raise
                obj = await self._read(name)
                continue
            self._cache(obj, written)
            await self._record(obj, status)
            return
        raise KubeError(
            f"write status of {name}", 409, f"still conflicting after {CONFLICT_ATTEMPTS} reads"
        )

    async def _write_short_status(self, name: str, status: ComputeClusterStatus) -> None:
        """The short status into the cluster's config Secret, before the status that it copies:
        a failure there is only logged, the status is written all the same; no Secret yet
        (the cluster not ensured) means no notebook pod runs with it, nothing to tell."""
        text = base64.b64encode(short_status(status).encode()).decode()
        try:
            await call(
                f"write short status of {name}",
                self.core.patch_namespaced_secret,
                config_secret_name(name),
                self.namespace,
                {"data": {STATUS_FILE: text}},
                retry=self.retry,
                _content_type=MERGE_PATCH,
            )
        except KubeError as error:
            if error.status != 404:
                log.warning("short-status-write-failed cluster=%s error=%r", name, str(error))

    async def _read(self, name: str) -> dict[str, Any] | None:
        fresh = await read_compute_cluster(self.custom, self.namespace, name, self.retry)
        if fresh is None:
            return None
        cached = self.reflector.objects.get(name)
        if cached is not None:
            self._cache(cached, fresh)
        return fresh

    def _cache(self, known: dict[str, Any], newer: dict[str, Any]) -> None:
        """Keep a version we got back, unless the watch brought a later one meanwhile."""
        name = known["metadata"]["name"]
        cached = self.reflector.objects.get(name)
        if (
            cached is not None
            and cached["metadata"]["resourceVersion"] == known["metadata"]["resourceVersion"]
        ):
            self.reflector.objects[name] = newer

    async def _record(self, obj: dict[str, Any], status: ComputeClusterStatus) -> None:
        """An Event for a scaling decision or a new error; a failure here is only logged."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        event = decision_event(obj, _status(obj), status, now, self.instance)
        if event is None:
            return
        try:
            await call(
                f"record event for {obj['metadata']['name']}",
                self.core.create_namespaced_event,
                self.namespace,
                event,
                retry=self.retry,
            )
        except KubeError as error:
            log.warning("event-failed cluster=%s error=%r", obj["metadata"]["name"], str(error))


def _stored(name: str, obj: dict[str, Any], pending: ComputeClusterStatus | None) -> StoredCluster:
    """One custom resource as the controller sees it; an unusable one carries its error."""
    status = pending or _status(obj)
    document = {key: value for key, value in obj.items() if key != "status"}
    try:
        cluster = parse_cluster(document)
    except SpecError as error:
        log.warning("cluster-invalid name=%s error=%r", name, str(error))
        return StoredCluster(name, None, error, status)
    return StoredCluster(name, cluster, None, status)


def _status(obj: dict[str, Any]) -> ComputeClusterStatus | None:
    """The written status; None when absent or unreadable (the controller writes a new one)."""
    raw = obj.get("status")
    if not raw:
        return None
    try:
        return ComputeClusterStatus(**raw)
    except (SpecError, TypeError) as error:
        log.warning("status-unreadable name=%s error=%r", obj["metadata"]["name"], str(error))
        return None
