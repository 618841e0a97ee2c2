"""The server extension: ``<server>/hubscale/ui/<name>/`` for the user's own cluster UIs, the
``<server>/hubscale/clusters`` page, and the launcher entries (``server-proxy/servers-info``) that
jupyter-server-proxy's JupyterLab part reads.

Only this extension's routes forward anything: jupyter-server-proxy's own server extension, whose
``/proxy/<port>/`` reaches any port of the host (on one machine, every user's clusters and the
platform's services), is turned off (``spawner.notebook_env.server_args``; the image disables it
too). Its host allow-list cannot close that route: ``/proxy/<port>/`` means localhost, always
allowed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from jupyter_server.utils import url_path_join
from jupyter_server_proxy.api import IconHandler, ServersInfoHandler
from jupyter_server_proxy.handlers import AddSlashHandler

from hubscale.web_uis import WebUi, WebUiError, cluster_uis, parse_spark_defaults
from hubscale_lab.clusters_page import clusters_handler
from hubscale_lab.launcher import icons, launcher_entries
from hubscale_lab.ui_proxy import ClusterUiHandler, SparkAppUiHandler, driver_links

SERVERS_INFO = "server-proxy/servers-info"  # what jupyter-server-proxy's lab extension asks
ICON = "server-proxy/icon/(.*)"


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "hubscale_lab.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    web_app = serverapp.web_app
    base_url = web_app.settings["base_url"]
    try:
        uis = cluster_uis(os.environ, spark_defaults(os.environ))
    except WebUiError as error:  # the server starts without the UIs, and the log says why
        serverapp.log.warning("cluster-uis-off reason=%r", str(error))
        uis = []
    entries = launcher_entries(uis)
    web_app.add_handlers(
        ".*$",
        [
            *(handler for ui in uis for handler in ui_handlers(base_url, ui, uis)),
            clusters_handler(base_url, uis, os.environ),
            (
                url_path_join(base_url, SERVERS_INFO),
                ServersInfoHandler,
                {"server_processes": entries},
            ),
            (url_path_join(base_url, ICON), IconHandler, {"icons": icons(entries)}),
        ],
    )
    serverapp.log.info("cluster-uis %s", " ".join(f"{ui.name}={ui.path}" for ui in uis) or "none")


def spark_defaults(env: Mapping[str, str]) -> dict[str, str]:
    """The Spark client configuration the kernels use (empty if there is none)."""
    try:
        text = (Path(env["SPARK_CONF_DIR"]) / "spark-defaults.conf").read_text(encoding="utf-8")
    except (KeyError, OSError, UnicodeDecodeError):
        return {}
    return parse_spark_defaults(text)


def ui_handlers(
    base_url: str, ui: WebUi, uis: Sequence[WebUi] = ()
) -> list[tuple[str, type, dict[str, Any]]]:
    """The UI's route (forwarding to its one address, or a port of its ``ports``) and the
    slash-adding one before it; the master UI's links to drivers lead to their routes."""
    route = url_path_join(base_url, ui.route)
    arguments: dict[str, Any] = {"ui": ui, "env": os.environ, "host_allowlist": [ui.host]}
    apps = [other for other in uis if other.ports and other.engine == ui.engine]
    if ui.name == "spark-master" and apps:
        arguments["rewrite_response"] = driver_links(apps[0], base_url)
    if ui.ports:
        route += r"/(\d+)"
        return [(route + "/(.*)", SparkAppUiHandler, arguments), (route, AddSlashHandler, {})]
    return [(route + "/(.*)", ClusterUiHandler, arguments), (route, AddSlashHandler, {})]
