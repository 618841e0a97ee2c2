"""A simulator trace rebuilt from the platform's own Prometheus: replay your team's week.

Three range queries (batched over every cluster, evaluated every ``step_s``) read what the
platform already scrapes; the trace is rebuilt from them by these rules:

- **Spark jobs**, per (cluster, user): demand in tasks is the drivers' summed
  ``numberMaxNeededExecutors`` (running + pending tasks, in executors) times ``executor_cores``.
  A job is a run of samples with demand above 0: it starts at its first such sample and ends one
  step after its last. Each run of equal demand inside it is one stage (``tasks`` = that demand,
  ``task_seconds`` = how long it lasted), so a replay on a cluster with enough cores asks for the
  same cores for the same time.
- **Flink streams**, per (cluster, user): while the JobManager reports a running job, the slots
  in use (``taskSlotsTotal - taskSlotsAvailable``). A stream is a run of such samples; its rate
  points are the slots in use (``records_per_slot_second`` 1, so it needs what it held) and its
  ``max_parallelism`` the most slots it held.
- **Sessions**, per user: a run of samples in which the controller reports one of the user's
  clusters (``hubscale_cluster_workers``); a cluster exists while its notebook server runs.
- A sample older than 1.5 steps counts as absent (Prometheus answers with a series' last sample
  for 5 min after it stops), and a missing sample ends a run: a session's end (a series
  stopping) is known to within two steps, a job's (demand back to 0) to within one. A range
  query reads only the samples at its steps: use a step of at least the scrape interval.
- Samples that are NaN, infinite, negative or outside the window are skipped and counted (a
  skipped sample ends a run like a missing one); so are series without their ``cluster`` or
  ``user`` label.

What it cannot recover: work shorter than a step; two jobs back to back with no idle sample
between them (one job), and a cluster's concurrent apps or streams (one, their demand summed);
demand as the observed platform shaped it (a job that waited for workers shows its pending tasks
as width, and its durations include that wait); a stream's demand beyond the slots it held (no
metric carries a Flink job's slot demand); closed-loop dependencies and think times (every job is
open loop at its observed start).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import groupby

from autoscaler.readers.prometheus import PrometheusClient, RangeSeries
from autoscaler.sim.trace import Event, FlinkJob, Session, SparkJob, Stage

# Prometheus refuses a range query of more than 11,000 points per series: ask in chunks.
MAX_POINTS_PER_QUERY = 10_000
MAX_STEPS = 100 * MAX_POINTS_PER_QUERY  # a week at 1 s: 61 queries per signal
DEFAULT_STEP_S = 30.0

_DRIVER_DEMAND = (
    "metrics_hubscale_driver_ExecutorAllocationManager_executors_numberMaxNeededExecutors"
    '_Value{role="driver"}'
)
_SLOTS_TOTAL = "flink_jobmanager_taskSlotsTotal"
_SLOTS_FREE = "flink_jobmanager_taskSlotsAvailable"
_RUNNING_JOBS = "flink_jobmanager_numRunningJobs"
_CLUSTER_WORKERS = "hubscale_cluster_workers"

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d|w)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration_s(text: str) -> float:
    """Seconds in a Prometheus-style duration with one unit (``30s``, ``90m``, ``7d``)."""
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r}: expected a positive duration such as 30s, 90m, 12h or 7d")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def _fresh(selector: str, max_age_s: float) -> str:
    """The selector's samples no older than ``max_age_s`` (drops the 5 min lookback's echoes)."""
    return f"({selector} and (time() - timestamp({selector}) <= {max_age_s:g}))"


def queries(step_s: float) -> dict[str, str]:
    """The three range queries, each grouped by the labels its events need."""
    age = 1.5 * step_s
    slots = f"{_fresh(_SLOTS_TOTAL, age)} - {_fresh(_SLOTS_FREE, age)}"
    return {
        "spark": f"sum by (cluster, user) ({_fresh(_DRIVER_DEMAND, age)})",
        "flink": (
            f"max by (cluster, user) ({slots})"
            f" and max by (cluster, user) ({_fresh(_RUNNING_JOBS, age)} > 0)"
        ),
        "sessions": f"count by (user) ({_fresh(_CLUSTER_WORKERS, age)})",
    }


@dataclass
class Reconstruction:
    """The rebuilt trace (times in seconds since ``start``) and what was skipped on the way."""

    start: float
    end: float
    step_s: float
    events: list[Event] = field(default_factory=list)
    skipped_samples: int = 0
    skipped_series: int = 0

    def count(self, kind: type) -> int:
        return sum(isinstance(event, kind) for event in self.events)

    def describe(self) -> str:
        sessions = sum(isinstance(e, Session) and e.state == "start" for e in self.events)
        line = (
            f"reconstructed {self.count(SparkJob)} Spark jobs, {self.count(FlinkJob)} Flink"
            f" streams and {sessions} sessions of"
            f" {len({event.user for event in self.events})} users at a {self.step_s:g} s step"
        )
        if self.skipped_samples or self.skipped_series:
            line += (
                f"; skipped {self.skipped_samples} samples (NaN, infinite, negative or outside"
                " the window)"
                f" and {self.skipped_series} series without cluster/user labels"
            )
        return line


async def read_range(
    prometheus: PrometheusClient, promql: str, start: float, end: float, step_s: float
) -> list[RangeSeries]:
    """One range query in chunks of at most ``MAX_POINTS_PER_QUERY``; series joined by labels."""
    joined: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    chunk_s = MAX_POINTS_PER_QUERY * step_s
    at = start
    while at <= end:
        last = min(end, at + chunk_s - step_s)
        for series in await prometheus.matrix(promql, at, last, step_s):
            joined.setdefault(tuple(sorted(series.labels.items())), []).extend(series.points)
        at = last + step_s
    return [RangeSeries(dict(labels), tuple(points)) for labels, points in joined.items()]


async def reconstruct(
    prometheus: PrometheusClient,
    start: float,
    end: float,
    step_s: float = DEFAULT_STEP_S,
    executor_cores: int = 1,
) -> Reconstruction:
    """The trace of ``[start, end]`` (Unix seconds), read every ``step_s``."""
    if step_s <= 0 or end <= start:
        raise ValueError(f"need step > 0 and end after start (step {step_s:g} s)")
    if (end - start) / step_s > MAX_STEPS:
        raise ValueError(
            f"{(end - start) / step_s:.0f} steps of {step_s:g} s: more than {MAX_STEPS:,};"
            " use a larger step"
        )
    start = math.floor(start / step_s) * step_s  # steps on a grid: chunks line up
    wanted = queries(step_s)
    answers = await asyncio.gather(
        *(read_range(prometheus, promql, start, end, step_s) for promql in wanted.values())
    )
    spark, flink, sessions = answers
    result = Reconstruction(start, end, step_s)
    for series in spark:
        for number, run in _labelled_runs(series, result, ("cluster", "user")):
            result.events.append(
                _spark_job(series.labels, number, run, start, step_s, executor_cores)
            )
    for series in flink:
        for number, run in _labelled_runs(series, result, ("cluster", "user"), positive=False):
            result.events.append(_flink_job(series.labels, number, run, start, step_s))
    for series in sessions:
        for _, run in _labelled_runs(series, result, ("user",), positive=False):
            user = series.labels["user"]
            result.events.append(Session(run[0][0] - start, user, "start"))
            result.events.append(Session(run[-1][0] + step_s - start, user, "end"))
    result.events.sort(key=_order)
    return result


def _order(event: Event) -> tuple[float, int]:
    """By time; at one instant a session starts before its jobs and ends after them."""
    if isinstance(event, Session):
        return event.t, 0 if event.state == "start" else 2
    return event.t, 1


def _labelled_runs(
    series: RangeSeries, result: Reconstruction, labels: Sequence[str], positive: bool = True
) -> Iterator[tuple[int, list[tuple[float, float]]]]:
    """The series' runs (numbered from 1), or none when it lacks one of ``labels``."""
    if not all(series.labels.get(name) for name in labels):
        result.skipped_series += 1
        return iter(())
    valid = [
        (at, value)
        for at, value in series.points
        if math.isfinite(value) and value >= 0 and result.start <= at <= result.end
    ]
    result.skipped_samples += len(series.points) - len(valid)
    return enumerate(runs(valid, result.step_s, positive), start=1)


def runs(
    points: Sequence[tuple[float, float]], step_s: float, positive: bool = True
) -> Iterator[list[tuple[float, float]]]:
    """Maximal runs of consecutive samples (no missing step between them), each value above 0
    when ``positive``."""
    run: list[tuple[float, float]] = []
    for at, value in points:
        if positive and value <= 0:
            if run:
                yield run
            run = []
            continue
        if run and at - run[-1][0] > 1.5 * step_s:
            yield run
            run = []
        run.append((at, value))
    if run:
        yield run


def _spark_job(
    labels: Mapping[str, str],
    number: int,
    run: list[tuple[float, float]],
    start: float,
    step_s: float,
    executor_cores: int,
) -> SparkJob:
    stages = tuple(
        Stage(max(1, round(value * executor_cores)), len(list(samples)) * step_s)
        for value, samples in groupby(run, key=lambda point: point[1])
    )
    return SparkJob(run[0][0] - start, labels["user"], f"{labels['cluster']}-{number}", stages)


def _flink_job(
    labels: Mapping[str, str],
    number: int,
    run: list[tuple[float, float]],
    start: float,
    step_s: float,
) -> FlinkJob:
    first = run[0][0]
    rate = [(at - first, slots) for at, slots in run]
    rate.append((run[-1][0] + step_s - first, run[-1][1]))
    return FlinkJob(
        t=first - start,
        user=labels["user"],
        job=f"{labels['cluster']}-{number}",
        max_parallelism=max(1, math.ceil(max(slots for _, slots in run))),
        records_per_slot_second=1.0,
        rate=tuple(rate),
    )
