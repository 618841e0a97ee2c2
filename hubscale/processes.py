"""Child processes in local mode (clusters' JVMs, the hub's stack): detached, found again.

Each process has a pid file holding its pid and its start time from ``/proc``, so a restarted
controller adopts exactly the processes it started (a reused pid does not match) and never starts
a duplicate. A process runs in its own session: stopping it signals the whole group (the JVM and
any Python workers it forked). Each also carries a marker in its environment (inherited by what it
forks), so a process started just before a crash, before its pid file was written, is still found.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from hubscale.atomic_files import write_atomic

MARKER_VARIABLE = "HUBSCALE_PROCESS"


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """How to start one process and where its pid file and log go."""

    argv: Sequence[str]
    env: Mapping[str, str]
    pid_file: Path
    log_file: Path
    cwd: Path | None = None
    marker: str = ""  # HUBSCALE_PROCESS in its environment, e.g. "<cluster>/<role>"


def _stat(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name, from field 3 (state) on; None
    once the process is gone. The name, in parentheses, may hold spaces and parentheses."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    fields = _stat(pid)
    return None if fields is None else int(fields[19])


def cpu_s(pid: int) -> float | None:
    """CPU seconds the process and its waited-for children used so far (user + system); None
    once it is gone."""
    fields = _stat(pid)
    if fields is None:
        return None
    return sum(int(field) for field in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int | None:
    """The process's resident memory (``VmRSS`` of /proc/PID/status); None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None  # a zombie or a kernel thread: no memory of its own


def age_s(pid: int) -> float | None:
    """Seconds since the process started; None once it is gone."""
    ticks = start_time(pid)
    if ticks is None:
        return None
    uptime_s = float(Path("/proc/uptime").read_text().split()[0])
    return uptime_s - ticks / os.sysconf("SC_CLK_TCK")


def running_pid(pid_file: Path) -> int | None:
    """The pid recorded in ``pid_file`` if that very process still runs (not a reused pid)."""
    try:
        pid_text, started_text = pid_file.read_text().split()
        pid, started = int(pid_text), int(started_text)
    except (OSError, ValueError):
        return None
    if start_time(pid) != started or _is_zombie(pid):
        return None
    return pid


def start(spec: ProcessSpec, preexec: Callable[[], None] | None = None) -> int:
    """Start the process in its own session, record it, and return its pid; ``preexec`` runs
    in the child before it execs (e.g. ``Account.become``: its cgroups, its account)."""
    spec.log_file.parent.mkdir(parents=True, exist_ok=True)
    spec.pid_file.parent.mkdir(parents=True, exist_ok=True)
    with open(spec.log_file, "ab") as log:
        process = subprocess.Popen(
            list(spec.argv),
            env={**spec.env, MARKER_VARIABLE: spec.marker} if spec.marker else dict(spec.env),
            cwd=spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,
        )
    write_atomic(spec.pid_file, f"{process.pid} {start_time(process.pid)}\n")
    return process.pid


def stop(pid_file: Path, timeout_s: float = 15.0, first_signal: int = signal.SIGTERM) -> bool:
    """Signal the recorded process group, SIGKILL it after ``timeout_s``; True if one ran."""
    pid = running_pid(pid_file)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    _signal_group(pid, first_signal)
    deadline = time.monotonic() + timeout_s
    while running_pid(pid_file) is not None and time.monotonic() < deadline:
        _reap(pid)
        time.sleep(0.1)
    if running_pid(pid_file) is not None:
        _signal_group(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout_s
        while running_pid(pid_file) is not None and time.monotonic() < deadline:
            _reap(pid)
            time.sleep(0.05)
    _reap(pid)
    pid_file.unlink(missing_ok=True)
    return True


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def _reap(pid: int) -> None:
    """Collect our own exited child so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _is_zombie(pid: int) -> bool:
    fields = _stat(pid)
    return fields is None or fields[0] == "Z"


def marked(prefix: str) -> dict[int, str]:
    """Running processes whose marker starts with ``prefix``, by pid (readable ones only)."""
    found: dict[int, str] = {}
    needle = f"{MARKER_VARIABLE}=".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        for variable in environ.split(b"\0"):
            if variable.startswith(needle):
                marker = variable[len(needle) :].decode(errors="replace")
                if marker.startswith(prefix) and not _is_zombie(int(entry.name)):
                    found[int(entry.name)] = marker
                break
    return found


def children(pid: int) -> list[int]:
    """The live direct children of ``pid`` (e.g. the executors a Spark worker launched)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(entry.name)
        if fields is not None and int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def kill_group(pid: int, timeout_s: float = 5.0) -> None:
    """SIGKILL a process group we no longer track (an orphan found by its marker) and wait, up to
    ``timeout_s``, until its leader is gone: a signal is delivered when the process next runs, so
    on a busy machine it would otherwise still hold its ports and show up as marked."""
    _signal_group(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while not _is_zombie(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    _reap(pid)


def group_leaders(prefix: str) -> dict[str, int]:
    """Marker -> pid of the marked processes we started (each leads its own process group)."""
    leaders: dict[str, int] = {}
    for pid, marker in marked(prefix).items():
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) == pid:
                leaders[marker] = pid
    return leaders


def reap_children() -> None:
    """Collect every exited child of ours (the processes we start are our children)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
