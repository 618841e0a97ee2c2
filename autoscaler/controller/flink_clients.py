"""The controller's Flink REST clients: one kept per JobManager while its cluster has jobs.

Each client pools its connections (keep-alive, TLS sessions resumed) and is built with its
cluster's TLS context, itself built once per credential (tens of milliseconds each): a loop that
asks the same JobManagers again pays neither. A client goes when its cluster has no job any more,
when its address or credential changes, or after a failed read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from autoscaler.backends.base import Observation
from autoscaler.readers.flink_rest import FlinkRest


class FlinkClients:
    """Open ``FlinkRest`` clients by cluster name, each with what it was built for."""

    def __init__(self, factory: Callable[..., FlinkRest] = FlinkRest) -> None:
        self.factory = factory  # (url, tls=context)
        self.open: dict[str, tuple[tuple[object, ...], FlinkRest]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None  # the one their connections live in

    async def get(self, name: str, observation: Observation) -> FlinkRest:
        """The cluster's client, built anew if its address or credential changed."""
        if self.loop is not asyncio.get_running_loop():  # a new event loop: the old one's are dead
            self.open.clear()
            self.loop = asyncio.get_running_loop()
        url = observation.endpoints["rest_url"]
        key = (url, observation.rest_tls, observation.rest_credential)
        known = self.open.get(name)
        if known is not None and known[0] == key:
            return known[1]
        if known is not None:
            await known[1].aclose()
        client = self.factory(url, tls=observation.tls_context())
        self.open[name] = (key, client)
        return client

    async def keep(self, names: Iterable[str]) -> None:
        """Close the clients of clusters not among ``names`` (no job any more, or gone)."""
        keep = set(names)
        for name in [name for name in self.open if name not in keep]:
            await self.drop(name)

    async def drop(self, name: str) -> None:
        """Close one cluster's client (the next read builds a new one)."""
        known = self.open.pop(name, None)
        if known is not None:
            await known[1].aclose()

    async def close(self) -> None:
        await self.keep(())
