"""From Prometheus to the policy's signals: one query per signal per loop, for every cluster.

The local backend labels every scrape target with ``cluster``, ``user``, ``engine`` and ``role``
(and ``worker`` for workers); the Kubernetes backend gives the pods the same labels. So each
query below aggregates by ``cluster`` and the controller splits the answer.

Metric names are those Spark 4.x publishes through its PrometheusServlet with
``spark.metrics.namespace=hubscale`` (see autoscaler.backends.spark_conf).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from autoscaler.prometheus import PrometheusClient, Reading
from autoscaler.signals import SparkSignal, WorkerLoad

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
