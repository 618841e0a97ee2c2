"""Why a notebook did not pass, as values a person can read (``report()``), not kernel JSON."""

from __future__ import annotations

from pathlib import Path


class NotebookError(Exception):
    """A notebook could not be run to the end, or its outputs were not the stored ones."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message

    def report(self) -> str:
        return str(self)


class NotebookSetupError(NotebookError):
    """The notebook cannot start: unreadable file, bad ``metadata.hubscale``, unknown kernel."""


class CellError(NotebookError):
    """A cell raised, hung past the notebook's timeout, or killed its kernel.

    ``cell_index`` is the 0-based position among all cells as saved (markdown cells count), the
    index nbformat and nbdime use; ``cell_number`` (index + 1) is "cell N" in reports. Both are
    None for the parameters cell papermill injected.
    """

    def __init__(
        self,
        path: Path,
        cell_index: int | None,
        source: str,
        ename: str,
        evalue: str,
        traceback: str,
        *,
        timed_out: bool = False,
        execution_count: int | None = None,
    ) -> None:
        self.cell_index = cell_index
        self.source = source
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback
        self.timed_out = timed_out
        self.execution_count = execution_count
        what = f"timed out: {evalue}" if timed_out else f"raised {ename}: {evalue}"
        super().__init__(path, f"{self.cell_label} {what}")

    @property
    def cell_number(self) -> int | None:
        return None if self.cell_index is None else self.cell_index + 1

    @property
    def cell_label(self) -> str:
        if self.cell_index is None:
            return "the injected parameters cell"
        prompt = f", In [{self.execution_count}]" if self.execution_count is not None else ""
        return f"cell {self.cell_number} (index {self.cell_index}{prompt})"

    def report(self) -> str:
        return "\n".join(
            [
                str(self),
                f"---- source of {self.cell_label} ----",
                self.source.rstrip(),
                "---- traceback ----",
                self.traceback.rstrip() or f"{self.ename}: {self.evalue}",
            ]
        )


class OutputsDiffer(NotebookError):
    """Fresh outputs differ from the stored ones (after sanitizing); ``diff`` is nbdime's text."""

    def __init__(self, path: Path, cells: list[int], diff: str) -> None:
        self.cells = cells
        self.diff = diff
        numbers = ", ".join(str(index + 1) for index in cells)
        super().__init__(path, f"outputs differ from the stored ones in cell(s) {numbers}")

    def report(self) -> str:
        return f"{self}\n{self.diff.rstrip()}"
