"""MLflow's tracking server as ``make up`` runs it: SQLite and an artifact directory under the
state directory, one worker, no job runner, no telemetry, and no TCP port: it listens on a Unix
socket in its 0700 directory, so only the platform's own processes (the tracking service) reach
it; no other account on the machine can go round the hub's permission model.

Its own venv (``.venv-mlflow``, ``make install``): MLflow's many dependencies stay out of the hub's.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from hubscale.state_dir import MLFLOW_SOCKET

MLFLOW_VENV = ".venv-mlflow"
DATABASE = "mlflow.sqlite"
ARTIFACTS = "artifacts"
SOCKET_PATH_MAX = 107  # sun_path holds 108 bytes with the final NUL
UPSTREAM_URL = "http://localhost"  # over the socket; a Host MLflow's security middleware accepts
# No outside traffic, and no LLM-judge job runner (a second ~230 MB process nothing here uses).
SERVER_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
}


class MlflowMissing(RuntimeError):
    """The MLflow venv is not built; the message says how to build it."""


def socket_path(directory: Path) -> Path:
    """Where the server listens; a ValueError naming it if the path is too long for a socket."""
    path = directory / MLFLOW_SOCKET
    if len(str(path).encode()) > SOCKET_PATH_MAX:
        raise ValueError(f"{path}: longer than a Unix socket path may be ({SOCKET_PATH_MAX} bytes)")
    return path


def mlflow_command(repo: Path) -> Path:
    """The ``mlflow`` command of the repository's MLflow venv."""
    command = repo / MLFLOW_VENV / "bin" / "mlflow"
    if not command.exists():
        raise MlflowMissing(f"{command} is missing: `make install` builds {MLFLOW_VENV}")
    return command


def server_argv(mlflow: Path, directory: Path) -> list[str]:
    """``mlflow server`` keeping runs in ``directory``'s SQLite database and artifacts in its
    ``artifacts/`` (served by MLflow itself: clients never write there directly), on the socket
    (uvicorn's ``--uds`` takes the place of MLflow's host and port)."""
    return [
        str(mlflow), "server",
        "--backend-store-uri", f"sqlite:///{directory / DATABASE}",
        "--artifacts-destination", str(directory / ARTIFACTS),
        "--workers", "1",
        "--uvicorn-opts", f"--uds {shlex.quote(str(socket_path(directory)))}",
    ]  # fmt: skip
