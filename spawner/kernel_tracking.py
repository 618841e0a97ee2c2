"""In each engine kernel (started by ``kernel_startup``): MLflow runs record where they ran.

With ``MLFLOW_TRACKING_URI`` set (the hub's tracking service, ``notebook_env.tracking_env``), every
run started in the kernel gets tags for the notebook's git commit and dirty state (the kernel's
working directory: the notebook's), the engine, the user's ComputeCluster and its workers at the
run's start, and the Spark application id when a session runs. In the Spark kernel, Spark ML's
autologging is on (params and input datasets of every ``fit``; ``HUBSCALE_MLFLOW_AUTOLOG=0`` turns
it off). Both hook in when ``mlflow`` / ``pyspark.ml`` is first imported, so a kernel that uses
neither pays nothing. Stdlib only (PyYAML if present): it runs in the engines' own environments.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from head_wait import ENGINE_VARIABLE, patch_on_import
from kernel_notice import cluster_variable, read_status, status_file_variable

AUTOLOG_VARIABLE = "HUBSCALE_MLFLOW_AUTOLOG"
GIT_TIMEOUT_S = 5.0
GIT_COMMIT_TAG = "mlflow.source.git.commit"  # MLflow's own: its UI shows and links it
TAG_PREFIX = "hubscale."


def git_state(directory: Path) -> dict[str, str]:
    """The commit checked out where ``directory`` is and whether tracked files changed since;
    nothing outside a git repository (or without git)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=directory,
                capture_output=True,
                text=True,
                timeout=GIT_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {}
    changes = git("status", "--porcelain", "--untracked-files=no")
    tags = {GIT_COMMIT_TAG: commit, f"{TAG_PREFIX}git.commit": commit}
    if changes is not None:
        tags[f"{TAG_PREFIX}git.dirty"] = "true" if changes else "false"
    return tags


def cluster_tags(env: Mapping[str, str]) -> dict[str, str]:
    """The engine, its ComputeCluster's name and its workers now (from the status file)."""
    engine = env.get(ENGINE_VARIABLE, "")
    if not engine:
        return {}
    tags = {f"{TAG_PREFIX}engine": engine}
    if env.get(cluster_variable(engine)):
        tags[f"{TAG_PREFIX}cluster"] = env[cluster_variable(engine)]
    status = read_status(env.get(status_file_variable(engine), ""))
    workers = status.get("workers") if isinstance(status, Mapping) else None
    if isinstance(workers, int):
        tags[f"{TAG_PREFIX}workers.start"] = str(workers)
    return tags


def spark_app_tags() -> dict[str, str]:
    """The running Spark session's application id, if this kernel has one (never starts one)."""
    session_module = sys.modules.get("pyspark.sql.session")
    if session_module is None:
        return {}
    try:
        session = session_module.SparkSession.getActiveSession()
        return {f"{TAG_PREFIX}spark.app_id": session.sparkContext.applicationId} if session else {}
    except Exception:  # a stopped or broken session: the run goes on without the tag
        return {}


def run_tags(env: Mapping[str, str], directory: Path) -> dict[str, str]:
    """Every tag a run started in this kernel gets."""
    return {**git_state(directory), **cluster_tags(env), **spark_app_tags()}


def _register_context(mlflow: Any) -> None:
    """Adds ``run_tags`` to every run's tags (MLflow's run context providers, which its own
    ``start_run`` and autologging consult)."""
    from mlflow.tracking.context import registry
    from mlflow.tracking.context.abstract_context import RunContextProvider

    class HubscaleContext(RunContextProvider):
        def in_context(self) -> bool:
            return True

        def tags(self) -> dict[str, str]:
            return run_tags(os.environ, Path.cwd())

    registry._run_context_provider_registry.register(HubscaleContext)


def _autolog(_pyspark_ml: Any) -> None:
    """Spark ML autologging: params and input datasets of each ``fit``. Models are not logged:
    with pyspark 4.3 and MLflow 3.17 logging one ended the Python process (seen here)."""
    import mlflow.pyspark.ml

    mlflow.pyspark.ml.autolog(log_models=False, silent=True)


def install(env: Mapping[str, str] | None = None) -> None:
    """Hook MLflow in, if this kernel is wired to a tracking server."""
    env = os.environ if env is None else env
    if not env.get("MLFLOW_TRACKING_URI"):
        return
    hooks: list[tuple[str, Callable[[Any], None]]] = [("mlflow", _register_context)]
    if env.get(ENGINE_VARIABLE) == "spark" and env.get(AUTOLOG_VARIABLE, "1") != "0":
        hooks.append(("pyspark.ml", _autolog))
    for module, hook in hooks:
        patch_on_import(module, _harmless(hook))


def _harmless(hook: Callable[[Any], None]) -> Callable[[Any], None]:
    """A hook whose failure is one line on stderr, never a failed ``import`` for the user."""

    def run(module: Any) -> None:
        try:
            hook(module)
        except Exception as error:
            sys.stderr.write(f"hubscale: MLflow run tags/autologging are off: {error!r}\n")

    return run
