"""From a spawn to a scaled cluster, against the API-server double: hubscale's KubeSpawner
subclass creates the user's pod and ComputeClusters, the real controller (a process, kubeconfig
pointing at the double, real Prometheus) creates their objects, the pod runs once its Spark
configuration Secret exists, and a backlog in Prometheus scales the user's Spark workers up.
The test plays kubelet and the garbage collector. This proves the calls and objects, not a
cluster; scale-down and Prometheus-unreachable are the controller's own tests."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from autoscaler.backends.kube_manifests import (
    config_secret_name,
    driver_policy_name,
    head_name,
    policy_name,
    worker_name,
)
from autoscaler.prometheus_server import PrometheusServer
from autoscaler.scrape_targets import ScrapeTarget, write_file_sd
from spawner.compute import cluster_name
from tests.integration.test_controller_kubernetes import start_controller, workers_wanted
from tests.kube.apiserver import ApiServerDouble
from tests.kube.fixtures import NAMESPACE
from tests.kube.hub import kubelet, make_spawner, stop_reflectors
from tests.support import free_port

USER = "dora"
SPARK = cluster_name(USER, "", "spark")
FLINK = cluster_name(USER, "", "flink")


@contextlib.contextmanager
def waiting_apps(prometheus: PrometheusServer, cluster: str, apps: int) -> Iterator[None]:
    """The Spark master's ``waitingApps`` gauge for ``cluster``, scraped by Prometheus."""
    registry = CollectorRegistry()
    Gauge("metrics_master_waitingApps_Value", "Apps waiting.", registry=registry).set(apps)
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    target_file = prometheus.file_sd_dir / f"spawn-to-scale-{cluster}.json"
    labels = {"cluster": cluster, "user": USER, "engine": "spark", "role": "master"}
    write_file_sd(target_file, [ScrapeTarget(f"127.0.0.1:{port}", labels)])
    try:
        yield
    finally:
        target_file.unlink(missing_ok=True)
        server.shutdown()
        thread.join()


async def until(condition, timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s")
        await asyncio.sleep(0.2)


def names(double: ApiServerDouble, plural: str) -> set[str]:
    return {obj["metadata"]["name"] for obj in double.objects(plural, NAMESPACE)}


def test_a_spawn_gets_its_clusters_and_a_backlog_scales_them_against_the_api_server_double(
    spawner_apiserver, prometheus, tmp_path
):
    controller = start_controller(spawner_apiserver, prometheus, tmp_path, "controller")

    async def scenario() -> None:
        spawner = make_spawner(spawner_apiserver, USER, start_timeout=60)
        spawner.user_options = {"profile": "small"}
        secret = config_secret_name(SPARK)
        try:
            async with kubelet(spawner_apiserver, spawner.pod_name, secret=secret, workloads=True):
                url = await asyncio.wait_for(spawner.start(), 90)
                assert url.endswith(":8888")
                assert secret in names(spawner_apiserver, "secrets")  # the pod ran after it existed
                assert workers_wanted(spawner_apiserver, SPARK) == 0  # the profile's minWorkers
                with waiting_apps(prometheus, SPARK, 2):
                    await until(lambda: workers_wanted(spawner_apiserver, SPARK) == 2, 60)
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
        controller.send_signal(signal.SIGTERM)
        controller.wait(30)
    assert names(spawner_apiserver, "computeclusters") == set()
    spawner_apiserver.collect_garbage()  # what the clusters owned goes with them
    assert names(spawner_apiserver, "deployments") == set()
