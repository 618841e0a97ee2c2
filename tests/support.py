"""Small helpers shared by the integration tests."""

from __future__ import annotations

import time
from collections.abc import Callable

from hubscale.ports import free_port

__all__ = ["free_port", "wait_for"]

# A controller's start (imports, first loops): over a minute was seen on two loaded cores.
CONTROLLER_UP_S = 180.0


def wait_for(condition: Callable[[], object], timeout_s: float = 30.0, every_s: float = 0.2):
    """Poll until ``condition()`` is truthy; its value, or AssertionError after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s:g} s")
        time.sleep(every_s)
