"""ComputeCluster objects for the controller, over HTTP against the API-server double with the
unmodified kubernetes_asyncio client: list + watch, status writes through the status subresource,
list + watch, status writes through the status subresource, Events, the short status in the config
Secret for the kernels. These prove the API calls, not a cluster. The API server's faults (500,
409, 410, a malformed object) are rows of tests/integration/test_fault_matrix.py."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator

import pytest
import yaml

from autoscaler.backends.kubernetes.objects import KubeClusterObjects, NotSynced
from autoscaler.controller.status import status_after
from autoscaler.policy.decision import Decision
from hubscale.kube_conf import STATUS_FILE
from hubscale.names import config_secret_name
from hubscale.spec import ComputeClusterStatus
from spawner.kernel_notice import notice
from tests.kube.apiserver import ApiServerDouble, resource
from tests.kube.fixtures import (
    NAMESPACE,
    api_client,
    create_cluster,
    eventually,
    run_objects,
    running_double,
)

NOW = 1_714_564_800.0


@pytest.fixture
def apiserver() -> Iterator[ApiServerDouble]:
    with running_double() as double:
        yield double


def status(desired: int, reason: str = "backlog", phase: str = "Ready") -> ComputeClusterStatus:
    decision = Decision(target=desired, reason=reason, cause="backlog", memo={"below_since": 1.0})
    return status_after(decision, desired, NOW, phase, None)  # type: ignore[arg-type]


def test_list_refuses_to_answer_before_the_first_list():
    async def main() -> None:
        with running_double() as double:
            async with api_client(double) as api:
                with pytest.raises(NotSynced):
                    KubeClusterObjects(api, NAMESPACE).list()

    asyncio.run(main())


def test_objects_are_listed_as_stored_clusters_over_http_against_the_api_server_double(apiserver):
    create_cluster(apiserver, "alice-spark", maxWorkers=3)
    create_cluster(apiserver, "bob-flink", engine="flink")

    async def scenario(objects: KubeClusterObjects) -> None:
        stored = objects.list()
        assert [item.name for item in stored] == ["alice-spark", "bob-flink"]
        assert stored[0].cluster is not None and stored[0].cluster.spec.max_workers == 3
        assert stored[0].error is None and stored[0].status is None
        assert stored[0].cluster.metadata.model_extra["uid"]  # for owner references

    run_objects(apiserver, scenario)


def test_status_round_trips_through_the_status_subresource(apiserver):
    create_cluster(apiserver, "alice-spark")
    written = status(3, "backlog needs 3 workers", "Scaling")

    async def scenario(objects: KubeClusterObjects) -> None:
        assert objects.write_status("alice-spark", written)
        assert objects.list()[0].status == written  # queued: visible at once
        await objects.flush()
        assert not objects.pending
        await eventually(lambda: objects.reflector.objects["alice-spark"].get("status"))
        assert objects.list()[0].status == written

    run_objects(apiserver, scenario)
    assert apiserver.count("PUT", r"/computeclusters/alice-spark/status$") == 1
    stored = apiserver.get("computeclusters", NAMESPACE, "alice-spark")
    assert ComputeClusterStatus(**stored["status"]) == written
    assert stored["metadata"]["generation"] == 1  # a status write is no spec change


def test_writing_the_status_of_a_deleted_object_says_false(apiserver):
    create_cluster(apiserver, "alice-spark")

    async def scenario(objects: KubeClusterObjects) -> None:
        apiserver.store.delete(resource("computeclusters"), NAMESPACE, "alice-spark")
        await eventually(lambda: not objects.list())
        assert objects.write_status("alice-spark", status(1)) is False

    run_objects(apiserver, scenario)


def test_a_watch_sees_new_changed_and_deleted_objects(apiserver):
    create_cluster(apiserver, "alice-spark")

    async def scenario(objects: KubeClusterObjects) -> None:
        create_cluster(apiserver, "bob-flink", engine="flink")
        await eventually(lambda: len(objects.list()) == 2)
        apiserver.store.patch(
            resource("computeclusters"), NAMESPACE, "bob-flink", "application/merge-patch+json",
            {"spec": {"maxWorkers": 5}}, None,
        )  # fmt: skip
        await eventually(lambda: objects.list()[1].cluster.spec.max_workers == 5)
        apiserver.store.delete(resource("computeclusters"), NAMESPACE, "alice-spark")
        await eventually(lambda: [item.name for item in objects.list()] == ["bob-flink"])
        assert objects.reflector.lists == 1  # all of it through the one watch

    run_objects(apiserver, scenario)


def test_a_watch_ended_by_the_server_resumes_from_its_last_version(apiserver):
    create_cluster(apiserver, "alice-spark")

    async def scenario(objects: KubeClusterObjects) -> None:
        with apiserver.watches_down():
            create_cluster(apiserver, "bob-flink", engine="flink")
        await eventually(lambda: len(objects.list()) == 2)
        assert objects.reflector.lists == 1  # resumed, no re-list

    run_objects(apiserver, scenario)


def test_a_scaling_decision_is_recorded_as_an_event_for_kubectl_describe(apiserver):
    created = create_cluster(apiserver, "alice-spark")

    async def scenario(objects: KubeClusterObjects) -> None:
        objects.write_status("alice-spark", status(3, "backlog needs 3 workers"))
        await objects.flush()
        objects.write_status("alice-spark", status(3, "backlog needs 3 workers"))
        await objects.flush()  # the same decision again: no second event

    run_objects(apiserver, scenario)
    events = apiserver.objects("events", NAMESPACE)
    assert len(events) == 1
    event = events[0]
    assert event["involvedObject"]["uid"] == created["metadata"]["uid"]
    assert (event["reason"], event["type"]) == ("ScaledUp", "Normal")
    assert event["message"] == "0 -> 3 workers: backlog needs 3 workers"


def limited(desired: int, reason: str, before: ComputeClusterStatus | None = None):
    """A status at the cluster's limit (cause ``bounds``: CapacityLimited=True)."""
    decision = Decision(target=desired, reason=reason, cause="bounds")
    return status_after(decision, desired, NOW, "Ready", before)


def short_status_in_secret(double: ApiServerDouble, cluster: str) -> dict:
    """The short status the config Secret carries, as the kernel reads it from the mounted file."""
    data = double.get("secrets", NAMESPACE, config_secret_name(cluster))["data"]
    return yaml.safe_load(base64.b64decode(data[STATUS_FILE]))


def test_a_cluster_at_its_limit_says_so_in_its_config_secret_once_per_change(apiserver):
    create_cluster(apiserver, "alice-spark", maxWorkers=1)
    auth = base64.b64encode(b"rpc-secret").decode()
    apiserver.create(
        "secrets",
        NAMESPACE,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "alice-spark-config"},
         "data": {"secret": auth}},
    )  # fmt: skip
    secret_patches = r"/secrets/alice-spark-config$"
    first = limited(1, "steady at 1: 3 apps waiting (capped at maxWorkers 1)")

    async def scenario(objects: KubeClusterObjects) -> None:
        objects.write_status("alice-spark", first)
        await objects.flush()
        told = notice("spark", short_status_in_secret(apiserver, "alice-spark"))
        assert told is not None
        assert "runs on the 1 workers your Spark cluster may have" in told
        assert "(steady at 1: 3 apps waiting (capped at maxWorkers 1))" in told
        assert apiserver.count("PATCH", secret_patches) == 1

        # Still at the limit, only the counts in the reason moved: the status, not the Secret.
        objects.write_status("alice-spark", limited(1, "steady at 1: 5 apps waiting", first))
        await objects.flush()
        assert apiserver.count("PUT", "/status$") == 2
        assert apiserver.count("PATCH", secret_patches) == 1

        within = Decision(target=1, reason="1 executors needed", cause="steady")
        objects.write_status("alice-spark", status_after(within, 1, NOW, "Ready", first))
        await objects.flush()
        assert apiserver.count("PATCH", secret_patches) == 2
        assert notice("spark", short_status_in_secret(apiserver, "alice-spark")) is None

    run_objects(apiserver, scenario)
    data = apiserver.get("secrets", NAMESPACE, "alice-spark-config")["data"]
    assert data["secret"] == auth  # the configuration beside it is left alone
    assert set(short_status_in_secret(apiserver, "alice-spark")) == {
        "desired",
        "reason",
        "conditions",
    }


def test_a_status_is_written_while_the_cluster_has_no_config_secret_yet(apiserver):
    create_cluster(apiserver, "alice-spark")

    async def scenario(objects: KubeClusterObjects) -> None:
        objects.write_status("alice-spark", limited(0, "capped at maxWorkers 0"))
        await objects.flush()
        assert not objects.pending

    run_objects(apiserver, scenario)
    assert apiserver.count("PATCH", r"/secrets/alice-spark-config$") == 1  # 404: nothing mounts it
    assert apiserver.get("computeclusters", NAMESPACE, "alice-spark")["status"]["desired"] == 0
