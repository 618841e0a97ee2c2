"""The Kubernetes spawner: KubeSpawner's notebook pod, plus the user's two ComputeClusters.

Start: user_options are checked against the profiles (a bad one is an HTTP 400 naming it, nothing
created); KubeSpawner creates the pod (our labels, the clusters' config Secrets, the Flink
client's init container: ``spawner.notebook_pod``); once the pod has a uid, the user's Spark and
Flink ComputeClusters are created (or replaced, on a restart) owned by the pod, so they go when
it goes. The controller then creates the clusters and the config Secrets the pod is waiting for.
While the pod waits (for its clusters' configuration Secrets, which the controller makes), the
clusters' status is read: one in phase Error for ``cluster_error_grace_s``, or none with any
status after ``clusters_timeout_s`` (no controller), ends the start with the reason.
Progress (the hub's pending page): KubeSpawner's pod events, and ours about the clusters (created,
each phase a cluster reaches).
Stop: KubeSpawner deletes the pod, then the ComputeClusters are deleted (absent is fine).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from kubernetes_asyncio.client import CustomObjectsApi
from kubespawner import KubeSpawner
from kubespawner.clients import shared_client
from traitlets import Instance, default

from hubscale.crd import GROUP, PLURAL, VERSION
from hubscale.kube_api import (
    MERGE_PATCH,
    NOT_FOUND,
    KubeError,
    Retry,
    call,
    read_compute_cluster,
)
from hubscale.spec import ComputeCluster, Engine
from spawner.cluster_clients import ClustersNotReady, ErrorGrace
from spawner.compute import Resolved, compute_clusters
from spawner.notebook_env import server_args
from spawner.notebook_pod import (
    cluster_env,
    flink_client_init_container,
    pod_labels,
    pod_owner_reference,
    volume_mounts,
    volumes,
)
from spawner.profiles import Profiles
from spawner.progress import Event, ProgressLog, follow, merge
from spawner.user_options import ProfileChoice, clusters_failed

ALREADY_EXISTS = 409
CLUSTER_POLL_S = 1.0
CREATED_PROGRESS = 10  # KubeSpawner's pod events count from 30 towards 90
PHASE_PROGRESS = 40
# The singleuser image's user, jovyan, and its own group (images/singleuser/Dockerfile).
NOTEBOOK_UID = 1000
NOTEBOOK_GID = 1000
# KubeSpawner adds runAsUser/runAsGroup (uid, gid), fsGroup (fs_gid) and allowPrivilegeEscalation
# (allow_privilege_escalation, false) to these; hub.config's KubeSpawner traits override them all.
POD_SECURITY_CONTEXT = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY_CONTEXT = {"capabilities": {"drop": ["ALL"]}}


def profile_list(profiles: Profiles) -> list[dict[str, Any]]:
    """The profiles as KubeSpawner's ``profile_list`` (slug = the profile's name); a profile's
    notebook size overrides the configured one, a profile without keeps it."""
    return [
        {
            "slug": profile.name,
            "display_name": profile.display_name,
            "description": profile.description,
            "default": profile is profiles.default,
            "kubespawner_override": profile.notebook.spawner_traits() if profile.notebook else {},
        }
        for profile in profiles.profiles
    ]


def phase_message(engine: Engine, name: str, status: Mapping[str, Any]) -> str:
    """A cluster's status for the pending page: its phase, workers and the controller's reason."""
    workers = status.get("workers", 0)
    text = f"{engine.capitalize()} cluster {name}: {status.get('phase')}, {workers} worker"
    text += "" if workers == 1 else "s"
    reason = status.get("reason")
    return f"{text} ({reason})" if reason else text


async def _create_clusters(spawner: HubscaleKubeSpawner, pod: dict[str, Any]) -> None:
    """KubeSpawner's ``after_pod_created_hook``: the pod exists and has its uid."""
    await spawner.apply_clusters(pod)


class HubscaleKubeSpawner(ProfileChoice, KubeSpawner):
    """A notebook pod with the user's own Spark and Flink clusters beside it."""

    retry = Retry()  # each ComputeCluster call: timeout and bounded backoff
    progress_log = Instance(ProgressLog, args=())  # a new one at each start and stop

    @default("cmd")
    def _default_cmd(self) -> list[str]:
        return ["jupyterhub-singleuser"]  # explicit: KubeSpawner passes get_args() only with it

    @default("default_url")
    def _default_default_url(self) -> str:
        return "/lab"

    @default("profile_list")
    def _default_profile_list(self) -> list[dict[str, Any]]:
        return profile_list(self.profiles)

    @default("after_pod_created_hook")
    def _default_after_pod_created_hook(self) -> Callable[..., Any]:
        return _create_clusters

    @default("uid")
    def _default_uid(self) -> int:
        return NOTEBOOK_UID

    @default("gid")
    def _default_gid(self) -> int:
        return NOTEBOOK_GID

    @default("fs_gid")
    def _default_fs_gid(self) -> int:
        return NOTEBOOK_GID  # the user's home claim is writable by the user

    @default("pod_security_context")
    def _default_pod_security_context(self) -> dict[str, Any]:
        return copy.deepcopy(POD_SECURITY_CONTEXT)

    @default("container_security_context")
    def _default_container_security_context(self) -> dict[str, Any]:
        return copy.deepcopy(CONTAINER_SECURITY_CONTEXT)

    @property
    def custom_api(self) -> CustomObjectsApi:
        return shared_client("CustomObjectsApi")

    def checked(self) -> Resolved:
        """The checked user_options of this start."""
        if self.resolved is None:
            raise RuntimeError("apply_profile must run before the clusters are known")
        return self.resolved

    def clusters(self) -> list[ComputeCluster]:
        """This server's ComputeClusters for the checked user_options, in our namespace."""
        return compute_clusters(self.user.name, self.name, self.checked())

    async def load_user_options(self) -> None:
        """Check user_options first (400, nothing created), then KubeSpawner's profile_list."""
        self.apply_profile(self.user_options)
        await super().load_user_options()
        names = self.cluster_names
        self.extra_labels = {**self.extra_labels, **pod_labels(self.user.name, names)}
        self.volumes = _with(self.volumes, volumes(names["spark"], names["flink"]))
        self.volume_mounts = _with(self.volume_mounts, volume_mounts())
        init = flink_client_init_container(self.image)
        self.init_containers = _with(self.init_containers, {init["name"]: init})

    def get_args(self) -> list[str]:
        return [*super().get_args(), *server_args()]

    def get_env(self) -> dict[str, Any]:
        env = super().get_env()
        names = self.cluster_names
        env.update(cluster_env(names["spark"], names["flink"], self.namespace))
        return env

    async def get_pod_manifest(self) -> Any:
        """KubeSpawner's pod. It gives the notebook container its security context but no init
        container one: each without its own gets the notebook's (same user, same limits)."""
        pod = await super().get_pod_manifest()
        notebook = pod.spec.containers[0].security_context
        for container in pod.spec.init_containers or []:
            if container.security_context is None:
                container.security_context = copy.deepcopy(notebook)
        return pod

    async def progress(self) -> AsyncIterator[Event]:
        """KubeSpawner's pod events and our messages about the clusters, as they come."""
        async for event in merge(super().progress(), follow(lambda: self.progress_log)):
            yield event

    async def _start(self) -> Any:
        """KubeSpawner's start, ended early when the user's clusters cannot come up."""
        self.progress_log = ProgressLog()
        starting = asyncio.ensure_future(super()._start())
        watching = asyncio.ensure_future(self._watch_clusters())
        try:
            await asyncio.wait({starting, watching}, return_when=asyncio.FIRST_COMPLETED)
            if starting.done():
                return starting.result()
            watching.result()  # only ever ends by raising
            raise RuntimeError("the clusters' watch ended without a verdict")
        finally:
            starting.cancel()
            watching.cancel()

    async def _watch_clusters(self) -> None:
        """Raise (HTTP 503, the reason) once a cluster stays in phase Error for the grace, or
        none of them has a status after ``clusters_timeout_s`` (is the controller running?)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        errors = ErrorGrace(self.cluster_error_grace_s)
        names = list(self.cluster_names.values())
        phases: dict[str, str] = {}
        while True:
            statuses = [await self._cluster_status(name) for name in names]
            self._report_phases(phases, statuses)
            now = loop.time()
            try:
                errors.check(dict(zip(names, map(_error_reason, statuses), strict=True)), now)
            except ClustersNotReady as error:
                raise clusters_failed(error) from None
            if now - started >= self.clusters_timeout_s and not any(statuses):
                message = (
                    f"your clusters {', '.join(names)} have no status after"
                    f" {self.clusters_timeout_s:g} s: is the hubscale autoscaler running in"
                    f" namespace {self.namespace}?"
                )
                raise clusters_failed(ClustersNotReady(message))
            await asyncio.sleep(CLUSTER_POLL_S)

    def _report_phases(self, phases: dict[str, str], statuses: list[dict[str, Any]]) -> None:
        """A progress message for each cluster whose phase differs from ``phases`` (updated)."""
        for (engine, name), status in zip(self.cluster_names.items(), statuses, strict=True):
            phase = status.get("phase")
            if phase and phase != phases.get(name):
                phases[name] = phase
                self.progress_log.add(PHASE_PROGRESS, phase_message(engine, name, status))

    async def _cluster_status(self, name: str) -> dict[str, Any]:
        """The cluster's status ({} while it has none, or does not exist yet)."""
        try:
            found = await read_compute_cluster(self.custom_api, self.namespace, name, self.retry)
        except KubeError as error:  # the API server's trouble: the pod's wait goes on
            self.log.warning("computecluster-status-unknown name=%s error=%s", name, error)
            return {}
        return (found or {}).get("status") or {}

    async def apply_clusters(self, pod: dict[str, Any]) -> None:
        """Create this server's ComputeClusters owned by ``pod``; replace those left over."""
        owner = pod_owner_reference(pod)
        profile = self.checked().profile.display_name
        message = f"Creating your Spark and Flink clusters ({profile})"
        self.progress_log.add(CREATED_PROGRESS, message)
        for cluster in self.clusters():
            document = cluster.to_document()
            document["metadata"]["ownerReferences"] = [owner]
            await self._apply_cluster(document)

    async def _apply_cluster(self, document: dict[str, Any]) -> None:
        name = document["metadata"]["name"]
        try:
            await self._clusters_call("create", name, document)
            self.log.info("computecluster-created name=%s namespace=%s", name, self.namespace)
            return
        except KubeError as error:
            if error.status != ALREADY_EXISTS:
                raise
        patch = {"metadata": document["metadata"], "spec": document["spec"]}
        await self._clusters_call("patch", name, name, patch, _content_type=MERGE_PATCH)
        self.log.info("computecluster-replaced name=%s namespace=%s", name, self.namespace)

    async def stop(self, now: bool = False) -> None:
        self.progress_log = ProgressLog()  # the next start's page shows nothing of this one
        try:
            await super().stop(now=now)
        finally:
            await self.delete_clusters()

    async def delete_clusters(self) -> None:
        """Delete this server's ComputeClusters (already gone is fine)."""
        for name in self.cluster_names.values():
            try:
                await self._clusters_call("delete", name, name)
            except KubeError as error:
                if error.status != NOT_FOUND:
                    raise

    async def _clusters_call(self, verb: str, name: str, *args: Any, **kwargs: Any) -> Any:
        """``<verb>_namespaced_custom_object`` on our namespace's ComputeClusters, retried."""
        method = getattr(self.custom_api, f"{verb}_namespaced_custom_object")
        where = (GROUP, VERSION, self.namespace, PLURAL)
        what = f"{verb} computecluster {name}"
        return await call(what, method, *where, *args, retry=self.retry, **kwargs)


def _error_reason(status: Mapping[str, Any]) -> str | None:
    if status.get("phase") != "Error":
        return None
    return str(status.get("reason") or "no reason given")


def _with(current: Any, items: Mapping[str, dict[str, Any]]) -> Any:
    """A KubeSpawner list-or-dict trait value with ``items`` (by name) in it, each once."""
    if isinstance(current, dict):
        return {**current, **items}
    return [item for item in current if item.get("name") not in items] + list(items.values())
