"""The team starter kit: ``templates/team-repo`` copied into a team's repository."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "team-repo"
GENERATED = {".ruff_cache", "__pycache__", ".ipynb_checkpoints", ".pytest_cache"}  # not the kit


@dataclass
class Copied:
    written: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)  # already there: the team's own version stays


def init(directory: Path, force: bool = False, template: Path = TEMPLATE) -> Copied:
    """Copy the kit into ``directory``; files already there are kept unless ``force``."""
    copied = Copied()
    files = (
        path
        for path in template.rglob("*")
        if path.is_file() and not GENERATED & set(path.relative_to(template).parts)
    )
    for source in sorted(files):
        target = directory / source.relative_to(template)
        if target.exists() and not force:
            copied.kept.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copied.written.append(target)
    return copied
