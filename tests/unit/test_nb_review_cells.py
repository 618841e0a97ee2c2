"""Changed markdown cells rendered for the review, placed in the order nbdime's web diff draws."""

from __future__ import annotations

from nbdime.diffing.notebooks import diff_notebooks

from hubscale_nb.nbdiff import REVIEW_TARGETS, diff_targets
from hubscale_nb.review import to_json
from hubscale_nb.review_cells import cell_rows, frame_layout, render_markdown
from tests.nb_support import notebook, v4


def diff(base, head):
    with diff_targets(REVIEW_TARGETS):
        return to_json(diff_notebooks(base, head))


def kinds(rows):
    return [
        (row.kind, (row.base or {}).get("source"), (row.head or {}).get("source")) for row in rows
    ]


def test_rows_follow_nbdimes_cell_list_for_patched_and_added_cells():
    base = notebook("# md: Title", "a = 1", "b = 2", "c = 3")
    head = notebook("# md: Title", "import os", "a = 1", "c = 3", "d = 4")

    assert kinds(cell_rows(base, diff(base, head))) == [
        ("unchanged", "Title", "Title"),
        ("patched", "a = 1", "import os"),  # nbdime pairs cells by position and likeness
        ("patched", "b = 2", "a = 1"),
        ("unchanged", "c = 3", "c = 3"),
        ("added", None, "d = 4"),
    ]


def test_cells_added_where_others_went_come_first_as_in_nbdimes_model():
    base = notebook("x = 1", "y = 2", "z = 3")
    replaced = [
        {"op": "addrange", "key": 1, "valuelist": [v4.new_code_cell("new = 0")]},
        {"op": "removerange", "key": 1, "length": 1},
    ]
    entries = [{"op": "patch", "key": "cells", "diff": replaced}]

    rows = cell_rows(base, entries)

    assert kinds(rows) == [
        ("unchanged", "x = 1", "x = 1"),
        ("added", None, "new = 0"),
        ("deleted", "y = 2", None),
        ("unchanged", "z = 3", "z = 3"),
    ]
    assert frame_layout(base, entries)["headRows"] == [0, 1, 3]  # head cell 3 is drawn 4th


def test_changed_markdown_is_rendered_on_both_sides_and_unchanged_left_to_nbdime():
    base = notebook("# md: # Revenue\n\nIn **EUR**.", "x = 1", "# md: Same text")
    head = notebook("# md: # Revenue\n\nIn *USD*.", "x = 1", "# md: Same text")
    head.cells.append(v4.new_markdown_cell("| a | b |\n|---|---|\n| 1 | 2 |"))

    layout = frame_layout(base, diff(base, head))
    blocks = layout["markdown"]

    assert layout["rows"] == 4 and layout["headRows"] == [0, 1, 2, 3]
    assert [block["row"] for block in blocks] == [0, 3]
    assert "<strong>EUR</strong>" in blocks[0]["base"] and "<em>USD</em>" in blocks[0]["head"]
    assert blocks[1]["base"] is None and "<td>1</td>" in blocks[1]["head"]


def test_rendered_markdown_keeps_no_script_handler_or_frame():
    cell = v4.new_markdown_cell(
        "Hi <script>alert(1)</script><img src=x onerror=alert(2)>"
        '<iframe src="https://example.org"></iframe><a href="javascript:alert(3)">x</a>'
    )

    rendered = render_markdown(cell)

    assert rendered is not None
    for unsafe in ("<script", "onerror", "<iframe", "javascript:"):
        assert unsafe not in rendered, rendered
    assert render_markdown(v4.new_code_cell("# not markdown")) is None
