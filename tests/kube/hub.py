"""Running hubscale's KubeSpawner subclass against the API-server double, outside a hub: small
stand-ins for the hub's User and Hub (the attributes a spawner reads), the test playing kubelet."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jupyterhub.objects import Hub
from kubernetes_asyncio.config import kube_config
from traitlets.config import Config

from spawner.kube import HubscaleKubeSpawner
from tests.kube.apiserver import ApiServerDouble
from tests.kube.fixtures import NAMESPACE, running_double, write_kubeconfig
from tests.kube.protocol import ApiError


@pytest.fixture
def spawner_apiserver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApiServerDouble]:
    """A double that KubeSpawner's own client configuration finds (its default kubeconfig)."""
    with running_double() as double:
        kubeconfig = write_kubeconfig(double, tmp_path / "kubeconfig")
        # Read by kubernetes_asyncio at import time from KUBECONFIG: too early for a test.
        monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
        yield double


@dataclass
class HubUser:
    """What a spawner reads of JupyterHub's User."""

    name: str
    id: int = 1
    groups: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"/user/{self.name}/"

    @property
    def progress_url(self) -> str:
        return f"/hub/api/users/{self.name}/server/progress"


def make_spawner(
    double: ApiServerDouble, user: str, config: Config | None = None, **traits: Any
) -> HubscaleKubeSpawner:
    """A spawner for ``user`` talking to the double; KubeSpawner's client config is global."""
    hub = Hub(ip="127.0.0.1", port=8081, base_url="/hub/")
    defaults: dict[str, Any] = {
        "namespace": NAMESPACE,
        "k8s_api_host": double.url,
        "start_timeout": 30,
        "k8s_api_request_retry_timeout": 10,
    }
    return HubscaleKubeSpawner(
        user=HubUser(user), hub=hub, config=config or Config(), **{**defaults, **traits}
    )


@contextlib.asynccontextmanager
async def kubelet(
    double: ApiServerDouble, pod_name: str, secret: str | None = None, workloads: bool = False
) -> AsyncIterator[None]:
    """While the block runs, the kubelet's part: the pod runs once it exists (and, if given, the
    Secret it mounts does); with ``workloads``, the Deployments' pods run too."""

    async def run() -> None:
        pod_running = False
        while workloads or not pod_running:
            if workloads:
                double.play_kubelet(NAMESPACE)
            if not pod_running and _exists(double, "secrets", secret):
                with contextlib.suppress(ApiError):
                    double.run_pod(NAMESPACE, pod_name)
                    pod_running = True
            await asyncio.sleep(0.05)

    task = asyncio.create_task(run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _exists(double: ApiServerDouble, plural: str, name: str | None) -> bool:
    if name is None:
        return True
    try:
        double.get(plural, NAMESPACE, name)
    except ApiError:
        return False
    return True


async def stop_reflectors() -> None:
    """KubeSpawner's watches are per class, shared by instances: stop them with the test's loop."""
    await HubscaleKubeSpawner._stop_all_reflectors()
