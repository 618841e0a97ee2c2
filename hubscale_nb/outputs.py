"""nbval-style output checks: stored outputs against fresh ones, after regex sanitizers.

Compared per code cell: stream text (coalesced), the ``text/plain`` of results and displays,
and error names and values. Images, HTML, execution counts and metadata are not compared; cells
tagged ``nbval-ignore-output`` are skipped. Sanitizer files use nbval's format: sections with
``regex`` and ``replace`` keys.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbconvert.filters import strip_ansi
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

from hubscale_nb.errors import NotebookSetupError, OutputsDiffer
from hubscale_nb.nbdiff import diff_text

IGNORE_TAG = "nbval-ignore-output"
INJECTED_TAG = "injected-parameters"  # papermill's parameters cell: not in the saved notebook
COMPARED_MIME = "text/plain"
OUTPUT_TARGETS = {
    "sources": False,
    "outputs": True,
    "attachments": False,
    "metadata": False,
    "id": False,
    "details": False,
}


@dataclass(frozen=True)
class Sanitizer:
    """Replace what ``pattern`` matches (a timestamp, an address) with ``replacement``."""

    pattern: re.Pattern[str]
    replacement: str

    def __call__(self, text: str) -> str:
        return self.pattern.sub(self.replacement, text)


def load_sanitizers(path: Path) -> list[Sanitizer]:
    """Sanitizers from an nbval-format file (``[name]`` sections, ``regex:`` and ``replace:``)."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        read = parser.read(path, encoding="utf-8")
    except configparser.Error as error:
        raise NotebookSetupError(path, f"not a sanitizer file: {error}") from error
    if not read:
        raise NotebookSetupError(path, "sanitizer file not found")
    sanitizers = []
    for name in parser.sections():
        section = parser[name]
        if "regex" not in section or "replace" not in section:
            raise NotebookSetupError(path, f"section [{name}] needs 'regex' and 'replace'")
        try:
            pattern = re.compile(section["regex"])
        except re.error as error:
            raise NotebookSetupError(path, f"section [{name}]: bad regex: {error}") from error
        sanitizers.append(Sanitizer(pattern, section["replace"]))
    return sanitizers


def comparable(
    notebook: nbformat.NotebookNode, sanitizers: Sequence[Sanitizer]
) -> nbformat.NotebookNode:
    """The notebook reduced to what is compared: sources, and code cells' sanitized outputs.

    Cells keep their saved positions (papermill's injected cell goes), so nbdime's
    ``/cells/N`` paths are the saved indices.
    """
    cells = []
    for cell in notebook.cells:
        if INJECTED_TAG in _tags(cell):
            continue
        if cell.cell_type != "code":
            cells.append(nbformat.v4.new_markdown_cell(source=cell.source))
            continue
        outputs = [] if IGNORE_TAG in _tags(cell) else _outputs(cell, sanitizers)
        cells.append(nbformat.v4.new_code_cell(source=cell.source, outputs=outputs))
    for index, cell in enumerate(cells):
        cell.id = f"cell-{index}"  # the same on both sides: random ids would only confuse nbdime
    return nbformat.v4.new_notebook(cells=cells)


def check_outputs(
    path: Path,
    stored: nbformat.NotebookNode,
    executed: nbformat.NotebookNode,
    sanitizers: Sequence[Sanitizer] = (),
) -> None:
    """Raise ``OutputsDiffer`` with nbdime's diff when fresh outputs are not the stored ones."""
    before, after = comparable(stored, sanitizers), comparable(executed, sanitizers)
    diff = diff_text(before, after, targets=OUTPUT_TARGETS)
    if not diff:
        return
    differing = [
        index
        for index, (old, new) in enumerate(zip(before.cells, after.cells, strict=True))
        if old.get("outputs") != new.get("outputs")
    ]
    raise OutputsDiffer(path, differing, diff)


def _outputs(cell: nbformat.NotebookNode, sanitizers: Sequence[Sanitizer]) -> list[dict]:
    coalesced = CoalesceStreamsPreprocessor().preprocess_cell(nbformat.from_dict(cell), {}, 0)[0]
    outputs = []
    for output in coalesced.get("outputs", []):
        kind = output.output_type
        if kind == "stream":
            text = _clean(output.text, sanitizers)
            outputs.append(nbformat.v4.new_output("stream", name=output.name, text=text))
        elif kind == "error":
            evalue = _clean(output.evalue, sanitizers)
            outputs.append(nbformat.v4.new_output("error", ename=output.ename, evalue=evalue))
        elif COMPARED_MIME in output.get("data", {}):
            text = _clean(output.data[COMPARED_MIME], sanitizers)
            outputs.append(nbformat.v4.new_output("display_data", data={COMPARED_MIME: text}))
    return outputs


def _clean(text: str | list[str], sanitizers: Sequence[Sanitizer]) -> str:
    text = strip_ansi("".join(text) if isinstance(text, list) else text)
    for sanitize in sanitizers:
        text = sanitize(text)
    return text


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])
