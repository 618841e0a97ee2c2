"""Who may log in, and the hub's services with only the scopes each needs: both modes alike.

Each mode says where the secrets come from (local: generated files in the state directory;
Kubernetes: the chart's Secret through the environment); the shapes are set here once.
"""

from __future__ import annotations

import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

SHARED_PASSWORD = "shared-password"
CULLER_SERVICE = "idle-culler"
CULLER_SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]
USAGE_SERVICE = "hubscale"  # /services/hubscale/: My compute, the usage JSON API
USAGE_SCOPES = ["read:users"]  # to tell a hub admin (the user model's admin field) from others
TRACKING_SERVICE = "mlflow"  # /services/mlflow/: MLflow's tracking server, as the hub's users
# A notebook server's own token (JUPYTERHUB_API_TOKEN): JupyterHub's `server` role, plus the
# tracking service, so the kernels log runs as their user (MLFLOW_TRACKING_TOKEN).
SERVER_TOKEN_SCOPES = [
    "users:activity!user",
    "access:servers!server",
    f"access:services!service={TRACKING_SERVICE}",
]


@dataclass(frozen=True, slots=True)
class Service:
    """A hub service and the scopes its role grants."""

    name: str
    scopes: list[str]
    api_token: str | None = None
    command: list[str] | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    url: str | None = None  # a web service the proxy routes /services/<name>/ to
    cwd: str | None = None
    for_every_user: bool = False  # every hub user may sign in to it (access:services!service=)

    def entry(self) -> dict[str, Any]:
        """The service as ``JupyterHub.services`` lists it."""
        entry: dict[str, Any] = {"name": self.name}
        if self.api_token is not None:
            entry["api_token"] = self.api_token
        if self.command is not None:
            entry["command"] = self.command
        if self.environment:
            entry["environment"] = dict(self.environment)
        if self.url is not None:  # listed in the Services menu, signed in by the hub's OAuth
            entry.update(url=self.url, display=True, oauth_no_confirm=True)
        if self.cwd is not None:
            entry["cwd"] = self.cwd
        return entry

    def role(self) -> dict[str, Any]:
        return {"name": self.name, "scopes": self.scopes, "services": [self.name]}


def shared_password(
    c: Any, user_password: str, admin_password: str, admin_users: Collection[str]
) -> None:
    """Any user name with the shared password; the admin users with the admin password."""
    c.JupyterHub.authenticator_class = SHARED_PASSWORD
    c.SharedPasswordAuthenticator.user_password = user_password
    c.SharedPasswordAuthenticator.admin_password = admin_password
    c.Authenticator.admin_users = set(admin_users)
    c.Authenticator.allow_all = True


def idle_culler(
    timeout_s: float, every_s: float, environment: Mapping[str, str] | None = None
) -> Service | None:
    """jupyterhub-idle-culler as a hub-managed service; None when culling is off (0 s)."""
    if timeout_s <= 0:
        return None
    command = [
        sys.executable,
        "-m",
        "jupyterhub_idle_culler",
        f"--timeout={timeout_s:.0f}",
        f"--cull-every={max(1, round(every_s))}",
    ]
    return Service(CULLER_SERVICE, CULLER_SCOPES, command=command, environment=environment or {})


def usage_service(
    port: int, args: list[str], cwd: str, environment: Mapping[str, str] | None = None
) -> Service:
    """The ``hubscale`` usage service (``python -m usage``) on a loopback port."""
    return Service(
        USAGE_SERVICE,
        USAGE_SCOPES,
        command=[sys.executable, "-m", "usage", *args],
        environment=environment or {},
        url=f"http://127.0.0.1:{port}",
        cwd=cwd,
        for_every_user=True,
    )


def tracking_service(
    port: int, mlflow_socket: str, cwd: str, environment: Mapping[str, str] | None = None
) -> Service:
    """The ``mlflow`` service (``python -m tracking``) on a loopback port, in front of MLflow's
    server on its Unix socket; it asks the hub only who a caller is (no scopes of its own)."""
    return Service(
        TRACKING_SERVICE,
        [],
        command=[sys.executable, "-m", "tracking", f"--mlflow-socket={mlflow_socket}"],
        environment=environment or {},
        url=f"http://127.0.0.1:{port}",
        cwd=cwd,
        for_every_user=True,
    )


def user_role(services: list[Service]) -> dict[str, Any]:
    """JupyterHub's default ``user`` role, plus access to the services every user may use."""
    access = [f"access:services!service={s.name}" for s in services if s.for_every_user]
    return {"name": "user", "scopes": ["self", *access]}


def set_services(c: Any, services: list[Service | None]) -> None:
    """``JupyterHub.services``, one role per service, and the users' access to theirs."""
    present = [service for service in services if service is not None]
    c.JupyterHub.services = [service.entry() for service in present]
    c.JupyterHub.load_roles = [service.role() for service in present]
    if any(service.for_every_user for service in present):
        c.JupyterHub.load_roles.append(user_role(present))
