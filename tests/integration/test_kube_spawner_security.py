"""The notebook pod's security contexts, as hubscale's KubeSpawner subclass (KubeSpawner's own
code unmodified) creates it over HTTP in the API-server double: non-root, RuntimeDefault seccomp,
no privilege escalation, no capabilities, the Flink client's init container included. These prove
the pod object, not a kubelet enforcing it."""

from __future__ import annotations

import asyncio

from spawner.kube import NOTEBOOK_GID, NOTEBOOK_UID
from spawner.notebook_pod import FLINK_CLIENT_INIT
from tests.kube.fixtures import NAMESPACE
from tests.kube.hub import kubelet, make_spawner, stop_reflectors
from tests.kube.schemas import assert_valid

CONTAINER_CONTEXT = {
    "runAsUser": NOTEBOOK_UID,
    "runAsGroup": NOTEBOOK_GID,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


def spawned_pod(double, user: str, **traits) -> dict:
    async def scenario() -> dict:
        spawner = make_spawner(double, user, **traits)
        spawner.user_options = {}
        try:
            async with kubelet(double, spawner.pod_name):
                await asyncio.wait_for(spawner.start(), 30)
            pod = double.get("pods", NAMESPACE, spawner.pod_name)
            await spawner.stop()
            return pod
        finally:
            await stop_reflectors()

    return asyncio.run(scenario())


def test_the_notebook_pod_runs_unprivileged_against_the_api_server_double(spawner_apiserver):
    pod = spawned_pod(spawner_apiserver, "ivan")
    spec = pod["spec"]
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
        "fsGroup": NOTEBOOK_GID,  # the user's home claim is writable by the user
    }
    (notebook,) = spec["containers"]
    assert notebook["securityContext"] == CONTAINER_CONTEXT
    init = {c["name"]: c for c in spec["initContainers"]}[FLINK_CLIENT_INIT]
    assert init["securityContext"] == CONTAINER_CONTEXT
    assert_valid(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod["metadata"]["name"]},
            "spec": spec,
        }
    )


def test_admin_security_settings_win_and_reach_the_init_container_against_the_api_server_double(
    spawner_apiserver,
):
    """hub.config's KubeSpawner traits (another image's user) override the defaults; the init
    container runs as the notebook does, or it could not write the client's directory."""
    pod = spawned_pod(spawner_apiserver, "jana", uid=1234, gid=1234, fs_gid=100)
    spec = pod["spec"]
    assert spec["securityContext"]["fsGroup"] == 100
    assert spec["securityContext"]["runAsNonRoot"] is True
    init = {c["name"]: c for c in spec["initContainers"]}[FLINK_CLIENT_INIT]
    for container in (spec["containers"][0], init):
        assert (
            container["securityContext"]["runAsUser"],
            container["securityContext"]["runAsGroup"],
        ) == (1234, 1234)
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
