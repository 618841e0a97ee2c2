"""Real system accounts for the multi-user tests (the tests run as root): created under a
distinctive prefix in a traversable home base, and deleted, homes and all, afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hubscale.accounts import Account, account_name, ensure_account, lookup
from hubscale.cgroups import CGROUP_ROOT, CONTROLLERS
from tests.support import wait_for

TEST_PREFIX = "hsq-"  # nothing else on the machine is called so


def remove_account(name: str) -> None:
    """Delete the account and its group if they are there."""
    if lookup(name) is not None:
        subprocess.run(["userdel", name], check=False, capture_output=True)


def open_directory(prefix: str) -> Iterator[Path]:
    """A directory every account can enter (pytest's tmp_path is under a 0700 one), removed
    afterwards; skips unless root."""
    if os.geteuid() != 0:
        pytest.skip("system accounts need root (CI runs the tests as root)")
    directory = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def home_base() -> Iterator[Path]:
    """Where the test's accounts get their homes."""
    yield from open_directory("hubscale-homes-")


@pytest.fixture
def open_state_dir() -> Iterator[Path]:
    """A state directory the accounts may enter, as a system-accounts hub needs."""
    yield from open_directory("hubscale-state-")


@pytest.fixture
def accounts(home_base: Path) -> Iterator[Callable[[str], Account]]:
    """``make(user)``: that hub user's account, created as the spawner would; all removed after."""
    made: set[str] = set()

    def make(user: str) -> Account:
        made.add(account_name(user, TEST_PREFIX))
        return ensure_account(user, home_base, TEST_PREFIX)

    yield make
    for name in made:
        remove_account(name)


@pytest.fixture
def cgroup_parent() -> Iterator[str]:
    """A parent cgroup of this test's own (cgroup v1, as root); every group under it and the
    processes left in them are gone afterwards."""
    if not all((CGROUP_ROOT / controller).is_dir() for controller in CONTROLLERS):
        pytest.skip("cgroup v1 memory and cpu controllers are not mounted here")
    parent = f"hubscale-test-{os.getpid()}"
    yield parent
    for controller in CONTROLLERS:
        top = CGROUP_ROOT / controller / parent
        for group in sorted(top.glob("*/"), reverse=True):
            for pid in (group / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            wait_for(lambda g=group: not (g / "cgroup.procs").read_text().split(), 10)
            group.rmdir()
        with contextlib.suppress(FileNotFoundError):
            top.rmdir()
