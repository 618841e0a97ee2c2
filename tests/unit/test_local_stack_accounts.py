"""`make up` with system accounts: the state directory lets accounts through to what they are
given and closes the platform's own files (issue 14, finding 3)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_stack.stack import PRIVATE_UMASK, close_to_accounts


@pytest.fixture
def kept_umask() -> Iterator[None]:
    before = os.umask(0o022)
    os.umask(before)
    yield
    os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_what_an_earlier_run_left_open_is_closed_and_the_shared_entries_are_left(
    tmp_path: Path, kept_umask: None
):
    for name, directory_mode in (("logs", 0o755), ("prometheus", 0o755), ("clusters", 0o711)):
        (tmp_path / name).mkdir()
        (tmp_path / name).chmod(directory_mode)
    (tmp_path / "usage.sqlite").write_text("")
    (tmp_path / "usage.sqlite").chmod(0o644)

    close_to_accounts(tmp_path)

    assert mode(tmp_path) == 0o711
    assert (mode(tmp_path / "logs"), mode(tmp_path / "prometheus")) == (0o700, 0o700)
    assert mode(tmp_path / "usage.sqlite") == 0o600
    assert mode(tmp_path / "clusters") == 0o711  # the store's: accounts read their statuses
    assert os.umask(0o022) == PRIVATE_UMASK  # what the platform writes next is private
