"""Spawn progress: a start's log followed as it grows, and streams merged for the pending page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from spawner.progress import Event, ProgressLog, follow, merge


async def events_of(*events: Event, pause_s: float = 0.0) -> AsyncGenerator[Event, None]:
    for event in events:
        await asyncio.sleep(pause_s)
        yield event


async def take(stream: AsyncGenerator[Event, None], count: int) -> list[Event]:
    taken = []
    async for event in stream:
        taken.append(event)
        if len(taken) == count:
            break
    await stream.aclose()
    return taken


def test_follow_yields_events_added_later_and_switches_to_a_new_start_s_log():
    async def scenario() -> list[Event]:
        holder = {"log": ProgressLog()}
        holder["log"].add(10, "first start")

        async def later() -> None:
            await asyncio.sleep(0.03)
            holder["log"].add(20, "still the first")
            await asyncio.sleep(0.03)
            holder["log"] = ProgressLog()  # the next start
            holder["log"].add(5, "second start")

        writer = asyncio.create_task(later())
        seen = await asyncio.wait_for(take(follow(lambda: holder["log"], poll_s=0.01), 3), 5)
        await writer
        return seen

    assert [e["message"] for e in asyncio.run(scenario())] == [
        "first start",
        "still the first",
        "second start",
    ]


def test_merge_interleaves_streams_and_never_lowers_the_progress():
    async def scenario() -> list[Event]:
        pods = events_of({"progress": 30, "message": "pod"}, {"message": "patience"}, pause_s=0.05)
        ours = events_of({"progress": 10, "message": "created"}, {"progress": 40, "message": "up"})
        return [event async for event in merge(pods, ours)]

    events = asyncio.run(scenario())
    assert [e["message"] for e in events] == ["created", "up", "pod", "patience"]
    assert [e.get("progress") for e in events] == [10, 40, 40, None]  # the pod's 30 held at 40


def test_merge_closes_every_stream_when_its_reader_stops():
    closed: list[str] = []

    async def endless(name: str) -> AsyncGenerator[Event, None]:
        try:
            while True:
                yield {"message": name}
                await asyncio.sleep(0.01)
        finally:
            closed.append(name)

    async def scenario() -> list[Event]:
        return await asyncio.wait_for(take(merge(endless("a"), endless("b")), 4), 5)

    assert len(asyncio.run(scenario())) == 4
    assert sorted(closed) == ["a", "b"]
