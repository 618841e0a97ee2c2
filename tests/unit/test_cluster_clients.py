"""Waiting for the controller's client descriptions, with real store files and no controller."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hubscale.spec import ComputeClusterStatus
from hubscale.state_dir import client_file, runtime_dir
from hubscale.store import LocalClusterStore
from spawner.cluster_clients import (
    ClustersNotReady,
    read_client,
    wait_for_clients,
    wait_for_teardown,
)
from tests.builders import cluster

NAMES = ["alice-spark-1", "alice-flink-2"]


@pytest.fixture
def store(tmp_path: Path) -> LocalClusterStore:
    store = LocalClusterStore(tmp_path / "state")
    for name in NAMES:
        engine = "spark" if "spark" in name else "flink"
        store.apply(cluster(name, engine))
    return store


def publish(store: LocalClusterStore, name: str, text: str | None = None) -> None:
    directory = runtime_dir(store.state_dir, name)
    directory.mkdir(parents=True, exist_ok=True)
    client_file(directory).write_text(
        text or json.dumps({"engine": "spark", "conf_dir": f"/c/{name}"})
    )


def test_returns_every_description_once_the_controller_wrote_them(store):
    async def scenario() -> dict:
        waiting = asyncio.create_task(wait_for_clients(store, NAMES, 30, 10))
        await asyncio.sleep(0.2)
        publish(store, NAMES[0])
        await asyncio.sleep(0.7)
        assert not waiting.done()
        publish(store, NAMES[1])
        return await waiting

    clients = asyncio.run(scenario())
    assert {name: client["conf_dir"] for name, client in clients.items()} == {
        name: f"/c/{name}" for name in NAMES
    }


def test_a_half_written_description_counts_as_none(store):
    publish(store, NAMES[0], '{"engine": "sp')
    assert read_client(store.state_dir, NAMES[0]) is None


def test_a_cluster_in_error_past_the_grace_fails_with_its_reason(store):
    publish(store, NAMES[0])
    store.write_status(
        NAMES[1], ComputeClusterStatus(phase="Error", reason="engine flink is not available")
    )
    with pytest.raises(ClustersNotReady, match=f"{NAMES[1]} failed: engine flink is not available"):
        asyncio.run(wait_for_clients(store, NAMES, 30, 0))


def test_the_timeout_says_where_each_cluster_is(store):
    store.write_status(
        NAMES[0], ComputeClusterStatus(phase="Pending", reason="starting the master")
    )
    with pytest.raises(ClustersNotReady) as raised:
        asyncio.run(wait_for_clients(store, NAMES, 0, 10))
    message = str(raised.value)
    assert f"{NAMES[0]} is Pending: starting the master" in message
    assert f"{NAMES[1]} has no status yet (is the controller running?" in message


def test_a_restart_waits_until_the_previous_cluster_is_torn_down(store):
    store.delete(NAMES[0])
    publish(store, NAMES[0])  # object gone, processes not yet: being torn down

    async def scenario() -> bool:
        waiting = asyncio.create_task(wait_for_teardown(store, NAMES, 30))
        await asyncio.sleep(0.7)
        still_waiting = not waiting.done()
        client_file(runtime_dir(store.state_dir, NAMES[0])).unlink()
        runtime_dir(store.state_dir, NAMES[0]).rmdir()
        await waiting
        return still_waiting

    assert asyncio.run(scenario())
    with pytest.raises(ClustersNotReady, match="still being stopped"):
        publish(store, NAMES[0])
        asyncio.run(wait_for_teardown(store, NAMES, 0))
