"""hubscale's KubeSpawner subclass, its KubeSpawner code unmodified, over HTTP against the
API-server double: the pod, the user's ComputeClusters owned by it, the Flink client from the
controller's Secret, stop, and refused options.
The test plays kubelet. These prove the API calls and the objects, not a cluster."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from pathlib import Path

import pytest
import yaml
from jupyterhub.spawner import SpawnException
from jupyterhub.utils import iterate_until
from kubernetes.utils.quantity import parse_quantity

from autoscaler.backends.kubernetes.backend import KubernetesBackend
from hubscale.kube_api import MERGE_PATCH
from hubscale.kube_conf import NOTEBOOK_ACTIVITY_PORT, ClusterSettings
from hubscale.names import config_secret_name, head_name
from hubscale.spec import parse_cluster
from hubscale_nb.activity import PORT_VARIABLE, TOKEN_DIGEST_VARIABLE
from spawner.compute import cluster_name, compute_clusters, resolve_options
from spawner.notebook_env import ACTIVITY_EXTENSION
from spawner.notebook_pod import FLINK_CLIENT_INIT, FLINK_CONF_VOLUME
from spawner.profiles import load_profiles
from spawner.user_options import DEFAULT_PROFILES
from tests.kube.apiserver import ApiServerDouble, resource
from tests.kube.fixtures import NAMESPACE, api_client, eventually
from tests.kube.hub import Mounts, kubelet, make_spawner, run_init_container, stop_reflectors
from tests.kube.protocol import ApiError

# The hub's own notebook size, as hub_config/kubernetes.py sets it from singleuser.cpu/memory.
CHART_SIZE = {
    "cpu_guarantee": 0.5,
    "cpu_limit": 2.0,
    "mem_guarantee": 2**30,
    "mem_limit": 4 * 2**30,
}


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def resources_of(container: dict) -> dict[str, dict[str, float]]:
    """The container's requests and limits as numbers (cores, bytes)."""
    return {
        kind: {name: float(parse_quantity(str(value))) for name, value in amounts.items()}
        for kind, amounts in container["resources"].items()
    }


def set_status(double: ApiServerDouble, name: str, **status: object) -> None:
    """Write a ComputeCluster's status into the double, as the controller would."""
    body = {"status": {"workers": 0, "desired": 0, **status}}
    double.store.patch(resource("computeclusters"), NAMESPACE, name, MERGE_PATCH, body, "status")


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
    assert labels["hubscale.io/flink-cluster"] == flink  # what each cluster's policy admits
    container = pod["spec"]["containers"][0]
    env = env_of(container)
    assert env["SPARK_CONF_DIR"] == "/etc/hubscale"
    assert env["SPARK_MASTER"] == f"spark://{spark}-master.{NAMESPACE}.svc:7077"
    assert env["SPARK_LOCAL_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env["FLINK_REST_URL"] == f"https://{flink}-jobmanager.{NAMESPACE}.svc:8081"
    assert env["FLINK_CONF_DIR"] == "/var/lib/hubscale/flink/conf"
    assert "--MappingKernelManager.default_kernel_name=spark" in container["args"]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    secret = volumes["hubscale-spark-conf"]["secret"]
    assert secret == {"secretName": config_secret_name(spark), "optional": False}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/hubscale"]["readOnly"] is True
    init = {c["name"]: c for c in pod["spec"]["initContainers"]}[FLINK_CLIENT_INIT]
    flink_secret = volumes[FLINK_CONF_VOLUME]["secret"]
    assert flink_secret["secretName"] == config_secret_name(flink)
    assert FLINK_CONF_VOLUME in {m["name"] for m in init["volumeMounts"]}
    # The cluster's REST keystore reaches the client's directory through the init container only.
    assert {"key": "rest.p12", "path": "rest.p12"} in flink_secret["items"]
    assert FLINK_CONF_VOLUME not in {m["name"] for m in container["volumeMounts"]}
    init_env = {e["name"]: e["value"] for e in init["env"]}
    assert init_env["HUBSCALE_CLIENT_KEYSTORE"] == "/var/lib/hubscale/flink/conf/rest.p12"

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


def test_the_pods_flink_client_is_what_the_controller_wrote_for_its_cluster_against_the_api_server_double(  # noqa: E501
    spawner_apiserver, tmp_path
):
    """A controller whose settings are not the defaults (the TaskManagers' Python, the JVM
    options): the pod waits for the clusters' Secrets it writes, and the PyFlink client's
    ``config.yaml``, as the init container leaves it, carries those settings."""
    settings = ClusterSettings(
        NAMESPACE,
        "hubscale/spark:test",
        "hubscale/flink:test",
        flink_java_opts="--add-opens=java.base/java.lang=ALL-UNNAMED -Dhubscale.site=eu",
        flink_python="/opt/udf-env/bin/python3.12",
    )

    async def scenario() -> tuple[dict, Mounts]:
        spawner = make_spawner(spawner_apiserver, "hana")
        spawner.user_options = {}

        async def controller(backend: KubernetesBackend) -> None:
            for name in spawner.cluster_names.values():
                found = await eventually(lambda n=name: _cluster(spawner_apiserver, n), 20)
                await backend.ensure(parse_cluster(found))

        try:
            async with api_client(spawner_apiserver) as api:
                writer = asyncio.create_task(controller(KubernetesBackend(api, settings)))
                async with kubelet(spawner_apiserver, spawner.pod_name, secrets=True):
                    await asyncio.wait_for(spawner.start(), 30)
                await writer
            pod = spawner_apiserver.get("pods", NAMESPACE, spawner.pod_name)
            mounts = run_init_container(spawner_apiserver, pod, FLINK_CLIENT_INIT, tmp_path)
            await spawner.stop()
            return pod, mounts
        finally:
            await stop_reflectors()

    pod, mounts = asyncio.run(scenario())
    flink = cluster_name("hana", "", "flink")
    container = pod["spec"]["containers"][0]
    conf_dir = mounts.local(container, env_of(container)["FLINK_CONF_DIR"])
    client = yaml.safe_load((conf_dir / "config.yaml").read_text())
    assert client["python.executable"] == "/opt/udf-env/bin/python3.12"
    assert "-Dhubscale.site=eu" in client["env.java.opts.all"]
    assert client["rest.address"] == f"{flink}-jobmanager.{NAMESPACE}.svc"
    assert client["execution.target"] == "remote"
    assert client["python.client.executable"] == "/opt/flink-venv/bin/python"  # the kernel's
    assert (conf_dir.parent / "tmp").is_dir() and (conf_dir.parent / "logs").is_dir()


def _cluster(double: ApiServerDouble, name: str) -> dict | None:
    with contextlib.suppress(ApiError):
        return double.get("computeclusters", NAMESPACE, name)
    return None


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


def janes_cluster(double: ApiServerDouble, name: str, engine: str) -> dict:
    """Jane's running ComputeCluster under ``name`` (one mallory's spawner will use): written by
    hand, as a collision of names would leave it."""
    resolved = resolve_options(load_profiles(Path(DEFAULT_PROFILES)), {})
    document = next(
        c for c in compute_clusters("jane", "", resolved) if c.spec.engine == engine
    ).to_document()
    document["metadata"]["name"] = name
    double.create("computeclusters", NAMESPACE, document)
    set_status(double, name, phase="Ready", workers=1)
    return double.get("computeclusters", NAMESPACE, name)


@pytest.mark.parametrize("engine", ["spark", "flink"])
def test_a_cluster_name_taken_by_another_user_fails_the_spawn_and_leaves_it_against_the_api_server_double(  # noqa: E501
    spawner_apiserver, engine
):
    """Mallory's start is a 503 naming the conflict; jane's object is neither patched nor
    deleted (by the start or the stop after it), and no pod was created: none ever mounted
    jane's cluster's Secret or carried its label."""

    async def scenario() -> tuple[str, dict, SpawnException]:
        spawner = make_spawner(spawner_apiserver, "mallory")
        spawner.user_options = {}
        taken = spawner.cluster_names[engine]
        before = janes_cluster(spawner_apiserver, taken, engine)
        try:
            async with kubelet(spawner_apiserver, spawner.pod_name):
                with pytest.raises(SpawnException) as refused:
                    await asyncio.wait_for(spawner.start(), 30)
            await spawner.stop()
        finally:
            await stop_reflectors()
        return taken, before, refused.value

    taken, before, refused = asyncio.run(scenario())
    assert refused.status_code == 503
    assert taken in refused.jupyterhub_message and "jane" not in refused.jupyterhub_message
    assert spawner_apiserver.objects("computeclusters", NAMESPACE) == [before]
    assert spawner_apiserver.count("POST", "/pods($|\\?)") == 0
    for method in ("PATCH", "PUT", "DELETE"):
        assert spawner_apiserver.count(method, f"/computeclusters/{taken}($|\\?)") == 0


def test_a_cluster_replaced_by_another_users_during_the_start_is_not_owned_by_the_pod_against_the_api_server_double(  # noqa: E501
    spawner_apiserver,
):
    """Between claiming its clusters and owning them by the pod, mallory's Spark cluster is
    deleted and jane's appears under its name: the owner reference is refused, jane's object is
    left as it is."""
    pod = {"metadata": {"name": "jupyter-mallory", "uid": "a1b2c3d4-0000-4000-8000-000000000001"}}

    async def scenario() -> tuple[dict, Exception]:
        spawner = make_spawner(spawner_apiserver, "mallory")
        spawner.apply_profile({})
        spark = spawner.cluster_names["spark"]
        try:
            await spawner.claim_clusters()
            spawner_apiserver.store.delete(resource("computeclusters"), NAMESPACE, spark)
            before = janes_cluster(spawner_apiserver, spark, "spark")
            with pytest.raises(SpawnException) as refused:
                await spawner.own_clusters(pod)
        finally:
            await stop_reflectors()
        return before, refused.value

    before, refused = asyncio.run(scenario())
    assert refused.status_code == 503
    assert spawner_apiserver.get("computeclusters", NAMESPACE, before["metadata"]["name"]) == before


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
                    set_status(spawner_apiserver, spark, phase="Error", reason=reason)
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


@pytest.mark.parametrize(
    ("profile", "requests", "limits"),
    [
        ("large", {"cpu": 2, "memory": 8 * 2**30}, {"cpu": 2, "memory": 8 * 2**30}),
        ("small", {"cpu": 0.5, "memory": 2**30}, {"cpu": 2, "memory": 4 * 2**30}),  # the hub's
    ],
)
def test_the_profile_s_notebook_size_sizes_the_pod_against_the_api_server_double(
    spawner_apiserver, profile, requests, limits
):
    async def scenario() -> dict:
        spawner = make_spawner(spawner_apiserver, "gina", **CHART_SIZE)
        spawner.user_options = {"profile": profile}
        try:
            async with kubelet(spawner_apiserver, spawner.pod_name):
                await asyncio.wait_for(spawner.start(), 30)
            return spawner_apiserver.get("pods", NAMESPACE, spawner.pod_name)
        finally:
            await stop_reflectors()

    container = asyncio.run(scenario())["spec"]["containers"][0]
    assert resources_of(container) == {"requests": requests, "limits": limits}


def test_spawn_progress_tells_about_the_clusters_and_the_pod_against_the_api_server_double(
    spawner_apiserver,
):
    """What the hub's pending page reads while the pod waits for its Spark configuration Secret:
    KubeSpawner's pod events and the clusters' creation and phases, as the controller writes
    them (the test plays the controller: it writes the status, then makes the Secret)."""
    reason = "no Spark application: idle"

    async def scenario() -> tuple[list[dict], str, str]:
        spawner = make_spawner(spawner_apiserver, "hana")
        spawner.user_options = {"profile": "large"}
        names = spawner.cluster_names
        seen: list[dict] = []

        def said(text: str) -> bool:
            return any(text in event["message"] for event in seen)

        def both_created() -> bool:
            return len(spawner_apiserver.objects("computeclusters", NAMESPACE)) == len(names)

        async def controller() -> None:
            await eventually(both_created)
            for name in names.values():
                set_status(spawner_apiserver, name, phase="Pending", reason="starting the master")
            await eventually(lambda: said(f"{names['flink']}: Pending"), 10)
            spawner_apiserver.create(
                "events",
                NAMESPACE,
                {
                    "metadata": {"name": f"{spawner.pod_name}.scheduled"},
                    "involvedObject": {"kind": "Pod", "name": spawner.pod_name},
                    "type": "Normal",
                    "reason": "Scheduled",
                    "message": "Successfully assigned the pod to node-1",
                    "lastTimestamp": "2025-01-01T00:00:00Z",
                },
            )
            for name in names.values():
                set_status(spawner_apiserver, name, phase="Idle", reason=reason)
            await eventually(lambda: said(f"{names['flink']}: Idle"), 10)
            await eventually(lambda: said("Successfully assigned"), 10)
            for name in names.values():
                secret = {"metadata": {"name": config_secret_name(name)}}
                spawner_apiserver.create("secrets", NAMESPACE, secret)

        try:
            async with kubelet(spawner_apiserver, spawner.pod_name, secrets=True):
                writer = asyncio.create_task(controller())
                starting = asyncio.ensure_future(spawner.start())
                async for event in iterate_until(starting, spawner.progress()):
                    seen.append(event)  # as the hub reads it: until the start has ended
                await writer  # a message it waited for and never saw says more than the start
                await starting
            await spawner.stop()
        finally:
            await stop_reflectors()
        return seen, names["spark"], names["flink"]

    events, spark, flink = asyncio.run(asyncio.wait_for(scenario(), 60))
    messages = [event["message"] for event in events]
    assert messages[0] == "Creating your Spark and Flink clusters (Large)"
    for name, engine in ((spark, "Spark"), (flink, "Flink")):
        pending = f"{engine} cluster {name}: Pending, 0 workers (starting the master)"
        idle = f"{engine} cluster {name}: Idle, 0 workers ({reason})"
        assert messages.index(pending) < messages.index(idle)
    assert any(m.endswith("[Normal] Successfully assigned the pod to node-1") for m in messages)
    progress = [event["progress"] for event in events if "progress" in event]
    assert progress == sorted(progress) and progress[0] > 0


def test_with_heads_on_demand_the_pod_publishes_its_activity_and_its_clusters_ask_for_it_against_the_api_server_double(  # noqa: E501
    spawner_apiserver,
):
    """The pod gets the activity page on its own port with only the token's hash, carries the
    exact user and server names the chart's PodMonitor labels its series with, and its clusters
    say headOnDemand; the same spawner with heads_on_demand off asks for none of it."""
    digest = hashlib.sha256(b"the-scrape-token").hexdigest()

    async def spawn(**traits: object) -> tuple[dict, list[dict]]:
        spawner = make_spawner(spawner_apiserver, "alice", **traits)
        spawner.user_options = {}
        try:
            async with kubelet(spawner_apiserver, spawner.pod_name):
                await asyncio.wait_for(spawner.start(), 30)
            pod = spawner_apiserver.get("pods", NAMESPACE, spawner.pod_name)
            clusters = spawner_apiserver.objects("computeclusters", NAMESPACE)
            await spawner.stop()
            return pod, clusters
        finally:
            await stop_reflectors()

    pod, clusters = asyncio.run(spawn(activity_token_sha256=digest))
    container = pod["spec"]["containers"][0]
    env = env_of(container)
    assert env[TOKEN_DIGEST_VARIABLE] == digest
    assert env[PORT_VARIABLE] == str(NOTEBOOK_ACTIVITY_PORT)
    assert f"--ServerApp.jpserver_extensions={ACTIVITY_EXTENSION}=True" in container["args"]
    assert pod["metadata"]["annotations"]["hub.jupyter.org/username"] == "alice"
    assert {c["spec"]["engine"]: c["spec"].get("headOnDemand") for c in clusters} == {
        "spark": True,
        "flink": True,
    }

    pod, clusters = asyncio.run(spawn(activity_token_sha256=digest, heads_on_demand=False))
    container = pod["spec"]["containers"][0]
    assert TOKEN_DIGEST_VARIABLE not in env_of(container)
    assert f"--ServerApp.jpserver_extensions={ACTIVITY_EXTENSION}=True" not in container["args"]
    assert all("headOnDemand" not in c["spec"] for c in clusters)


def test_with_heads_on_demand_the_pod_runs_while_its_clusters_heads_stay_at_zero_against_the_api_server_double(  # noqa: E501
    spawner_apiserver,
):
    """The spawn waits for its clusters' config Secrets only: the backend ensures each cluster
    without its head (the controller's first decision for a server with no kernel), the pod
    runs, and neither master nor JobManager has a replica or a pod."""
    digest = hashlib.sha256(b"the-scrape-token").hexdigest()

    async def scenario() -> None:
        spawner = make_spawner(spawner_apiserver, "ines", activity_token_sha256=digest)
        spawner.user_options = {}

        async def controller(backend: KubernetesBackend) -> None:
            for name in spawner.cluster_names.values():
                found = await eventually(lambda n=name: _cluster(spawner_apiserver, n), 20)
                assert found["spec"]["headOnDemand"] is True
                await backend.ensure(parse_cluster(found), head=False)

        try:
            async with api_client(spawner_apiserver) as api:
                settings = ClusterSettings(NAMESPACE, "hubscale/spark:test", "hubscale/flink:test")
                writer = asyncio.create_task(controller(KubernetesBackend(api, settings)))
                async with kubelet(
                    spawner_apiserver, spawner.pod_name, secrets=True, workloads=True
                ):
                    await asyncio.wait_for(spawner.start(), 30)
                await writer
            for engine, name in spawner.cluster_names.items():
                head = spawner_apiserver.get("deployments", NAMESPACE, head_name(name, engine))
                assert head["spec"]["replicas"] == 0
            pods = [p["metadata"]["name"] for p in spawner_apiserver.objects("pods", NAMESPACE)]
            assert pods == [spawner.pod_name]  # the notebook pod alone
            await spawner.stop()
        finally:
            await stop_reflectors()

    asyncio.run(scenario())
