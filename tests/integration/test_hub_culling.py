"""The idle culler, on by default, stops an idle server and its clusters go with it.

A platform of its own with a short idle timeout (the default is an hour).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest

from hubscale.state_dir import runtime_dir
from tests.integration.hub_fixtures import RunningHub, run_platform
from tests.support import wait_for

IDLE_TIMEOUT_S = 45  # long enough for a loaded machine to finish the spawn first


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    yield from run_platform(
        tmp_path_factory.mktemp("hub-culling"),
        HUBSCALE_CULL_TIMEOUT_S=str(IDLE_TIMEOUT_S),
        HUBSCALE_CULL_EVERY_S="5",
    )


def test_an_idle_server_is_culled_and_its_clusters_are_stopped(hub):
    user = f"idle-{secrets.token_hex(2)}"
    hub.start_server(user)
    names = [hub.cluster(user, engine) for engine in ("spark", "flink")]
    assert all(hub.store.get(name) is not None for name in names)
    ready = time.monotonic()
    wait_for(lambda: hub.server_model(user) is None, timeout_s=IDLE_TIMEOUT_S + 120, every_s=1)
    print(f"culled after_s={time.monotonic() - ready:.0f}")
    assert all(hub.store.get(name) is None for name in names)
    wait_for(
        lambda: not any(runtime_dir(hub.state_dir, name).exists() for name in names),
        timeout_s=120,
    )
    # the hub logs a request once it has answered it, a moment after the server is gone
    culled_by = f"DELETE /hub/api/users/{user}/server (idle-culler@"
    wait_for(lambda: culled_by in hub.hub_log(), timeout_s=60)
