"""Trace files: a team's day as JSON Lines, one event per line, sorted by ``t`` (seconds).

Kinds of line (unknown fields are ignored, so traces can carry more):

- Spark job: ``{"t": 12.0, "user": "alice", "engine": "spark", "job": "j1",
  "stages": [{"tasks": 200, "task_seconds": 0.5}, {"tasks": 8, "task_seconds": 30}]}``;
  stages run one after another, a stage's tasks in parallel on the cluster's cores. A job with
  ``"after": "j1", "think_s": 30`` is closed loop: submitted 30 s (default 0) after the user's
  job j1 finished (a notebook user reading the result); its ``t`` is then only when that would be on
  an always-on cluster, which orders the file.
- Flink streaming job: ``{"t": 0.0, "user": "bob", "engine": "flink", "job": "s1",
  "max_parallelism": 8, "records_per_slot_second": 1000, "rate": [[0, 500], [3600, 4000]]}``;
  ``rate`` points are ``[seconds since the job's t, records/s]``, linear in between; the stream
  ends at the last point.
- Session: ``{"t": 0.0, "user": "alice", "session": "start"}`` or ``"end"``: a notebook server
  starting or stopping.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import IO, Any


class TraceError(ValueError):
    """A malformed trace line; the message names the line number and the field."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True, slots=True)
class Stage:
    tasks: int
    task_seconds: float


@dataclass(frozen=True, slots=True)
class SparkJob:
    t: float
    user: str
    job: str
    stages: tuple[Stage, ...]
    # Closed loop: submitted ``think_s`` after the user's job ``after`` finished (``t`` is then
    # only when that would be on an always-on cluster); None: submitted at ``t`` (open loop).
    after: str | None = None
    think_s: float = 0.0

    @property
    def work_s(self) -> float:
        """Core-seconds of work in the job."""
        return sum(stage.tasks * stage.task_seconds for stage in self.stages)


@dataclass(frozen=True, slots=True)
class FlinkJob:
    t: float
    user: str
    job: str
    max_parallelism: int
    records_per_slot_second: float
    rate: tuple[tuple[float, float], ...]  # (seconds since t, records/s)

    @property
    def end(self) -> float:
        return self.t + self.rate[-1][0]

    def rate_at(self, at: float) -> float:
        """Input records/s at time ``at`` (linear between the points, 0 outside the stream)."""
        offset = at - self.t
        if offset < 0:
            return 0.0
        for (t0, r0), (t1, r1) in pairwise(self.rate):
            if offset <= t1:
                return r0 + (r1 - r0) * (offset - t0) / (t1 - t0)
        return 0.0


@dataclass(frozen=True, slots=True)
class Session:
    t: float
    user: str
    state: str  # "start" | "end"


Event = SparkJob | FlinkJob | Session


def parse_event(data: Any, line: int) -> Event:
    """One decoded JSON line to an event, or TraceError naming what is wrong."""
    if not isinstance(data, dict):
        raise TraceError(line, "expected a JSON object")
    field = _Fields(data, line)
    t = field.number("t", minimum=0.0)
    user = field.text("user")
    if "session" in data:
        state = field.text("session")
        if state not in ("start", "end"):
            raise TraceError(line, f"session: must be 'start' or 'end', got {state!r}")
        return Session(t, user, state)
    engine = field.text("engine")
    job = field.text("job")
    if engine == "spark":
        stages = field.items("stages")
        parsed = tuple(_stage(s, line, i) for i, s in enumerate(stages))
        if "after" not in data:
            return SparkJob(t, user, job, parsed)
        return SparkJob(t, user, job, parsed, field.text("after"), _think_s(data, line))
    if engine == "flink":
        points = tuple(_rate_point(p, line, i) for i, p in enumerate(field.items("rate")))
        if len(points) < 2 or points[0][0] != 0:
            raise TraceError(line, "rate: needs at least two points, the first at 0")
        if any(b[0] <= a[0] for a, b in pairwise(points)):
            raise TraceError(line, "rate: point times must increase")
        return FlinkJob(
            t,
            user,
            job,
            field.integer("max_parallelism", minimum=1),
            field.number("records_per_slot_second", minimum=1e-9),
            points,
        )
    raise TraceError(line, f"engine: must be 'spark' or 'flink', got {engine!r}")


def read_trace(lines: Iterable[str]) -> list[Event]:
    """Parse JSON Lines; blank lines are skipped; times must not decrease; a closed-loop job
    follows an earlier Spark job of its user."""
    events: list[Event] = []
    spark_jobs: set[tuple[str, str]] = set()
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise TraceError(number, f"not JSON: {error.msg}") from None
        event = parse_event(data, number)
        if events and event.t < events[-1].t:
            raise TraceError(number, f"t: {event.t} is before the previous line's {events[-1].t}")
        if isinstance(event, SparkJob):
            if event.after is not None and (event.user, event.after) not in spark_jobs:
                why = f"after: no earlier Spark job {event.after!r} of {event.user}"
                raise TraceError(number, why)
            spark_jobs.add((event.user, event.job))
        events.append(event)
    return events


def load_trace(path: str | Path) -> list[Event]:
    with open(path, encoding="utf-8") as file:
        return read_trace(file)


def event_to_json(event: Event) -> dict[str, Any]:
    if isinstance(event, Session):
        return {"t": event.t, "user": event.user, "session": event.state}
    if isinstance(event, SparkJob):
        stages = [{"tasks": s.tasks, "task_seconds": s.task_seconds} for s in event.stages]
        data = {
            "t": event.t,
            "user": event.user,
            "engine": "spark",
            "job": event.job,
            "stages": stages,
        }
        if event.after is not None:
            data.update(after=event.after, think_s=event.think_s)
        return data
    return {
        "t": event.t,
        "user": event.user,
        "engine": "flink",
        "job": event.job,
        "max_parallelism": event.max_parallelism,
        "records_per_slot_second": event.records_per_slot_second,
        "rate": [list(point) for point in event.rate],
    }


def write_trace(events: Iterable[Event], file: IO[str]) -> None:
    for event in events:
        file.write(json.dumps(event_to_json(event), separators=(",", ":")) + "\n")


def dump_trace(events: Iterable[Event], path: str | Path) -> None:
    with open(path, "w", encoding="utf-8") as file:
        write_trace(events, file)


class _Fields:
    """Typed access to one line's fields, with errors that name the line and field."""

    def __init__(self, data: dict[str, Any], line: int) -> None:
        self.data, self.line = data, line

    def _get(self, name: str) -> Any:
        if name not in self.data:
            raise TraceError(self.line, f"{name}: missing")
        return self.data[name]

    def number(self, name: str, minimum: float) -> float:
        return _number(self._get(name), minimum, self.line, name)

    def integer(self, name: str, minimum: int) -> int:
        return _integer(self._get(name), minimum, self.line, name)

    def text(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str) or not value:
            raise TraceError(self.line, f"{name}: must be a non-empty string, got {value!r}")
        return value

    def items(self, name: str) -> list[Any]:
        value = self._get(name)
        if not isinstance(value, list) or not value:
            raise TraceError(self.line, f"{name}: must be a non-empty list")
        return value


def _number(value: Any, minimum: float, line: int, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TraceError(line, f"{name}: must be a number, got {value!r}")
    if value < minimum:
        raise TraceError(line, f"{name}: must be at least {minimum:g}, got {value!r}")
    return float(value)


def _integer(value: Any, minimum: int, line: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TraceError(line, f"{name}: must be an integer, got {value!r}")
    if value < minimum:
        raise TraceError(line, f"{name}: must be at least {minimum}, got {value!r}")
    return value


def _think_s(data: dict[str, Any], line: int) -> float:
    """A closed-loop job's think time: seconds, 0 when absent."""
    return _number(data.get("think_s", 0.0), 0.0, line, "think_s")


def _stage(data: Any, line: int, index: int) -> Stage:
    if not isinstance(data, dict):
        raise TraceError(line, f"stages[{index}]: expected an object")
    name = f"stages[{index}]"
    return Stage(
        _integer(data.get("tasks"), 1, line, f"{name}.tasks"),
        _number(data.get("task_seconds"), 1e-9, line, f"{name}.task_seconds"),
    )


def _rate_point(data: Any, line: int, index: int) -> tuple[float, float]:
    if not isinstance(data, list) or len(data) != 2:
        raise TraceError(line, f"rate[{index}]: expected [seconds, records per second]")
    return (
        _number(data[0], 0.0, line, f"rate[{index}][0]"),
        _number(data[1], 0.0, line, f"rate[{index}][1]"),
    )


def users(events: Iterable[Event]) -> Iterator[str]:
    """Each user once, in order of first appearance."""
    return iter(dict.fromkeys(event.user for event in events))
