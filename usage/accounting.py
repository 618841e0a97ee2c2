"""Pure accounting arithmetic: core-seconds held and used between two samples of a cluster.

A sample says what a cluster held at one instant (workers × cores per worker) and how many of those
cores were busy (None when no metric said). What a sample saw is taken to last until the next one;
a gap longer than ``max_gap_s`` (the service or Prometheus was down, the cluster was gone) is not
counted at all, since nobody knows what was held then. Time is split at UTC midnights so that each
day's rollup gets its own share.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class Sample:
    """One cluster seen at ``time_s`` (epoch seconds)."""

    time_s: float
    workers: int
    cores_per_worker: int
    busy_cores: float | None  # None: no metric said

    @property
    def held_cores(self) -> int:
        return self.workers * self.cores_per_worker

    @property
    def used_cores(self) -> float:
        """Busy cores, never more than held (slot sharing or late metrics can report more)."""
        busy = self.busy_cores
        if busy is None or math.isnan(busy) or busy <= 0:
            return 0.0
        return min(busy, float(self.held_cores))


@dataclass(frozen=True, slots=True)
class CoreSeconds:
    """Core-seconds held and used over some time, on one day (``day``: UTC days since epoch)."""

    day: int
    held: float
    used: float
    unmeasured: float = 0.0  # held core-seconds for which no busy metric existed

    @property
    def idle(self) -> float:
        """Held but measured not busy (unmeasured time is neither idle nor used)."""
        return self.held - self.used - self.unmeasured


def day_of(time_s: float) -> int:
    """The UTC day (days since 1970-01-01) that ``time_s`` falls on."""
    return int(time_s // DAY_S)


def day_spans(start_s: float, end_s: float) -> Iterator[tuple[int, float]]:
    """``[start_s, end_s)`` cut at UTC midnights, as (day, seconds on that day)."""
    at = start_s
    while at < end_s:
        day = day_of(at)
        until = min(end_s, (day + 1) * DAY_S)
        yield day, until - at
        at = until


def between(previous: Sample, current: Sample, max_gap_s: float) -> list[CoreSeconds]:
    """What ``previous`` held and used until ``current``, per day; nothing across a long gap."""
    elapsed = current.time_s - previous.time_s
    if elapsed <= 0 or elapsed > max_gap_s:
        return []
    unmeasured = previous.busy_cores is None or math.isnan(previous.busy_cores)
    return [
        CoreSeconds(
            day=day,
            held=previous.held_cores * seconds,
            used=previous.used_cores * seconds,
            unmeasured=previous.held_cores * seconds if unmeasured else 0.0,
        )
        for day, seconds in day_spans(previous.time_s, current.time_s)
    ]


def integrate(samples: list[Sample], max_gap_s: float) -> list[CoreSeconds]:
    """Every consecutive pair of ``samples`` (in time order) through ``between``, summed by day."""
    by_day: dict[int, CoreSeconds] = {}
    for previous, current in pairwise(samples):
        for part in between(previous, current, max_gap_s):
            by_day[part.day] = add(by_day.get(part.day), part)
    return [by_day[day] for day in sorted(by_day)]


def add(total: CoreSeconds | None, part: CoreSeconds) -> CoreSeconds:
    """``total`` + ``part`` (same day); ``part`` alone when there is no total yet."""
    if total is None:
        return part
    return CoreSeconds(
        day=part.day,
        held=total.held + part.held,
        used=total.used + part.used,
        unmeasured=total.unmeasured + part.unmeasured,
    )
