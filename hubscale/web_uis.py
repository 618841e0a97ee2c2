"""The clusters' web UIs as a user's notebook server offers them: which ones, where they are.

The notebook server (``hubscale_lab``) forwards ``<server>/hubscale/ui/<name>/`` to the user's own
Spark master UI and Flink dashboard only: their addresses come from the server's environment,
which the spawner sets from the clusters' client descriptions (``SPARK_MASTER_UI``,
``FLINK_REST_URL``). The Spark application UIs (``<server>/hubscale/ui/spark-app/<port>/``) are
the drivers' in the user's own kernels, on the ports of the cluster's client configuration
(``spark.ui.port`` and the next ``spark.port.maxRetries``), at ``SPARK_LOCAL_IP``. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

SPARK_MASTER_UI = "SPARK_MASTER_UI"  # the variable naming the Spark master's web UI
FLINK_REST_URL = "FLINK_REST_URL"  # the Flink JobManager's REST API, which serves its dashboard
FLINK_CONF_DIR = "FLINK_CONF_DIR"  # the Flink client's configuration, with the REST keystore
SPARK_LOCAL_IP = "SPARK_LOCAL_IP"  # where the kernels' drivers serve their application UIs
ROUTE = "/hubscale/ui"  # under the server's base URL: <ROUTE>/<name>/


def status_file_variable(engine: str) -> str:
    """The server's variable naming a cluster's status file: the controller's (locally) or the
    short one mounted from the cluster's Secret (Kubernetes). ``spawner.kernel_notice`` spells it
    the same (it cannot import this: it runs in the engines' kernels); a test compares them."""
    return f"HUBSCALE_{engine.upper()}_STATUS_FILE"


class WebUiError(ValueError):
    """An address in the environment that a UI cannot be forwarded to."""


@dataclass(frozen=True, slots=True)
class WebUi:
    """One cluster UI: ``<server><ROUTE>/<name>/`` forwards to ``scheme://host:port/``."""

    name: str
    title: str
    engine: str
    scheme: str  # http, or https for Flink (mutual TLS with the cluster's certificate)
    host: str
    port: int  # for ``ports``: the first
    stopped: str  # what the user reads when nothing answers there
    ports: range | None = None  # the path chooses one of these (the drivers' UIs)

    @property
    def route(self) -> str:
        """The UI's path under the server's base URL (then ``<port>/`` if it has ``ports``)."""
        return f"{ROUTE.strip('/')}/{self.name}"

    @property
    def path(self) -> str:
        """Where the launcher opens it, with its trailing slash."""
        return f"{self.route}/{self.port}/" if self.ports else f"{self.route}/"


def _parse(url: str, variable: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as error:
        raise WebUiError(f"{variable}={url!r}: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise WebUiError(f"{variable}={url!r} is not an http(s)://host:port address")
    return parts.scheme, parts.hostname, port


def _head_stopped(head: str, engine: str) -> str:
    return (
        f"Your {head} is not running now: it starts with your first {engine} kernel, and stops"
        " when none has needed it for the cluster's idle time."
    )


def parse_spark_defaults(text: str) -> dict[str, str]:
    """``spark-defaults.conf`` (``key value`` lines, ``#`` comments) as a dict."""
    found = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key and not key.startswith("#"):
            found[key] = value.strip()
    return found


def spark_app_ports(defaults: Mapping[str, str]) -> range | None:
    """The drivers' UI ports of a cluster's client configuration; None if it names none."""
    try:
        first = int(defaults["spark.ui.port"])
        retries = int(defaults.get("spark.port.maxRetries", "16"))
    except (KeyError, ValueError):
        return None
    if not 0 < first <= first + retries < 65536 or retries < 0:
        return None
    return range(first, first + retries + 1)


def cluster_uis(
    env: Mapping[str, str], spark_defaults: Mapping[str, str] | None = None
) -> list[WebUi]:
    """The UIs of the clusters this environment points at (none for an unset variable), and
    the Spark application UIs when the Spark client configuration names their ports."""
    found = []
    if url := env.get(SPARK_MASTER_UI):
        scheme, host, port = _parse(url, SPARK_MASTER_UI)
        stopped = _head_stopped("Spark master", "Spark")
        found.append(WebUi("spark-master", "Spark master", "spark", scheme, host, port, stopped))
    if (ports := spark_app_ports(spark_defaults or {})) is not None:
        stopped = (
            "No Spark application serves its UI on this port now: each SparkSession of your"
            f" Spark kernels serves one, on ports {ports[0]} to {ports[-1]} (the first session:"
            f" {ports[0]})."
        )
        host = env.get(SPARK_LOCAL_IP) or "127.0.0.1"
        found.append(
            WebUi("spark-app", "Spark application", "spark", "http", host, ports[0], stopped, ports)
        )
    if url := env.get(FLINK_REST_URL):
        scheme, host, port = _parse(url, FLINK_REST_URL)
        stopped = _head_stopped("Flink JobManager", "Flink")
        found.append(WebUi("flink", "Flink dashboard", "flink", scheme, host, port, stopped))
    return found


def forwarded_driver_links(page: str, app: WebUi, base_url: str) -> str:
    """A master UI page with its links to the drivers' UIs (``http://<host>:<port>`` on one of
    ``app.ports``) made their forwarded paths under the server's ``base_url``; others kept."""
    if not app.ports:
        return page
    pattern = re.compile(rf'href="https?://{re.escape(app.host)}:(\d+)')
    prefix = f"{base_url.rstrip('/')}/{app.route}"

    def forwarded(match: re.Match[str]) -> str:
        port = int(match[1])
        return f'href="{prefix}/{port}' if port in app.ports else match[0]

    return pattern.sub(forwarded, page)
