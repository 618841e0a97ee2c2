"""One cluster web UI behind the user's notebook server, through jupyter-server-proxy's handler.

Each UI gets a handler bound to one fixed address (``hubscale.web_uis.WebUi``): the request's
path is the only thing a user chooses, never a host or a port, so the server forwards to its own
clusters and nothing else. It forwards GET and HEAD only (the UIs are for watching; jobs are
submitted and cancelled from kernels), without the user's Jupyter cookies and token. Flink's
dashboard is served by its REST API, which answers only clients presenting the cluster's
certificate: the handler presents the server's copy of it (``FLINK_CONF_DIR``), as PyFlink does.
"""

from __future__ import annotations

import dataclasses
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jupyter_server_proxy.handlers import ProxyHandler, RewritableResponse
from tornado import web

from hubscale import flink_tls
from hubscale.flink_conf import rest_keystore, rest_keystore_password
from hubscale.web_uis import FLINK_CONF_DIR, WebUi, forwarded_driver_links
from hubscale.yaml_input import YamlInputError, load_yaml

NOT_FORWARDED = ("Cookie", "Authorization")  # the user's Jupyter credentials stay here


class UiUnavailable(RuntimeError):
    """The UI cannot be reached now; the message says why, for the user."""


def flink_client_context(conf_dir: Path) -> ssl.SSLContext:
    """A TLS context presenting the cluster's certificate, from the Flink client's configuration
    (its keystore and password, as PyFlink reads them)."""
    try:
        config = load_yaml((conf_dir / "config.yaml").read_text(encoding="utf-8"))
        keystore_file, password = rest_keystore(config), rest_keystore_password(config)
        if keystore_file is None or password is None:
            raise ValueError("its configuration names no REST keystore")
        tls = flink_tls.from_keystore(Path(keystore_file).read_bytes(), password)
    except (OSError, YamlInputError, ValueError, AttributeError, TypeError) as error:
        raise UiUnavailable(f"cannot read your Flink cluster's credential: {error}") from None
    return flink_tls.client_context(tls)


def driver_links(app: WebUi, base_url: str) -> Callable[[RewritableResponse], None]:
    """A ``rewrite_response`` for the master UI: its links to the user's drivers' UIs lead to
    their forwarded paths (``forwarded_driver_links``), not to ports a browser cannot open."""

    def rewrite(response: RewritableResponse) -> None:
        html = "text/html" in response.headers.get("Content-Type", "")
        if html and not response.headers.get("Content-Encoding"):
            page = response.body.decode("utf-8", "replace")
            response.body = forwarded_driver_links(page, app, base_url).encode("utf-8")

    return rewrite


class ClusterUiHandler(ProxyHandler):
    """GET/HEAD ``<server>/hubscale/ui/<name>/<path>`` -> ``<the UI's address>/<path>``."""

    ui: WebUi
    env: Mapping[str, str]

    def initialize(self, ui: WebUi, env: Mapping[str, str]) -> None:
        self.ui = ui
        self.env = env
        self.proxy_base = ui.path.rstrip("/")  # Location headers and X-Forwarded-Context

    async def get(self, path: str) -> None:
        if self.request.headers.get("Upgrade", "").lower() == "websocket":
            raise web.HTTPError(405, "the cluster UIs are forwarded without websockets")
        await self._forward(path)

    async def head(self, path: str) -> None:
        await self._forward(path)

    async def _forward(self, path: str) -> None:
        title = self.ui.title
        try:
            await self.proxy(self.ui.host, self.ui.port, "/" + path.lstrip("/"))
        except ConnectionRefusedError:
            raise web.HTTPError(503, self.ui.stopped) from None
        except OSError as error:  # TLS and network failures: the user's page says which
            raise web.HTTPError(502, f"Could not reach your {title}: {error}") from None
        except web.HTTPError as error:
            if error.status_code == 599:  # jupyter-server-proxy's: no answer in time
                raise web.HTTPError(503, f"Your {title} did not answer in time") from None
            raise

    def _read_only(self, *args: Any) -> None:
        raise web.HTTPError(405, "the cluster UIs are read-only here: use your notebook's kernel")

    post = put = delete = patch = options = _read_only

    def get_client_uri(self, protocol: str, host: str, port: int, proxied_path: str) -> str:
        scheme = self.ui.scheme if protocol == "http" else protocol
        return super().get_client_uri(scheme, host, port, proxied_path)

    def proxy_request_headers(self) -> Any:
        headers = super().proxy_request_headers()
        for name in NOT_FORWARDED:
            headers.pop(name, None)
        if self.rewrite_response:  # pages it rewrites come uncompressed
            headers.pop("Accept-Encoding", None)
        return headers

    def proxy_request_options(self) -> dict[str, Any]:
        options = super().proxy_request_options()
        if self.ui.scheme == "https":
            try:
                conf_dir = Path(self.env[FLINK_CONF_DIR])
                options["ssl_options"] = flink_client_context(conf_dir)
            except (KeyError, UiUnavailable) as error:
                message = f"Your Flink dashboard cannot be reached: {error}"
                raise web.HTTPError(503, message) from None
        return options


class SparkAppUiHandler(ClusterUiHandler):
    """``<server>/hubscale/ui/spark-app/<port>/<path>``: a driver's UI in one of the user's
    kernels, on one of the ports of the cluster's client configuration (any other: 404)."""

    async def get(self, port: str, path: str) -> None:  # type: ignore[override]
        self._choose(port)
        await super().get(path)

    async def head(self, port: str, path: str) -> None:  # type: ignore[override]
        self._choose(port)
        await super().head(path)

    def _choose(self, port: str) -> None:
        ports = self.ui.ports or range(0)
        if int(port) not in ports:
            raise web.HTTPError(
                404, f"not a Spark application UI port of yours ({ports[0]}-{ports[-1]})"
            )
        self.ui = dataclasses.replace(self.ui, port=int(port))
        self.proxy_base = f"{self.ui.route}/{port}"
