"""The Kubernetes spawner: KubeSpawner's notebook pod, plus the user's two ComputeClusters.

Start: user_options are checked against the profiles (a bad one is an HTTP 400 naming it, nothing
created); the server's Spark and Flink ComputeClusters are claimed: created, or taken back when
one under that name is this same server's (left from its last start), never when it is another
user's or server's (HTTP 503 naming the conflict; nothing of it changed, no pod created). Only
then KubeSpawner creates the pod, which refers to the clusters by name (our labels, which their
NetworkPolicies admit; their config Secrets; the Flink client's init container:
``spawner.notebook_pod``); once the pod has a uid it becomes the clusters' owner, so they go when
it goes. The controller creates the clusters and the config Secrets the pod is waiting for.
While the pod waits (for its clusters' configuration Secrets, which the controller makes), the
clusters' status is read: one in phase Error for ``cluster_error_grace_s``, or none with any
status after ``clusters_timeout_s`` (no controller), ends the start with the reason.
Progress (the hub's pending page): KubeSpawner's pod events, and ours about the clusters (created,
each phase a cluster reaches).
Stop: KubeSpawner deletes the pod, then this server's ComputeClusters are deleted (absent is fine;
another's under the same name is left alone).
Heads on demand (``heads_on_demand`` with ``activity_token_sha256``, which the chart sets): the pod
serves its kernels per engine on a port of its own (``hubscale_nb.activity``, given only the
token's hash), which the chart's PodMonitor scrapes with the token, and its clusters ask for
``headOnDemand``: the pod waits only for their config Secrets, and a master/JobManager starts with
the first kernel of its engine (the kernel waits for it: ``spawner.head_wait``).
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from kubernetes_asyncio.client import CustomObjectsApi
from kubespawner import KubeSpawner
from kubespawner.clients import shared_client
from traitlets import Bool, Instance, Unicode, default

from hubscale.crd import GROUP, PLURAL, VERSION
from hubscale.kube_api import (
    CONFLICT,
    INVALID,
    JSON_PATCH,
    NOT_FOUND,
    KubeError,
    Retry,
    call,
    read_compute_cluster,
)
from hubscale.kube_conf import NOTEBOOK_ACTIVITY_PORT
from hubscale.spec import ClusterConflict, ComputeCluster, Engine, check_holder, holder
from hubscale_nb.activity import PORT_VARIABLE, TOKEN_DIGEST_VARIABLE
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
CLAIM_ATTEMPTS = 3  # an object deleted or replaced between our reads and writes: look again
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


async def _own_clusters(spawner: HubscaleKubeSpawner, pod: dict[str, Any]) -> None:
    """KubeSpawner's ``after_pod_created_hook``: the pod exists and has its uid."""
    await spawner.own_clusters(pod)


class HubscaleKubeSpawner(ProfileChoice, KubeSpawner):
    """A notebook pod with the user's own Spark and Flink clusters beside it."""

    retry = Retry()  # each ComputeCluster call: timeout and bounded backoff
    heads_on_demand = Bool(
        True,
        config=True,
        help="Run each cluster's master/JobManager only while the server has a kernel of its"
        " engine (needs activity_token_sha256); False: from the spawn on.",
    )
    activity_token_sha256 = Unicode(
        "",
        config=True,
        help="SHA-256 (hex) of the token Prometheus presents to the notebook pods' activity"
        " pages (the chart's PodMonitor); empty: no activity page, heads from the spawn on.",
    )
    progress_log = Instance(ProgressLog, args=())  # a new one at each start and stop
    claimed: Mapping[str, str] = {}  # name -> uid of this start's clusters; replaced, never mutated

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
        return _own_clusters

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

    @property
    def activity_published(self) -> bool:
        """Heads on demand: the pod publishes its kernels per engine for Prometheus."""
        return self.heads_on_demand and len(self.activity_token_sha256.strip()) == 64

    def clusters(self) -> list[ComputeCluster]:
        """This server's ComputeClusters for the checked user_options, in our namespace; their
        heads run on demand while the pod publishes its activity."""
        on_demand = self.activity_published
        return compute_clusters(self.user.name, self.name, self.checked(), on_demand)

    async def load_user_options(self) -> None:
        """Check user_options first (400, nothing created), then KubeSpawner's profile_list; then
        claim the clusters, before KubeSpawner creates the pod that refers to them by name."""
        self.apply_profile(self.user_options)
        await super().load_user_options()
        names = self.cluster_names
        self.extra_labels = {**self.extra_labels, **pod_labels(self.user.name, names)}
        self.volumes = _with(self.volumes, volumes(names["spark"], names["flink"]))
        self.volume_mounts = _with(self.volume_mounts, volume_mounts())
        init = flink_client_init_container(self.image)
        self.init_containers = _with(self.init_containers, {init["name"]: init})
        await self.claim_clusters()

    def get_args(self) -> list[str]:
        return [*super().get_args(), *server_args(activity=self.activity_published)]

    def get_env(self) -> dict[str, Any]:
        env = super().get_env()
        names = self.cluster_names
        env.update(cluster_env(names["spark"], names["flink"], self.namespace))
        if self.activity_published:  # only the token's hash: the pod cannot read it back
            env[TOKEN_DIGEST_VARIABLE] = self.activity_token_sha256.strip().lower()
            env[PORT_VARIABLE] = str(NOTEBOOK_ACTIVITY_PORT)
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
        """The cluster's status ({} while it has none, does not exist yet, or is another's)."""
        try:
            found = await read_compute_cluster(self.custom_api, self.namespace, name, self.retry)
        except KubeError as error:  # the API server's trouble: the pod's wait goes on
            self.log.warning("computecluster-status-unknown name=%s error=%s", name, error)
            return {}
        if found is None or not self._holds(found):
            return {}
        return found.get("status") or {}

    def _holds(self, found: Mapping[str, Any]) -> bool:
        """Is this ComputeCluster (as read) this user's this server's?"""
        return holder(found.get("spec")) == (self.user.name, self.name)

    async def claim_clusters(self) -> None:
        """Create this server's ComputeClusters, unowned until the pod exists, or take back its
        own left from its last start; another's under one of the names ends the start (503),
        those claimed before it deleted, the other's untouched."""
        profile = self.checked().profile.display_name
        message = f"Creating your Spark and Flink clusters ({profile})"
        self.progress_log.add(CREATED_PROGRESS, message)
        claimed: dict[str, str] = {}
        try:
            for cluster in self.clusters():
                claimed[cluster.metadata.name] = await self._claim(cluster.to_document())
        except ClusterConflict as error:
            self.log.warning(
                "computecluster-name-conflict name=%s owner=%r server=%r held-by=%r",
                error.name, error.owner, error.server, error.holder,
            )  # fmt: skip
            await self.delete_clusters()
            raise clusters_failed(error) from None
        self.claimed = claimed

    async def _claim(self, document: dict[str, Any]) -> str:
        """Create the object, or replace this server's own under its name: its uid."""
        name = document["metadata"]["name"]
        for _ in range(CLAIM_ATTEMPTS):
            try:
                created = await self._clusters_call("create", name, document)
                self.log.info("computecluster-created name=%s namespace=%s", name, self.namespace)
                return str(created["metadata"]["uid"])
            except KubeError as error:
                if error.status != ALREADY_EXISTS:
                    raise
            found = await read_compute_cluster(self.custom_api, self.namespace, name, self.retry)
            if found is None:
                continue  # deleted since the create: create it again
            check_holder(name, holder(found.get("spec")), self.user.name, self.name)
            uid = str(found["metadata"]["uid"])
            metadata = document["metadata"]
            replace = [
                {"op": "add", "path": "/metadata/labels", "value": metadata["labels"]},
                {"op": "add", "path": "/metadata/annotations", "value": metadata["annotations"]},
                {"op": "add", "path": "/metadata/ownerReferences", "value": []},  # the old pod's
                {"op": "add", "path": "/spec", "value": document["spec"]},
            ]
            if await self._patch_claimed(name, uid, replace):
                self.log.info("computecluster-replaced name=%s namespace=%s", name, self.namespace)
                return uid
        message = f"your cluster {name} kept changing while it was created: please start again"
        raise clusters_failed(ClustersNotReady(message))

    async def own_clusters(self, pod: dict[str, Any]) -> None:
        """Make ``pod`` the owner of the clusters this start claimed: each, only while it is
        still the object claimed (its uid)."""
        owner = pod_owner_reference(pod)
        for name, uid in self.claimed.items():
            operation = {"op": "add", "path": "/metadata/ownerReferences", "value": [owner]}
            if not await self._patch_claimed(name, uid, [operation]):
                self.log.warning("computecluster-lost name=%s uid=%s", name, uid)
                message = f"your cluster {name} was deleted or replaced during the start"
                raise clusters_failed(ClustersNotReady(f"{message}: please start again"))

    async def _patch_claimed(self, name: str, uid: str, operations: list[dict[str, Any]]) -> bool:
        """Apply a JSON patch if the object is still ``uid`` (tested by the API server with the
        write); False when it is gone or another object now has the name."""
        guarded = [{"op": "test", "path": "/metadata/uid", "value": uid}, *operations]
        try:
            await self._clusters_call("patch", name, name, guarded, _content_type=JSON_PATCH)
        except KubeError as error:
            if error.status in (NOT_FOUND, INVALID):  # gone, or the test failed
                return False
            raise
        return True

    async def stop(self, now: bool = False) -> None:
        self.progress_log = ProgressLog()  # the next start's page shows nothing of this one
        try:
            await super().stop(now=now)
        finally:
            await self.delete_clusters()

    async def delete_clusters(self) -> None:
        """Delete this server's ComputeClusters (already gone is fine); another user's or
        server's under one of the names is left alone (a delete conditional on the uid read)."""
        for name in self.cluster_names.values():
            found = await read_compute_cluster(self.custom_api, self.namespace, name, self.retry)
            if found is None:
                continue
            if not self._holds(found):
                self.log.warning(
                    "computecluster-not-deleted name=%s reason=not-this-servers held-by=%r",
                    name, holder(found.get("spec")),
                )  # fmt: skip
                continue
            options = {"preconditions": {"uid": found["metadata"]["uid"]}}
            try:
                await self._clusters_call("delete", name, name, body=options)
            except KubeError as error:
                if error.status not in (NOT_FOUND, CONFLICT):  # gone, or replaced since
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
