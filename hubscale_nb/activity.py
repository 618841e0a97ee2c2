"""In each notebook server: its kernels per engine as Prometheus metrics, for the controller.

A Jupyter server extension (enabled by ``spawner.notebook_env.server_args``). It serves
``<server>/hubscale/activity/metrics`` with, per engine kernel (``spark``, ``flink``), the kernels
running, those executing now and their newest activity: counts and timestamps only, nothing of
what the user runs. The controller starts a cluster's head while its server has a kernel of that
engine (``autoscaler.policy.heads``).

Not behind the hub's login (a credential that can read this page must not reach the server): the
scraper presents a dedicated bearer token, whose SHA-256 the spawner gives the server in
``HUBSCALE_ACTIVITY_TOKEN_SHA256``. Without it the page does not exist. With
``HUBSCALE_ACTIVITY_PORT`` (Kubernetes) the page is served at ``/hubscale/activity/metrics`` on a
port of its own, beside the server's (same address), which a NetworkPolicy opens to Prometheus
alone, so Prometheus never needs the notebook server's port. Part of ``hubscale_nb``: the notebook
image ships it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from tornado import web

ROUTE = "/hubscale/activity/metrics"
TOKEN_DIGEST_VARIABLE = "HUBSCALE_ACTIVITY_TOKEN_SHA256"
PORT_VARIABLE = "HUBSCALE_ACTIVITY_PORT"
ENGINES = ("spark", "flink")  # each engine's kernel is named after it (spawner.notebook_env)


def token_digest(token: str) -> str:
    """What the server is told of the scrape token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def render(kernels: Iterable[Mapping[str, Any]]) -> bytes:
    """The Prometheus text for a server's kernels (``MappingKernelManager.list_kernels()``)."""
    running = dict.fromkeys(ENGINES, 0.0)
    busy = dict.fromkeys(ENGINES, 0.0)
    latest = dict.fromkeys(ENGINES, 0.0)
    for kernel in kernels:
        engine = kernel.get("name")
        if engine not in running:
            continue
        running[engine] += 1
        busy[engine] += kernel.get("execution_state") == "busy"
        latest[engine] = max(latest[engine], _epoch(kernel.get("last_activity")))
    families = [
        ("hubscale_notebook_kernels", "Running kernels of the engine.", running),
        ("hubscale_notebook_kernels_busy", "Kernels of the engine executing now.", busy),
        (
            "hubscale_notebook_kernel_last_activity_timestamp_seconds",
            "Newest activity of the engine's kernels (0: none yet).",
            latest,
        ),
    ]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(families))
    return generate_latest(registry)


class _Snapshot(Collector):
    """One scrape's gauges, labelled ``engine``."""

    def __init__(self, families: list[tuple[str, str, Mapping[str, float]]]) -> None:
        self.families = families

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, help_text, values in self.families:
            family = GaugeMetricFamily(name, help_text, labels=["engine"])
            for engine, value in values.items():
                family.add_metric([engine], value)
            yield family


def _epoch(value: object) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0.0
    return 0.0


def authorized(header: str, digest: str) -> bool:
    """Whether an ``Authorization`` header carries the scrape token (constant-time compare)."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    return hmac.compare_digest(token_digest(token.strip()), digest)


class ActivityHandler(web.RequestHandler):
    """The metrics page; 403 without the scrape token."""

    def initialize(self, kernel_manager: Any, digest: str) -> None:
        self.kernel_manager = kernel_manager
        self.digest = digest

    def get(self) -> None:
        if not authorized(self.request.headers.get("Authorization", ""), self.digest):
            raise web.HTTPError(403)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.set_header("Cache-Control", "no-store")
        self.write(render(self.kernel_manager.list_kernels()))


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "hubscale_nb.activity"}]


def own_port(text: str) -> int | None:
    """The page's own port from ``HUBSCALE_ACTIVITY_PORT`` ("": on the server's port)."""
    if not text.strip():
        return None
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise ValueError(f"{PORT_VARIABLE}={text!r}: must be a port number (1-65535)")
    return port


def _load_jupyter_server_extension(serverapp: Any) -> None:
    digest = os.environ.get(TOKEN_DIGEST_VARIABLE, "").strip().lower()
    if len(digest) != 64:
        serverapp.log.info("hubscale activity metrics off: no %s", TOKEN_DIGEST_VARIABLE)
        return
    arguments = {"kernel_manager": serverapp.kernel_manager, "digest": digest}
    port = own_port(os.environ.get(PORT_VARIABLE, ""))
    if port is None:
        web_app = serverapp.web_app
        route = web_app.settings["base_url"].rstrip("/") + ROUTE
        web_app.add_handlers(".*$", [(route, ActivityHandler, arguments)])
        return
    page = web.Application([(ROUTE, ActivityHandler, arguments)])
    page.listen(port, address=serverapp.ip or "")
    serverapp.log.info("hubscale activity metrics on %s:%d%s", serverapp.ip, port, ROUTE)
