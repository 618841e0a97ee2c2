"""Local controller scale bench (issue 17): the real controller, as a process in local mode, over
a state directory holding N ComputeCluster objects, all idle, no JVM running.

Half the clusters are Spark, half Flink, one user each, every head on demand: no notebook server
reports a kernel, so no head starts. Prometheus is the stand-in of ``controller_scale``
answering the same every loop ("steady": no spec and no demand change). Figures: loop duration
(p50/p95 from the controller's own histogram) and its CPU per loop once steady, the durable file
writes per steady loop (renames and fsyncs, counted by strace when it is installed), the
controller's RSS, and the time until every cluster had a status.

``python -m benchmarks.controller_local [--clusters 1000] [--json out.json]``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.controller_scale import (
    CONVERGE_TIMEOUT_S,
    LOOP_S,
    STEADY_LOOPS,
    LoopWatch,
    StandInPrometheus,
    cluster_names,
    quantile,
    run_sizes,
    stop,
)
from hubscale import processes
from hubscale.ports import free_port
from hubscale.state_dir import clusters_dir
from hubscale.store import STATUS_SUFFIX, LocalClusterStore
from tests.builders import cluster
from tests.support import wait_for

REPO = Path(__file__).resolve().parents[1]
# What a durable file write costs: the file's fsync, its rename into place, the directory's fsync.
TRACED = ("fsync", "fdatasync", "rename", "renameat", "renameat2")


@dataclass
class LocalRun:
    """What one size measured in local mode; None where strace was not there to count."""

    clusters: int
    loop_p50_s: float
    loop_p95_s: float
    controller_cpu_s_per_loop_steady: float
    renames_per_loop_steady: float | None
    fsyncs_per_loop_steady: float | None
    controller_rss_mib: float
    converge_s: float


class SyscallLog:
    """The controller's fsyncs and renames, one timed line each, from ``strace -f`` (seccomp
    filtered: the other system calls run at full speed)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @staticmethod
    def prefix(path: Path) -> list[str]:
        """The command line prefix that traces a process into ``path``; [] without strace."""
        if shutil.which("strace") is None:
            return []
        return [
            "strace", "-f", "--seccomp-bpf", "-qq", "-ttt", "-e", "signal=none",
            "-e", f"trace={','.join(TRACED)}", "-o", str(path),
        ]  # fmt: skip

    def count(self, since: float, until: float) -> tuple[int, int] | None:
        """(renames, fsyncs) between two wall-clock times; None if nothing was traced."""
        if not self.path.exists():
            return None
        renames = fsyncs = 0
        for line in self.path.read_text(errors="replace").splitlines():
            fields = line.split(maxsplit=2)
            if len(fields) < 3 or not since <= float(fields[1]) < until:
                continue
            renames += fields[2].startswith("rename")
            fsyncs += fields[2].startswith(("fsync", "fdatasync"))
        return renames, fsyncs


def write_objects(state_dir: Path, count: int) -> None:
    """N idle ComputeCluster objects, heads on demand, as the spawner would have written them."""
    store = LocalClusterStore(state_dir)
    for name, engine in cluster_names(count):
        store.apply(cluster(name, engine, name.rsplit("-", 1)[0], headOnDemand=True))


def statuses(state_dir: Path) -> int:
    return sum(1 for _ in clusters_dir(state_dir).glob(f"*{STATUS_SUFFIX}"))


@dataclass
class Controller:
    """The controller process, its own pid (strace's child when traced), its /metrics URL."""

    process: subprocess.Popen
    pid: int
    metrics_url: str


@contextlib.contextmanager
def controller(state_dir: Path, prometheus_url: str, trace: Path) -> Iterator[Controller]:
    """The controller process in local mode, traced when strace is there."""
    listen = f"127.0.0.1:{free_port()}"
    log = open(state_dir / "controller.log", "ab")  # noqa: SIM115 - the child keeps it
    tracer = SyscallLog.prefix(trace)
    process = subprocess.Popen(
        [*tracer, sys.executable, "-m", "autoscaler", "--backend", "local",
         "--state-dir", str(state_dir), "--prometheus-url", prometheus_url,
         "--interval", str(LOOP_S), "--listen", listen, "--log-level", "WARNING"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    log.close()
    try:
        pid = process.pid
        if tracer:
            wait_for(lambda: processes.children(process.pid), timeout_s=30)
            pid = processes.children(process.pid)[0]
        yield Controller(process, pid, f"http://{listen}/metrics")
    finally:
        if tracer:  # strace, signalled, would detach and leave the controller running
            stop_traced(process, pid)
        stop(process)


def stop_traced(tracer: subprocess.Popen, pid: int) -> None:
    """SIGTERM to the traced controller, SIGKILL after 30 s; strace ends with it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    try:
        tracer.wait(30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def wait_until(condition: Callable[[], object], process: subprocess.Popen) -> None:
    def running_and() -> object:
        if process.poll() is not None:
            raise RuntimeError(f"the controller exited with {process.returncode}")
        return condition()

    wait_for(running_and, timeout_s=CONVERGE_TIMEOUT_S, every_s=0.5)


def run(count: int, directory: Path, say=print) -> LocalRun:
    state_dir = directory / "state"
    write_objects(state_dir, count)
    trace = SyscallLog(directory / "syscalls.txt")
    prometheus = StandInPrometheus(cluster_names(count), active_share=0.0)
    with (
        prometheus.running(),
        controller(state_dir, prometheus.url, trace.path) as running,
        LoopWatch(running.metrics_url).watching() as watch,
    ):
        process, pid = running.process, running.pid
        started = time.monotonic()
        wait_until(lambda: statuses(state_dir) == count, process)
        converge_s = time.monotonic() - started
        say(f"  {count} local clusters: every status written after {converge_s:.0f} s")
        settle = watch.loops() + 3
        wait_until(lambda: watch.loops() >= settle, process)
        first, since, cpu = watch.loops(), time.time(), processes.cpu_s(pid) or 0.0
        wait_until(lambda: watch.loops() >= first + STEADY_LOOPS, process)
        until, loops = time.time(), watch.loops() - first
        cpu_per_loop = ((processes.cpu_s(pid) or 0.0) - cpu) / loops
        rss = (processes.rss_kib(pid) or 0) / 1024
        counted = trace.count(since, until)
        return LocalRun(
            clusters=count,
            loop_p50_s=round(statistics.median(watch.durations[first:]), 3),
            loop_p95_s=round(quantile(watch.durations[first:], 0.95), 3),
            controller_cpu_s_per_loop_steady=round(cpu_per_loop, 2),
            renames_per_loop_steady=None if counted is None else round(counted[0] / loops, 1),
            fsyncs_per_loop_steady=None if counted is None else round(counted[1] / loops, 1),
            controller_rss_mib=round(rss, 0),
            converge_s=round(converge_s, 1),
        )


def main(argv: list[str] | None = None) -> None:
    run_sizes(argv, "python -m benchmarks.controller_local", __doc__, run)


if __name__ == "__main__":
    main()
