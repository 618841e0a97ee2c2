"""A first login opens a short welcome: ``Welcome/Welcome.ipynb`` (Spark) and ``Flink.ipynb``.

Done once per user, when their notebook server first starts: the notebooks are copied into the
server's root (an existing file is never overwritten) and JupyterLab's default workspace is set to
open the welcome notebook, unless the user already has a default workspace. A marker in the user's
Jupyter data directory keeps it from happening again, even after the user deletes the notebooks.
A convenience: any failure is a warning in the server's log and never stops the server.
``HUBSCALE_WELCOME=0`` turns it off.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from jupyter_core.paths import jupyter_data_dir
from jupyterlab_server.workspaces_handler import WorkspacesManager

NOTEBOOKS = Path(__file__).parent / "welcome_notebooks"
FOLDER = "Welcome"
OPENED = f"{FOLDER}/Welcome.ipynb"
WORKSPACE = "default"  # the workspace JupyterLab loads at <server>/lab
ENABLED_ENV = "HUBSCALE_WELCOME"


def marker(data_dir: Path) -> Path:
    return data_dir / "hubscale" / "welcomed"


def welcome_once(root: Path, workspaces_dir: Path, data_dir: Path | None = None) -> bool:
    """Copy the welcome notebooks and open one, the first time only; True if it did now."""
    done = marker(data_dir or Path(jupyter_data_dir()))
    if os.environ.get(ENABLED_ENV, "1") == "0" or done.exists():
        return False
    folder = root / FOLDER
    folder.mkdir(exist_ok=True)
    for notebook in sorted(NOTEBOOKS.glob("*.ipynb")):
        target = folder / notebook.name
        if not target.exists() and not target.is_symlink():
            shutil.copyfile(notebook, target)
    workspaces = WorkspacesManager(str(workspaces_dir))
    if not workspaces.load(WORKSPACE)["data"]:  # the user has no layout of their own yet
        workspaces.save(WORKSPACE, json.dumps(opening(OPENED)))
    done.parent.mkdir(parents=True, exist_ok=True)
    done.touch()
    return True


def opening(path: str) -> dict:
    """A JupyterLab workspace whose main area shows the notebook at ``path`` (relative to the root)
    beside the file browser."""
    widget = f"notebook:{path}"
    layout = {
        "main": {"dock": {"type": "tab-area", "currentIndex": 0, "widgets": [widget]}},
        "left": {"collapsed": False, "visible": True, "current": "filebrowser"},
    }
    return {
        "data": {
            "layout-restorer:data": layout,
            widget: {"data": {"path": path, "factory": "Notebook"}},
        },
        "metadata": {"id": WORKSPACE},
    }


def welcome_in_server(serverapp: object, log: logging.Logger) -> None:
    """``welcome_once`` for a running notebook server; a failure only logs a warning."""
    try:
        if welcome_once(Path(serverapp.root_dir), _workspaces_dir(serverapp)):
            log.info("hubscale: first login, opening %s", OPENED)
    except Exception as error:  # a convenience must never stop the server
        log.warning("hubscale: no welcome notebook (%s: %s)", type(error).__name__, error)


def _workspaces_dir(serverapp: object) -> Path:
    """Where this server's JupyterLab keeps workspaces (its ``workspaces_dir`` setting)."""
    for app in serverapp.extension_manager.extension_apps.get("jupyterlab", ()):
        return Path(app.workspaces_dir)
    from jupyterlab.commands import get_workspaces_dir

    return Path(get_workspaces_dir())
