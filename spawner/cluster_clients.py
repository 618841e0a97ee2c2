"""Waiting for the controller (local mode): a cluster is usable once its client description exists.

The controller writes ``<state>/runtime/<name>/client.json`` when the cluster's master/JobManager
runs, and removes the whole directory when it tears the cluster down; the status beside each object
says why a cluster is not there yet.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from hubscale.state_dir import client_file, runtime_dir
from hubscale.store import LocalClusterStore

POLL_S = 0.5


class ClustersNotReady(RuntimeError):
    """A user's clusters did not come up; the message says which and why, for the user."""


def read_client(state_dir: Path, name: str) -> dict[str, str] | None:
    """The cluster's client description, or None while there is none (or half of one)."""
    try:
        data = json.loads(client_file(runtime_dir(state_dir, name)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


async def wait_for_teardown(
    store: LocalClusterStore, names: Sequence[str], timeout_s: float
) -> None:
    """Wait while a cluster of these names is still being torn down (object gone, runtime left).

    A server started again right after it stopped must not pick up the old cluster's ports.
    """
    deadline = time.monotonic() + timeout_s
    while pending := [n for n in names if _tearing_down(store, n)]:
        if time.monotonic() > deadline:
            raise ClustersNotReady(
                f"the previous clusters {', '.join(pending)} are still being stopped after"
                f" {timeout_s:g} s: is the controller running? (`make up` starts it)"
            )
        await asyncio.sleep(POLL_S)


def _tearing_down(store: LocalClusterStore, name: str) -> bool:
    return store.get(name) is None and runtime_dir(store.state_dir, name).exists()


async def wait_for_clients(
    store: LocalClusterStore,
    names: Sequence[str],
    timeout_s: float,
    error_grace_s: float,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, dict[str, str]]:
    """Each named cluster's client description, once all exist.

    Raises ``ClustersNotReady`` after ``timeout_s``, or sooner when a cluster has been in phase
    Error for ``error_grace_s`` (the controller retries errors, so a passing one is waited out).
    """
    start = clock()
    errors = ErrorGrace(error_grace_s)
    while True:
        clients = {name: read_client(store.state_dir, name) for name in names}
        missing = [name for name, client in clients.items() if client is None]
        if not missing:
            return {name: client for name, client in clients.items() if client is not None}
        now = clock()
        errors.check({name: _error(store, name) for name in missing}, now)
        if now - start >= timeout_s:
            raise ClustersNotReady(
                f"clusters not ready after {timeout_s:g} s: {_summary(store, missing)}"
            )
        await asyncio.sleep(POLL_S)


class ErrorGrace:
    """Clusters in phase Error, each given ``grace_s`` to recover (the controller retries)."""

    def __init__(self, grace_s: float) -> None:
        self.grace_s = grace_s
        self.since: dict[str, float] = {}

    def check(self, reasons: Mapping[str, str | None], now: float) -> None:
        """``reasons``: cluster -> why it is in phase Error, or None; raises once one has been in
        Error for the whole grace."""
        for name, reason in reasons.items():
            if reason is None:
                self.since.pop(name, None)
            elif now - self.since.setdefault(name, now) >= self.grace_s:
                raise ClustersNotReady(f"cluster {name} failed: {reason}")


def _error(store: LocalClusterStore, name: str) -> str | None:
    stored = store.get(name)
    if stored is None or stored.status is None or stored.status.phase != "Error":
        return None
    return stored.status.reason or "no reason given"


def _summary(store: LocalClusterStore, names: Sequence[str]) -> str:
    """Where each cluster is, as its status says; no status at all means no controller."""
    parts = []
    for name in names:
        stored = store.get(name)
        status = stored.status if stored is not None else None
        if status is None:
            parts.append(f"{name} has no status yet (is the controller running? `make up`)")
        else:
            parts.append(f"{name} is {status.phase}: {status.reason}")
    return "; ".join(parts)
