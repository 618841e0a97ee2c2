"""The local state directory's layout: one spelling for the spawner, the hub and the controller.

``<state>/clusters/``           ComputeCluster objects and their statuses (``hubscale.store``)
``<state>/runtime/<cluster>/``  a cluster's processes (the local backend): configuration, logs,
                                ``pids/`` and ``client.json``, how a notebook reaches the cluster;
                                ``tls/``, a Flink cluster's REST credential (``flink_tls``)
``<state>/servers/<cluster>/``  a notebook server's own client files; also the process marker's root
``<state>/users/<user>/``       the notebook servers' home directories
``<state>/targets/``            Prometheus ``file_sd`` targets (the controller's default)
``<state>/logs/``               ``make up``'s components' logs (``local_stack``)
``<state>/run/``                ``make up``'s pid files, one per component
``<state>/prometheus/``         ``make up``'s Prometheus: configuration, data, its own targets
``<state>/mlflow/``             ``make up``'s MLflow server: its SQLite database, ``artifacts/``
                                and the socket it listens on
"""

from __future__ import annotations

import os
from pathlib import Path

CLUSTERS = "clusters"
RUNTIME = "runtime"
PIDS = "pids"
CLIENT_FILE = "client.json"
REST_TLS = "tls"
SERVERS = "servers"
USERS = "users"
TARGETS = "targets"
LOGS = "logs"
PLATFORM_PIDS = "run"
PROMETHEUS = "prometheus"
MLFLOW = "mlflow"
MLFLOW_SOCKET = "mlflow.sock"


def default_state_dir() -> Path:
    """``$XDG_DATA_HOME/hubscale`` (``~/.local/share/hubscale``): the user's data dir."""
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "hubscale"


def clusters_dir(state_dir: Path) -> Path:
    """Where the ComputeCluster objects live."""
    return state_dir / CLUSTERS


def runtime_root(state_dir: Path) -> Path:
    """Where the local backend keeps one directory per cluster it runs."""
    return state_dir / RUNTIME


def runtime_dir(state_dir: Path, cluster: str) -> Path:
    """One cluster's runtime directory; it exists from the cluster's start to its teardown."""
    return runtime_root(state_dir) / cluster


def pid_dir(cluster_runtime_dir: Path) -> Path:
    """A cluster's pid files (``<role>.pid``), in its runtime directory."""
    return cluster_runtime_dir / PIDS


def client_file(cluster_runtime_dir: Path) -> Path:
    """A cluster's client description, written once its head runs."""
    return cluster_runtime_dir / CLIENT_FILE


def rest_tls_dir(cluster_runtime_dir: Path) -> Path:
    """A Flink cluster's REST credential (keystore, PEM copies, password; files 0600)."""
    return cluster_runtime_dir / REST_TLS


def servers_dir(state_dir: Path) -> Path:
    """Where notebook servers keep their own client files."""
    return state_dir / SERVERS


def users_dir(state_dir: Path) -> Path:
    """The notebook servers' home directories, one per user."""
    return state_dir / USERS


def targets_dir(state_dir: Path) -> Path:
    """The controller's default directory of Prometheus ``file_sd`` targets."""
    return state_dir / TARGETS


def logs_dir(state_dir: Path) -> Path:
    """The logs of ``make up``'s components (the controller, the hub), one file each."""
    return state_dir / LOGS


def platform_pid_dir(state_dir: Path) -> Path:
    """``make up``'s pid files (``<component>.pid``: up, prometheus, controller, hub)."""
    return state_dir / PLATFORM_PIDS


def prometheus_dir(state_dir: Path) -> Path:
    """The directory of ``make up``'s Prometheus (``hubscale.prometheus_server``)."""
    return state_dir / PROMETHEUS


def mlflow_dir(state_dir: Path) -> Path:
    """The directory of ``make up``'s MLflow server (``tracking.server``)."""
    return state_dir / MLFLOW


def mlflow_socket(state_dir: Path) -> Path:
    """The Unix socket ``make up``'s MLflow server listens on (its only way in)."""
    return mlflow_dir(state_dir) / MLFLOW_SOCKET
