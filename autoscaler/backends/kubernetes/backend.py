"""The Kubernetes backend: each ComputeCluster as Deployments, a Service, a Secret and
NetworkPolicies in one namespace (built by ``manifests``), through kubernetes_asyncio.

Restart-safe: everything it knows is in the objects it labels ``hubscale.io/cluster``. Each object
carries the hash of what was applied, so an unchanged cluster costs reads and no writes. Scaling
down marks the chosen victims with the lowest ``pod-deletion-cost`` before the Deployment's
replicas drop, so the ReplicaSet removes them first (among pods equally ready; it prefers
removing pods that are not running or not ready). A deleted Spark worker pod decommissions its
worker first (the container's preStop hook) and is reported draining until it is gone.

Each call is retried on 5xx/429/timeouts (``kube_api``); creates are idempotent (409 -> re-read).
While ``run`` keeps the watch-fed caches (``caches``: every owned kind and the pods, indexed by
cluster), reads come from them: an unchanged cluster's ``ensure`` costs no request, ``observe``
none, and ``changed`` tells the controller which clusters' objects moved, so it ensures only those.
Without the caches (before their first list) every read goes to the API server. A Secret the
cache does not hold is read from the API server all the same before anything is generated: a
lagging cache must never mint a second RPC secret or REST credential.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes_asyncio import client

from autoscaler.backends.base import BackendError, Observation
from autoscaler.backends.kubernetes.caches import AUTH_SECRET_KEY, OwnedCaches, slim
from autoscaler.backends.kubernetes.manifests import (
    DELETION_COST,
    MANIFEST_HASH,
    Manifest,
    cluster_objects,
)
from autoscaler.backends.kubernetes.watch import Json
from hubscale import flink_tls
from hubscale.kube_api import (
    MERGE_PATCH,
    KubeError,
    Retry,
    call,
    read_compute_cluster,
    read_or_none,
)
from hubscale.kube_conf import ClusterSettings, endpoints, rest_tls_hosts
from hubscale.names import (
    CLUSTER_LABEL,
    ENGINE_LABEL,
    HEAD_ROLE,
    ROLE_LABEL,
    WORKER_ROLE,
    config_secret_name,
    worker_name,
)
from hubscale.spec import ComputeCluster, Engine

log = logging.getLogger(__name__)

VICTIM_DELETION_COST = "-1000"  # below every other worker (the default cost is 0)
SECRET_BYTES = 32


@dataclass(frozen=True)
class _Kind:
    """The typed client functions for one kind of object we apply."""

    read: Callable[..., Awaitable[Any]]
    create: Callable[..., Awaitable[Any]]
    patch: Callable[..., Awaitable[Any]]
    delete_collection: Callable[..., Awaitable[Any]]


class KubernetesBackend:
    """Runs clusters as Kubernetes objects in ``settings.namespace``."""

    # Clusters ensured at the same time: a first ensure waits on a few API calls, so bringing
    # thousands up (or adopting them after a restart) one at a time left both sides idle.
    ensures_at_once = 16

    def __init__(
        self,
        api_client: client.ApiClient,
        settings: ClusterSettings,
        retry: Retry | None = None,
        watch_timeout_s: int = 300,
    ) -> None:
        self.settings = settings
        self.namespace = settings.namespace
        self.retry = retry or Retry()
        self.api_client = api_client
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        networking = client.NetworkingV1Api(api_client)
        self.kinds = {
            "Secret": _Kind(
                self.core.read_namespaced_secret,
                self.core.create_namespaced_secret,
                self.core.patch_namespaced_secret,
                self.core.delete_collection_namespaced_secret,
            ),
            "Service": _Kind(
                self.core.read_namespaced_service,
                self.core.create_namespaced_service,
                self.core.patch_namespaced_service,
                self.core.delete_collection_namespaced_service,
            ),
            "Deployment": _Kind(
                self.apps.read_namespaced_deployment,
                self.apps.create_namespaced_deployment,
                self.apps.patch_namespaced_deployment,
                self.apps.delete_collection_namespaced_deployment,
            ),
            "NetworkPolicy": _Kind(
                networking.read_namespaced_network_policy,
                networking.create_namespaced_network_policy,
                networking.patch_namespaced_network_policy,
                networking.delete_collection_namespaced_network_policy,
            ),
        }
        self.caches = OwnedCaches(api_client, self.namespace, self.retry, watch_timeout_s)
        self.pod_cache = self.caches.kinds["Pod"]
        self._observed: dict[str, Observation] = {}  # from the caches, rebuilt per changed cluster
        self._credentials: dict[str, tuple[str, flink_tls.RestTls | None]] = {}  # by Secret version

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the caches current until ``stop`` is set (a companion task of the loop)."""
        await self.caches.run(stop)

    def changed(self) -> set[str] | None:
        """Clusters whose applied objects changed since the last call; None: cannot tell (the
        caches have not listed yet), so every cluster needs its ``ensure``."""
        if not self.caches.synced:
            return None
        return self.caches.take_owned_changed()

    async def ensure(self, cluster: ComputeCluster, head: bool = True) -> Observation:
        """The cluster's objects as they should be; its head's Deployment at 1 replica, or at 0
        with ``head`` false (heads on demand), its workers scaled to 0 first: workers never run
        without a head. The Service, Secret and policies stay, so the names the notebook knows
        keep resolving while the head is away."""
        name = cluster.metadata.name
        uid = await self._uid(cluster)
        secret_name = config_secret_name(name)
        cached = self.caches.synced
        live_secret = (cached and self.caches.get("Secret", secret_name)) or await self._read(
            "Secret", secret_name
        )
        engine = cluster.spec.engine
        auth = _auth_secret(live_secret) if engine == "spark" else ""
        tls = _rest_tls(live_secret, name, self.namespace) if engine == "flink" else None
        if not head:
            await self._without_workers(cluster)
        for manifest in cluster_objects(cluster, uid, self.settings, auth, tls, head):
            kind, object_name = manifest["kind"], manifest["metadata"]["name"]
            if kind == "Secret":
                live = live_secret
            elif cached:
                live = self.caches.get(kind, object_name)
            else:
                live = await self._read(kind, object_name)
            await self._apply(name, manifest, live)
        pods = await self._pods(name)
        return _observation(name, engine, self.namespace, pods, tls)

    async def scale(self, cluster: ComputeCluster, workers: int, victims: Sequence[str]) -> None:
        name = cluster.metadata.name
        deployment = worker_name(name, cluster.spec.engine)
        replicas = self._cached_replicas(deployment)
        if replicas is None:
            replicas = await self._read_replicas(name, deployment)
        if workers < replicas:
            await self._mark_victims(cluster, set(victims))
        if workers == replicas:
            return
        await call(
            f"scale {deployment}",
            self.apps.patch_namespaced_deployment_scale,
            deployment,
            self.namespace,
            {"spec": {"replicas": workers}},
            retry=self.retry,
            _content_type=MERGE_PATCH,
        )
        log.info("workers-scaled cluster=%s from=%d to=%d victims=%s", name, replicas, workers,
                 ",".join(victims) or "-")  # fmt: skip

    async def _without_workers(self, cluster: ComputeCluster) -> None:
        """The worker Deployment at 0 replicas before its head goes (absent: nothing to do)."""
        deployment = worker_name(cluster.metadata.name, cluster.spec.engine)
        replicas = self._cached_replicas(deployment)
        if replicas is None:
            found = await self._read("Deployment", deployment)
            replicas = ((found or {}).get("spec") or {}).get("replicas") or 0
        if replicas > 0:
            await self.scale(cluster, 0, ())

    def _cached_replicas(self, deployment: str) -> int | None:
        """The worker Deployment's replicas as the cache has them (None: ask the API server).
        A cache behind our last scale only repeats that scale: an idempotent patch."""
        if not self.caches.synced:
            return None
        found = self.caches.get("Deployment", deployment)
        if found is None:
            return None
        replicas = (found.get("spec") or {}).get("replicas")
        return replicas if isinstance(replicas, int) else None

    async def _read_replicas(self, name: str, deployment: str) -> int:
        found = await self._read("Deployment", deployment)
        if found is None:
            raise BackendError(f"{name}: scale before ensure ({deployment} missing)")
        return (found.get("spec") or {}).get("replicas") or 0

    async def delete(self, name: str) -> None:
        """Delete every object of the cluster; their pods go with them (background deletion)."""
        for kind, functions in self.kinds.items():
            await call(
                f"delete {kind} of {name}",
                functions.delete_collection,
                self.namespace,
                label_selector=f"{CLUSTER_LABEL}={name}",
                propagation_policy="Background",
                retry=self.retry,
            )
        log.info("cluster-deleted cluster=%s", name)

    async def observe(self) -> dict[str, Observation]:
        if self.caches.synced:
            return self._observe_cached()
        deployments = await call(
            "list deployments",
            self.apps.list_namespaced_deployment,
            self.namespace,
            label_selector=CLUSTER_LABEL,
            retry=self.retry,
        )
        engines: dict[str, Engine] = {}
        for deployment in deployments.items:
            found = deployment.metadata.labels or {}
            if found.get(ENGINE_LABEL) in HEAD_ROLE:
                engines[found[CLUSTER_LABEL]] = found[ENGINE_LABEL]
        pods = await self._pods()
        by_cluster: dict[str, list[Json]] = {}
        for pod in pods:
            found = _labels(pod)
            by_cluster.setdefault(found[CLUSTER_LABEL], []).append(pod)
            if found.get(ENGINE_LABEL) in HEAD_ROLE:
                engines.setdefault(found[CLUSTER_LABEL], found[ENGINE_LABEL])
        return {
            name: _observation(name, engine, self.namespace, by_cluster.get(name, []))
            for name, engine in sorted(engines.items())
        }

    def _observe_cached(self) -> dict[str, Observation]:
        """Observations from the caches; only clusters whose objects moved are looked at again."""
        for name in self.caches.take_observed_changed():
            observation = self._observe_one(name)
            if observation is None:
                self._observed.pop(name, None)
                self._credentials.pop(name, None)
            else:
                self._observed[name] = observation
        return dict(sorted(self._observed.items()))

    def _observe_one(self, name: str) -> Observation | None:
        deployments = self.caches.of_cluster("Deployment", name)
        pods = self.caches.of_cluster("Pod", name)
        engines = (_labels(obj).get(ENGINE_LABEL) for obj in (*deployments, *pods))
        engine = next((found for found in engines if found in HEAD_ROLE), None)
        if engine is None:
            return None
        tls = self._credential(name) if engine == "flink" else None
        return _observation(name, engine, self.namespace, pods, tls)

    def _credential(self, name: str) -> flink_tls.RestTls | None:
        """The Flink cluster's REST credential from its cached Secret (decoded once per version)."""
        secret = self.caches.get("Secret", config_secret_name(name))
        if secret is None:
            return None
        version = secret["metadata"].get("resourceVersion", "")
        known = self._credentials.get(name)
        if known is not None and known[0] == version:
            return known[1]
        data = secret.get("data") or {}
        found = flink_tls.RestTls.from_files(
            {key: base64.b64decode(data[key]) for key in flink_tls.FILES if key in data}
        )
        self._credentials[name] = (version, found)
        return found

    async def _uid(self, cluster: ComputeCluster) -> str:
        """The object's uid for owner references: from the listed object, else read."""
        uid = (cluster.metadata.model_extra or {}).get("uid")
        if isinstance(uid, str) and uid:
            return uid
        name = cluster.metadata.name
        found = await read_compute_cluster(self.custom, self.namespace, name, self.retry)
        if found is None:
            raise BackendError(f"{name}: the ComputeCluster object is gone")
        return found["metadata"]["uid"]

    async def _read(self, kind: str, name: str) -> Json | None:
        """One object from the API server, in the caches' shape (None: it does not exist)."""
        found = await read_or_none(
            f"read {kind} {name}", self.kinds[kind].read, name, self.namespace, retry=self.retry
        )
        return None if found is None else slim(self.api_client.sanitize_for_serialization(found))

    async def _apply(self, cluster: str, manifest: Manifest, live: Json | None) -> None:
        """Create the object, or patch it when what we manage in it changed."""
        kind, name = manifest["kind"], manifest["metadata"]["name"]
        functions = self.kinds[kind]
        if live is None:
            try:
                await call(
                    f"create {kind} {name}",
                    functions.create,
                    self.namespace,
                    manifest,
                    retry=self.retry,
                )
                log.info("object-created cluster=%s kind=%s name=%s", cluster, kind, name)
                return
            except KubeError as error:
                if error.status != 409:
                    raise
            live = await self._read(kind, name)  # created meanwhile (by an earlier attempt)
            if live is None:
                raise BackendError(f"{kind} {name} exists and does not: retry next loop")
        role = manifest["metadata"]["labels"][ROLE_LABEL]
        wanted = manifest["metadata"]["annotations"][MANIFEST_HASH]
        if (live["metadata"].get("annotations") or {}).get(MANIFEST_HASH) != wanted:
            body = {**manifest, "spec": dict(manifest["spec"])} if "spec" in manifest else manifest
            if kind == "Deployment":
                body["spec"].pop("replicas", None)  # ``scale`` (workers), ``_head_replicas``
            await call(
                f"patch {kind} {name}",
                functions.patch,
                name,
                self.namespace,
                body,
                retry=self.retry,
                _content_type=MERGE_PATCH,
            )
            log.info("object-updated cluster=%s kind=%s name=%s", cluster, kind, name)
        if kind == "Deployment" and role in HEAD_ROLE.values():
            await self._head_replicas(cluster, name, manifest["spec"]["replicas"], live)

    async def _head_replicas(self, cluster: str, name: str, replicas: int, live: Json) -> None:
        """The head's Deployment at ``replicas`` (1: runs, 0: stopped on demand), through its
        scale subresource as the workers'; unchanged: no request."""
        if (live.get("spec") or {}).get("replicas") == replicas:
            return
        await call(
            f"scale {name}",
            self.apps.patch_namespaced_deployment_scale,
            name,
            self.namespace,
            {"spec": {"replicas": replicas}},
            retry=self.retry,
            _content_type=MERGE_PATCH,
        )
        state = "started" if replicas else "stopped"
        log.info("head-%s cluster=%s deployment=%s", state, cluster, name)

    async def _mark_victims(self, cluster: ComputeCluster, victims: set[str]) -> None:
        """Lowest deletion cost on the victims; a cost left from an earlier shrink is removed.

        Listed afresh, not from the cache: a cost the cache has not seen yet must not stay."""
        role = WORKER_ROLE[cluster.spec.engine]
        pods = await self._list_pods(f"{CLUSTER_LABEL}={cluster.metadata.name},{ROLE_LABEL}={role}")
        for pod in pods:
            name = pod["metadata"]["name"]
            has = (pod["metadata"].get("annotations") or {}).get(DELETION_COST)
            wants = VICTIM_DELETION_COST if name in victims else None
            if has == wants:
                continue
            try:
                await call(
                    f"mark pod {name}",
                    self.core.patch_namespaced_pod,
                    name,
                    self.namespace,
                    {"metadata": {"annotations": {DELETION_COST: wants}}},
                    retry=self.retry,
                    _content_type=MERGE_PATCH,
                )
            except KubeError as error:
                if error.status != 404:  # gone already: nothing to mark
                    raise

    async def _pods(self, cluster: str | None = None) -> list[Json]:
        """Every cluster's pods, or one cluster's: from the cache once it has listed."""
        if self.pod_cache.synced.is_set():
            if cluster is not None:
                return list(self.pod_cache.indexed(cluster).values())
            return list(self.pod_cache.objects.values())
        selector = CLUSTER_LABEL if cluster is None else f"{CLUSTER_LABEL}={cluster}"
        return await self._list_pods(selector)

    async def _list_pods(self, selector: str) -> list[Json]:
        found = await call(
            f"list pods {selector}",
            self.core.list_namespaced_pod,
            self.namespace,
            label_selector=selector,
            retry=self.retry,
        )
        return self.api_client.sanitize_for_serialization(found)["items"]


def _auth_secret(live: Json | None) -> str:
    """The cluster's Spark RPC secret: the one in its Secret, else a new one (never logged)."""
    data = (live.get("data") or {}) if live is not None else {}
    if AUTH_SECRET_KEY in data:
        return base64.b64decode(data[AUTH_SECRET_KEY]).decode()
    return secrets.token_urlsafe(SECRET_BYTES)


def _rest_tls(live: Json | None, name: str, namespace: str) -> flink_tls.RestTls:
    """The Flink cluster's REST credential: the one in its Secret, else a new one (generated once,
    then read back every loop: the JobManager, the notebook and the controller keep agreeing)."""
    data = (live.get("data") or {}) if live is not None else {}
    found = flink_tls.RestTls.from_files(
        {key: base64.b64decode(data[key]) for key in flink_tls.FILES if key in data}
    )
    return found or flink_tls.generate(rest_tls_hosts(name, namespace))


def _observation(
    name: str,
    engine: Engine,
    namespace: str,
    pods: list[Json],
    rest_credential: flink_tls.RestTls | None = None,
) -> Observation:
    """Head running and ready; workers starting or running, oldest first; leaving ones apart."""
    head = [pod for pod in pods if _role(pod) == HEAD_ROLE[engine]]
    workers = [pod for pod in pods if _role(pod) == WORKER_ROLE[engine]]
    serving = sorted(
        (pod for pod in workers
         if not _leaving(pod) and _phase(pod) in ("Pending", "Running")),
        key=lambda pod: (pod["metadata"].get("creationTimestamp") or "", pod["metadata"]["name"]),
    )  # fmt: skip
    leaving = [pod for pod in workers if _leaving(pod)]
    return Observation(
        name=name,
        engine=engine,
        head_running=any(_ready(pod) for pod in head),
        workers=tuple(pod["metadata"]["name"] for pod in serving),
        draining=tuple(sorted(pod["metadata"]["name"] for pod in leaving)),
        endpoints=endpoints(name, engine, namespace),
        rest_credential=rest_credential,
    )


def _labels(pod: Json) -> dict[str, str]:
    return pod["metadata"].get("labels") or {}


def _role(pod: Json) -> str | None:
    return _labels(pod).get(ROLE_LABEL)


def _leaving(pod: Json) -> bool:
    return pod["metadata"].get("deletionTimestamp") is not None


def _phase(pod: Json) -> str | None:
    return (pod.get("status") or {}).get("phase")


def _ready(pod: Json) -> bool:
    if _leaving(pod) or _phase(pod) != "Running":
        return False
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
