"""Running hubscale's KubeSpawner subclass against the API-server double, outside a hub: small
stand-ins for the hub's User and Hub (the attributes a spawner reads), the test playing kubelet."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from jupyterhub.objects import Hub
from kubernetes_asyncio.config import kube_config
from traitlets.config import Config

from spawner.kube import HubscaleKubeSpawner
from tests.kube.apiserver import ApiServerDouble
from tests.kube.fixtures import NAMESPACE, running_double, write_kubeconfig
from tests.kube.protocol import ApiError, Json


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
    double: ApiServerDouble, pod_name: str, secrets: bool = False, workloads: bool = False
) -> AsyncIterator[None]:
    """While the block runs, the kubelet's part: the pod runs once it exists (with ``secrets``,
    once every Secret it mounts, not optional, exists too); with ``workloads``, the
    Deployments' pods run too."""

    async def run() -> None:
        pod_running = False
        while workloads or not pod_running:
            if workloads:
                double.play_kubelet(NAMESPACE)
            if not pod_running and (not secrets or _mounts_exist(double, pod_name)):
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


def _mounts_exist(double: ApiServerDouble, pod_name: str) -> bool:
    """The pod exists and so does every Secret it needs (a volume not marked optional)."""
    try:
        pod = double.get("pods", NAMESPACE, pod_name)
        for volume in pod["spec"].get("volumes", []):
            secret = volume.get("secret")
            if secret and not secret.get("optional"):
                double.get("secrets", NAMESPACE, secret["secretName"])
    except ApiError:
        return False
    return True


def run_init_container(double: ApiServerDouble, pod: Json, name: str, root: Path) -> Mounts:
    """The kubelet's part for one init container, on this machine: each of its volumes becomes a
    directory under ``root`` (a Secret's keys, or its ``items``, as files), its paths in the
    environment point there, and its ``python3`` command runs with this Python. Returns the pod's
    volumes as directories, for what a container of the pod would see."""
    container = next(c for c in pod["spec"]["initContainers"] if c["name"] == name)
    mounts = Mounts(pod, root)
    for mount in container.get("volumeMounts", []):
        mounts.fill(double, mount["name"])
    env = {**os.environ}
    for variable in container.get("env", []):
        env[variable["name"]] = str(mounts.local(container, variable["value"]))
    command = list(container["command"])
    assert command[0] == "python3", command
    subprocess.run([sys.executable, *command[1:]], env=env, check=True, timeout=60)
    return mounts


@dataclass
class Mounts:
    """A pod's volumes as directories under ``root`` (one per volume, shared by its containers)."""

    pod: Json
    root: Path

    def fill(self, double: ApiServerDouble, volume_name: str) -> Path:
        """The volume's directory: an emptyDir left as it is, a Secret's files (re)written."""
        volume = next(v for v in self.pod["spec"]["volumes"] if v["name"] == volume_name)
        directory = self.root / volume_name
        directory.mkdir(parents=True, exist_ok=True)
        if "secret" in volume:
            source = volume["secret"]
            data = double.get("secrets", NAMESPACE, source["secretName"]).get("data", {})
            items = source.get("items") or [{"key": key, "path": key} for key in data]
            for item in items:
                if item["key"] not in data and source.get("optional"):
                    (directory / item["path"]).unlink(missing_ok=True)
                    continue
                (directory / item["path"]).write_bytes(base64.b64decode(data[item["key"]]))
        return directory

    def read(self, double: ApiServerDouble, container: Json, path: str) -> bytes | None:
        """The file at ``path`` as ``container`` sees it once the kubelet has refreshed its volume
        (done at once here); None if absent. The kubelet never refreshes a subPath mount."""
        mount = next(
            m
            for m in container.get("volumeMounts", [])
            if PurePosixPath(path).is_relative_to(m["mountPath"])
        )
        assert "subPath" not in mount, f"{mount['name']}: a subPath mount is never refreshed"
        self.fill(double, mount["name"])
        local = self.local(container, path)
        assert isinstance(local, Path)
        return local.read_bytes() if local.exists() else None

    def local(self, container: Json, path: str) -> Path | str:
        """``path`` in ``container`` as a path on this machine, if it is in one of its mounts."""
        for mount in container.get("volumeMounts", []):
            inside = PurePosixPath(mount["mountPath"])
            if PurePosixPath(path).is_relative_to(inside):
                return self.root / mount["name"] / PurePosixPath(path).relative_to(inside)
        return path


async def stop_reflectors() -> None:
    """KubeSpawner's watches are per class, shared by instances: stop them with the test's loop."""
    await HubscaleKubeSpawner._stop_all_reflectors()
