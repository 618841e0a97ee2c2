"""Busy cores per cluster from the platform's Prometheus: one query per engine for all clusters.

Spark: cores the workers run executors on (``metrics_worker_coresUsed``; dynamic allocation lets
idle executors go). Flink: the subtasks' busy time (ms per s / 1000; sources report NaN, dropped).
"""

from __future__ import annotations

import logging
import math

import httpx

log = logging.getLogger(__name__)

QUERIES = (
    'sum by (cluster) (metrics_worker_coresUsed_Value{role="worker"})',
    "sum by (cluster) (flink_taskmanager_job_task_busyTimeMsPerSecond >= 0) / 1000",
)
TIMEOUT_S = 5.0


class BusyCoresError(RuntimeError):
    """Prometheus did not answer usably; the sample's busy cores are unknown."""


class PrometheusBusyCores:
    """Reads busy cores per cluster label from Prometheus's HTTP API."""

    def __init__(self, url: str, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.client = client or httpx.Client(timeout=TIMEOUT_S)

    def busy_cores(self) -> dict[str, float]:
        """Cluster name -> busy cores now; a cluster no metric mentions is absent."""
        busy: dict[str, float] = {}
        for query in QUERIES:
            for cluster, value in self._vector(query).items():
                busy[cluster] = busy.get(cluster, 0.0) + value
        return busy

    def _vector(self, query: str) -> dict[str, float]:
        try:
            response = self.client.get(f"{self.url}/api/v1/query", params={"query": query})
            response.raise_for_status()
            result = response.json()["data"]["result"]
            values = {item["metric"]["cluster"]: float(item["value"][1]) for item in result}
        except (httpx.HTTPError, KeyError, TypeError, ValueError, IndexError) as error:
            raise BusyCoresError(f"query={query!r}: {error}") from error
        return {cluster: value for cluster, value in values.items() if math.isfinite(value)}
