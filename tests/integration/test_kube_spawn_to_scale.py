"""From a spawn to a scaled cluster, against the API-server double: hubscale's KubeSpawner
subclass creates the user's pod and ComputeClusters, the real controller (a process, kubeconfig
pointing at the double, real Prometheus) creates their objects, the pod runs once its clusters'
configuration Secrets exist (its Flink client configured from the controller's), a backlog in
Prometheus scales the user's Spark workers up, no backlog scales them back to zero after the
idle window, and with Prometheus unreachable a controller holds them. The test plays kubelet and
the garbage collector. A backlog past the profile's maxWorkers reaches the kernels: the
controller's short status in the cluster's Secret, read from the file the notebook pod's
environment names, gives the kernels' notice. This proves the calls and objects, not a cluster."""

from __future__ import annotations

import asyncio
import base64
import signal
import time
from pathlib import Path
from types import SimpleNamespace

import yaml

from hubscale.names import (
    config_secret_name,
    driver_policy_name,
    head_name,
    policy_name,
    worker_name,
)
from spawner.compute import cluster_name
from spawner.kernel_notice import notice, status_file_variable
from spawner.notebook_pod import FLINK_CLIENT_INIT
from tests.kube.apiserver import ApiServerDouble
from tests.kube.controller import (
    start_controller,
    status_of,
    waiting_apps,
    workers_wanted,
)
from tests.kube.fixtures import NAMESPACE
from tests.kube.hub import Mounts, kubelet, make_spawner, run_init_container, stop_reflectors
from tests.support import CONTROLLER_UP_S, free_port

USER = "dora"
SPARK = cluster_name(USER, "", "spark")
FLINK = cluster_name(USER, "", "flink")


IDLE_TIMEOUT_S = 3
PROFILES = f"""
profiles:
  - name: quick
    displayName: Quick
    description: A profile whose clusters go idle after {IDLE_TIMEOUT_S} s.
    idleTimeoutSeconds: {IDLE_TIMEOUT_S}
    spark: {{minWorkers: 0, maxWorkers: 4, worker: {{cores: 1, memory: 1Gi}}}}
    flink: {{minWorkers: 0, maxWorkers: 2, worker: {{cores: 1, memory: 1Gi}}}}
"""


def idle_at_zero(double: ApiServerDouble, cluster: str) -> bool:
    """No workers wanted, and the status says the cluster went idle."""
    reason = status_of(double, cluster).get("reason", "")
    return workers_wanted(double, cluster) == 0 and "idle" in reason


async def until(condition, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s")
        await asyncio.sleep(0.2)


def flink_client(double: ApiServerDouble, pod_name: str, root: Path) -> dict[str, str]:
    """Where the notebook's PyFlink client, as the pod's init container set it up, finds its
    cluster, and the Python it names for UDFs."""
    pod = double.get("pods", NAMESPACE, pod_name)
    mounts = run_init_container(double, pod, FLINK_CLIENT_INIT, root)
    container = pod["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    conf_dir = mounts.local(container, env["FLINK_CONF_DIR"])
    config = yaml.safe_load((conf_dir / "config.yaml").read_text())
    # Its copy of the cluster's REST keystore, from the Secret the controller wrote.
    keystore = mounts.local(container, config["security.ssl.rest.keystore"])
    secret = double.get("secrets", NAMESPACE, config_secret_name(FLINK))["data"]
    assert Path(keystore).read_bytes() == base64.b64decode(secret["rest.p12"])
    return {key: config[key] for key in ("rest.address", "rest.port", "python.executable")}


def kernel_notice(double: ApiServerDouble, pod_name: str, engine: str, root: Path) -> str | None:
    """What the notebook's kernel of ``engine`` tells a waiting cell: ``kernel_notice.notice`` on
    the file its environment names, as the notebook container sees it (None without the file)."""
    pod = double.get("pods", NAMESPACE, pod_name)
    container = pod["spec"]["containers"][0]
    path = {e["name"]: e.get("value") for e in container["env"]}[status_file_variable(engine)]
    text = Mounts(pod, root).read(double, container, path)
    return notice(engine, yaml.safe_load(text) if text is not None else None)


def names(double: ApiServerDouble, plural: str) -> set[str]:
    return {obj["metadata"]["name"] for obj in double.objects(plural, NAMESPACE)}


def test_a_spawn_gets_its_clusters_a_backlog_scales_them_up_and_idle_back_to_zero_against_the_api_server_double(  # noqa: E501
    spawner_apiserver, prometheus, tmp_path
):
    controllers = [start_controller(spawner_apiserver, prometheus, tmp_path, "controller")]
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text(PROFILES)

    async def scenario() -> None:
        spawner = make_spawner(
            spawner_apiserver, USER, start_timeout=60, profiles_file=str(profiles)
        )
        spawner.user_options = {}
        secret = config_secret_name(SPARK)
        try:
            async with kubelet(spawner_apiserver, spawner.pod_name, secrets=True, workloads=True):
                url = await asyncio.wait_for(spawner.start(), 90)
                assert url.endswith(":8888")
                # the pod ran after they existed
                assert {secret, config_secret_name(FLINK)} <= names(spawner_apiserver, "secrets")
                assert flink_client(spawner_apiserver, spawner.pod_name, tmp_path) == {
                    "rest.address": f"{head_name(FLINK, 'flink')}.{NAMESPACE}.svc",
                    "rest.port": "8081",
                    "python.executable": "python3",  # the controller's: the Flink image's
                }
                assert workers_wanted(spawner_apiserver, SPARK) == 0  # the profile's minWorkers
                with waiting_apps(prometheus, SPARK, USER) as waiting:
                    waiting.set(2)  # the controller may still be starting
                    await until(
                        lambda: workers_wanted(spawner_apiserver, SPARK) == 2, CONTROLLER_UP_S
                    )
                    waiting.set(0)  # the backlog is gone: zero after the idle window
                    started = time.monotonic()
                    # the controller scales, then writes the status: wait for both
                    await until(lambda: idle_at_zero(spawner_apiserver, SPARK), 120)
                    down_s = time.monotonic() - started
                    waiting.set(2)
                    await until(lambda: workers_wanted(spawner_apiserver, SPARK) == 2, 60)
                    waiting.set(0)
                    await hold_without_prometheus(controllers, spawner_apiserver, tmp_path, down_s)
            assert {head_name(SPARK, "spark"), worker_name(SPARK, "spark")} <= names(
                spawner_apiserver, "deployments"
            )
            assert {head_name(FLINK, "flink"), worker_name(FLINK, "flink")} <= names(
                spawner_apiserver, "deployments"
            )
            assert {head_name(SPARK, "spark"), head_name(FLINK, "flink")} <= names(
                spawner_apiserver, "services"
            )
            assert {policy_name(SPARK), driver_policy_name(SPARK), policy_name(FLINK)} <= names(
                spawner_apiserver, "networkpolicies"
            )
            await spawner.stop()
        finally:
            await stop_reflectors()

    try:
        asyncio.run(scenario())
    finally:
        for controller in controllers:
            controller.send_signal(signal.SIGTERM)
            controller.wait(30)
    assert names(spawner_apiserver, "computeclusters") == set()
    spawner_apiserver.collect_garbage()  # what the clusters owned goes with them
    assert names(spawner_apiserver, "deployments") == set()


async def hold_without_prometheus(controllers, double, tmp_path: Path, down_s: float) -> None:
    """The controller replaced by one whose Prometheus is unreachable: the workers stay, longer
    than the healthy controller took to release them, and the status says why."""
    controllers[0].send_signal(signal.SIGTERM)
    controllers[0].wait(30)
    unreachable = SimpleNamespace(url=f"http://127.0.0.1:{free_port()}")
    controllers.append(start_controller(double, unreachable, tmp_path, "blind-controller"))
    await until(
        lambda: "without metrics" in status_of(double, SPARK).get("reason", ""), CONTROLLER_UP_S
    )
    deadline = time.monotonic() + down_s + 5
    while time.monotonic() < deadline:
        assert workers_wanted(double, SPARK) == 2
        await asyncio.sleep(0.5)


LIMITED_USER = "erin"
LIMITED_SPARK = cluster_name(LIMITED_USER, "", "spark")
LIMITED_PROFILES = """
profiles:
  - name: small
    displayName: Small
    description: One Spark worker at most.
    spark: {minWorkers: 0, maxWorkers: 1, worker: {cores: 1, memory: 1Gi}}
    flink: {minWorkers: 0, maxWorkers: 1, worker: {cores: 1, memory: 1Gi}}
"""


def test_work_past_maxworkers_reaches_the_notebooks_kernels_through_the_mounted_secret_against_the_api_server_double(  # noqa: E501
    spawner_apiserver, prometheus, tmp_path
):
    controller = start_controller(spawner_apiserver, prometheus, tmp_path, "controller")
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text(LIMITED_PROFILES)
    secret_patches = rf"/secrets/{config_secret_name(LIMITED_SPARK)}$"

    async def scenario() -> None:
        spawner = make_spawner(
            spawner_apiserver, LIMITED_USER, start_timeout=60, profiles_file=str(profiles)
        )
        spawner.user_options = {}
        pod = spawner.pod_name
        try:
            async with kubelet(spawner_apiserver, pod, secrets=True, workloads=True):
                await asyncio.wait_for(spawner.start(), 90)
                # the controller's first status: it may still be starting
                await until(lambda: status_of(spawner_apiserver, LIMITED_SPARK), CONTROLLER_UP_S)
                for engine in ("spark", "flink"):  # within limits: the kernels say nothing
                    assert kernel_notice(spawner_apiserver, pod, engine, tmp_path) is None
                with waiting_apps(prometheus, LIMITED_SPARK, LIMITED_USER) as waiting:
                    waiting.set(3)  # three apps, one worker allowed

                    def told() -> str | None:
                        return kernel_notice(spawner_apiserver, pod, "spark", tmp_path)

                    await until(told, 60)
                    assert "runs on the 1 workers your Spark cluster may have" in told()
                    assert "(capped at maxWorkers 1)" in told()
                    # Steady at the limit, several loops: no write to the Secret.
                    writes = spawner_apiserver.count("PATCH", secret_patches)
                    await asyncio.sleep(3)
                    assert spawner_apiserver.count("PATCH", secret_patches) == writes
                    assert workers_wanted(spawner_apiserver, LIMITED_SPARK) == 1
                    waiting.set(0)
                    await until(lambda: told() is None, 60)  # the backlog went: silent again
            await spawner.stop()
        finally:
            await stop_reflectors()

    try:
        asyncio.run(scenario())
    finally:
        controller.send_signal(signal.SIGTERM)
        controller.wait(30)
