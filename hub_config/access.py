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


@dataclass(frozen=True, slots=True)
class Service:
    """A hub service and the scopes its role grants."""

    name: str
    scopes: list[str]
    api_token: str | None = None
    command: list[str] | None = None
    environment: Mapping[str, str] = field(default_factory=dict)

    def entry(self) -> dict[str, Any]:
        """The service as ``JupyterHub.services`` lists it."""
        entry: dict[str, Any] = {"name": self.name}
        if self.api_token is not None:
            entry["api_token"] = self.api_token
        if self.command is not None:
            entry["command"] = self.command
        if self.environment:
            entry["environment"] = dict(self.environment)
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


def set_services(c: Any, services: list[Service | None]) -> None:
    """``JupyterHub.services`` and one role per service."""
    present = [service for service in services if service is not None]
    c.JupyterHub.services = [service.entry() for service in present]
    c.JupyterHub.load_roles = [service.role() for service in present]
