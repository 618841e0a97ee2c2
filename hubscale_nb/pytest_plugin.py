"""``pytest notebooks/``: each notebook one test, run headless, failures pointing at the cell.

Collects ``*.ipynb`` and jupytext ``py:percent`` notebooks whose ``.ipynb`` twin is absent.
Options set the run's defaults; a notebook's ``metadata.hubscale`` overrides them (see
``hubscale_nb.options``). Kernels inherit pytest's environment: inside a hub server, the user's
Spark and Flink clusters.

Registered for every pytest run (entry point), so the notebook tools (seconds of imports) are
imported only once there is a notebook to collect or run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from hubscale_nb.errors import NotebookError, NotebookSetupError
from hubscale_nb.options import DEFAULT_TIMEOUT_S, RunOptions

if TYPE_CHECKING:  # pytest's own types for repr_failure, not exported under pytest.*
    from _pytest._code.code import TerminalRepr, TracebackStyle

OPTIONS = pytest.StashKey[RunOptions]()
SANITIZERS = pytest.StashKey[list]()  # of hubscale_nb.outputs.Sanitizer
JUPYTEXT_HEADER = "# ---"  # the first line of a percent notebook jupytext wrote


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hubscale-nb", "notebook tests (hubscale_nb)")
    group.addoption(
        "--nb-timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help="Seconds a whole notebook may run (metadata.hubscale.timeout overrides).",
    )
    group.addoption(
        "--nb-kernel",
        default=None,
        help="Kernel for every notebook instead of its kernelspec (metadata.hubscale.kernel "
        "overrides).",
    )
    group.addoption(
        "--nb-compare-outputs",
        action="store_true",
        help="Also compare fresh outputs with the stored ones (nbval-style).",
    )
    group.addoption(
        "--nb-sanitize-with",
        type=Path,
        default=None,
        help="nbval-format file of regex sanitizers applied before comparing outputs.",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[OPTIONS] = RunOptions(
        kernel=config.getoption("nb_kernel"),
        timeout_s=config.getoption("nb_timeout"),
        compare_outputs=config.getoption("nb_compare_outputs"),
    )
    config.stash[SANITIZERS] = []
    if sanitize_with := config.getoption("nb_sanitize_with"):
        from hubscale_nb.outputs import load_sanitizers  # lazy: see the module docstring

        try:
            config.stash[SANITIZERS] = load_sanitizers(sanitize_with)
        except NotebookSetupError as error:
            raise pytest.UsageError(str(error)) from None


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not (file_path.suffix == ".ipynb" or _starts_like_jupytext(file_path)):
        return None
    from hubscale_nb.notebook_files import is_notebook  # lazy: see the module docstring

    if is_notebook(file_path):
        return NotebookFile.from_parent(parent, path=file_path)
    return None


def _starts_like_jupytext(path: Path) -> bool:
    if path.suffix != ".py":
        return False
    with path.open(encoding="utf-8", errors="replace") as file:
        return file.readline().rstrip() == JUPYTEXT_HEADER


class NotebookFile(pytest.File):
    """A notebook file: one test item, the whole notebook."""

    def collect(self) -> Iterator[NotebookItem]:
        yield NotebookItem.from_parent(self, name="notebook")


class NotebookItem(pytest.Item):
    """Runs the notebook; fails with the failing cell's index, source and traceback."""

    def runtest(self) -> None:
        from hubscale_nb.execute import check  # lazy: see the module docstring

        reason = check(self.path, self.config.stash[OPTIONS], self.config.stash[SANITIZERS])
        if reason:
            pytest.skip(reason)

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: TracebackStyle | None = None
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, NotebookError):
            return excinfo.value.report()
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, None, str]:
        return self.path, None, f"notebook {self.path.name}"
