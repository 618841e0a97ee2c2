"""What the controller knows about one cluster at one moment, read from Prometheus.

Plain values only: the Prometheus client builds these, the simulator builds them too, and the
policies read them. A metric that is absent is ``NaN``; ``sampled_at`` is ``None`` when nothing
at all is known. Policies treat NaN, negative and stale values as "unknown" and hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NAN = math.nan


def known(value: float) -> bool:
    """True for a usable metric value: a finite number that is not negative (NaN is not)."""
    try:
        return 0 <= value < math.inf
    except TypeError:
        return False


@dataclass(frozen=True, slots=True)
class WorkerLoad:
    """One worker (Spark worker or Flink TaskManager) and how much of it is in use."""

    name: str
    busy: float  # cores (Spark) or slots (Flink) running tasks; NaN = unknown
    ready: bool = True  # registered with the master / JobManager (False while starting)


@dataclass(frozen=True, slots=True)
class SparkSignal:
    """Demand of one Spark standalone cluster (all of the user's drivers on it)."""

    sampled_at: float | None
    # Sum over the cluster's apps of ExecutorAllocationManager numberMaxNeededExecutors.
    needed_executors: float = NAN
    # Apps registered with the master that have no executor yet (scale-from-zero signal).
    waiting_apps: float = NAN
    executor_cores: int = 1
    running_tasks: float = NAN
    pending_tasks: float = NAN
    # Core-seconds of work still queued (known to the simulator; estimated, if at all, live).
    queued_work_s: float = NAN
    workers: tuple[WorkerLoad, ...] = ()


@dataclass(frozen=True, slots=True)
class FlinkSignal:
    """Demand of one Flink session cluster (all of the user's jobs on it)."""

    sampled_at: float | None
    # Slots wanted by running and waiting jobs: streaming jobs' maximum parallelism
    # (resource-requirements) plus batch jobs' tasks running or waiting for a slot.
    slots_required: float = NAN
    batch_slots: float = NAN  # the batch jobs' part of slots_required
    running_jobs: float = NAN
    jobs: float = NAN  # jobs with a JobMaster (created, running or restarting)
    input_rate: float = NAN  # records/s entering the sources
    processing_rate: float = NAN  # records/s the sources actually emit downstream
    busy_ratio: float = NAN  # mean busyTimeMsPerSecond / 1000 over TaskManagers with tasks
    backlog_records: float = NAN  # records waiting at the sources (NaN if not reported)
    parallelism: float = NAN  # slots the running jobs use now
    slots_per_worker: int = 1
    workers: tuple[WorkerLoad, ...] = ()


Signal = SparkSignal | FlinkSignal
