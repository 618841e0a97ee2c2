"""``<server>/hubscale/clusters``: the user's clusters now, without a JupyterLab extension build.

A page the server renders from the clusters' status files (``HUBSCALE_<ENGINE>_STATUS_FILE``):
locally the controller's whole status (phase, workers, desired, the last decision's reason); on
Kubernetes the short status mounted from the cluster's Secret (desired workers and the reason of
the last change, up to about a minute late), so only what the file holds is shown. It links each
engine's UI and the usage service's page, and reloads itself every few seconds. JupyterLab's
launcher opens it in a tab ("My clusters").
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from hubscale.web_uis import WebUi, status_file_variable
from hubscale.yaml_input import YamlInputError, load_yaml

ROUTE = "/hubscale/clusters"
ENGINES = {"spark": "Spark", "flink": "Flink"}
USAGE_PAGE = "services/hubscale/"  # under the hub's base URL (the usage service, issue 18)
REFRESH_S = 5
MAX_STATUS_BYTES = 64 * 1024


def read_status(path: str | None) -> Mapping[str, Any] | None:
    """A status file's document; None when there is none or it cannot be read."""
    if not path:
        return None
    try:
        with open(path, "rb") as file:
            document = load_yaml(file.read(MAX_STATUS_BYTES).decode("utf-8"))
    except (OSError, UnicodeDecodeError, YamlInputError):
        return None
    return document if isinstance(document, Mapping) else None


def _cell(value: object) -> str:
    return f"<td>{html.escape(str(value))}</td>" if value not in (None, "") else "<td>–</td>"


def render(
    statuses: Mapping[str, Mapping[str, Any] | None],
    uis: Sequence[WebUi],
    base_url: str,
    hub_base_url: str,
) -> str:
    """The page: one row per engine, what its status says, and its UI links."""
    rows = []
    for engine, name in ENGINES.items():
        status = statuses.get(engine) or {}
        workers = status.get("workers")
        desired = status.get("desired")
        count = f"{workers} / {desired}" if workers is not None else desired
        links = " ".join(
            f'<a href="{html.escape(url_path_join(base_url, ui.path))}" target="_blank">'
            f"{html.escape(ui.title)}</a>"
            for ui in uis
            if ui.engine == engine
        )
        rows.append(
            f"<tr><th>{name}</th>{_cell(status.get('phase'))}{_cell(count)}"
            f"{_cell(status.get('reason'))}<td>{links or '–'}</td></tr>"
        )
    usage = html.escape(url_path_join(hub_base_url, USAGE_PAGE))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="{REFRESH_S}">
<title>My clusters</title>
<style>body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:.4em .8em;text-align:left}}</style></head>
<body><h1>My clusters</h1>
<table><thead><tr><th>Engine</th><th>Phase</th><th>Workers / desired</th><th>Last decision</th>
<th>Web UI</th></tr></thead><tbody>
{"".join(rows)}
</tbody></table>
<p>What your clusters held and used, and why they scaled:
<a href="{usage}" target="_blank">My compute</a>.</p>
</body></html>
"""


class ClustersHandler(JupyterHandler):
    """GET: the page, for whoever may read this server's API."""

    auth_resource = "api"

    def initialize(self, uis: Sequence[WebUi], env: Mapping[str, str]) -> None:
        self.uis = uis
        self.env = env

    @web.authenticated
    @authorized
    def get(self) -> None:
        statuses = {e: read_status(self.env.get(status_file_variable(e))) for e in ENGINES}
        hub_base_url = self.env.get("JUPYTERHUB_BASE_URL") or "/"
        self.set_header("Cache-Control", "no-store")
        self.finish(render(statuses, self.uis, self.base_url, hub_base_url))


def clusters_handler(
    base_url: str, uis: Sequence[WebUi], env: Mapping[str, str]
) -> tuple[str, type, dict[str, Any]]:
    return (url_path_join(base_url, ROUTE), ClustersHandler, {"uis": uis, "env": env})
