"""The platform's settings, read once from the environment: one table of variables, typed.

``make up`` (``local_stack.up``), ``make down`` and ``jupyterhub_config.py`` all read them here, so
the hub, the controller and Prometheus agree on the state directory and the ports.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from hubscale.accounts import AccountMode, account_mode
from hubscale.state_dir import default_state_dir
from spawner.budgets import parse_group_budgets

Mode = Literal["local", "kubernetes"]
HUB_CONFIG_DIR = Path(__file__).resolve().parent
REPO = HUB_CONFIG_DIR.parent
DEFAULT_PROFILES = HUB_CONFIG_DIR / "profiles.yaml"
DEFAULT_CHART_VALUES = Path("/usr/local/etc/jupyterhub/values.yaml")  # the chart mounts it here


class SettingsError(ValueError):
    """An environment variable with a value we cannot use; the message names the variable."""


def _mode(text: str) -> Mode:
    if text not in get_args(Mode):
        raise ValueError(f"must be one of {', '.join(get_args(Mode))}")
    return text  # type: ignore[return-value]


def _port(text: str) -> int:
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError("must be a port number, 1..65535")
    return port


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _group_budgets(text: str) -> str:
    parse_group_budgets(text)  # checked here, kept as text: env() hands it on unchanged
    return text


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def _flag(text: str) -> bool:
    words = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
    if text.strip().lower() not in words:
        raise ValueError("must be 1 or 0 (true or false)")
    return words[text.strip().lower()]


@dataclass(frozen=True, slots=True)
class Settings:
    """Where the platform keeps its state and which loopback ports it uses."""

    mode: Mode = "local"
    state_dir: Path = field(default_factory=default_state_dir)
    port: int = 8000
    hub_port: int = 8081
    proxy_api_port: int = 8001
    prometheus_port: int = 9090
    controller_port: int = 9310
    usage_port: int = 9320
    mlflow_port: int = 9330  # the hub service in front of MLflow (/services/mlflow/)
    scrape_interval_s: float = 1.0
    cull_timeout_s: float = 3600.0
    cull_every_s: float = 300.0
    clusters_timeout_s: float = 180.0
    accounts: AccountMode = "shared"
    named_server_limit: int = 3  # each named server brings a Spark master and a Flink JobManager
    heads_on_demand: bool = True
    profiles_file: Path = DEFAULT_PROFILES
    group_budgets: str = ""  # GROUP=CORES,...: spawner.budgets
    chart_values: Path = DEFAULT_CHART_VALUES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``env`` (default: os.environ); unset or empty variables keep defaults."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, (variable, parse, _) in VARIABLES.items():
            text = env.get(variable, "").strip()
            if not text:
                continue
            try:
                values[name] = parse(text)
            except ValueError as error:
                raise SettingsError(f"{variable}={text!r}: {error}") from None
        return cls(**values)

    def env(self) -> dict[str, str]:
        """These settings as environment variables, for the processes that read them again."""
        return {variable: str(getattr(self, name)) for name, (variable, _, _) in VARIABLES.items()}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hub_dir(self) -> Path:
        return self.state_dir / "hub"

    @property
    def password_file(self) -> Path:
        return self.state_dir / "password"

    @property
    def admin_password_file(self) -> Path:
        return self.state_dir / "admin-password"

    @property
    def admin_token_file(self) -> Path:
        return self.state_dir / "admin-token"


def describe() -> str:
    """Every variable with its default and meaning, for ``--help``."""
    defaults = Settings()
    return "\n".join(
        f"  {variable:<28} {help} [{getattr(defaults, name)}]"
        for name, (variable, _, help) in VARIABLES.items()
    )


# Settings field -> (environment variable, parser, help): the one table of the platform's options.
VARIABLES: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "mode": ("HUBSCALE_MODE", _mode, "local or kubernetes"),
    "state_dir": ("HUBSCALE_STATE_DIR", Path, "objects, runtime files, hub database, secrets"),
    "port": ("HUBSCALE_PORT", _port, "public port (the proxy)"),
    "hub_port": ("HUBSCALE_HUB_PORT", _port, "the hub's internal port"),
    "proxy_api_port": ("HUBSCALE_PROXY_API_PORT", _port, "the proxy's REST API port"),
    "prometheus_port": ("HUBSCALE_PROMETHEUS_PORT", _port, "Prometheus (make up starts it)"),
    "controller_port": ("HUBSCALE_CONTROLLER_PORT", _port, "controller /metrics and /healthz"),
    "usage_port": ("HUBSCALE_USAGE_PORT", _port, "the usage service (/services/hubscale/)"),
    "mlflow_port": ("HUBSCALE_MLFLOW_PORT", _port, "the tracking service (/services/mlflow/)"),
    "scrape_interval_s": ("HUBSCALE_SCRAPE_INTERVAL_S", _seconds, "Prometheus scrape interval"),
    "cull_timeout_s": (
        "HUBSCALE_CULL_TIMEOUT_S",
        _seconds,
        "stop servers idle this long, and their clusters with them (0: never)",
    ),
    "cull_every_s": ("HUBSCALE_CULL_EVERY_S", _seconds, "how often the idle culler looks"),
    "clusters_timeout_s": (
        "HUBSCALE_CLUSTERS_TIMEOUT_S",
        _seconds,
        "how long a spawn waits for the user's clusters",
    ),
    "accounts": (
        "HUBSCALE_ACCOUNTS",
        account_mode,
        "shared: every user as this OS user (a laptop); system: as root, an account per user",
    ),
    "named_server_limit": (
        "HUBSCALE_NAMED_SERVER_LIMIT",
        _count,
        "named servers per user, each with its own clusters (0: no limit)",
    ),
    "heads_on_demand": (
        "HUBSCALE_HEADS_ON_DEMAND",
        _flag,
        "1: a master/JobManager runs only while its user has a kernel of its engine (or"
        " workers); 0: from the spawn on",
    ),
    "profiles_file": ("HUBSCALE_PROFILES", Path, "the profiles users choose from"),
    "group_budgets": (
        "HUBSCALE_GROUP_BUDGETS",
        _group_budgets,
        "GROUP=CORES,...: cores a group member's clusters may hold together (per user)",
    ),
    "chart_values": (
        "HUBSCALE_CHART_VALUES",
        Path,
        "kubernetes mode: the chart's values for the hub (the chart writes them)",
    ),
}
