"""The clusters' web UIs as a user's notebook server offers them: which ones, where they are.

The notebook server (``hubscale_lab``) forwards ``<server>/hubscale/ui/<name>/`` to the user's own
Spark master UI and Flink dashboard only: their addresses come from the server's environment,
which the spawner sets from the clusters' client descriptions (``SPARK_MASTER_UI``,
``FLINK_REST_URL``). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

SPARK_MASTER_UI = "SPARK_MASTER_UI"  # the variable naming the Spark master's web UI
FLINK_REST_URL = "FLINK_REST_URL"  # the Flink JobManager's REST API, which serves its dashboard
FLINK_CONF_DIR = "FLINK_CONF_DIR"  # the Flink client's configuration, with the REST keystore
ROUTE = "/hubscale/ui"  # under the server's base URL: <ROUTE>/<name>/


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
    port: int

    @property
    def path(self) -> str:
        """The UI's path under the server's base URL, with its trailing slash."""
        return f"{ROUTE.strip('/')}/{self.name}/"


def _parse(url: str, variable: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as error:
        raise WebUiError(f"{variable}={url!r}: {error}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        raise WebUiError(f"{variable}={url!r} is not an http(s)://host:port address")
    return parts.scheme, parts.hostname, port


def cluster_uis(env: Mapping[str, str]) -> list[WebUi]:
    """The UIs of the clusters this environment points at (none for an unset variable)."""
    found = []
    if url := env.get(SPARK_MASTER_UI):
        scheme, host, port = _parse(url, SPARK_MASTER_UI)
        found.append(WebUi("spark-master", "Spark master", "spark", scheme, host, port))
    if url := env.get(FLINK_REST_URL):
        scheme, host, port = _parse(url, FLINK_REST_URL)
        found.append(WebUi("flink", "Flink dashboard", "flink", scheme, host, port))
    return found
