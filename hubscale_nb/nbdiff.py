"""nbdime's notebook diff as text, without execution counts, cell ids or metadata.

nbdime's differ is configured through module state (``set_notebook_diff_targets``, as its
``nbdiff`` command line does); ``diff_text`` sets it for one diff and resets it afterwards.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from nbdime.diffing.notebooks import (
    diff_notebooks,
    reset_notebook_differ,
    set_notebook_diff_targets,
)
from nbdime.prettyprint import PrettyPrintConfig, pretty_print_diff

# What a reviewer reads: sources, outputs, attachments; not ids, metadata or execution counts.
REVIEW_TARGETS = {
    "sources": True,
    "outputs": True,
    "attachments": True,
    "metadata": False,
    "id": False,
    "details": False,
}


@contextmanager
def diff_targets(targets: Mapping[str, bool]) -> Iterator[None]:
    """nbdime's differ set to ``targets`` (the ``nbdiff -s -o -a -m -i -d`` choices) for a block."""
    arguments = {("identifier" if key == "id" else key): value for key, value in targets.items()}
    set_notebook_diff_targets(**arguments)
    try:
        yield
    finally:
        reset_notebook_differ()


def diff_text(
    base: Mapping[str, Any],
    head: Mapping[str, Any],
    color: bool = False,
    targets: Mapping[str, bool] = REVIEW_TARGETS,
) -> str:
    """What changed from ``base`` to ``head``, as ``nbdiff`` prints it; "" when nothing did."""
    with diff_targets(targets):
        diff = diff_notebooks(base, head)
    if not diff:
        return ""
    out = io.StringIO()
    config = PrettyPrintConfig(out=out, include=SimpleNamespace(**targets), use_color=color)
    pretty_print_diff(base, diff, "", config)
    return out.getvalue()
