"""The local backend: each ComputeCluster as processes on this machine, the embedded default.

Per cluster, ``<state>/runtime/<name>/`` holds ``runtime.json`` (ports and workers, written before
any process starts), the engine's configuration, pid files and logs. Everything the backend knows
is in those files and in ``/proc``: a restarted controller adopts the processes it finds there,
kills the ones it cannot account for (started just before a crash), and starts none twice.
Workers leave through a drain: they finish their tasks first and are stopped once drained.
A head asked to stop (heads on demand) stops only once no worker remains, and never on the first
ensure of a process (a restarted controller has not observed it yet: the next loop decides).

The work per loop follows what changed (issue 17): ``observe`` reads each cluster's record and
checks its processes are alive, and builds an observation, rewrites scrape targets or asks the
engine adapter only for a cluster whose processes or record moved; ``changed`` names those, so
the controller ensures only them (plus its slow full resync).

All of a machine's JVMs share its cores, and a JVM's start is CPU-bound: a cluster starts at most
``start_concurrency`` workers at a time (half the cores, at least one), the next once one has
registered with its head and the executors it launched are past their start, so the first task
on a cluster grown from zero is not slowed by the other workers' starts. The controller asks again
every loop until the count is reached.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from autoscaler.backends.base import BackendError, Observation
from autoscaler.backends.local.accounts import TRAVERSABLE, SystemAccounts
from hubscale import processes
from hubscale.atomic_files import replace_if_changed, unlink_durably, write_atomic
from hubscale.cgroups import CgroupError
from hubscale.ports import free_port
from hubscale.processes import ProcessSpec, reap_children
from hubscale.scrape_targets import ScrapeTarget, write_file_sd
from hubscale.spec import ComputeCluster, Engine
from hubscale.state_dir import client_file, pid_dir, runtime_root

log = logging.getLogger(__name__)

RECORD_FILE = "runtime.json"
STARTUP_GRACE_S = 60.0  # a worker not registered after this no longer holds the next one back
CHILD_START_S = 5.0  # a worker's new child (a Spark executor JVM) counts as starting this long


def default_start_concurrency() -> int:
    """Workers a cluster starts at once: half this machine's cores, at least one."""
    return max(1, (os.cpu_count() or 1) // 2)


@dataclass
class _Seen:
    """What this process knows of one cluster it ensured: the engine adapter for its spec, its
    processes' pid files, and the last observation reported to the controller."""

    engine: LocalEngine
    head_pid_file: Path
    worker_pid_files: dict[str, Path] = field(default_factory=dict)
    observation: Observation | None = None
    targets_of: tuple[tuple[str, int], ...] | None = None  # the workers the targets file lists


@dataclass
class RuntimeRecord:
    """What the backend started for one cluster; the file is written before each start."""

    engine: Engine
    owner: str
    ports: dict[str, int]
    workers: dict[str, int] = field(default_factory=dict)  # name -> its UI/metrics port
    draining: dict[str, float] = field(default_factory=dict)  # name -> drain start (epoch s)

    def serving(self) -> list[str]:
        return [name for name in self.workers if name not in self.draining]

    def next_worker_name(self) -> str:
        index = 0
        while f"w{index}" in self.workers:
            index += 1
        return f"w{index}"


class LocalEngine(Protocol):
    """One engine's processes for one cluster: what to start, how to drain, what to scrape."""

    drain_timeout_s: float | None  # a longer drain is cut short; None: wait as long as it takes

    def prepare(self) -> None: ...

    def head(self) -> ProcessSpec: ...

    def worker(self, name: str, port: int) -> ProcessSpec: ...

    def begin_drain(self, name: str, pid: int) -> None: ...

    def drained(self, name: str, pid: int) -> bool: ...

    def registered(self, workers: Mapping[str, int]) -> set[str]: ...

    def targets(self, workers: Mapping[str, int]) -> list[ScrapeTarget]: ...

    def client_config(self) -> dict[str, str]: ...

    def rest_tls(self) -> ssl.SSLContext | None: ...


# An engine adapter is built from (cluster, its runtime directory, its record).
EngineFactory = Callable[[ComputeCluster, Path, RuntimeRecord], LocalEngine]
PortAllocator = Callable[[], dict[str, int]]


class LocalBackend:
    """Runs clusters as child processes; state in ``state_dir``, targets in ``file_sd_dir``."""

    def __init__(
        self,
        state_dir: Path,
        file_sd_dir: Path,
        engines: Mapping[str, tuple[EngineFactory, PortAllocator]],
        clock: Callable[[], float] = time.time,
        start_concurrency: int | None = None,
        accounts: SystemAccounts | None = None,
    ) -> None:
        self.runtime_dir = runtime_root(state_dir)
        self.runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.accounts = accounts  # None: every cluster runs as this process's own user
        if accounts is not None:
            self.runtime_dir.chmod(TRAVERSABLE)
        self.file_sd_dir = file_sd_dir
        self.engines = engines
        self.clock = clock
        self.start_concurrency = start_concurrency or default_start_concurrency()
        self._clusters: dict[str, ComputeCluster] = {}  # last ensured document, a cache
        self._seen: dict[str, _Seen] = {}  # per cluster ensured by this process
        self._moved: set[str] = set()  # clusters whose observation changed since ``changed``
        self._swept: set[str] = set()  # clusters checked for orphans since this process started

    def directory(self, name: str) -> Path:
        return self.runtime_dir / name

    def marker_prefix(self, name: str) -> str:
        """The start of the marker every process of this cluster carries: its own directory,
        so two state directories on one machine (``make up`` and a test run) never mix."""
        return f"{self.directory(name)}/"

    async def ensure(self, cluster: ComputeCluster, head: bool = True) -> Observation:
        return await asyncio.to_thread(self._ensure, cluster, head)

    async def scale(self, cluster: ComputeCluster, workers: int, victims: Sequence[str]) -> None:
        await asyncio.to_thread(self._scale, cluster, workers, victims)

    async def delete(self, name: str) -> None:
        await asyncio.to_thread(self._delete, name)

    async def observe(self) -> dict[str, Observation]:
        return await asyncio.to_thread(self._observe_all)

    def changed(self) -> set[str]:
        """The clusters whose processes or record ``observe`` saw change since last asked:
        besides the ones the controller has not ensured yet, only these need their ``ensure``."""
        moved, self._moved = self._moved, set()
        return moved

    def _ensure(self, cluster: ComputeCluster, run_head: bool = True) -> Observation:
        name = cluster.metadata.name
        record = self._load(name)
        if record is not None and record.engine != cluster.spec.engine:
            raise BackendError(
                f"{name} runs {record.engine}; the object now says {cluster.spec.engine}:"
                " delete and recreate it to change engines"
            )
        if record is None:
            record = RuntimeRecord(cluster.spec.engine, cluster.spec.owner, self._allocate(cluster))
            self.directory(name).mkdir(mode=0o700, parents=True, exist_ok=True)
            self._save(name, record)
        seen = name in self._clusters  # observed by this process before: its head state known
        self._clusters[name] = cluster
        engine = self._engine(cluster, record)
        engine.prepare()
        if name not in self._swept:
            self._kill_orphans(name, record)
            self._swept.add(name)
        head = engine.head()
        self._seen[name] = _Seen(engine, head.pid_file)
        head_pid = processes.running_pid(head.pid_file)
        if run_head and head_pid is None:
            log.info("head-start cluster=%s engine=%s", name, record.engine)
            processes.start(head, self._launcher(name, record))
        elif not run_head and head_pid is not None and not record.workers and seen:
            log.info("head-stop cluster=%s engine=%s", name, record.engine)
            processes.stop(head.pid_file)
        self._refresh(name, record, engine)
        replace_if_changed(client_file(self.directory(name)), json.dumps(engine.client_config()))
        observation = self._observation(name, record, engine)
        self._seen[name].observation = observation
        return observation

    def _scale(self, cluster: ComputeCluster, workers: int, victims: Sequence[str]) -> None:
        name = cluster.metadata.name
        record = self._require(name)
        engine = self._engine(cluster, record)
        serving = record.serving()
        to_start = workers - len(serving)
        if to_start > 0:  # only a scale-up asks the head which workers are still starting
            to_start = min(to_start, self._start_room(name, record, engine))
        for _ in range(to_start):
            worker = record.next_worker_name()
            record.workers[worker] = free_port()
            self._save(name, record)  # recorded before it starts: a crash cannot orphan it
            log.info("worker-start cluster=%s worker=%s", name, worker)
            spec = engine.worker(worker, record.workers[worker])
            processes.start(spec, self._launcher(name, record))
        leaving = [v for v in victims if v in serving]
        leaving += [w for w in reversed(serving) if w not in leaving]  # newest next
        for worker in leaving[: max(0, len(serving) - workers)]:
            record.draining[worker] = self.clock()
            self._save(name, record)
            pid = processes.running_pid(engine.worker(worker, record.workers[worker]).pid_file)
            log.info("worker-drain cluster=%s worker=%s", name, worker)
            if pid is not None:
                engine.begin_drain(worker, pid)
        self._refresh(name, record, engine)

    def _start_room(self, name: str, record: RuntimeRecord, engine: LocalEngine) -> int:
        """How many more workers may start now: ``start_concurrency`` less the JVMs of this
        cluster still starting: workers not yet registered with the head, and the processes they
        launched (Spark's executors) in their first ``CHILD_START_S``. None counts once older
        than ``STARTUP_GRACE_S``: one that never registers holds nothing back for long."""
        young: dict[str, int] = {}
        launching = 0
        for worker in record.serving():
            pid = processes.running_pid(engine.worker(worker, record.workers[worker]).pid_file)
            age_s = None if pid is None else processes.age_s(pid)
            if pid is None or age_s is None or age_s >= STARTUP_GRACE_S:
                continue  # gone, or old enough to hold nothing back
            young[worker] = record.workers[worker]
            ages = (processes.age_s(child) for child in processes.children(pid))
            launching += sum(
                1 for child_s in ages if child_s is not None and child_s < CHILD_START_S
            )
        starting = set(young) - engine.registered(young) if young else set()
        if starting or launching:
            log.debug("worker-start-waits cluster=%s starting=%s", name, sorted(starting))
        return max(0, self.start_concurrency - len(starting) - launching)

    def _delete(self, name: str) -> None:
        record = self._load(name)
        directory = self.directory(name)
        if record is not None:
            for pid_file in sorted(pid_dir(directory).glob("*.pid")):
                processes.stop(pid_file)
        for pid, marker in processes.marked(self.marker_prefix(name)).items():
            log.warning("orphan-kill cluster=%s pid=%d marker=%s", name, pid, marker)
            processes.kill_group(pid)
        reap_children()
        unlink_durably(self._targets_file(name))
        shutil.rmtree(directory, ignore_errors=True)
        if record is not None and self.accounts is not None:  # gone once the owner's last ends
            with contextlib.suppress(BackendError, CgroupError):
                self.accounts.cgroup(self.accounts.account(record.owner)).remove()
        self._clusters.pop(name, None)
        self._seen.pop(name, None)
        self._swept.discard(name)
        log.info("cluster-stopped cluster=%s", name)

    def _observe_all(self) -> dict[str, Observation]:
        reap_children()  # a worker that died on its own must not linger as a zombie
        observed = {}
        for directory in sorted(self.runtime_dir.iterdir()):
            try:
                record = self._load(directory.name)
            except BackendError as error:
                log.error("runtime-unreadable cluster=%s error=%r", directory.name, str(error))
                continue
            if record is None:
                continue
            seen = self._seen.get(directory.name)
            if seen is None:  # not ensured by this process: no engine adapter to drain with
                observed[directory.name] = Observation(directory.name, record.engine, False)
                continue
            observed[directory.name] = self._observe_one(directory.name, record, seen)
        return observed

    def _observe_one(self, name: str, record: RuntimeRecord, seen: _Seen) -> Observation:
        """One ensured cluster now: its last observation again while its head's and workers'
        liveness and its record are as they were, else a fresh one (and the cluster changed)."""
        self._refresh(name, record, seen.engine)
        head = processes.running_pid(seen.head_pid_file) is not None
        last = seen.observation
        if (
            last is not None
            and last.head_running == head
            and last.workers == tuple(record.serving())
            and last.draining == tuple(record.draining)
        ):
            return last
        seen.observation = self._observation(name, record, seen.engine)
        self._moved.add(name)
        return seen.observation

    def _refresh(self, name: str, record: RuntimeRecord, engine: LocalEngine) -> None:
        """Forget dead workers, stop drained ones, and rewrite the scrape targets (only when
        the workers changed since this process wrote them)."""
        changed = False
        for worker, port in list(record.workers.items()):
            pid_file = self._worker_pid_file(name, engine, worker, port)
            pid = processes.running_pid(pid_file)
            if pid is not None and worker in record.draining:
                waited = self.clock() - record.draining[worker]
                limit = engine.drain_timeout_s
                if engine.drained(worker, pid) or (limit is not None and waited > limit):
                    log.info("worker-stop cluster=%s worker=%s after_s=%.0f", name, worker, waited)
                    processes.stop(pid_file)
                    pid = None
            if pid is None:
                if worker not in record.draining:
                    log.warning("worker-gone cluster=%s worker=%s", name, worker)
                del record.workers[worker]
                record.draining.pop(worker, None)
                pid_file.unlink(missing_ok=True)
                changed = True
        if changed:
            self._save(name, record)
        seen = self._seen.get(name)
        workers = tuple(record.workers.items())
        if seen is not None and seen.targets_of == workers:
            return
        labels = {"cluster": name, "user": record.owner, "engine": record.engine}
        targets = [
            ScrapeTarget(t.address, {**labels, **t.labels}, t.metrics_path)
            for t in engine.targets(record.workers)
        ]
        write_file_sd(self._targets_file(name), targets)
        if seen is not None:
            seen.targets_of = workers

    def _worker_pid_file(self, name: str, engine: LocalEngine, worker: str, port: int) -> Path:
        """A worker's pid file, remembered: building a worker's process (its environment, its
        directories) to learn it cost ~2 ms, once per worker per loop."""
        seen = self._seen.get(name)
        if seen is None:
            return engine.worker(worker, port).pid_file
        if worker not in seen.worker_pid_files:
            seen.worker_pid_files[worker] = engine.worker(worker, port).pid_file
        return seen.worker_pid_files[worker]

    def _kill_orphans(self, name: str, record: RuntimeRecord) -> None:
        """Kill process groups marked as this cluster's that no pid file accounts for."""
        pids = pid_dir(self.directory(name))
        known = {processes.running_pid(path) for path in pids.glob("*.pid")}
        for pid, marker in processes.marked(self.marker_prefix(name)).items():
            with contextlib.suppress(ProcessLookupError):
                if os.getpgid(pid) != pid or pid in known:
                    continue  # a child of a known process, or a known process itself
            log.warning("orphan-kill cluster=%s pid=%d marker=%s", name, pid, marker)
            processes.kill_group(pid)

    def _observation(self, name: str, record: RuntimeRecord, engine: LocalEngine) -> Observation:
        head = processes.running_pid(engine.head().pid_file) is not None
        return Observation(
            name,
            record.engine,
            head,
            tuple(record.serving()),
            tuple(record.draining),
            engine.client_config(),
            engine.rest_tls(),
        )

    def _launcher(self, name: str, record: RuntimeRecord) -> Callable[[], None] | None:
        """What a cluster's process runs as: this process's user, or its owner's account."""
        if self.accounts is None:
            return None
        return self.accounts.launcher(record.owner, self.directory(name))

    def _engine(self, cluster: ComputeCluster, record: RuntimeRecord) -> LocalEngine:
        factory, _ = self.engines[record.engine]
        return factory(cluster, self.directory(cluster.metadata.name), record)

    def _allocate(self, cluster: ComputeCluster) -> dict[str, int]:
        if cluster.spec.engine not in self.engines:
            raise BackendError(f"engine {cluster.spec.engine} is not available in local mode")
        _, allocate = self.engines[cluster.spec.engine]
        return allocate()

    def _targets_file(self, name: str) -> Path:
        return self.file_sd_dir / f"{name}.json"

    def _load(self, name: str) -> RuntimeRecord | None:
        try:
            data = json.loads((self.directory(name) / RECORD_FILE).read_text())
            return RuntimeRecord(**data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as error:
            raise BackendError(f"{name}: unreadable {RECORD_FILE}: {error}") from error

    def _require(self, name: str) -> RuntimeRecord:
        record = self._load(name)
        if record is None:
            raise BackendError(f"{name}: scale before ensure")
        return record

    def _save(self, name: str, record: RuntimeRecord) -> None:
        write_atomic(self.directory(name) / RECORD_FILE, json.dumps(asdict(record), indent=1))
