"""Helpers for the notebook tools' tests: synthetic notebooks, throwaway git repos, pytest runs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager

REPO = Path(__file__).resolve().parents[1]
ENGINE_PYTHON = {"spark": REPO / ".venv-spark/bin/python", "flink": REPO / ".venv-flink/bin/python"}
PYTHON3 = {"name": "python3", "display_name": "Python 3", "language": "python"}
v4 = nbformat.v4


def notebook(*cells: str | nbformat.NotebookNode, **hubscale: Any) -> nbformat.NotebookNode:
    """A python3 notebook; plain strings are code cells, ``# md:`` ones markdown."""
    built = [_cell(cell) if isinstance(cell, str) else cell for cell in cells]
    for number, cell in enumerate(built):
        cell.id = f"cell-{number}"  # stable ids: diffs between versions show only real changes
    metadata: dict[str, Any] = {"kernelspec": dict(PYTHON3)}
    if hubscale:
        metadata["hubscale"] = hubscale
    return v4.new_notebook(cells=built, metadata=metadata)


def _cell(text: str) -> nbformat.NotebookNode:
    if text.startswith("# md:"):
        return v4.new_markdown_cell(text.removeprefix("# md:").strip())
    return v4.new_code_cell(text)


def write(path: Path, nb: nbformat.NotebookNode) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def git_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """git isolated from the machine's configuration: its own HOME and global config."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / ".gitconfig"
    config.touch()
    return {
        **os.environ,
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": str(config),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Ada",
        "GIT_AUTHOR_EMAIL": "ada@example.org",
        "GIT_COMMITTER_NAME": "Ada",
        "GIT_COMMITTER_EMAIL": "ada@example.org",
        **(extra or {}),
    }


def git(repo: Path, *args: str, env: Mapping[str, str], check: bool = True) -> str:
    result = subprocess.run(
        ["git", *args], cwd=repo, env=dict(env), capture_output=True, text=True, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stdout}{result.stderr}")
    return result.stdout + result.stderr


def run_python(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` with this repo importable (the plugin, ``-m hubscale_nb``)."""
    base = dict(os.environ if env is None else env)
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), base.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=base, capture_output=True, text=True,
        timeout=timeout_s,
    )  # fmt: skip


def run_pytest(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    """pytest in a child process with the notebook plugin, as ``pytest notebooks/`` runs."""
    plugin = ("-p", "hubscale_nb.pytest_plugin", "-p", "no:cacheprovider")
    return run_python("-m", "pytest", *plugin, *args, cwd=cwd, env=env, timeout_s=timeout_s)


def engine_kernels_env(prefix: Path) -> dict[str, str]:
    """The hub's "spark" and "flink" kernels: those `make install` put in .venv, else installed
    under ``prefix`` (the returned ``JUPYTER_PATH`` points there)."""
    missing = set(ENGINE_PYTHON) - set(KernelSpecManager().find_kernel_specs())
    for name in sorted(missing):
        subprocess.run(
            [str(ENGINE_PYTHON[name]), "-m", "ipykernel", "install", "--prefix", str(prefix),
             "--name", name],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    return {"JUPYTER_PATH": str(prefix / "share" / "jupyter")} if missing else {}
