"""The Prometheus client against a real Prometheus scraping real exporters.

Cluster names are unique per test (the Prometheus instance is shared by the session).
"""

from __future__ import annotations

import asyncio
import math

import pytest

from autoscaler.readers.prometheus import (
    PrometheusBadResponse,
    PrometheusClient,
    PrometheusQueryError,
    PrometheusUnavailable,
    Reading,
)
from tests.support import free_port, wait_for

QUERY_TIMEOUT_S = 10.0  # polled in wait_for, which a timeout raised out of would end early
QUERY = 'max by (cluster) (hubscale_test_needed{{cluster=~"{}"}})'


def read(url: str, promql: str) -> Reading:
    async def query() -> Reading:
        async with PrometheusClient(url, timeout_s=QUERY_TIMEOUT_S) as client:
            return await client.by_label(promql)

    return asyncio.run(query())


def test_one_query_returns_every_clusters_value_and_keeps_zero_apart_from_no_data(
    prometheus, exporters
):
    busy, idle = exporters("one-busy"), exporters("one-idle")
    busy.gauge.set(3)
    idle.gauge.set(0)
    promql = QUERY.format("one-.*")
    reading = wait_for(lambda: (r := read(prometheus.url, promql)) and len(r.values) == 2 and r)
    assert reading.values == {"one-busy": 3.0, "one-idle": 0.0}
    assert math.isnan(reading.get("one-never-started"))
    assert reading.evaluated_at > 0


def test_a_nan_metric_comes_back_as_nan_not_an_error(prometheus, exporters):
    exporters("nan-cluster").gauge.set(math.nan)
    promql = QUERY.format("nan-cluster")
    reading = wait_for(lambda: (r := read(prometheus.url, promql)).values and r)
    assert math.isnan(reading.values["nan-cluster"])


def test_a_target_that_goes_away_gives_no_data(prometheus, exporters):
    exporter = exporters("gone-cluster")
    exporter.gauge.set(5)
    promql = QUERY.format("gone-cluster")
    wait_for(lambda: read(prometheus.url, promql).values)
    exporter.stop()
    wait_for(lambda: not read(prometheus.url, promql).values, timeout_s=60)


def test_series_without_the_cluster_label_are_ignored(prometheus, exporters):
    exporters("label-cluster").gauge.set(2)
    wait_for(lambda: read(prometheus.url, QUERY.format("label-cluster")).values)
    reading = read(prometheus.url, 'sum(hubscale_test_needed{cluster="label-cluster"})')
    assert reading.values == {}


def test_a_query_that_does_not_aggregate_by_cluster_is_refused(prometheus, exporters):
    exporters("twice-cluster").gauge.set(1)
    wait_for(lambda: read(prometheus.url, QUERY.format("twice-cluster")).values)
    promql = 'hubscale_test_needed{cluster="twice-cluster"} or label_replace('
    promql += 'hubscale_test_needed{cluster="twice-cluster"}, "role", "copy", "", "")'
    with pytest.raises(PrometheusQueryError, match="aggregate by cluster"):
        read(prometheus.url, promql)


def test_a_malformed_query_is_a_query_error(prometheus):
    with pytest.raises(PrometheusQueryError, match="bad_data"):
        read(prometheus.url, "max by (cluster) (")


def test_prometheus_down_is_unavailable_not_a_crash():
    with pytest.raises(PrometheusUnavailable):
        read(f"http://127.0.0.1:{free_port()}", "up")


def test_something_that_is_not_prometheus_is_a_bad_response(exporters):
    exporter = exporters("not-prometheus")
    address = __import__("json").loads(exporter.target_file.read_text())[0]["targets"][0]
    with pytest.raises(PrometheusBadResponse, match="not JSON"):
        read(f"http://{address}", "up")
