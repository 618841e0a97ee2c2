"""The Kubernetes backend over HTTP against the API-server double, with the unmodified
kubernetes_asyncio client; the test plays kubelet and the garbage collector. These prove the API
calls, not a cluster."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterator

import pytest
import yaml
from cryptography import x509

from autoscaler.backends.base import BackendError, Observation
from autoscaler.backends.kubernetes.backend import VICTIM_DELETION_COST, KubernetesBackend
from autoscaler.backends.kubernetes.manifests import DELETION_COST
from hubscale import flink_tls
from hubscale.spec import ComputeCluster, parse_cluster
from tests.kube.apiserver import ApiServerDouble, resource
from tests.kube.fixtures import (
    NAMESPACE,
    create_cluster,
    run_backend,
    running_double,
)

KINDS = ["secrets", "services", "deployments", "networkpolicies"]


@pytest.fixture
def apiserver() -> Iterator[ApiServerDouble]:
    with running_double() as double:
        yield double


def make_cluster(double: ApiServerDouble, name: str, engine: str = "spark") -> ComputeCluster:
    """Create the custom resource in the double (as the spawner does) and parse it back."""
    return parse_cluster(create_cluster(double, name, engine=engine, maxWorkers=4))


def names(double: ApiServerDouble, plural: str, selector: str = "") -> list[str]:
    return [obj["metadata"]["name"] for obj in double.objects(plural, NAMESPACE, selector)]


POD_LIST = r"/pods\?(?!.*watch=(true|True|1))"  # a list of pods, not a watch


async def eventually_observed(
    backend: KubernetesBackend, condition: Callable[[Observation], bool]
) -> Observation:
    """The one cluster's observation once ``condition`` holds (the cache follows the watch)."""
    deadline = asyncio.get_running_loop().time() + 30  # a watch event, on a loaded machine
    while True:
        (seen,) = (await backend.observe()).values()
        if condition(seen):
            return seen
        assert asyncio.get_running_loop().time() < deadline, f"not observed: {seen}"
        await asyncio.sleep(0.02)


def test_ensure_creates_the_spark_objects_over_http_against_the_api_server_double(apiserver):
    cluster = make_cluster(apiserver, "alice-spark")
    observation = run_backend(apiserver, lambda backend: backend.ensure(cluster))
    assert names(apiserver, "secrets") == ["alice-spark-config"]
    assert names(apiserver, "services") == ["alice-spark-master"]
    assert names(apiserver, "deployments") == ["alice-spark-master", "alice-spark-worker"]
    assert names(apiserver, "networkpolicies") == ["alice-spark-drivers", "alice-spark-ingress"]
    uid = cluster.metadata.model_extra["uid"]
    for plural in KINDS:
        for obj in apiserver.objects(plural, NAMESPACE):
            assert obj["metadata"]["ownerReferences"][0]["uid"] == uid
    assert observation.head_running is False and observation.workers == ()
    assert observation.endpoints["master_url"] == "spark://alice-spark-master.hub.svc:7077"


def test_ensure_twice_writes_nothing_the_second_time_over_http(apiserver):
    cluster = make_cluster(apiserver, "alice-spark")

    async def twice(backend: KubernetesBackend) -> None:
        await backend.ensure(cluster)
        writes = sum(apiserver.count(m) for m in ("POST", "PATCH", "PUT", "DELETE"))
        secret = apiserver.get("secrets", NAMESPACE, "alice-spark-config")["data"]["secret"]
        await backend.ensure(cluster)
        assert sum(apiserver.count(m) for m in ("POST", "PATCH", "PUT", "DELETE")) == writes
        assert apiserver.get("secrets", NAMESPACE, "alice-spark-config")["data"]["secret"] == secret

    run_backend(apiserver, twice)


def test_a_flink_clusters_rest_credential_is_generated_once_into_its_secret_over_http(apiserver):
    """Issue 14, finding 2: the key material lives in the cluster's config Secret (kept across
    loops and controller restarts) and the controller's REST client gets a TLS context for it."""
    cluster = make_cluster(apiserver, "alice-flink", "flink")

    async def twice(backend: KubernetesBackend) -> Observation:
        first = await backend.ensure(cluster)
        writes = sum(apiserver.count(m) for m in ("POST", "PATCH", "PUT", "DELETE"))
        data = apiserver.get("secrets", NAMESPACE, "alice-flink-config")["data"]
        again = await backend.ensure(cluster)
        assert sum(apiserver.count(m) for m in ("POST", "PATCH", "PUT", "DELETE")) == writes
        assert apiserver.get("secrets", NAMESPACE, "alice-flink-config")["data"] == data
        assert first.rest_credential == again.rest_credential is not None
        assert first.rest_tls is None  # built only when the JobManager is asked
        assert first.tls_context() is again.tls_context() is not None  # one per credential
        return again

    seen = run_backend(apiserver, twice)
    data = {
        key: base64.b64decode(value)
        for key, value in apiserver.get("secrets", NAMESPACE, "alice-flink-config")["data"].items()
    }
    tls = flink_tls.RestTls.from_files(data)
    assert tls is not None and seen.tls_context() is flink_tls.client_context(tls)
    certificate = x509.load_pem_x509_certificate(tls.certificate)
    hosts = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "alice-flink-jobmanager.hub.svc" in hosts.get_values_for_type(x509.DNSName)
    config = yaml.safe_load(data["config.yaml"])
    assert config["security.ssl.rest.keystore"] == "/etc/hubscale/rest.p12"
    assert config["security.ssl.rest.keystore-password"] == tls.password
    # A restarted controller (a new backend) reads the same credential back.
    restarted = run_backend(apiserver, lambda backend: backend.ensure(cluster))
    assert restarted.tls_context() is seen.tls_context()


def test_ensure_keeps_the_auth_secret_and_patches_what_changed_over_http(apiserver):
    cluster = make_cluster(apiserver, "alice-spark")
    bigger = cluster.model_copy(
        update={
            "spec": cluster.spec.model_copy(
                update={"worker": cluster.spec.worker.model_copy(update={"cores": 2})}
            )
        }
    )

    async def resize(backend: KubernetesBackend) -> None:
        await backend.ensure(cluster)
        await backend.scale(cluster, 3, ())
        secret = apiserver.get("secrets", NAMESPACE, "alice-spark-config")["data"]["secret"]
        await backend.ensure(bigger)
        assert apiserver.get("secrets", NAMESPACE, "alice-spark-config")["data"]["secret"] == secret
        workers = apiserver.get("deployments", NAMESPACE, "alice-spark-worker")
        assert workers["spec"]["replicas"] == 3  # ensure never touches what scale set
        container = workers["spec"]["template"]["spec"]["containers"][0]
        assert container["resources"]["requests"]["cpu"] == "2"

    run_backend(apiserver, resize)


def test_observe_reports_running_workers_after_kubelet_runs_them_over_http(apiserver):
    cluster = make_cluster(apiserver, "alice-flink", "flink")

    async def scenario(backend: KubernetesBackend) -> None:
        await backend.ensure(cluster)
        await backend.scale(cluster, 2, ())
        apiserver.play_kubelet(NAMESPACE)
        observed = await backend.observe()
        assert set(observed) == {"alice-flink"}
        seen = observed["alice-flink"]
        assert seen.engine == "flink" and seen.head_running
        assert sorted(seen.workers) == sorted(
            names(apiserver, "pods", "hubscale.io/role=taskmanager")
        )
        assert len(seen.workers) == 2
        assert seen.endpoints["rest_url"] == "https://alice-flink-jobmanager.hub.svc:8081"

    run_backend(apiserver, scenario)


def test_observe_reads_pods_from_the_watch_fed_cache_and_lists_them_no_more(apiserver):
    cluster = make_cluster(apiserver, "alice-spark")

    async def scenario(backend: KubernetesBackend) -> None:
        stop = asyncio.Event()
        caching = asyncio.create_task(backend.run(stop))
        try:
            await asyncio.wait_for(backend.pod_cache.synced.wait(), 5)
            await backend.ensure(cluster)
            await backend.scale(cluster, 2, ())
            apiserver.play_kubelet(NAMESPACE)
            lists = apiserver.count("GET", POD_LIST)
            assert lists == 1  # the cache's first list; ensure read the cache
            seen = await eventually_observed(backend, lambda seen: len(seen.workers) == 2)
            assert seen.head_running
            apiserver.store.delete(resource("pods"), NAMESPACE, seen.workers[0])
            seen = await eventually_observed(backend, lambda seen: len(seen.workers) == 1)
            assert apiserver.count("GET", POD_LIST) == lists  # every read from the cache
        finally:
            stop.set()
            await caching

    run_backend(apiserver, scenario)


def test_scale_down_marks_victims_cheapest_so_they_go_first_over_http(apiserver):
    cluster = make_cluster(apiserver, "alice-spark")

    async def scenario(backend: KubernetesBackend) -> None:
        await backend.ensure(cluster)
        await backend.scale(cluster, 4, ())
        apiserver.play_kubelet(NAMESPACE)
        workers = (await backend.observe())["alice-spark"].workers
        victims = (workers[0], workers[2])  # the oldest and a middle one, not the newest
        await backend.scale(cluster, 2, victims)
        for pod in apiserver.objects("pods", NAMESPACE, "hubscale.io/role=worker"):
            cost = pod["metadata"].get("annotations", {}).get(DELETION_COST)
            wanted = VICTIM_DELETION_COST if pod["metadata"]["name"] in victims else None
            assert cost == wanted
        assert (
            apiserver.get("deployments", NAMESPACE, "alice-spark-worker")["spec"]["replicas"] == 2
        )
        apiserver.play_kubelet(NAMESPACE)
        left = (await backend.observe())["alice-spark"].workers
        assert set(left) == set(workers) - set(victims)

    run_backend(apiserver, scenario)


def test_scale_up_changes_replicas_through_the_scale_subresource(apiserver):
    cluster = make_cluster(apiserver, "alice-spark")

    async def scenario(backend: KubernetesBackend) -> None:
        await backend.ensure(cluster)
        await backend.scale(cluster, 3, ())

    run_backend(apiserver, scenario)
    assert apiserver.count("PATCH", r"/deployments/alice-spark-worker/scale$") == 1
    assert apiserver.get("deployments", NAMESPACE, "alice-spark-worker")["spec"]["replicas"] == 3


def test_delete_removes_every_object_of_the_cluster_only(apiserver):
    mine, other = (
        make_cluster(apiserver, "alice-spark"),
        make_cluster(apiserver, "bob-flink", "flink"),
    )

    async def scenario(backend: KubernetesBackend) -> None:
        await backend.ensure(mine)
        await backend.ensure(other)
        await backend.scale(mine, 2, ())
        apiserver.play_kubelet(NAMESPACE)
        await backend.delete("alice-spark")
        apiserver.collect_garbage()  # pods go with their Deployment
        assert set(await backend.observe()) == {"bob-flink"}

    run_backend(apiserver, scenario)
    for plural in [*KINDS, "pods"]:
        assert names(apiserver, plural, "hubscale.io/cluster=alice-spark") == []
    assert names(apiserver, "deployments") == ["bob-flink-jobmanager", "bob-flink-taskmanager"]


def test_deleting_the_compute_cluster_lets_the_garbage_collector_take_its_objects(apiserver):
    cluster = make_cluster(apiserver, "alice-spark")
    run_backend(apiserver, lambda backend: backend.ensure(cluster))
    apiserver.store.delete(resource("computeclusters"), NAMESPACE, "alice-spark")
    removed = apiserver.collect_garbage()
    assert sorted(r.split("/")[0] for r in removed) == sorted(
        ["secrets", "services", "deployments", "deployments", "networkpolicies", "networkpolicies"]
    )


def test_scale_before_ensure_is_a_backend_error(apiserver):
    cluster = make_cluster(apiserver, "alice-spark")

    async def scenario(backend: KubernetesBackend) -> str:
        try:
            await backend.scale(cluster, 1, ())
        except BackendError as error:
            return str(error)
        return "no error"

    assert "scale before ensure" in run_backend(apiserver, scenario)


def test_a_stopped_head_goes_to_zero_replicas_after_its_workers_and_comes_back_over_http(
    apiserver,
):
    """Heads on demand: ``ensure(head=False)`` scales the workers to 0, then the master's
    Deployment to 0 (both through the scale subresource); the Service, Secret and policies stay;
    ``ensure(head=True)`` brings the master back to 1 replica."""
    cluster = make_cluster(apiserver, "alice-spark")

    def replicas(name: str) -> int:
        return apiserver.get("deployments", NAMESPACE, name)["spec"]["replicas"]

    async def scenario(backend: KubernetesBackend) -> Observation:
        await backend.ensure(cluster)
        await backend.scale(cluster, 2, ())
        apiserver.play_kubelet(NAMESPACE)
        assert (await backend.observe())["alice-spark"].head_running
        await backend.ensure(cluster, head=False)
        apiserver.play_kubelet(NAMESPACE)
        assert (replicas("alice-spark-master"), replicas("alice-spark-worker")) == (0, 0)
        assert names(apiserver, "pods") == []
        assert names(apiserver, "services") == ["alice-spark-master"]
        assert names(apiserver, "secrets") == ["alice-spark-config"]
        assert names(apiserver, "networkpolicies") == ["alice-spark-drivers", "alice-spark-ingress"]
        stopped_again = await backend.ensure(cluster, head=False)
        assert stopped_again.head_running is False and stopped_again.workers == ()
        writes = sum(apiserver.count(m) for m in ("POST", "PATCH", "PUT", "DELETE"))
        await backend.ensure(cluster, head=False)  # already stopped: no request writes
        assert sum(apiserver.count(m) for m in ("POST", "PATCH", "PUT", "DELETE")) == writes
        await backend.ensure(cluster, head=True)
        apiserver.play_kubelet(NAMESPACE)
        assert (replicas("alice-spark-master"), replicas("alice-spark-worker")) == (1, 0)
        return (await backend.observe())["alice-spark"]

    started = run_backend(apiserver, scenario)
    assert started.head_running and started.workers == ()
    scales = [r for r in apiserver.requests if r.startswith("PATCH ") and r.endswith("/scale")]
    assert [r.rsplit("/", 2)[-2] for r in scales] == [
        "alice-spark-worker",  # up to 2
        "alice-spark-worker",  # to 0, before its master
        "alice-spark-master",  # to 0
        "alice-spark-master",  # to 1
    ]


def test_a_cluster_first_ensured_without_its_head_is_created_with_no_pods_over_http(apiserver):
    cluster = make_cluster(apiserver, "alice-flink", "flink")
    seen = run_backend(apiserver, lambda backend: backend.ensure(cluster, head=False))
    apiserver.play_kubelet(NAMESPACE)
    for name in ("alice-flink-jobmanager", "alice-flink-taskmanager"):
        assert apiserver.get("deployments", NAMESPACE, name)["spec"]["replicas"] == 0
    assert names(apiserver, "pods") == [] and seen.head_running is False
    assert apiserver.count("PATCH") == 0  # created as wanted: nothing to correct
