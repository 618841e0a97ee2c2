"""Durable file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str | bytes, group: int | None = None) -> None:
    """Replace ``path`` with ``text`` (mode 0600) so a reader sees the old file or the new one.
    With ``group``: that group may read it too (0640), from the moment it appears."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    data = text.encode() if isinstance(text, str) else text
    try:
        if group is not None:
            os.fchown(fd, -1, group)
            os.fchmod(fd, 0o640)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    fsync_dir(path.parent)


def replace_if_changed(path: Path, text: str) -> bool:
    """``write_atomic`` unless the file already holds ``text``; True if it wrote.

    For files rewritten every controller loop (configuration, scrape targets): no needless
    fsyncs, and readers watching the modification time see only real changes.
    """
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    write_atomic(path, text)
    return True


def unlink_durably(path: Path) -> bool:
    """Remove a file durably; False if it was not there."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    fsync_dir(path.parent)
    return True


def fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` survive a crash."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
