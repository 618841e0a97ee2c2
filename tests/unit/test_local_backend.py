"""The local backend's bookkeeping with real child processes (``sleep``) standing in for JVMs.

The engine adapter here starts ``sleep`` instead of Spark or Flink (those run in
tests/integration); everything else is the real backend: runtime records, pid files, markers,
drains, orphan sweeps and scrape target files.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from autoscaler.backends.base import Observation
from autoscaler.backends.local.backend import LocalBackend, RuntimeRecord
from autoscaler.controller.loop import Controller
from autoscaler.readers.prometheus import PrometheusClient
from hubscale import processes
from hubscale.atomic_files import replace_if_changed
from hubscale.processes import ProcessSpec
from hubscale.scrape_targets import ScrapeTarget
from hubscale.spec import ComputeCluster
from hubscale.state_dir import client_file, pid_dir
from hubscale.store import LocalClusterStore
from tests.builders import cluster
from tests.support import wait_for


class SleepEngine:
    """Processes that sleep; a worker is drained when the test says so."""

    drain_timeout_s = None
    drained_workers: set[str] = set()  # noqa: RUF012 - shared on purpose: tests set it
    registered_workers: set[str] | None = None  # None: every worker has registered at once
    worker_argv: tuple[str, ...] = ("sleep", "600")

    def __init__(self, cluster: ComputeCluster, directory: Path, record: RuntimeRecord) -> None:
        self.name = cluster.metadata.name
        self.directory = directory

    def prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def _spec(self, role: str, argv: tuple[str, ...] = ("sleep", "600")) -> ProcessSpec:
        return ProcessSpec(
            argv=list(argv),
            env=dict(os.environ),
            pid_file=pid_dir(self.directory) / f"{role}.pid",
            log_file=self.directory / "logs" / f"{role}.log",
            marker=f"{self.directory}/{role}",
        )

    def head(self) -> ProcessSpec:
        return self._spec("head")

    def worker(self, name: str, port: int) -> ProcessSpec:
        return self._spec(f"worker-{name}", self.worker_argv)

    def begin_drain(self, name: str, pid: int) -> None:
        pass

    def drained(self, name: str, pid: int) -> bool:
        return name in self.drained_workers

    def registered(self, workers: Mapping[str, int]) -> set[str]:
        if self.registered_workers is None:
            return set(workers)
        return set(workers) & self.registered_workers

    def targets(self, workers: Mapping[str, int]) -> list[ScrapeTarget]:
        return [
            ScrapeTarget(f"127.0.0.1:{port}", {"worker": name}) for name, port in workers.items()
        ]

    def client_config(self) -> dict[str, str]:
        return {"engine": "spark", "fake": self.name}

    def rest_tls(self) -> None:
        return None


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    SleepEngine.drained_workers = set()
    SleepEngine.registered_workers = None
    SleepEngine.worker_argv = ("sleep", "600")
    engines = {"spark": (SleepEngine, lambda: {"master": 1})}
    local = LocalBackend(tmp_path / "state", tmp_path / "targets", engines, start_concurrency=8)
    yield local
    for directory in local.runtime_dir.iterdir():
        asyncio.run(local.delete(directory.name))


def run(coroutine):
    return asyncio.run(coroutine)


def test_ensure_starts_the_head_once_and_scale_names_workers_in_order(backend: LocalBackend):
    first = run(backend.ensure(cluster("c")))
    again = run(backend.ensure(cluster("c")))
    assert first.head_running and again.head_running
    c = backend.marker_prefix("c")
    assert list(processes.group_leaders(c + "head")) == [c + "head"]  # not started twice

    run(backend.scale(cluster("c"), 3, ()))
    observed = run(backend.observe())["c"]
    assert observed.workers == ("w0", "w1", "w2")
    targets = json.loads((backend.file_sd_dir / "c.json").read_text())
    assert sorted(t["labels"]["worker"] for t in targets) == ["w0", "w1", "w2"]
    assert all(t["labels"]["cluster"] == "c" and t["labels"]["user"] == "alice" for t in targets)
    assert json.loads(client_file(backend.directory("c")).read_text())["fake"] == "c"


def test_a_head_on_demand_is_described_before_it_runs_and_stops_only_without_workers(
    tmp_path: Path, backend: LocalBackend
):
    off = run(backend.ensure(cluster("c"), head=False))
    assert not off.head_running  # no head started...
    assert (
        json.loads(client_file(backend.directory("c")).read_text())["fake"] == "c"
    )  # ...described
    assert run(backend.ensure(cluster("c"))).head_running

    run(backend.scale(cluster("c"), 1, ()))
    assert run(backend.ensure(cluster("c"), head=False)).head_running  # a worker runs on it
    SleepEngine.drained_workers = {"w0"}
    run(backend.scale(cluster("c"), 0, ()))

    def gone() -> bool:
        observed = run(backend.observe())["c"]
        return not observed.workers and not observed.draining

    wait_for(gone, timeout_s=30)
    assert not run(backend.ensure(cluster("c"), head=False)).head_running

    run(backend.ensure(cluster("c")))
    restarted = LocalBackend(tmp_path / "state", tmp_path / "targets", backend.engines)
    assert run(restarted.ensure(cluster("c"), head=False)).head_running  # first sight: adopted
    assert not run(restarted.ensure(cluster("c"), head=False)).head_running


def test_shrinking_drains_the_victims_first_and_stops_them_once_drained(backend: LocalBackend):
    c = backend.marker_prefix("c")
    run(backend.ensure(cluster("c")))
    run(backend.scale(cluster("c"), 3, ()))
    run(backend.scale(cluster("c"), 1, ("w0",)))

    observed = run(backend.observe())["c"]
    assert observed.workers == ("w1",) and set(observed.draining) == {"w0", "w2"}
    assert len(processes.group_leaders(c + "worker-")) == 3  # still running: not drained yet

    SleepEngine.drained_workers = {"w0"}
    observed = run(backend.observe())["c"]
    assert set(observed.draining) == {"w2"}
    assert set(processes.group_leaders(c + "worker-")) == {c + "worker-w1", c + "worker-w2"}

    run(backend.scale(cluster("c"), 2, ()))  # the free name w0 is reused; w2 still drains
    assert run(backend.observe())["c"].workers == ("w1", "w0")


def test_workers_start_one_at_a_time_each_once_the_one_before_has_registered(
    backend: LocalBackend,
):
    """A JVM's start is CPU-bound: on a 2-core machine one starts at a time per cluster."""
    SleepEngine.registered_workers = set()
    backend.start_concurrency = 1
    run(backend.ensure(cluster("c")))
    run(backend.scale(cluster("c"), 3, ()))
    assert run(backend.observe())["c"].workers == ("w0",)
    run(backend.scale(cluster("c"), 3, ()))  # the controller asks again next loop
    assert run(backend.observe())["c"].workers == ("w0",)  # w0 has not registered yet

    SleepEngine.registered_workers = {"w0"}
    run(backend.scale(cluster("c"), 3, ()))
    assert run(backend.observe())["c"].workers == ("w0", "w1")

    backend.start_concurrency = 2  # two may start at once: w1 is one
    run(backend.scale(cluster("c"), 3, ()))
    assert run(backend.observe())["c"].workers == ("w0", "w1", "w2")


def test_a_worker_that_never_registers_holds_the_next_back_only_for_the_grace(
    backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
):
    SleepEngine.registered_workers = set()
    backend.start_concurrency = 1
    run(backend.ensure(cluster("c")))
    run(backend.scale(cluster("c"), 2, ()))
    monkeypatch.setattr("autoscaler.backends.local.backend.STARTUP_GRACE_S", 0.0)
    run(backend.scale(cluster("c"), 2, ()))
    assert run(backend.observe())["c"].workers == ("w0", "w1")


def test_a_worker_launching_a_process_holds_the_next_worker_back_while_that_one_starts(
    backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
):
    """A registered Spark worker that just launched an executor JVM: that start takes the CPU."""
    SleepEngine.worker_argv = ("sh", "-c", "sleep 600 & wait")  # a worker with one child
    backend.start_concurrency = 1
    run(backend.ensure(cluster("c")))
    run(backend.scale(cluster("c"), 2, ()))
    c = backend.marker_prefix("c")
    w0 = processes.group_leaders(c + "worker-w0")[c + "worker-w0"]
    wait_for(lambda: processes.children(w0))
    # "young" for the whole check, however slowly a loaded machine gets through it
    monkeypatch.setattr("autoscaler.backends.local.backend.CHILD_START_S", 600.0)
    run(backend.scale(cluster("c"), 2, ()))
    assert run(backend.observe())["c"].workers == ("w0",)  # w0's child is young
    monkeypatch.setattr("autoscaler.backends.local.backend.CHILD_START_S", 0.0)
    run(backend.scale(cluster("c"), 2, ()))
    assert run(backend.observe())["c"].workers == ("w0", "w1")


def test_a_dead_worker_is_forgotten_so_the_controller_can_restore_it(backend: LocalBackend):
    c = backend.marker_prefix("c")
    run(backend.ensure(cluster("c")))
    run(backend.scale(cluster("c"), 2, ()))
    victim = processes.group_leaders(c + "worker-w1")[c + "worker-w1"]
    processes.kill_group(victim)
    wait_for(
        lambda: (
            processes.start_time(victim) is None
            or c + "worker-w1" not in (processes.group_leaders(c + "worker-w1"))
        )
    )

    assert run(backend.observe())["c"].workers == ("w0",)
    run(backend.scale(cluster("c"), 2, ()))
    assert run(backend.observe())["c"].workers == ("w0", "w1")


def test_a_restarted_backend_adopts_processes_and_kills_unrecorded_ones(tmp_path: Path):
    engines = {"spark": (SleepEngine, lambda: {"master": 1})}
    first = LocalBackend(tmp_path / "state", tmp_path / "targets", engines)
    run(first.ensure(cluster("c")))
    run(first.scale(cluster("c"), 1, ()))
    c = first.marker_prefix("c")
    before = processes.group_leaders(c)
    # A worker started just before a crash, its pid file never written: an orphan.
    orphan_spec = SleepEngine(cluster("c"), first.directory("c"), None)._spec("worker-w9")
    orphan = processes.start(orphan_spec)
    orphan_spec.pid_file.unlink()

    second = LocalBackend(tmp_path / "state", tmp_path / "targets", engines)
    run(second.ensure(cluster("c")))
    try:
        # same pids, the orphan gone (its SIGKILL takes effect a moment later)
        wait_for(lambda: processes.group_leaders(c) == before, timeout_s=10)
        assert orphan not in processes.marked(c)
        assert run(second.observe())["c"].workers == ("w0",)
    finally:
        run(second.delete("c"))
    assert not processes.marked(c)
    assert not (tmp_path / "targets" / "c.json").exists()
    assert not second.directory("c").exists()


def test_replace_if_changed_leaves_an_unchanged_file_alone(tmp_path: Path):
    path = tmp_path / "conf"
    assert replace_if_changed(path, "a = 1\n")
    inode = path.stat().st_ino
    assert not replace_if_changed(path, "a = 1\n")
    assert path.stat().st_ino == inode
    assert replace_if_changed(path, "a = 2\n") and path.read_text() == "a = 2\n"


def test_an_orphan_killed_by_its_marker_is_gone_when_the_kill_returns(tmp_path: Path):
    """The sweep that follows a kill must not see the orphan again, nor find its ports taken: a
    SIGKILL is delivered when the process next runs, so the kill waits for that (it took effect
    before the return in only ~60 % of 50 tries on an idle machine without the wait)."""
    for attempt in range(20):
        spec = SleepEngine(cluster("c"), tmp_path / str(attempt), None)._spec("worker-w9")
        spec.pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid = processes.start(spec)
        processes.kill_group(pid)
        assert processes.start_time(pid) is None or pid not in processes.marked(spec.marker)
        assert not processes.running_pid(spec.pid_file)


class CountingBackend(LocalBackend):
    """The real local backend, counting the ensures the controller asks of it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.ensured: list[str] = []

    def _ensure(self, cluster: ComputeCluster, run_head: bool = True) -> Observation:
        self.ensured.append(cluster.metadata.name)
        return super()._ensure(cluster, run_head)


def files(root: Path) -> dict[Path, tuple[int, int]]:
    """Every file under ``root`` with its inode and modification time: a write changes one."""
    return {
        path: (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    }


def test_a_steady_loop_ensures_and_writes_nothing_and_a_dead_head_is_restarted(tmp_path: Path):
    """Issue 17: with nothing changed, a loop over local clusters ensures none and writes no
    file; a head that died is noticed by ``observe`` and only its cluster is ensured again."""
    engines = {"spark": (SleepEngine, lambda: {"master": 1})}
    backend = CountingBackend(tmp_path / "state", tmp_path / "targets", engines)
    store = LocalClusterStore(tmp_path / "state")
    empty = {"status": "success", "data": {"resultType": "vector", "result": []}}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=empty))
    prometheus = PrometheusClient("http://prometheus.test", transport=transport)
    loop = Controller(store, backend, prometheus, clock=lambda: 1_800_000_000.0)
    loop.resync_s = 1e9  # no periodic resync in this test
    for name in ("a", "b", "c"):
        store.apply(cluster(name))
    try:
        for _ in range(3):  # up: heads started, first statuses written
            run(loop.reconcile_once())
        backend.ensured, before = [], files(tmp_path)
        for _ in range(2):
            run(loop.reconcile_once())
        assert backend.ensured == []
        assert files(tmp_path) == before

        b = backend.marker_prefix("b") + "head"
        head = processes.group_leaders(b)[b]
        processes.kill_group(head)
        wait_for(
            lambda: processes.running_pid(pid_dir(backend.directory("b")) / "head.pid") is None
        )
        run(loop.reconcile_once())
        assert backend.ensured == ["b"]
        assert processes.group_leaders(b)[b] != head  # started again
    finally:
        for name in ("a", "b", "c"):
            run(backend.delete(name))
