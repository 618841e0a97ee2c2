"""JupyterHub configuration for local mode: one machine, loopback only, state in one directory.

Hub and proxy on 127.0.0.1, users log in with a shared password generated on first run, scripts use
an admin token (``<state>/admin-token``), idle servers are culled (their clusters go with them:
the spawner's stop deletes them), and ``/hub/metrics`` is open for the local Prometheus.
"""

from __future__ import annotations

from typing import Any

from hub_config import credentials
from hub_config.access import (
    CULLER_SERVICE,
    SERVER_TOKEN_SCOPES,
    TRACKING_SERVICE,
    USAGE_SERVICE,
    Service,
    idle_culler,
    set_services,
    shared_password,
    tracking_service,
    usage_service,
)
from hub_config.settings import REPO, Settings
from hubscale.processes import MARKER_VARIABLE
from hubscale.state_dir import mlflow_socket
from spawner.budgets import parse_group_budgets
from spawner.profiles import load_profiles

ADMIN_SERVICE = "hubscale-admin"
ADMIN_USER = "admin"
# What scripts and tests need: manage users and servers, talk to the servers, issue tokens.
ADMIN_SCOPES = ["admin:users", "admin:servers", "access:servers", "tokens", "read:metrics"]
LOCAL_PROXY = REPO / ".node" / "node_modules" / ".bin" / "configurable-http-proxy"
SERVER_START_S = 300.0  # the notebook server, after the clusters (10 at once on 2 cores: >120 s)


def hub_marker(settings: Settings) -> str:
    """Marks the hub and what it starts besides servers (proxy, culler), to find them again."""
    return str(settings.hub_dir)


def proxy_command() -> list[str]:
    """configurable-http-proxy from ``make install`` (npm, in ``.node/``), else from PATH."""
    return [str(LOCAL_PROXY)] if LOCAL_PROXY.exists() else ["configurable-http-proxy"]


def configure(c: Any, settings: Settings) -> None:
    """Fill JupyterHub's config object ``c`` for local mode."""
    load_profiles(settings.profiles_file)  # a broken profiles file stops the hub here, named
    hub_dir = settings.hub_dir
    hub_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    c.JupyterHub.ip = "127.0.0.1"
    c.JupyterHub.port = settings.port
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = settings.hub_port
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings.proxy_api_port}"
    c.ConfigurableHTTPProxy.command = proxy_command()
    c.ConfigurableHTTPProxy.pid_file = str(hub_dir / "proxy.pid")
    c.JupyterHub.db_url = f"sqlite:///{hub_dir / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(hub_dir / "cookie_secret")
    c.JupyterHub.authenticate_prometheus = False  # loopback only; Prometheus scrapes it
    c.JupyterHub.allow_named_servers = True
    c.JupyterHub.named_server_limit_per_user = settings.named_server_limit
    c.JupyterHub.cleanup_servers = True  # the hub stopping stops the servers and their clusters

    _authentication(c, settings)
    _spawner(c, settings)
    _services(c, settings)


def _authentication(c: Any, settings: Settings) -> None:
    """Any user name with the shared password; ``admin`` with the admin password."""
    shared_password(
        c,
        credentials.user_password(settings.password_file),
        credentials.admin_password(settings.admin_password_file),
        {ADMIN_USER},
    )


def _spawner(c: Any, settings: Settings) -> None:
    c.JupyterHub.spawner_class = "spawner.local.LocalSpawner"
    c.LocalSpawner.state_dir = str(settings.state_dir)
    c.LocalSpawner.accounts = settings.accounts
    c.LocalSpawner.profiles_file = str(settings.profiles_file)
    c.LocalSpawner.clusters_timeout_s = settings.clusters_timeout_s
    c.LocalSpawner.group_budget_cores = parse_group_budgets(settings.group_budgets)
    c.LocalSpawner.heads_on_demand = settings.heads_on_demand
    c.LocalSpawner.tracking_url = f"{settings.url}/services/{TRACKING_SERVICE}"
    c.Spawner.server_token_scopes = SERVER_TOKEN_SCOPES
    c.Spawner.start_timeout = int(settings.clusters_timeout_s + SERVER_START_S)
    c.Spawner.http_timeout = int(SERVER_START_S)


def _services(c: Any, settings: Settings) -> None:
    """The admin token's service, the idle culler, the usage service and the tracking service,
    each with only the scopes it needs."""
    token = credentials.api_token(settings.admin_token_file)
    culler_marker = {MARKER_VARIABLE: f"{hub_marker(settings)}/{CULLER_SERVICE}"}
    usage_args = [
        f"--state-dir={settings.state_dir}",
        f"--prometheus-url=http://127.0.0.1:{settings.prometheus_port}",
    ]
    usage_marker = {MARKER_VARIABLE: f"{hub_marker(settings)}/{USAGE_SERVICE}"}
    tracking_marker = {MARKER_VARIABLE: f"{hub_marker(settings)}/{TRACKING_SERVICE}"}
    set_services(
        c,
        [
            Service(ADMIN_SERVICE, ADMIN_SCOPES, api_token=token),
            idle_culler(settings.cull_timeout_s, settings.cull_every_s, culler_marker),
            usage_service(settings.usage_port, usage_args, str(REPO), usage_marker),
            tracking_service(
                settings.mlflow_port,
                str(mlflow_socket(settings.state_dir)),
                str(REPO),
                tracking_marker,
            ),
        ],
    )
