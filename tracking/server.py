"""MLflow's tracking server as ``make up`` runs it: SQLite and an artifact directory under the
state directory, loopback only, one worker, no job runner, no telemetry.

Its own venv (``.venv-mlflow``, ``make install``): MLflow's many dependencies stay out of the hub's.
"""

from __future__ import annotations

from pathlib import Path

MLFLOW_VENV = ".venv-mlflow"
DATABASE = "mlflow.sqlite"
ARTIFACTS = "artifacts"
# No outside traffic, and no LLM-judge job runner (a second ~230 MB process nothing here uses).
SERVER_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
}


class MlflowMissing(RuntimeError):
    """The MLflow venv is not built; the message says how to build it."""


def mlflow_command(repo: Path) -> Path:
    """The ``mlflow`` command of the repository's MLflow venv."""
    command = repo / MLFLOW_VENV / "bin" / "mlflow"
    if not command.exists():
        raise MlflowMissing(f"{command} is missing: `make install` builds {MLFLOW_VENV}")
    return command


def server_argv(mlflow: Path, directory: Path, port: int) -> list[str]:
    """``mlflow server`` keeping runs in ``directory``'s SQLite database and artifacts in its
    ``artifacts/`` (served by MLflow itself: clients never write there directly)."""
    return [
        str(mlflow), "server",
        "--backend-store-uri", f"sqlite:///{directory / DATABASE}",
        "--artifacts-destination", str(directory / ARTIFACTS),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
