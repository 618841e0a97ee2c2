"""Spawn progress for the hub's pending page: the messages a spawner adds while it starts.

Both spawners keep one ``ProgressLog`` per start and read it with ``follow``; the Kubernetes
spawner also ``merge``s KubeSpawner's own pod events into the same stream. JupyterHub reads a
spawner's ``progress()`` until the start has ended, so ``follow`` never ends by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

Event = dict[str, Any]  # {"progress": 0..100 (optional), "message": text}
POLL_S = 0.5


class ProgressLog:
    """The progress messages of one start, in order; the next start gets a new log."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(self, progress: int, message: str) -> None:
        self.events.append({"progress": progress, "message": message})


async def follow(
    current: Callable[[], ProgressLog], poll_s: float = POLL_S
) -> AsyncGenerator[Event, None]:
    """The events of the spawner's ``current()`` log as they come; a log replaced by a new start's
    is followed from its beginning."""
    followed: ProgressLog | None = None
    shown = 0
    while True:
        log = current()
        if log is not followed:
            followed, shown = log, 0
        events = log.events[shown:]
        shown += len(events)
        for event in events:
            yield event
        await asyncio.sleep(poll_s)


async def merge(*streams: AsyncGenerator[Event, None]) -> AsyncIterator[Event]:
    """The events of several streams as each comes, the progress never going back (each stream
    counts on its own); ends when every stream has ended."""
    pending = {asyncio.ensure_future(anext(stream)): stream for stream in streams}
    highest = 0
    try:
        while pending:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                stream = pending.pop(future)
                try:
                    event = future.result()
                except StopAsyncIteration:
                    continue
                pending[asyncio.ensure_future(anext(stream))] = stream
                if "progress" in event:
                    highest = max(highest, event["progress"])
                    event = {**event, "progress": highest}
                yield event
    finally:
        for future in pending:
            future.cancel()
        with contextlib.suppress(asyncio.CancelledError):  # no closing while __anext__ runs
            await asyncio.gather(*pending, return_exceptions=True)
        for stream in streams:
            await stream.aclose()
