"""From Prometheus to the policy's signals: one query per signal per loop, for every cluster.

The local backend labels every scrape target with ``cluster``, ``user``, ``engine`` and ``role``
(and ``worker`` for workers); the Kubernetes backend gives the pods the same labels. So each
query below aggregates by ``cluster`` and the controller splits the answer.

Metric names are those Spark 4.x publishes through its PrometheusServlet with
``spark.metrics.namespace=hubscale`` (see hubscale.spark_conf) and Flink 2.x through
its Prometheus reporter. Flink's demand in slots is in no metric: it is read from the JobManager's
REST API (``/jobs/overview``, and ``/jobs/<id>/resource-requirements`` for streaming jobs; see
``flink_rest``), asked only of clusters whose metrics show a job, so the cost grows with the
active clusters, not with all of them.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from autoscaler.policy.signals import FlinkSignal, SparkSignal, WorkerLoad
from autoscaler.readers.flink_rest import FlinkRest, SlotDemand, TaskManagerSlots
from autoscaler.readers.prometheus import PrometheusClient, Reading

SPARK_NEEDED_EXECUTORS = (
    "sum by (cluster) (metrics_hubscale_driver_ExecutorAllocationManager_executors"
    '_numberMaxNeededExecutors_Value{role="driver"})'
)
SPARK_WAITING_APPS = 'max by (cluster) (metrics_master_waitingApps_Value{role="master"})'
SPARK_WORKER_CORES_USED = 'max by (cluster, worker) (metrics_worker_coresUsed_Value{role="worker"})'


@dataclass(frozen=True, slots=True)
class SparkReadings:
    """One loop's answers for every Spark cluster."""

    needed_executors: Reading
    waiting_apps: Reading
    cores_used: Mapping[tuple[str, str], float]  # (cluster, worker) -> cores running tasks
    evaluated_at: float


async def read_spark(prometheus: PrometheusClient, at: float) -> SparkReadings:
    """Three queries, whatever the number of clusters."""
    needed, waiting, used = await asyncio.gather(
        prometheus.by_label(SPARK_NEEDED_EXECUTORS, at=at),
        prometheus.by_label(SPARK_WAITING_APPS, at=at),
        prometheus.vector(SPARK_WORKER_CORES_USED, at=at),
    )
    cores_used = {
        (series.labels["cluster"], series.labels["worker"]): series.value
        for series in used
        if "cluster" in series.labels and "worker" in series.labels
    }
    return SparkReadings(needed, waiting, cores_used, at)


def spark_signal(
    readings: SparkReadings, cluster: str, workers: Sequence[str], executor_cores: int
) -> SparkSignal:
    """The signal of one cluster; a worker with no metrics yet is still starting."""
    loads = tuple(_load(readings.cores_used, cluster, name) for name in workers)
    return SparkSignal(
        sampled_at=readings.evaluated_at,
        needed_executors=readings.needed_executors.get(cluster),  # NaN: no driver publishes
        waiting_apps=readings.waiting_apps.get(cluster),
        executor_cores=executor_cores,
        workers=loads,
    )


def _load(cores_used: Mapping[tuple[str, str], float], cluster: str, name: str) -> WorkerLoad:
    busy = cores_used.get((cluster, name))
    if busy is None:
        return WorkerLoad(name, math.nan, ready=False)
    return WorkerLoad(name, busy)


# Jobs with a JobMaster (created, running or restarting): each has job-level metrics on the JM.
# "or 0 * ..." turns "no job series" into an explicit 0 for every JobManager that is scraped.
FLINK_JOBS = (
    "count by (cluster) (flink_jobmanager_job_numRestarts)"
    " or 0 * max by (cluster) (flink_jobmanager_numRunningJobs)"
)
FLINK_RUNNING_JOBS = "max by (cluster) (flink_jobmanager_numRunningJobs)"
FLINK_SLOTS_IN_USE = (
    "max by (cluster) (flink_jobmanager_taskSlotsTotal - flink_jobmanager_taskSlotsAvailable)"
)
# Source tasks report NaN busy time: ">= 0" keeps only real numbers.
FLINK_BUSY_RATIO = "avg by (cluster) (flink_taskmanager_job_task_busyTimeMsPerSecond >= 0) / 1000"
FLINK_SOURCE_RATE = (
    "sum by (cluster) (flink_taskmanager_job_task_operator_numRecordsOutPerSecond"
    '{operator_name=~"Source.*"})'
)
FLINK_BACKLOG = "sum by (cluster) (flink_taskmanager_job_task_operator_pendingRecords)"


@dataclass(frozen=True, slots=True)
class FlinkReadings:
    """One loop's answers for every Flink cluster."""

    jobs: Reading
    running_jobs: Reading
    slots_in_use: Reading
    busy_ratio: Reading
    source_rate: Reading
    backlog: Reading
    evaluated_at: float


async def read_flink(prometheus: PrometheusClient, at: float) -> FlinkReadings:
    """Six queries, whatever the number of clusters."""
    queries = (
        FLINK_JOBS, FLINK_RUNNING_JOBS, FLINK_SLOTS_IN_USE, FLINK_BUSY_RATIO, FLINK_SOURCE_RATE,
        FLINK_BACKLOG,
    )  # fmt: skip
    readings = await asyncio.gather(*(prometheus.by_label(query, at=at) for query in queries))
    return FlinkReadings(*readings, evaluated_at=at)


@dataclass(frozen=True, slots=True)
class FlinkDemand:
    """What the JobManager's REST API says about one active cluster."""

    slots: SlotDemand
    taskmanagers: tuple[TaskManagerSlots, ...]


async def read_flink_demand(rest: FlinkRest) -> FlinkDemand:
    """Two calls to one JobManager, plus one per streaming job: only for clusters with a job."""
    slots, taskmanagers = await asyncio.gather(rest.slot_demand(), rest.taskmanagers())
    return FlinkDemand(slots, tuple(taskmanagers))


def has_jobs(readings: FlinkReadings, cluster: str) -> bool:
    """True when the cluster's metrics show a job (no data: False, and the policy holds)."""
    return readings.jobs.get(cluster) > 0 or readings.running_jobs.get(cluster) > 0


def flink_signal(
    readings: FlinkReadings,
    cluster: str,
    workers: Sequence[str],
    slots_per_worker: int,
    demand: FlinkDemand | None,
) -> FlinkSignal:
    """The signal of one cluster; ``demand`` is None for clusters without a job, or whose
    JobManager did not say what its jobs need (then the slots required are unknown)."""
    running, jobs = readings.running_jobs.get(cluster), readings.jobs.get(cluster)
    if demand is None:
        # No job: every slot is free. A job whose demand is unknown: so is each slot's load.
        load = 0.0 if jobs == 0 else math.nan
        return FlinkSignal(
            sampled_at=readings.evaluated_at,
            slots_required=0.0 if jobs == 0 else math.nan,
            running_jobs=running,
            jobs=jobs,
            slots_per_worker=slots_per_worker,
            workers=tuple(WorkerLoad(name, load) for name in workers),
        )
    registered = {tm.id: tm for tm in demand.taskmanagers}
    loads = tuple(
        WorkerLoad(name, registered[name].slots_total - registered[name].slots_free)
        if name in registered
        else WorkerLoad(name, math.nan, ready=False)
        for name in workers
    )
    rate = readings.source_rate.get(cluster)
    return FlinkSignal(
        sampled_at=readings.evaluated_at,
        slots_required=float(demand.slots.total),
        batch_slots=float(demand.slots.batch),
        running_jobs=running,
        jobs=jobs,
        input_rate=rate,
        processing_rate=rate,
        busy_ratio=readings.busy_ratio.get(cluster),
        backlog_records=readings.backlog.get(cluster),
        parallelism=readings.slots_in_use.get(cluster),
        slots_per_worker=slots_per_worker,
        workers=loads,
    )
