"""Where a benchmark's figures go besides the terminal: one JSON file (``--json``)."""

from __future__ import annotations

import json
from pathlib import Path


def write_json(path: Path | None, figures: object) -> None:
    """``figures`` as indented JSON at ``path`` (its folder made); nothing when ``path`` is None."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=1) + "\n")
