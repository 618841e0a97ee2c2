"""Helpers for tests that drive the real kubernetes_asyncio client against the API-server double."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client

from autoscaler.backends.kubernetes.backend import KubernetesBackend
from autoscaler.backends.kubernetes.objects import KubeClusterObjects
from hubscale.kube_api import Retry
from hubscale.kube_conf import ClusterSettings
from tests.builders import cluster_document
from tests.kube.apiserver import ApiServerDouble

NAMESPACE = "hub"
FAST_RETRY = Retry(attempts=4, timeout_s=2.0, first_delay_s=0.01, max_delay_s=0.05)
SETTINGS = ClusterSettings(NAMESPACE, "hubscale/spark:test", "hubscale/flink:test")


@contextlib.contextmanager
def running_double() -> Iterator[ApiServerDouble]:
    """A fresh double on a free port of 127.0.0.1, stopped afterwards."""
    with ApiServerDouble(bookmark_interval_s=0.2) as double:
        yield double


@contextlib.asynccontextmanager
async def api_client(double: ApiServerDouble) -> AsyncIterator[client.ApiClient]:
    """An unmodified kubernetes_asyncio client configured for the double."""
    configuration = client.Configuration(host=double.url)
    async with client.ApiClient(configuration) as api:
        yield api


async def eventually(condition: Callable[[], object], timeout_s: float = 5.0) -> object:
    """Poll ``condition`` on the event loop until truthy; AssertionError after the timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not (value := condition()):
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_s:g} s")
        await asyncio.sleep(0.02)
    return value


def create_cluster(double: ApiServerDouble, name: str, **spec: Any) -> dict[str, Any]:
    """A ComputeCluster created in the double, as a spawner would: alice's, Spark unless told."""
    return double.create("computeclusters", NAMESPACE, cluster_document(name, **spec))


def write_kubeconfig(double: ApiServerDouble, path: Path) -> Path:
    """A kubeconfig whose current context is the double (for kubectl and out-of-cluster runs)."""
    context = {"cluster": "double", "user": "tester", "namespace": NAMESPACE}
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "double", "cluster": {"server": double.url}}],
        "users": [{"name": "tester", "user": {}}],
        "contexts": [{"name": "double", "context": context}],
        "current-context": "double",
    }
    path.write_text(json.dumps(kubeconfig))  # JSON is YAML
    return path


def run_backend(double: ApiServerDouble, scenario: Callable[[KubernetesBackend], Any]) -> Any:
    """Run ``scenario`` with a Kubernetes backend talking to the double."""

    async def main() -> Any:
        async with api_client(double) as api:
            return await scenario(KubernetesBackend(api, SETTINGS, FAST_RETRY, watch_timeout_s=5))

    return asyncio.run(main())


def run_objects(
    double: ApiServerDouble, scenario: Callable[[KubeClusterObjects], Awaitable[Any]]
) -> Any:
    """Run ``scenario`` with the ComputeCluster objects' watch and writer running, synced first."""

    async def main() -> Any:
        async with api_client(double) as api:
            objects = KubeClusterObjects(api, NAMESPACE, FAST_RETRY, watch_timeout_s=5)
            stop = asyncio.Event()
            task = asyncio.create_task(objects.run(stop))
            try:
                await asyncio.wait_for(objects.reflector.synced.wait(), 5)
                return await scenario(objects)
            finally:
                stop.set()
                await task

    return asyncio.run(main())
