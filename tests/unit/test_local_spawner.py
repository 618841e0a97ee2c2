"""The local spawner's start and stop when a cluster name it needs is another user's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from jupyterhub.objects import Hub
from jupyterhub.spawner import SpawnException
from jupyterhub.utils import format_exception

from hubscale.store import LocalClusterStore
from spawner.compute import compute_clusters, resolve_options
from spawner.local import LocalSpawner
from tests.kube.hub import HubUser


def spawner_for(user: str, state_dir: Path) -> LocalSpawner:
    hub = Hub(ip="127.0.0.1", port=8081, base_url="/hub/")
    spawner = LocalSpawner(user=HubUser(user), hub=hub, state_dir=str(state_dir))
    spawner.clusters_timeout_s = 2.0
    return spawner


def test_a_name_taken_by_another_user_fails_the_start_and_stop_leaves_it(tmp_path: Path):
    """Jane's running cluster sits under the name mallory's Flink cluster gets (written by hand,
    as a name collision would): mallory's start is a 503 naming the conflict, and neither the
    start nor the stop that follows changes or deletes jane's object."""
    mallory = spawner_for("mallory", tmp_path)
    store = LocalClusterStore(tmp_path)
    taken = mallory.cluster_names["flink"]
    resolved = resolve_options(mallory.profiles, {})
    janes = next(c for c in compute_clusters("jane", "", resolved) if c.spec.engine == "flink")
    store.apply(
        janes.model_copy(update={"metadata": janes.metadata.model_copy(update={"name": taken})})
    )
    jane_file = store.directory / f"{taken}.yaml"
    before = jane_file.read_bytes()

    async def scenario() -> SpawnException:
        with pytest.raises(SpawnException) as refused:
            await mallory.start()
        await mallory.stop()
        return refused.value

    refused = asyncio.run(scenario())
    assert refused.status_code == 503
    assert taken in refused.jupyterhub_message and "jane" not in refused.jupyterhub_message
    assert jane_file.read_bytes() == before
    assert [stored.name for stored in store.list()] == [taken]  # mallory's Spark one is gone


def test_stop_deletes_the_servers_own_clusters_and_its_flink_client(tmp_path: Path):
    spawner = spawner_for("mallory", tmp_path)
    store = LocalClusterStore(tmp_path)
    for cluster in compute_clusters("mallory", "", resolve_options(spawner.profiles, {})):
        store.apply(cluster)
    spawner.flink_client_dir.mkdir(parents=True)

    asyncio.run(spawner.stop())

    assert store.list() == []
    assert not spawner.flink_client_dir.exists()


def test_a_failed_start_shows_the_user_no_absolute_path(tmp_path: Path):
    """Issue 14, finding 10: an OS error behind a failed spawn reached the user's page with the
    machine's paths (``Spawn failed: [Errno 20] Not a directory: '/…/state/clusters'``)."""
    state_file = tmp_path / "state"
    state_file.write_text("a file where the state directory should be")
    spawner = spawner_for("mallory", state_file)

    with pytest.raises(OSError) as failed:
        asyncio.run(spawner.start())

    shown, _ = format_exception(failed.value)  # what the hub's pages and progress show
    assert "Not a directory" in shown and str(tmp_path) not in shown, shown
    assert str(tmp_path) in str(failed.value)  # the hub's log keeps the whole error


def test_the_kernels_environment_reaches_the_tracking_service_as_the_servers_user(
    tmp_path: Path,
):
    """The server's environment (its kernels inherit it) names the hub's MLflow service and
    carries the server's own hub token for it; the token is on no command line."""
    spawner = spawner_for("jane", tmp_path)
    spawner.api_token = "jane-server-token"
    spawner.tracking_url = "http://127.0.0.1:8000/services/mlflow/"

    env = spawner.get_env()

    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:8000/services/mlflow"
    assert env["MLFLOW_TRACKING_TOKEN"] == env["JUPYTERHUB_API_TOKEN"] == "jane-server-token"
    assert "jane-server-token" not in " ".join([*spawner.cmd, *spawner.get_args()])


def test_without_a_tracking_url_the_kernels_get_no_tracking_variables(tmp_path: Path):
    spawner = spawner_for("jane", tmp_path)
    spawner.api_token = "jane-server-token"

    assert not any(name.startswith("MLFLOW_TRACKING") for name in spawner.get_env())
