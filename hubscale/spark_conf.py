"""Spark configuration for one user's standalone cluster: pure functions, no I/O.

The same ``spark-defaults.conf`` serves the master, the workers and the user's drivers (the
client configuration the spawner hands to the kernel): the master URL, RPC authentication with the
cluster's secret, dynamic allocation with shuffle tracking (so drivers publish their executor
demand), a stable metrics namespace, a bounded driver UI port range (scraped by Prometheus) and
graceful decommissioning. Everything binds to 127.0.0.1 locally.
"""

from __future__ import annotations

from dataclasses import dataclass

METRICS_NAMESPACE = "hubscale"  # stable metric names: no app id inside them
# How long a decommissioned worker may wait for its executors to finish or migrate before it is
# stopped (Spark then re-runs what was left), locally and on Kubernetes.
DECOMMISSION_TIMEOUT_S = 600


@dataclass(frozen=True, slots=True)
class SparkClusterPorts:
    master: int  # RPC
    master_ui: int  # web UI and /metrics/master/prometheus/
    driver_ui_first: int  # drivers take UI ports from here on
    driver_ui_count: int = 8  # at most this many drivers (kernels) at once


def master_url(ports: SparkClusterPorts, host: str = "127.0.0.1") -> str:
    return f"spark://{host}:{ports.master}"


def spark_defaults(
    ports: SparkClusterPorts,
    secret: str,
    executor_cores: int,
    executor_memory_mib: int,
    metrics_conf_path: str,
    host: str = "127.0.0.1",
) -> dict[str, str]:
    """Properties for master, workers and drivers of one cluster."""
    return {
        "spark.master": master_url(ports, host),
        "spark.authenticate": "true",
        "spark.authenticate.secret": secret,
        "spark.master.rest.enabled": "false",  # the REST submission server has no auth
        "spark.ui.killEnabled": "false",
        "spark.driver.host": host,
        "spark.driver.bindAddress": host,
        "spark.ui.port": str(ports.driver_ui_first),
        "spark.port.maxRetries": str(max(0, ports.driver_ui_count - 1)),
        "spark.dynamicAllocation.enabled": "true",
        "spark.dynamicAllocation.shuffleTracking.enabled": "true",
        "spark.dynamicAllocation.minExecutors": "0",
        # One executor asked for at session start: it launches as soon as a worker registers,
        # while the user writes the first query; it goes after executorIdleTimeout unused.
        "spark.dynamicAllocation.initialExecutors": "1",
        "spark.dynamicAllocation.executorIdleTimeout": "60s",
        "spark.executor.cores": str(executor_cores),
        "spark.executor.memory": f"{executor_memory_mib}m",
        "spark.decommission.enabled": "true",
        "spark.storage.decommission.enabled": "true",
        "spark.storage.decommission.shuffleBlocks.enabled": "true",
        "spark.storage.decommission.rddBlocks.enabled": "true",
        "spark.metrics.namespace": METRICS_NAMESPACE,
        "spark.metrics.conf": metrics_conf_path,
        "spark.ui.prometheus.enabled": "true",
        "spark.worker.cleanup.enabled": "true",
    }


def executor_memory_mib(worker_memory_mib: int) -> int:
    """Heap for the one executor a worker runs: the worker's memory less JVM overhead."""
    overhead = max(384, worker_memory_mib // 10)  # Spark's own minimum overhead is 384 MiB
    return max(256, worker_memory_mib - overhead)


def metrics_properties() -> str:
    """Prometheus endpoints for every Spark component (trailing slash needed when scraping)."""
    lines = {
        "*.sink.prometheusServlet.class": "org.apache.spark.metrics.sink.PrometheusServlet",
        "*.sink.prometheusServlet.path": "/metrics/prometheus",
        "master.sink.prometheusServlet.path": "/metrics/master/prometheus",
        "applications.sink.prometheusServlet.path": "/metrics/applications/prometheus",
    }
    return render_properties(lines)


def render_properties(properties: dict[str, str]) -> str:
    """Java properties text, one ``key value`` per line, sorted for stable files."""
    for key, value in properties.items():
        if "\n" in key or "\n" in value:
            raise ValueError(f"newline in Spark property {key!r}")
    return "".join(f"{key} {properties[key]}\n" for key in sorted(properties))
