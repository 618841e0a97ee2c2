"""Run a notebook headless (nbclient; parameters through papermill) and say which cell failed.

The timeout is for the whole notebook: each cell gets what is left of it, so a hang fails with
the cell that was running. The kernel inherits the caller's environment (or ``env``): inside a
hub server that is what points Spark and Flink at the user's own clusters.
"""

from __future__ import annotations

import atexit
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nbformat
import papermill
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert.filters import strip_ansi

from hubscale_nb.errors import CellError, NotebookSetupError
from hubscale_nb.notebook_files import read_notebook
from hubscale_nb.options import RunOptions, notebook_options
from hubscale_nb.outputs import INJECTED_TAG, Sanitizer, check_outputs

STARTUP_TIMEOUT_S = 120


def load(path: Path, defaults: RunOptions) -> tuple[nbformat.NotebookNode, RunOptions]:
    """The notebook and its options (the run's defaults with its own metadata applied)."""
    notebook = read_notebook(path)
    return notebook, notebook_options(path, notebook.metadata, defaults)


def check(
    path: Path,
    defaults: RunOptions,
    sanitizers: Sequence[Sanitizer] = (),
    env: Mapping[str, str] | None = None,
) -> str | None:
    """Run the notebook (and compare outputs if asked): None when it passed, the skip reason
    when it asks to be skipped; ``NotebookError`` when it failed."""
    notebook, options = load(path, defaults)
    if options.skip:
        return options.skip
    executed = run(notebook, options, path, env=env)
    if options.compare_outputs:
        check_outputs(path, notebook, executed, sanitizers)
    return None


def run(
    notebook: nbformat.NotebookNode,
    options: RunOptions,
    path: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> nbformat.NotebookNode:
    """Execute ``notebook`` (read from ``path``) in ``cwd`` (default: its folder); the executed
    copy, or ``CellError`` for the first failing cell."""
    kernel = options.kernel or "python3"
    runnable = _parameterized(notebook, options, kernel)
    tracker = _CellTracker(options.timeout_s)
    client = NotebookClient(
        runnable,
        kernel_name=kernel,
        timeout_func=tracker.cell_timeout,
        startup_timeout=STARTUP_TIMEOUT_S,
        resources={"metadata": {"path": str(cwd or path.parent)}},
        on_notebook_start=tracker.notebook_started,
        on_cell_start=tracker.cell_started,
    )
    try:
        return client.execute(env=dict(os.environ if env is None else env))
    except NoSuchKernel:
        installed = sorted(KernelSpecManager().find_kernel_specs())
        raise NotebookSetupError(
            path, f"no kernel named {kernel!r} is installed (installed: {installed})"
        ) from None
    except CellTimeoutError:
        raise _cell_error(
            path, client.nb, tracker.index, "CellTimeoutError",
            f"still running when the notebook's {options.timeout_s:g} s timeout ran out",
            timed_out=True,
        ) from None  # fmt: skip
    except DeadKernelError as error:
        raise _cell_error(path, client.nb, tracker.index, "DeadKernelError", str(error)) from None
    except CellExecutionError as error:
        raise _cell_error(path, client.nb, tracker.index, error.ename, error.evalue) from None
    except RuntimeError as error:  # nbclient's and jupyter_client's word for "no kernel came up"
        if tracker.index is not None:
            raise
        # nbclient leaves its atexit cleanup registered when the start fails; it would fail
        # again at exit (an AssertionError, jupyter/nbclient#126).
        atexit.unregister(client._cleanup_kernel)
        raise NotebookSetupError(path, f"kernel {kernel!r} did not start: {error}") from error


def _parameterized(
    notebook: nbformat.NotebookNode, options: RunOptions, kernel: str
) -> nbformat.NotebookNode:
    """A copy for nbclient to fill in, with papermill's parameters cell if there are any."""
    if not options.parameters:
        return nbformat.from_dict(notebook)
    spec = notebook.metadata.get("kernelspec") or {}
    return papermill.execute_notebook(
        nbformat.from_dict(notebook),
        None,
        parameters=dict(options.parameters),
        prepare_only=True,
        kernel_name=kernel,
        language=spec.get("language") or "python",
        progress_bar=False,
        log_output=False,
    )


class _CellTracker:
    """Which cell runs, and what is left of the notebook's time for it."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.deadline = time.monotonic() + timeout_s
        self.index: int | None = None

    def notebook_started(self, **_: Any) -> None:
        self.deadline = time.monotonic() + self.timeout_s  # kernel start has its own timeout

    def cell_started(self, cell_index: int, **_: Any) -> None:
        self.index = cell_index

    def cell_timeout(self, _cell: nbformat.NotebookNode) -> int:
        return max(1, math.ceil(self.deadline - time.monotonic()))


def _cell_error(
    path: Path,
    executed: nbformat.NotebookNode,
    index: int | None,
    ename: str,
    evalue: str,
    timed_out: bool = False,
) -> CellError:
    """The failure at ``index`` of the executed copy, placed in the notebook as saved."""
    if index is None:
        return CellError(path, None, "", ename, evalue, "", timed_out=timed_out)
    cell = executed.cells[index]
    errors = [out for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    traceback = "\n".join(errors[-1].get("traceback", [])) if errors else ""
    tags = cell.get("metadata", {}).get("tags", [])
    injected_before = sum(
        INJECTED_TAG in c.get("metadata", {}).get("tags", []) for c in executed.cells[:index]
    )
    return CellError(
        path,
        None if INJECTED_TAG in tags else index - injected_before,
        cell.source,
        ename,
        strip_ansi(evalue),
        strip_ansi(traceback),
        timed_out=timed_out,
        execution_count=cell.get("execution_count"),
    )
