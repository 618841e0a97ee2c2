"""The rendered markdown of changed cells, placed as nbdime's web diff lists its cells.

nbdime's web diff renders a markdown cell only while it is unchanged; a changed, added or
removed one shows its source diff. The review adds the rendered base and head beside each
other under that diff: rendered here (nbconvert's markdown, then bleach's allow-list) and put
under the ``row``-th cell of nbdime's list, whose order ``cell_rows`` follows
(``NotebookDiffModel`` in nbdime's ``diff/model/notebook.ts``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import bleach
from bleach.css_sanitizer import CSSSanitizer
from nbconvert.filters import markdown2html
from nbdime import patch
from nbdime.diff_utils import to_diffentry_dicts

MARKDOWN_TAGS = frozenset(
    {"a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em"}
    | {"h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre"}
    | {"s", "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul"}
)
MARKDOWN_ATTRIBUTES = {
    "a": ["href", "title"],
    "img": ["src", "alt", "title"],
    "th": ["align", "style"],
    "td": ["align", "style"],
    "*": ["class"],
}


@dataclass(frozen=True)
class CellRow:
    """One entry of nbdime's cell list: ``base`` None when added, ``head`` None when deleted."""

    kind: str  # unchanged | added | deleted | patched
    base: Mapping[str, Any] | None
    head: Mapping[str, Any] | None


def cell_rows(base: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> list[CellRow]:
    """The cells in the order nbdime's web diff draws them."""
    cells = base.get("cells", [])
    rows: list[CellRow] = []
    take = 0
    cell_entries = next((e["diff"] for e in entries if e.get("key") == "cells"), [])
    for entry in cell_entries:
        index = entry["key"]
        rows += [CellRow("unchanged", cell, cell) for cell in cells[take:index]]
        skip = 0
        if entry["op"] == "addrange":
            rows += [CellRow("added", None, cell) for cell in entry["valuelist"]]
        elif entry["op"] == "removerange":
            skip = entry["length"]
            rows += [CellRow("deleted", cell, None) for cell in cells[index : index + skip]]
        elif entry["op"] == "patch":
            head = patch(cells[index], to_diffentry_dicts(entry["diff"]))
            rows.append(CellRow("patched", cells[index], head))
            skip = 1
        take = max(take, index + skip)
    rows += [CellRow("unchanged", cell, cell) for cell in cells[take:]]
    return rows


def frame_layout(base: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What the frame adds to nbdime's drawing: how many cells nbdime draws (``rows``), each
    changed markdown cell's rendered sides (``markdown``), and the row of each head cell
    (``headRows``, where a failed run's cell is marked)."""
    rows = cell_rows(base, entries)
    count, blocks = markdown_blocks(rows)
    head_rows = [number for number, row in enumerate(rows) if row.head is not None]
    return {"rows": count, "markdown": blocks, "headRows": head_rows}


def markdown_blocks(rows: Sequence[CellRow]) -> tuple[int, list[dict[str, Any]]]:
    """How many cells nbdime draws, and for each changed markdown cell its row and its rendered
    base and head (None for the side it is missing from)."""
    blocks = []
    for number, row in enumerate(rows):
        if row.kind == "unchanged" or not any(_is_markdown(cell) for cell in (row.base, row.head)):
            continue
        blocks.append(
            {"row": number, "base": render_markdown(row.base), "head": render_markdown(row.head)}
        )
    return len(rows), blocks


def render_markdown(cell: Mapping[str, Any] | None) -> str | None:
    """A markdown cell's source as HTML without scripts, handlers or frames; None for no cell."""
    if not _is_markdown(cell):
        return None
    source = cell["source"]  # type: ignore[index]
    text = "".join(source) if isinstance(source, list) else str(source)
    return bleach.clean(
        markdown2html(text),
        tags=MARKDOWN_TAGS,
        attributes=MARKDOWN_ATTRIBUTES,
        protocols={"http", "https", "data", "mailto"},
        css_sanitizer=CSSSanitizer(allowed_css_properties=["text-align"]),
        strip=True,
    )


def _is_markdown(cell: Mapping[str, Any] | None) -> bool:
    return cell is not None and cell.get("cell_type") == "markdown"
