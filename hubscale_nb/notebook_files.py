"""Which files are notebooks: ``.ipynb`` files, and jupytext ``py:percent`` twins without one."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import jupytext
import nbformat
from jupytext.formats import guess_format
from jupytext.header import header_to_metadata_and_cell

from hubscale_nb.errors import NotebookSetupError

IPYNB = ".ipynb"
SCRIPT = ".py"


def is_percent_notebook(path: Path) -> bool:
    """A ``py:percent`` script with jupytext's ``jupyter:`` header (what pairing writes).

    Plain modules with ``# %%`` markers and no such header are not notebooks.
    """
    if path.suffix != SCRIPT or not path.is_file():
        return False
    text = path.read_text(encoding="utf-8", errors="replace")
    if guess_format(text, SCRIPT)[0] != "percent":
        return False
    return header_to_metadata_and_cell(text.splitlines(), "#", "", SCRIPT)[1]


def is_notebook(path: Path) -> bool:
    """An ``.ipynb``, or a percent twin whose ``.ipynb`` is absent (else that one runs)."""
    if path.suffix == IPYNB:
        return path.is_file()
    return not path.with_suffix(IPYNB).exists() and is_percent_notebook(path)


def find_notebooks(paths: Iterable[Path]) -> list[Path]:
    """Notebooks under ``paths`` (files as given, folders searched; hidden folders skipped)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            candidates = sorted(
                child
                for child in path.rglob("*")
                if not any(part.startswith(".") for part in child.relative_to(path).parts)
            )
            found.extend(child for child in candidates if is_notebook(child))
        elif path.suffix in (IPYNB, SCRIPT) and path.is_file():
            found.append(path)
        else:
            raise NotebookSetupError(path, "not a notebook (.ipynb or jupytext .py) or a folder")
    return found


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path`` (nbformat 4); a percent script through jupytext."""
    try:
        if path.suffix == IPYNB:
            return nbformat.read(path, as_version=nbformat.NO_CONVERT)
        return jupytext.read(path, fmt="py:percent")
    except (OSError, ValueError, nbformat.ValidationError) as error:
        raise NotebookSetupError(path, f"cannot read the notebook: {error}") from error
