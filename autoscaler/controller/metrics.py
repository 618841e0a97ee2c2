"""The controller's own metrics (prometheus_client) and its HTTP endpoints: /metrics, /healthz."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app


class ControllerMetrics:
    """Everything the controller reports; one registry per controller (tests run several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.loop_seconds = Histogram(
            "hubscale_controller_loop_duration_seconds",
            "Time one reconcile loop took.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.decisions = Counter(
            "hubscale_controller_decisions_total",
            "Scaling decisions by cause (backlog, shrink, idle, metrics-missing, ...).",
            ["engine", "cause"],
            registry=self.registry,
        )
        self.prometheus_errors = Counter(
            "hubscale_controller_prometheus_errors_total",
            "Loops in which Prometheus could not answer, by error kind.",
            ["kind"],
            registry=self.registry,
        )
        self.backend_errors = Counter(
            "hubscale_controller_backend_errors_total",
            "Backend calls that failed (the controller retries next loop).",
            ["operation"],
            registry=self.registry,
        )
        self.workers = Gauge(
            "hubscale_cluster_workers",
            "Workers running per cluster.",
            ["cluster", "user", "engine"],
            registry=self.registry,
        )
        self.desired = Gauge(
            "hubscale_cluster_desired_workers",
            "Workers the autoscaler wants per cluster.",
            ["cluster", "user", "engine"],
            registry=self.registry,
        )
        self.invalid = Gauge(
            "hubscale_clusters_invalid",
            "ComputeCluster objects that cannot be parsed (phase Error).",
            registry=self.registry,
        )
        self.dry_run = Gauge(
            "hubscale_controller_dry_run",
            "1 while the controller runs in dry-run mode: desired workers are what it would"
            " scale to; nothing is resized.",
            registry=self.registry,
        )
        self.last_loop = Gauge(
            "hubscale_controller_last_loop_timestamp_seconds",
            "When the last reconcile loop finished (Unix time).",
            registry=self.registry,
        )

    def set_cluster(self, cluster: str, user: str, engine: str, workers: int, desired: int):
        self.workers.labels(cluster, user, engine).set(workers)
        self.desired.labels(cluster, user, engine).set(desired)

    def keep_clusters(self, names: Iterable[str]) -> None:
        """Drop the series of clusters that are gone."""
        keep = set(names)
        for gauge in (self.workers, self.desired):
            for labels in list(gauge._metrics):  # prometheus_client has no public label listing
                if labels[0] not in keep:
                    gauge.remove(*labels)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # scrapes every few seconds would flood the log


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def serve(
    metrics: ControllerMetrics, healthy: Callable[[], tuple[bool, str]], host: str, port: int
) -> tuple[WSGIServer, threading.Thread]:
    """Serve /metrics and /healthz in a background thread; returns the server to shut down."""
    metrics_app = make_wsgi_app(metrics.registry)

    def app(environ, start_response):
        if environ.get("PATH_INFO") == "/healthz":
            ok, why = healthy()
            start_response(
                "200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")]
            )
            return [why.encode() + b"\n"]
        return metrics_app(environ, start_response)

    server = make_server(host, port, app, _ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="controller-http", daemon=True)
    thread.start()
    return server, thread
