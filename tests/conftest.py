"""The suite's root: the integration tests are the ones under tests/integration/, by place.

``pytest -m "not integration"`` (``make unit``) therefore starts no JVM, hub, Prometheus or
API-server double, and a new integration test needs no marker of its own. Hypothesis runs
without its per-example deadline (speed lives in ``make bench``, not in tests).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# Properties are about behaviour, not speed: on 2 busy CI cores one example can take a second.
settings.register_profile("hubscale", deadline=None)
settings.load_profile("hubscale")

INTEGRATION_DIR = Path(__file__).resolve().parent / "integration"

# Fixtures kept in modules of their own; pytest reads pytest_plugins only in the root conftest.
pytest_plugins = [
    "tests.integration.account_fixtures",
    "tests.integration.controller_fixtures",
    "tests.integration.flink_fixtures",
    "tests.kube.hub",
]


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.resolve().is_relative_to(INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)
