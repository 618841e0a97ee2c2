"""Spark configuration for a user's cluster: secure and scrapeable by construction."""

from __future__ import annotations

import pytest

from hubscale.spark_conf import (
    SparkClusterPorts,
    executor_memory_mib,
    master_url,
    metrics_properties,
    render_properties,
    spark_defaults,
)

PORTS = SparkClusterPorts(master=7077, master_ui=8080, driver_ui_first=4040, driver_ui_count=4)


def test_defaults_turn_on_auth_and_dynamic_allocation_and_turn_off_unauthenticated_rest():
    conf = spark_defaults(PORTS, "s3cret", 2, 1500, "/c/metrics.properties")
    assert conf["spark.master"] == master_url(PORTS) == "spark://127.0.0.1:7077"
    assert conf["spark.authenticate"] == "true"
    assert conf["spark.authenticate.secret"] == "s3cret"
    assert conf["spark.master.rest.enabled"] == "false"
    assert conf["spark.dynamicAllocation.enabled"] == "true"
    assert conf["spark.dynamicAllocation.shuffleTracking.enabled"] == "true"
    assert conf["spark.decommission.enabled"] == "true"
    assert conf["spark.executor.cores"] == "2"


def test_drivers_take_ui_ports_from_a_bounded_range_with_stable_metric_names():
    conf = spark_defaults(PORTS, "s", 1, 1024, "/m")
    assert conf["spark.ui.port"] == "4040"
    assert conf["spark.port.maxRetries"] == "3"  # ports 4040..4043: the scraped range
    assert conf["spark.metrics.namespace"] == "hubscale"
    assert conf["spark.ui.prometheus.enabled"] == "true"
    assert conf["spark.metrics.conf"] == "/m"


def test_executor_heap_leaves_room_for_jvm_overhead():
    assert executor_memory_mib(2048) == 2048 - 384
    assert executor_memory_mib(8192) == 8192 - 819
    assert executor_memory_mib(256) == 256


def test_metrics_use_the_prometheus_servlet_for_master_and_apps():
    text = metrics_properties()
    assert "*.sink.prometheusServlet.class org.apache.spark.metrics.sink.PrometheusServlet" in text
    assert "master.sink.prometheusServlet.path /metrics/master/prometheus" in text


def test_properties_are_sorted_and_refuse_newlines():
    assert render_properties({"b": "2", "a": "1"}) == "a 1\nb 2\n"
    with pytest.raises(ValueError, match="newline"):
        render_properties({"spark.authenticate.secret": "x\nspark.authenticate false"})
