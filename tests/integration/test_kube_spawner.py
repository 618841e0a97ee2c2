"""hubscale's KubeSpawner subclass, its KubeSpawner code unmodified, over HTTP against the
API-server double: the pod, the user's ComputeClusters owned by it, stop, and refused options.
The test plays kubelet. These prove the API calls and the objects, not a cluster."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json

import pytest
import yaml
from jupyterhub.spawner import SpawnException

from autoscaler.backends.kube_manifests import config_secret_name
from autoscaler.kube_api import MERGE_PATCH
from spawner.compute import cluster_name
from spawner.notebook_pod import FILES_VARIABLE, FLINK_CLIENT_INIT
from tests.kube.apiserver import resource
from tests.kube.fixtures import NAMESPACE
from tests.kube.hub import kubelet, make_spawner, stop_reflectors
from tests.kube.protocol import ApiError


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_spawn_creates_the_pod_then_its_clusters_owned_by_it_against_the_api_server_double(
    spawner_apiserver,
):
    async def scenario() -> tuple[str, dict, list[dict]]:
        spawner = make_spawner(spawner_apiserver, "alice")
        spawner.user_options = {"profile": "large", "spark_max_workers": 5}
        try:
            await spawner._run_apply_user_options(spawner.user_options)
            async with kubelet(spawner_apiserver, spawner.pod_name):
                url = await asyncio.wait_for(spawner.start(), 30)
            pod = spawner_apiserver.get("pods", NAMESPACE, spawner.pod_name)
            clusters = spawner_apiserver.objects("computeclusters", NAMESPACE)
            await spawner.stop()
            return url, pod, clusters
        finally:
            await stop_reflectors()

    url, pod, clusters = asyncio.run(scenario())
    spark, flink = cluster_name("alice", "", "spark"), cluster_name("alice", "", "flink")
    assert url.startswith("http://10.244.0.") and url.endswith(":8888")

    labels = pod["metadata"]["labels"]
    assert labels["hubscale.io/user"] == "alice"
    assert labels["hubscale.io/role"] == "notebook"
    assert labels["hubscale.io/spark-cluster"] == spark
    container = pod["spec"]["containers"][0]
    env = env_of(container)
    assert env["SPARK_CONF_DIR"] == "/etc/hubscale"
    assert env["SPARK_MASTER"] == f"spark://{spark}-master.{NAMESPACE}.svc:7077"
    assert env["SPARK_LOCAL_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env["FLINK_REST_URL"] == f"http://{flink}-jobmanager.{NAMESPACE}.svc:8081"
    assert env["FLINK_CONF_DIR"] == "/var/lib/hubscale/flink/conf"
    assert "--MappingKernelManager.default_kernel_name=spark" in container["args"]
    secret = {v["name"]: v for v in pod["spec"]["volumes"]}["hubscale-spark-conf"]["secret"]
    assert secret == {"secretName": config_secret_name(spark), "optional": False}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/hubscale"]["readOnly"] is True
    init = {c["name"]: c for c in pod["spec"]["initContainers"]}[FLINK_CLIENT_INIT]
    files = json.loads(base64.b64decode(env_of(init)[FILES_VARIABLE]))
    client = yaml.safe_load(files["config.yaml"])
    assert client["rest.address"] == f"{flink}-jobmanager.{NAMESPACE}.svc"
    assert client["execution.target"] == "remote"

    assert sorted(c["metadata"]["name"] for c in clusters) == sorted([spark, flink])
    for cluster in clusters:
        assert cluster["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": pod["metadata"]["name"],
                "uid": pod["metadata"]["uid"],
                "blockOwnerDeletion": False,
            }
        ]
    by_engine = {c["spec"]["engine"]: c["spec"] for c in clusters}
    assert by_engine["spark"]["maxWorkers"] == 5  # the user's option, within the profile
    assert by_engine["flink"]["worker"] == {"cores": 2, "memory": "4Gi"}  # profile "large"

    assert spawner_apiserver.objects("pods", NAMESPACE) == []  # stop deleted the pod
    assert spawner_apiserver.objects("computeclusters", NAMESPACE) == []  # and the clusters


def test_a_restart_replaces_the_clusters_left_over_against_the_api_server_double(spawner_apiserver):
    async def scenario() -> tuple[dict, list[dict]]:
        spawner = make_spawner(spawner_apiserver, "bob")
        try:
            for max_workers in (1, 3):
                spawner.user_options = {"spark_max_workers": max_workers}
                async with kubelet(spawner_apiserver, spawner.pod_name):
                    await asyncio.wait_for(spawner.start(), 30)
                pod = spawner_apiserver.get("pods", NAMESPACE, spawner.pod_name)
                # The pod is lost and its clusters are still there (no garbage collector yet).
                spawner_apiserver.store.delete(resource("pods"), NAMESPACE, spawner.pod_name)
            return pod, spawner_apiserver.objects("computeclusters", NAMESPACE)
        finally:
            await stop_reflectors()

    pod, clusters = asyncio.run(scenario())
    assert len(clusters) == 2
    for cluster in clusters:
        assert cluster["metadata"]["ownerReferences"][0]["uid"] == pod["metadata"]["uid"]
    spark = next(c for c in clusters if c["spec"]["engine"] == "spark")
    assert spark["spec"]["maxWorkers"] == 3


def test_a_bad_profile_is_a_400_naming_it_and_creates_nothing_against_the_api_server_double(
    spawner_apiserver,
):
    async def scenario() -> list[SpawnException]:
        spawner = make_spawner(spawner_apiserver, "carol")
        spawner.user_options = {"profile": "huge"}
        refusals = []
        try:
            for attempt in (spawner._run_apply_user_options(spawner.user_options), spawner.start()):
                with pytest.raises(SpawnException) as refused:
                    await attempt
                refusals.append(refused.value)
        finally:
            await stop_reflectors()
        return refusals

    for refusal in asyncio.run(scenario()):
        assert refusal.status_code == 400
        assert "profile" in refusal.jupyterhub_message and "huge" in refusal.jupyterhub_message
    assert spawner_apiserver.objects("pods", NAMESPACE) == []
    assert spawner_apiserver.objects("computeclusters", NAMESPACE) == []
    assert spawner_apiserver.count("POST") == 0


def test_a_cluster_in_phase_error_ends_the_start_with_its_reason_against_the_api_server_double(
    spawner_apiserver,
):
    """No kubelet and no controller: the pod would wait for its Secret until the start timeout;
    a cluster in phase Error (as the controller would write it) ends the start at once."""
    reason = "spec.worker.memory: the node pool has no 64Gi machines"

    async def scenario() -> SpawnException:
        spawner = make_spawner(spawner_apiserver, "erin", cluster_error_grace_s=0.5)
        spawner.user_options = {}
        spark = spawner.cluster_names["spark"]

        async def controller_says_error() -> None:
            while True:
                await asyncio.sleep(0.1)
                with contextlib.suppress(ApiError):
                    cluster = spawner_apiserver.get("computeclusters", NAMESPACE, spark)
                    status = {"phase": "Error", "reason": reason, "workers": 0, "desired": 0}
                    spawner_apiserver.store.patch(
                        resource("computeclusters"), NAMESPACE, spark, MERGE_PATCH,
                        {"metadata": {"resourceVersion": cluster["metadata"]["resourceVersion"]},
                         "status": status},
                        "status",
                    )  # fmt: skip
                    return

        writer = asyncio.create_task(controller_says_error())
        try:
            with pytest.raises(SpawnException) as failed:
                await asyncio.wait_for(spawner.start(), 20)
            return failed.value
        finally:
            writer.cancel()
            await stop_reflectors()

    failure = asyncio.run(scenario())
    assert failure.status_code == 503
    assert reason in failure.jupyterhub_message


def test_clusters_without_any_status_end_the_start_naming_the_autoscaler_against_the_api_server_double(  # noqa: E501
    spawner_apiserver,
):
    async def scenario() -> SpawnException:
        spawner = make_spawner(spawner_apiserver, "fred", clusters_timeout_s=1.5)
        spawner.user_options = {}
        try:
            with pytest.raises(SpawnException) as failed:
                await asyncio.wait_for(spawner.start(), 20)
            return failed.value
        finally:
            await stop_reflectors()

    failure = asyncio.run(scenario())
    assert failure.status_code == 503
    assert "is the hubscale autoscaler running" in failure.jupyterhub_message
