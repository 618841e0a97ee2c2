"""The local hub's secrets: generated on first use, kept in the state directory (mode 0600).

Never hard-coded and never rewritten: a second ``make up`` reuses the password users know and the
admin token scripts hold.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def read_or_create(path: Path, generate: Callable[[], str]) -> str:
    """The secret stored in ``path``, generated first if there is none.

    Written to a temporary file and hard-linked into place: a concurrent reader sees no file or
    the whole secret, and of two concurrent creators the first one wins.
    """
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if not path.exists():
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(generate() + "\n")
                file.flush()
                os.fsync(file.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temp, path)
        finally:
            temp.unlink(missing_ok=True)
    os.chmod(path, FILE_MODE)
    secret = path.read_text(encoding="utf-8").strip()
    if not secret:
        raise ValueError(f"{path} is empty: delete it to have a new secret generated")
    return secret


def user_password(path: Path) -> str:
    """The shared password users log in with (JupyterHub wants at least 8 characters)."""
    return read_or_create(path, lambda: secrets.token_urlsafe(12))


def admin_password(path: Path) -> str:
    """The password of the hub's ``admin`` user (JupyterHub wants at least 32 characters)."""
    return read_or_create(path, lambda: secrets.token_urlsafe(32))


def api_token(path: Path) -> str:
    """An API token for scripts and tests, registered with the hub as an admin service's."""
    return read_or_create(path, lambda: secrets.token_hex(32))
