"""A system account's memory and CPU bounds (cgroup v1), as TLJH has systemd set them.

``<root>/memory/<parent>/<account>/`` and ``<root>/cpu/<parent>/<account>/`` hold everything of
one account in multi-user local mode: its notebook servers (and their kernels) and its clusters'
JVMs. Past its memory limit the kernel's OOM killer picks a process of that cgroup only; its CPU
quota caps the cores all of it may use together. A process joins by writing its pid to the
groups' ``cgroup.procs`` before it execs (``Account.become``); what it forks later stays inside.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_PARENT = "hubscale"
CONTROLLERS = ("memory", "cpu")
CPU_PERIOD_US = 100_000
REMOVE_WAIT_S = 2.0


class CgroupError(RuntimeError):
    """A cgroup that could not be made or bounded; the message names the file."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What one account may use at most, all its processes together."""

    memory_bytes: int
    cpu_cores: float


@dataclass(frozen=True, slots=True)
class AccountCgroup:
    """One account's cgroups, one per controller; nothing exists until ``create``."""

    account: str
    parent: str = CGROUP_PARENT
    root: Path = CGROUP_ROOT

    def directory(self, controller: str) -> Path:
        return self.root / controller / self.parent / self.account

    @property
    def procs_files(self) -> list[Path]:
        """The files a process writes its pid into to join (``Account.become(join=...)``)."""
        return [self.directory(controller) / "cgroup.procs" for controller in CONTROLLERS]

    def create(self, limits: Limits) -> None:
        """Make the groups (idempotent) and set their bounds; the bounds of an existing group
        are set again (a new profile's)."""
        memory, cpu = self.directory("memory"), self.directory("cpu")
        try:
            for directory in (memory, cpu):
                directory.mkdir(parents=True, exist_ok=True)
            swap = memory / "memory.memsw.limit_in_bytes"
            if swap.exists():  # raised first, so the memory limit never exceeds it
                _write(swap, -1)
            _write(memory / "memory.limit_in_bytes", limits.memory_bytes)
            if swap.exists():  # memory + swap bounded alike: past it, OOM, not swapping
                _write(swap, limits.memory_bytes)
            _write(cpu / "cpu.cfs_period_us", CPU_PERIOD_US)
            _write(cpu / "cpu.cfs_quota_us", max(1000, round(limits.cpu_cores * CPU_PERIOD_US)))
        except OSError as error:
            raise CgroupError(f"cgroup {self.account}: {error}") from error

    def pids(self) -> set[int]:
        """The processes in the account's memory group (none once it is gone)."""
        try:
            text = (self.directory("memory") / "cgroup.procs").read_text()
        except OSError:
            return set()
        return {int(pid) for pid in text.split()}

    def remove(self, wait_s: float = REMOVE_WAIT_S) -> bool:
        """Remove the groups once no process is left in them, waiting up to ``wait_s`` for the
        last to finish exiting (a JVM's threads outlive its pid's exit by a moment); True if
        none is left."""
        deadline = time.monotonic() + wait_s
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.05)
        removed = True
        for controller in CONTROLLERS:
            try:
                self.directory(controller).rmdir()
            except FileNotFoundError:
                pass
            except OSError as error:
                if error.errno != errno.EBUSY:
                    raise CgroupError(f"cgroup {self.account}: {error}") from error
                removed = False
        for controller in CONTROLLERS:  # the parent too, once it holds no account
            with contextlib.suppress(OSError):
                (self.root / controller / self.parent).rmdir()
        return removed


def _write(path: Path, value: int) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, str(value).encode())
    finally:
        os.close(fd)
