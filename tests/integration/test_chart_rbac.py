"""The chart's RBAC is no broader than the code needs. The autoscaler's Role is compared with the
API calls the real controller code (backends/kubernetes: objects, backend, leader) makes against the
API-server double over HTTP, translated into RBAC verbs: every granted rule must be used, every
call must be granted. The hub's Role is compared with a declared list (KubeSpawner's calls are
listed below), and every call hubscale's spawner makes against the double must be in it. These
prove the rules and the calls, not a cluster's authorizer."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs

import pytest

from autoscaler.backends.kubernetes.backend import KubernetesBackend
from autoscaler.backends.kubernetes.leader import LeaderElection
from autoscaler.backends.kubernetes.manifests import MANIFEST_HASH
from autoscaler.backends.kubernetes.objects import KubeClusterObjects
from autoscaler.controller.status import status_after
from autoscaler.policy.decision import Decision
from hubscale.kube_api import MERGE_PATCH
from hubscale.kube_conf import ClusterSettings
from hubscale.names import CLUSTER_LABEL
from hubscale.spec import parse_cluster
from tests.kube.apiserver import ApiServerDouble, resource
from tests.kube.chart import HELMS, PREFIX, Manifest, find, one, render
from tests.kube.fixtures import FAST_RETRY, NAMESPACE, api_client, create_cluster, eventually
from tests.kube.hub import kubelet, make_spawner, spawner_apiserver, stop_reflectors  # noqa: F401

Rule = tuple[str, str, str]  # (API group, resource[/subresource], verb)
Request = tuple[str, str, str, str | None]  # a Rule and the object's name (None: a collection)

# What the hub needs: KubeSpawner 7.1 (spawner.py, reflector.py) with its defaults (no internal
# SSL, no per-user Service), and hubscale's spawner for the ComputeClusters.
HUB_NEEDS: set[Rule] = {
    ("", "pods", "list"),  # the pod reflector (KubeSpawner never GETs a single pod)
    ("", "pods", "watch"),
    ("", "pods", "create"),
    ("", "pods", "delete"),
    ("", "events", "list"),  # the event reflector: spawn progress
    ("", "events", "watch"),
    ("hubscale.io", "computeclusters", "create"),  # once the pod has its uid (their owner)
    ("hubscale.io", "computeclusters", "patch"),  # left over from an earlier server: replaced
    ("hubscale.io", "computeclusters", "get"),  # their status while the pod waits
    ("hubscale.io", "computeclusters", "delete"),  # on stop
}
HUB_PVC_NEEDS: set[Rule] = {
    ("", "persistentvolumeclaims", "get"),  # _check_pvc_exists
    ("", "persistentvolumeclaims", "create"),
    ("", "persistentvolumeclaims", "delete"),  # delete_forever
}


def granted(role: Manifest) -> set[Request]:
    """(group, resource, verb, name) per rule; name None: any object (no resourceNames)."""
    return {
        (group, resource, verb, name)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
        for name in rule.get("resourceNames", [None])
    }


def allows(rules: set[Request], request: Request) -> Request | None:
    """The rule allowing the request, if any: one for its object's name, else one for any."""
    group, resource, verb, name = request
    for candidate in ((group, resource, verb, name), (group, resource, verb, None)):
        if candidate in rules and (candidate[3] is None or name is not None):
            return candidate
    return None


def rbac_rule(request: str) -> Request | None:
    """The RBAC (group, resource, verb, object name) a request needs; None for discovery."""
    method, _, target = request.partition(" ")
    path, _, query = target.partition("?")
    parts = [part for part in path.split("/") if part]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if len(rest) >= 3 and rest[0] == "namespaces":
        rest = rest[2:]
    resource = "/".join([rest[0], *rest[2:3]])
    named = len(rest) > 1
    name = rest[1] if named else None
    watching = parse_qs(query).get("watch", ["false"])[0].lower() in ("true", "1")
    verb = {
        "GET": "watch" if watching else ("get" if named else "list"),
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if named else "deletecollection",
    }[method]
    return group, resource, verb, name


def test_request_lines_translate_to_rbac_verbs():
    custom = "/apis/hubscale.io/v1alpha1/namespaces/hub/computeclusters"
    assert rbac_rule(f"GET {custom}?watch=True&x=1") == (
        "hubscale.io", "computeclusters", "watch", None)  # fmt: skip
    assert rbac_rule(f"PUT {custom}/a/status") == (
        "hubscale.io", "computeclusters/status", "update", "a")  # fmt: skip
    assert rbac_rule("DELETE /api/v1/namespaces/hub/secrets?labelSelector=a") == (
        "", "secrets", "deletecollection", None)  # fmt: skip
    assert rbac_rule("PATCH /apis/apps/v1/namespaces/hub/deployments/w/scale") == (
        "apps", "deployments/scale", "patch", "w")  # fmt: skip
    assert rbac_rule("GET /apis/apps/v1") is None


def test_a_rule_with_resource_names_allows_only_those_objects():
    rules = {("", "leases", "get", "mine"), ("", "leases", "create", None)}
    assert allows(rules, ("", "leases", "get", "mine")) == ("", "leases", "get", "mine")
    assert allows(rules, ("", "leases", "get", "theirs")) is None
    assert allows(rules, ("", "leases", "create", None)) == ("", "leases", "create", None)
    assert allows(rules, ("", "leases", "get", None)) is None  # a list is not one name


def running_pods(backend: KubernetesBackend, cluster: str) -> int:
    """The cluster's Running pods in the backend's watch-fed cache."""
    return sum(
        1
        for pod in backend.pod_cache.objects.values()
        if pod["metadata"]["labels"].get(CLUSTER_LABEL) == cluster
        and pod.get("status", {}).get("phase") == "Running"
    )


def drift_seen(backend: KubernetesBackend, cluster: str) -> bool:
    """Every applied object of the cluster shows the hand edit in the backend's caches."""
    kinds = ("Secret", "Service", "NetworkPolicy", "Deployment")
    found = [obj for kind in kinds for obj in backend.caches.of_cluster(kind, cluster)]
    return bool(found) and all(
        obj["metadata"]["annotations"].get(MANIFEST_HASH) == "edited by hand" for obj in found
    )


async def controller_lifetime(double: ApiServerDouble, lease: str) -> None:
    """Everything the controller does on Kubernetes, through its real code: watch the objects,
    hold the Lease, create, repair drifted objects, scale up and down (marking victims),
    observe, write statuses (with a conflict) and Events, delete, hand the Lease over."""
    settings = ClusterSettings(NAMESPACE, "hubscale/spark:test", "hubscale/flink:test")
    async with api_client(double) as api:
        election = LeaderElection(api, NAMESPACE, lease, "pod-a", retry=FAST_RETRY)
        assert await election.campaign_once()  # read (404), create
        assert await election.campaign_once()  # read, renew
        objects = KubeClusterObjects(api, NAMESPACE, FAST_RETRY, watch_timeout_s=5)
        stop = asyncio.Event()
        watching = asyncio.create_task(objects.run(stop))
        backend = KubernetesBackend(api, settings, FAST_RETRY, watch_timeout_s=5)
        caching = asyncio.create_task(backend.run(stop))
        try:
            await asyncio.wait_for(objects.reflector.synced.wait(), 5)
            await asyncio.wait_for(backend.caches.wait_synced(), 5)
            for engine in ("spark", "flink"):
                name = f"alice-{engine}"
                cluster = parse_cluster(create_cluster(double, name, engine=engine, maxWorkers=4))
                if engine == "spark":  # a create that lands but answers 409: read back (get)
                    double.fail(
                        r"POST .*/(services|networkpolicies|deployments)$", 409, 4, after=True
                    )
                await backend.ensure(cluster)
                for plural in ("secrets", "services", "networkpolicies", "deployments"):
                    for obj in double.objects(plural, NAMESPACE, f"{CLUSTER_LABEL}={name}"):
                        edited = {"metadata": {"annotations": {MANIFEST_HASH: "edited by hand"}}}
                        double.store.patch(
                            resource(plural),
                            NAMESPACE,
                            obj["metadata"]["name"],
                            MERGE_PATCH,
                            edited,
                            None,
                        )
                await eventually(lambda n=name: drift_seen(backend, n))  # the watches saw it
                await backend.ensure(cluster)  # every object drifted: patched back
                await backend.scale(cluster, 2, ())
                double.play_kubelet(NAMESPACE)
                await eventually(lambda n=name: running_pods(backend, n) == 3)  # the cache
                observed = await backend.observe()
                victim = observed[name].workers[0]
                await backend.scale(cluster, 1, (victim,))
                await eventually(lambda n=name: n in objects.reflector.objects)
                double.fail(rf"PUT .*/computeclusters/{name}/status", status=409)
                decision = Decision(target=2, reason="backlog", cause="backlog", memo={})
                objects.write_status(name, status_after(decision, 2, 1.0e9, "Scaling", None))
                await objects.flush()
                assert not objects.pending
                await backend.delete(name)
        finally:
            stop.set()
            await watching
            await caching
        await election.release()


def lease_name(version: str) -> str:
    """The Lease the chart tells the controller to use (--lease-name)."""
    deployment = one(render(version), "Deployment", f"{PREFIX}-autoscaler")
    arguments = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    (name,) = [a.split("=", 1)[1] for a in arguments if a.startswith("--lease-name=")]
    return name


@pytest.mark.parametrize("version", HELMS)
def test_autoscaler_role_grants_exactly_the_calls_the_controller_makes(version):
    with ApiServerDouble(bookmark_interval_s=0.2) as double:
        asyncio.run(controller_lifetime(double, lease_name(version)))
        requests = {rule for rule in map(rbac_rule, double.requests) if rule is not None}
    assert double.count("POST", "/events") >= 2  # the scenario reached the Events
    rules = granted(one(render(version), "Role", f"{PREFIX}-autoscaler"))
    refused = sorted(r for r in requests if allows(rules, r) is None)
    assert refused == [], "calls the Role does not allow"
    unused = rules - {allows(rules, r) for r in requests}
    assert unused == set(), "rules the controller never uses"


def test_hub_role_grants_exactly_what_the_spawner_needs():
    for version in HELMS:
        role = one(render(version), "Role", f"{PREFIX}-hub")
        assert granted(role) == {(*rule, None) for rule in HUB_NEEDS | HUB_PVC_NEEDS}
        # Without per-user claims the hub cannot touch claims at all.
        role = one(
            render(version, {"singleuser": {"storage": {"type": "none"}}}), "Role", f"{PREFIX}-hub"
        )
        assert granted(role) == {(*rule, None) for rule in HUB_NEEDS}


def test_the_hub_role_allows_every_call_the_spawner_makes(spawner_apiserver):  # noqa: F811
    """Spawn, lose the pod, spawn again over the left-over clusters (replaced), stop."""

    async def lifetime() -> None:
        spawner = make_spawner(spawner_apiserver, "carol")
        try:
            for _ in range(2):
                spawner.user_options = {}
                async with kubelet(spawner_apiserver, spawner.pod_name):
                    await asyncio.wait_for(spawner.start(), 30)
                spawner_apiserver.store.delete(resource("pods"), NAMESPACE, spawner.pod_name)
            await spawner.stop()
        finally:
            await stop_reflectors()

    asyncio.run(lifetime())
    requests = {rule for rule in map(rbac_rule, spawner_apiserver.requests) if rule}
    rules = {(*rule, None) for rule in HUB_NEEDS | HUB_PVC_NEEDS}
    refused = sorted(r for r in requests if allows(rules, r) is None)
    assert refused == [], "calls the hub's Role does not allow"
    used = {allows(rules, r)[:3] for r in requests if r[0] == "hubscale.io"}
    assert used == {r for r in HUB_NEEDS if r[0] == "hubscale.io"}, "ComputeCluster rules unused"


def test_each_role_is_bound_only_to_its_own_service_account_in_the_release_namespace():
    manifests = render("helm3")
    for component in ("hub", "autoscaler", "usage"):
        binding = one(manifests, "RoleBinding", f"{PREFIX}-{component}")
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": f"{PREFIX}-{component}",
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": f"{PREFIX}-{component}", "namespace": NAMESPACE}
        ]
    assert len(find(manifests, "RoleBinding")) == 3


def test_only_the_hub_the_autoscaler_and_the_usage_service_get_an_api_token():
    for manifest in render("helm3"):
        if manifest["kind"] == "Deployment":
            spec = manifest["spec"]["template"]["spec"]
        elif manifest["kind"] == "Pod":
            spec = manifest["spec"]
        else:
            continue
        name = manifest["metadata"]["name"]
        expected = name in (f"{PREFIX}-hub", f"{PREFIX}-autoscaler", f"{PREFIX}-usage")
        assert spec["automountServiceAccountToken"] is expected, name
    for account in find(render("helm3"), "ServiceAccount"):
        assert account["automountServiceAccountToken"] is False
