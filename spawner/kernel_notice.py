"""In each engine kernel (started by ``kernel_startup``, its ``PYTHONSTARTUP``): while a cell runs,
say once when the user's cluster cannot give the work all it asks for, instead of a silent wait.

The controller decides that (the status condition ``CapacityLimited``: the jobs want more workers
than the cluster's ``maxWorkers`` or budget allow); this only relays it into the running cell's
output. It needs nothing of hubscale's (the kernels run in the engines' own environments), only
IPython, PyYAML and the cluster's status file, named by ``HUBSCALE_<ENGINE>_STATUS_FILE``: locally
the store's status file, on Kubernetes the short status the controller keeps in the cluster's
config Secret, mounted into the notebook pod (the kubelet refreshes it with a delay, about a
minute). Without them it does nothing.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any

ENGINE_VARIABLE = "HUBSCALE_KERNEL_ENGINE"  # set in each engine kernel's kernel.json
GRACE_S = 5.0  # a cell shorter than this never gets a notice
POLL_S = 1.0
LIMITED = "CapacityLimited"
ENGINE_NAMES = {"spark": "Spark", "flink": "Flink"}


def status_file_variable(engine: str) -> str:
    """The server's environment variable naming one engine's status file."""
    return f"HUBSCALE_{engine.upper()}_STATUS_FILE"


def cluster_variable(engine: str) -> str:
    """The server's environment variable naming the user's ComputeCluster of one engine."""
    return f"HUBSCALE_{engine.upper()}_CLUSTER"


def notice(engine: str, status: Mapping[str, Any] | None) -> str | None:
    """What to tell the user about a running cell, given the cluster's status; None: nothing."""
    if not isinstance(status, Mapping):
        return None
    conditions = status.get("conditions") or []
    limited = next(
        (c for c in conditions if isinstance(c, Mapping) and c.get("type") == LIMITED), None
    )
    if limited is None or limited.get("status") != "True":
        return None
    name = ENGINE_NAMES.get(engine, engine)
    desired = status.get("desired")
    if desired == 0:
        outcome = f"it cannot start: your {name} cluster may have no worker"
    else:
        outcome = f"it runs on the {desired} workers your {name} cluster may have, more slowly"
    why = limited.get("message") or status.get("reason") or ""
    return (
        f"hubscale: this work wants more workers than allowed; {outcome} ({why}). "
        "Pick a larger limit when you start your server, or ask your admin.\n"
    )


class CellWatch:
    """Watches the running cell from a daemon thread; one notice per cell at most."""

    def __init__(self, kernel: Any, engine: str, status_file: str) -> None:
        self.kernel, self.engine, self.status_file = kernel, engine, status_file
        self.parent: dict | None = None
        self.started = 0.0
        self.noticed = False
        self.lock = threading.Lock()

    def pre_run_cell(self, *_: object) -> None:
        with self.lock:
            self.parent = self.kernel.get_parent("shell")
            self.started, self.noticed = time.monotonic(), False

    def post_run_cell(self, *_: object) -> None:
        with self.lock:
            self.parent = None

    def run(self) -> None:
        while True:
            time.sleep(POLL_S)
            with self.lock:
                parent = self.parent
                due = parent and not self.noticed and time.monotonic() - self.started >= GRACE_S
            if not due:
                continue
            text = notice(self.engine, self._status())
            if text is None:
                continue
            with self.lock:
                if self.parent is not parent:
                    continue  # that cell has ended meanwhile
                self.noticed = True
            content = {"name": "stderr", "text": text}
            self.kernel.session.send(self.kernel.iopub_socket, "stream", content, parent=parent)

    def _status(self) -> Mapping[str, Any] | None:
        return read_status(self.status_file)


def read_status(path: str) -> Mapping[str, Any] | None:
    """A cluster's status file as a mapping; None if unnamed, unreadable or without PyYAML."""
    try:
        import yaml
    except ImportError:
        return None
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as file:
            return yaml.safe_load(file.read(1_000_000))
    except (OSError, yaml.YAMLError):
        return None


def install() -> None:
    """Start watching cells in this kernel, if it is an engine kernel with a status file named."""
    engine = os.environ.get(ENGINE_VARIABLE, "")
    status_file = os.environ.get(status_file_variable(engine), "") if engine else ""
    try:
        import yaml  # noqa: F401 - needed by the watch
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    if not status_file or kernel is None:
        return
    watch = CellWatch(kernel, engine, status_file)
    shell.events.register("pre_run_cell", watch.pre_run_cell)
    shell.events.register("post_run_cell", watch.post_run_cell)
    threading.Thread(target=watch.run, name="hubscale-notice", daemon=True).start()
