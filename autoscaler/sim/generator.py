"""A seeded generator for a data team's working day, written as trace events.

The defaults describe a team doing interactive analysis in notebooks; each is a field of
``TeamDay`` so a bench run states exactly what it simulated. Not tuned to any policy.

- Users arrive over the first 1.5 h, take a 30-75 min lunch break around mid-day (their server
  stops and starts again: two sessions), and leave over the last 1.5 h.
- Spark, in each session: after a first think (log-normal, median 5 min) the user works in bursts:
  a burst is 1 + Geometric(1/3) jobs (mean 3), each a pause (log-normal, median 30 s: reading
  the result, editing the cell) after the previous one finished; between bursts the user thinks
  (log-normal, median 8 min). 75 % of sessions are closed loop (at a notebook: the next job
  waits for the previous one to finish under the policy simulated); the others are open loop
  (a script: each job at the time the previous one would have finished on an always-on cluster).
- Job shapes: 50 % queries (1-2 stages, 1-200 tasks of ~2 s), 35 % transforms (2-4 stages,
  50-800 tasks of ~3 s), 15 % batch (2-4 stages, 100-1000 tasks of ~3 s, then a skewed final
  stage of 1-8 tasks of 10-60 s). Task counts log-uniform, task times log-normal (sigma 0.5).
- Flink: 35 % of users run one streaming job, started within their first hour, running 1-6 h;
  input rate a base of 0.5-3.5 slots' worth with noise (+-15 %) every 15 min and 1-2 peaks of
  2-3x lasting 20-60 min with 10 min ramps, never above 90 % of max_parallelism slots.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from autoscaler.sim.trace import Event, FlinkJob, Session, SparkJob, Stage


@dataclass(frozen=True)
class TeamDay:
    """A day of ``users`` people; every distribution's parameters are named here."""

    users: int = 200
    hours: float = 8.0
    seed: int = 20261124
    max_workers: int = 8  # cores the always-on reference gives a job (workers of 1 core)
    first_think_median_s: float = 300.0
    pause_median_s: float = 30.0
    think_median_s: float = 480.0
    burst_continue_p: float = 2 / 3
    flink_share: float = 0.35
    closed_loop_share: float = 0.75  # sessions at a notebook; the rest submit from scripts
    flink_max_parallelism: int = 8


def generate(day: TeamDay | None = None) -> list[Event]:
    """Every user's sessions, Spark jobs and Flink streams, sorted by time."""
    day = day or TeamDay()
    rng = random.Random(day.seed)
    events: list[Event] = []
    for index in range(day.users):
        events.extend(_user_day(day, rng, f"user{index:04d}"))
    events.sort(key=lambda event: event.t)
    return events


def _user_day(day: TeamDay, rng: random.Random, user: str) -> list[Event]:
    end = day.hours * 3600
    arrive = rng.uniform(0, min(1.5 * 3600, end / 4))
    lunch = rng.uniform(0.45, 0.55) * end
    back = lunch + rng.uniform(30, 75) * 60
    leave = end - rng.uniform(0, min(1.5 * 3600, end / 4))
    sessions = [(arrive, lunch), (back, leave)] if back < leave else [(arrive, leave)]
    events: list[Event] = []
    for number, (start, stop) in enumerate(sessions):
        events.append(Session(round(start, 1), user, "start"))
        events.extend(_spark_session(day, rng, user, number, start, stop))
        events.append(Session(round(stop, 1), user, "end"))
    if rng.random() < day.flink_share:
        events.append(_stream(day, rng, user, arrive, end))
    return events


def _spark_session(
    day: TeamDay, rng: random.Random, user: str, session: int, start: float, stop: float
) -> list[Event]:
    """A session's jobs; in closed loop each follows the one before (its pause or think after
    that one finished), in open loop each is submitted at the time that would be."""
    closed = rng.random() < day.closed_loop_share
    jobs: list[SparkJob] = []
    t = start + _lognormal(rng, day.first_think_median_s, 0.8)
    gap = 0.0  # after the previous job finished (on an always-on cluster)
    while t < stop:
        while t < stop:
            stages = _job_shape(rng)
            name = f"s{session}j{len(jobs)}"
            if closed and jobs:
                jobs.append(SparkJob(round(t, 1), user, name, stages, jobs[-1].job, round(gap, 1)))
            else:
                jobs.append(SparkJob(round(t, 1), user, name, stages))
            gap = _lognormal(rng, day.pause_median_s, 0.8)
            t += _static_seconds(stages, day.max_workers) + gap
            if rng.random() >= day.burst_continue_p:
                break
        think = _lognormal(rng, day.think_median_s, 0.8)
        t += think
        gap += think
    return list(jobs)


def _job_shape(rng: random.Random) -> tuple[Stage, ...]:
    kind = rng.random()
    if kind < 0.50:
        return _stages(rng, rng.randint(1, 2), 1, 200, 2.0)
    if kind < 0.85:
        return _stages(rng, rng.randint(2, 4), 50, 800, 3.0)
    final = Stage(rng.randint(1, 8), round(rng.uniform(10, 60), 2))
    return (*_stages(rng, rng.randint(2, 4), 100, 1000, 3.0), final)


def _stages(rng, count: int, low: int, high: int, median_s: float) -> tuple[Stage, ...]:
    return tuple(
        Stage(
            round(math.exp(rng.uniform(math.log(low), math.log(high)))),
            round(_lognormal(rng, median_s, 0.5), 2),
        )
        for _ in range(count)
    )


def _static_seconds(stages: tuple[Stage, ...], cores: int) -> float:
    """How long the job takes with ``cores`` cores from the start: waves of tasks per stage."""
    return sum(math.ceil(stage.tasks / cores) * stage.task_seconds for stage in stages)


def _stream(day: TeamDay, rng: random.Random, user: str, arrive: float, end: float) -> FlinkJob:
    start = arrive + rng.uniform(0, 3600)
    duration = min(rng.uniform(1, 6) * 3600, max(end - start, 1800))
    per_slot = float(rng.choice([1000, 2000, 5000]))
    base = rng.uniform(0.5, 3.5) * per_slot
    ceiling = 0.9 * day.flink_max_parallelism * per_slot
    peaks = []
    for _ in range(rng.randint(1, 2)):
        at = rng.uniform(0, duration)
        peaks.append((at, at + rng.uniform(20, 60) * 60, rng.uniform(2, 3)))
    times = sorted({0.0, duration, *range(0, int(duration), 900)} | _peak_edges(peaks, duration))
    points = []
    for t in times:
        factor = max((_peak_factor(t, peak) for peak in peaks), default=1.0)
        noise = rng.uniform(0.85, 1.15)
        points.append([round(t, 1), round(min(ceiling, base * factor * noise), 1)])
    return FlinkJob(
        round(start, 1),
        user,
        "stream",
        day.flink_max_parallelism,
        per_slot,
        tuple((t, r) for t, r in _dedupe(points)),
    )


def _peak_edges(peaks, duration: float) -> set[float]:
    ramp = 600.0
    edges = set()
    for start, stop, _ in peaks:
        for t in (start - ramp, start, stop, stop + ramp):
            if 0 < t < duration:
                edges.add(t)
    return edges


def _peak_factor(t: float, peak: tuple[float, float, float]) -> float:
    """1 outside the peak, ``height`` inside it, linear over 10 min ramps either side."""
    start, stop, height = peak
    ramp = 600.0
    if start <= t <= stop:
        return height
    if start - ramp < t < start:
        return 1 + (height - 1) * (t - (start - ramp)) / ramp
    if stop < t < stop + ramp:
        return 1 + (height - 1) * ((stop + ramp) - t) / ramp
    return 1.0


def _dedupe(points: list[list[float]]) -> list[tuple[float, float]]:
    """Strictly increasing times after rounding."""
    out: list[tuple[float, float]] = []
    for t, r in points:
        if not out or t > out[-1][0]:
            out.append((t, r))
    return out


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(median), sigma)
