"""Simulated clusters: a pool of workers that take time to start, and the Spark and Flink work
that runs on them. Event-driven between the controller's ticks, deterministic.

Model (documented in the bench output too):
- A worker holds its cores from the moment it is asked for until it is released; it can run
  work a start time after it was asked for (the profile's samples, drawn in turn). A worker
  removed while it runs tasks drains: it takes no new task and is released when its tasks end
  (Spark decommissioning).
- Spark: a closed-loop job is submitted its think time after the job it follows finished (an
  open-loop one at its ``t``); one executor per worker, one task per core; the driver releases
  an executor idle for ``executor_idle_timeout_s`` (dynamic allocation) and launches it again
  when tasks wait. A user's jobs share the cluster FIFO: free cores take the oldest job's
  tasks first, later jobs use what is left.
- Flink: each job runs at parallelism min(max_parallelism, free slots) (adaptive scheduler). Any
  change of a job's parallelism restarts it: no records are processed for ``rescale_s``. Input
  that cannot be processed waits as backlog; lag is backlog in seconds of input.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import deque
from dataclasses import dataclass, field, replace
from itertools import count

from autoscaler.policy.signals import FlinkSignal, SparkSignal, WorkerLoad
from autoscaler.policy.victims import choose_victims
from autoscaler.sim.nodes import NodePool, SimNode
from autoscaler.sim.trace import FlinkJob, SparkJob


@dataclass(slots=True)
class SimWorker:
    name: str
    asked_at: float
    ready_at: float
    busy: int = 0
    draining: bool = False
    idle_since: float = 0.0
    node: SimNode | None = None


@dataclass(slots=True)
class WorkerPool:
    """Workers of one cluster and the core-seconds they held."""

    cores: int
    start_s: tuple[float, ...]  # drawn in turn, one per worker asked for
    nodes: NodePool | None = None  # the nodes workers are placed on (shared by all clusters)
    serving: dict[str, SimWorker] = field(default_factory=dict)  # what the controller counts
    draining: dict[str, SimWorker] = field(default_factory=dict)  # removed, finishing tasks
    held_core_s: float = 0.0
    ups: int = 0
    downs: int = 0
    _names: count = field(default_factory=count)
    _last_ready_at: float = 0.0  # no worker is starting after this time
    _loads: tuple[WorkerLoad, ...] | None = None  # loads() once every worker is ready

    def changed(self) -> None:
        """A worker came, went or changed its busy count: loads() computes afresh."""
        self._loads = None

    @property
    def size(self) -> int:
        return len(self.serving)

    @property
    def empty(self) -> bool:
        return not self.serving and not self.draining

    def worker(self, name: str) -> SimWorker:
        return self.serving.get(name) or self.draining[name]

    def ready(self, now: float) -> list[SimWorker]:
        if now >= self._last_ready_at:
            return list(self.serving.values())
        return [w for w in self.serving.values() if w.ready_at <= now]

    def next_ready_at(self, now: float) -> float:
        if now >= self._last_ready_at:
            return math.inf
        return min(
            (w.ready_at for w in self.serving.values() if w.ready_at > now), default=math.inf
        )

    def loads(self, now: float) -> tuple[WorkerLoad, ...]:
        if now >= self._last_ready_at and self._loads is not None:
            return self._loads
        loads = tuple(
            WorkerLoad(w.name, float(w.busy), w.ready_at <= now) for w in self.serving.values()
        )
        if now >= self._last_ready_at:
            self._loads = loads
        return loads

    def scale_to(
        self, target: int, victims: tuple[str, ...], now: float, warm: bool = False
    ) -> None:
        """Add or remove workers; named victims go first, then idle-first by the shared rule."""
        self.changed()
        if target > self.size:
            self.ups += 1
            for _ in range(target - self.size):
                index = next(self._names)
                name = f"w{index}"
                node, start = None, now
                if self.nodes is not None:
                    node, start = self.nodes.place(self.cores, now, warm)
                ready_at = now if warm else start + self.start_s[index % len(self.start_s)]
                self.serving[name] = SimWorker(name, now, ready_at, idle_since=ready_at, node=node)
                self.delay(self.serving[name], ready_at)
        elif target < self.size:
            self.downs += 1
            remove = self.size - target
            chosen = list(dict.fromkeys(v for v in victims if v in self.serving))[:remove]
            if len(chosen) < remove:
                rest = [w for w in self.serving.values() if w.name not in chosen]
                loads = tuple(WorkerLoad(w.name, float(w.busy), w.ready_at <= now) for w in rest)
                chosen += choose_victims(loads, remove - len(chosen))
            for name in chosen:
                worker = self.serving.pop(name)
                worker.draining = True
                self.draining[name] = worker
                if worker.busy == 0:
                    self.release(worker, now)

    def delay(self, worker: SimWorker, ready_at: float) -> None:
        """``worker`` takes no task before ``ready_at``."""
        worker.ready_at = ready_at
        self._loads = None
        self._last_ready_at = max(self._last_ready_at, ready_at)

    def release(self, worker: SimWorker, now: float) -> None:
        self._loads = None
        if worker.node is not None and self.nodes is not None:
            self.nodes.free(worker.node, self.cores, now)
        self.held_core_s += (now - worker.asked_at) * self.cores
        self.serving.pop(worker.name, None)
        self.draining.pop(worker.name, None)

    def release_all(self, now: float) -> None:
        for worker in [*self.serving.values(), *self.draining.values()]:
            self.release(worker, now)


@dataclass(slots=True)
class _SparkRun:
    job: SparkJob
    stage: int = 0
    pending: int = 0
    running: int = 0

    @property
    def task_seconds(self) -> float:
        return self.job.stages[self.stage].task_seconds


class _ClusterSim:
    """What both engines' clusters share: a worker pool and jobs still to arrive."""

    pool: WorkerPool
    arrivals: deque
    runs: list
    arrived_jobs: int = 0
    cold_jobs: int = 0  # jobs that arrived to no free core (slot) on a ready worker

    def _count_arrival(self, free_cores: int) -> None:
        self.arrived_jobs += 1
        self.cold_jobs += free_cores == 0

    @property
    def next_arrival(self) -> float:
        return self.arrivals[0].t if self.arrivals else math.inf

    @property
    def idle(self) -> bool:
        """Nothing runs, waits or is held: the cluster can sleep until its next arrival."""
        return not self.runs and self.pool.empty


class SparkClusterSim(_ClusterSim):
    """One user's Spark cluster: jobs arrive, tasks run on ready workers' cores."""

    def __init__(
        self,
        jobs: list[SparkJob],
        cores: int,
        start_s: tuple[float, ...],
        executor_start_s: tuple[float, ...] = (0.0,),
        executor_idle_timeout_s: float = math.inf,
        nodes: NodePool | None = None,
    ) -> None:
        self.pool = WorkerPool(cores, start_s, nodes)
        self.executor_start_s = executor_start_s
        self.executor_idle_timeout_s = executor_idle_timeout_s
        self._relaunches = count()
        # Closed-loop jobs wait for the job they follow (one of this user's; else open loop).
        names = {job.job for job in jobs}
        self._followers: dict[str, list[SparkJob]] = {}
        opening = []
        for job in jobs:
            if job.after is not None and job.after in names and job.after != job.job:
                self._followers.setdefault(job.after, []).append(job)
            else:
                opening.append(job)
        self.arrivals = deque(sorted(opening, key=lambda j: j.t))
        self.runs: list[_SparkRun] = []
        self.finished: dict[str, float] = {}  # job name -> completion time (s)
        self.busy_core_s = 0.0
        self.now = 0.0
        # Tasks started together for one job end together: (finish, seq, run, {worker: tasks}).
        self._tasks: list[tuple[float, int, _SparkRun, dict[str, int]]] = []
        self._seq = count()

    def advance(self, until: float) -> None:
        """Run every event up to ``until``."""
        while True:
            next_task = self._tasks[0][0] if self._tasks else math.inf
            at = min(next_task, self.pool.next_ready_at(self.now), self.next_arrival)
            if at > until:
                break
            self.now = at
            while self.arrivals and self.arrivals[0].t <= at:
                job = self.arrivals.popleft()
                self._count_arrival(self._free_cores())
                self.runs.append(_SparkRun(job, pending=job.stages[0].tasks))
            while self._tasks and self._tasks[0][0] <= at:
                self._finish(heapq.heappop(self._tasks))
            self._schedule()
        self.now = max(self.now, until)

    def _free_cores(self) -> int:
        """Cores of ready workers whose executor is live and has room."""
        return sum(
            self.pool.cores - w.busy
            for w in self.pool.ready(self.now)
            if not self._executor_released(w)
        )

    def _executor_released(self, worker: SimWorker) -> bool:
        return worker.busy == 0 and self.now - worker.idle_since >= self.executor_idle_timeout_s

    def _relaunch_released_executors(self) -> None:
        """Tasks wait: the driver launches an executor again on each worker it released one."""
        for worker in self.pool.ready(self.now):
            if self._executor_released(worker):
                index = next(self._relaunches) % len(self.executor_start_s)
                ready_at = self.now + self.executor_start_s[index]
                worker.idle_since = ready_at
                self.pool.delay(worker, ready_at)

    def _finish(self, entry: tuple[float, int, _SparkRun, dict[str, int]]) -> None:
        at, _, run, placed = entry
        self.pool.changed()
        for name, n in placed.items():
            run.running -= n
            worker = self.pool.worker(name)
            worker.busy -= n
            if worker.busy == 0:
                worker.idle_since = at
            if worker.draining and worker.busy == 0:
                self.pool.release(worker, at)
        if run.pending == 0 and run.running == 0:
            run.stage += 1
            if run.stage == len(run.job.stages):
                self.runs.remove(run)
                self.finished[run.job.job] = at - run.job.t
                for follower in self._followers.pop(run.job.job, ()):
                    submitted = replace(follower, t=at + follower.think_s)
                    bisect.insort(self.arrivals, submitted, key=lambda job: job.t)
            else:
                run.pending = run.job.stages[run.stage].tasks

    def _schedule(self) -> None:
        """Free cores take the oldest job's pending tasks first."""
        if not any(run.pending for run in self.runs):
            return
        self._relaunch_released_executors()
        free = {
            w.name: self.pool.cores - w.busy
            for w in self.pool.ready(self.now)
            if w.busy < self.pool.cores
        }
        for run in self.runs:
            if not free:
                return
            if not run.pending:
                continue
            placed: dict[str, int] = {}
            for name in list(free):
                n = min(free[name], run.pending)
                placed[name] = n
                run.pending -= n
                free[name] -= n
                if not free[name]:
                    del free[name]
                if not run.pending:
                    break
            started = sum(placed.values())
            self.pool.changed()
            run.running += started
            for name, n in placed.items():
                self.pool.serving[name].busy += n
            self.busy_core_s += started * run.task_seconds
            heapq.heappush(self._tasks, (self.now + run.task_seconds, next(self._seq), run, placed))

    def scale_to(self, target: int, victims: tuple[str, ...], warm: bool = False) -> None:
        self.pool.scale_to(target, victims, self.now, warm)
        self._schedule()

    def signal(self) -> SparkSignal:
        running = sum(run.running for run in self.runs)
        pending = sum(run.pending for run in self.runs)
        queued_s = sum(run.pending * run.task_seconds for run in self.runs)
        queued_s += sum((end - self.now) * sum(p.values()) for end, _, _, p in self._tasks)
        ready = self.pool.ready(self.now)
        waiting = sum(1 for run in self.runs if run.running == 0) if not ready else 0
        return SparkSignal(
            sampled_at=self.now,
            needed_executors=float(math.ceil((running + pending) / self.pool.cores)),
            waiting_apps=float(waiting),
            executor_cores=self.pool.cores,
            running_tasks=float(running),
            pending_tasks=float(pending),
            queued_work_s=queued_s,
            workers=self.pool.loads(self.now),
        )


@dataclass(slots=True)
class _FlinkRun:
    job: FlinkJob
    parallelism: int = 0
    paused_until: float = 0.0
    backlog: float = 0.0
    times: list[float] = field(default_factory=list)  # absolute times of the rate points

    def __post_init__(self) -> None:
        self.times = [self.job.t + offset for offset, _ in self.job.rate]

    def rate(self, at: float) -> float:
        """Input records/s at ``at``: the trace's linear rate, found by bisection."""
        index = bisect.bisect_left(self.times, at)
        if index == 0:
            return self.job.rate[0][1] if at == self.times[0] else 0.0
        if index == len(self.times):
            return 0.0
        (t0, r0), (t1, r1) = self.job.rate[index - 1], self.job.rate[index]
        return r0 + (r1 - r0) * (at - self.job.t - t0) / (t1 - t0)

    def capacity(self, at: float) -> float:
        if self.parallelism == 0 or at < self.paused_until:
            return 0.0
        return self.parallelism * self.job.records_per_slot_second

    def breakpoints(self, after: float) -> float:
        """The next time the input rate changes slope, or the pause ends."""
        index = bisect.bisect_right(self.times, after)
        nxt = self.times[index] if index < len(self.times) else math.inf
        if self.paused_until > after:
            nxt = min(nxt, self.paused_until)
        return nxt


class FlinkClusterSim(_ClusterSim):
    """One user's Flink session cluster: streaming jobs on the ready TaskManagers' slots."""

    def __init__(
        self,
        jobs: list[FlinkJob],
        slots: int,
        start_s: tuple[float, ...],
        rescale_s: float,
        sample_s: float,
        nodes: NodePool | None = None,
    ) -> None:
        self.pool = WorkerPool(slots, start_s, nodes)
        self.arrivals = deque(sorted(jobs, key=lambda j: j.t))
        self.runs: list[_FlinkRun] = []
        self.rescale_s = rescale_s
        self.sample_s = sample_s
        self.lags: list[float] = []  # seconds of backlog, sampled every sample_s while jobs run
        self.now = 0.0

    def advance(self, until: float) -> None:
        """Integrate the streams up to ``until``, stopping at every change and lag sample."""
        self._admit_and_end()
        self._reassign()
        while self.now < until:
            nxt = min(
                until,
                self.next_arrival,
                self.pool.next_ready_at(self.now),
                (math.floor(self.now / self.sample_s) + 1) * self.sample_s,
                *(run.breakpoints(self.now) for run in self.runs),
                *(run.job.end for run in self.runs),
            )
            for run in self.runs:
                self._integrate(run, self.now, nxt)
            self.now = nxt
            if self.runs and self.now % self.sample_s == 0:
                self.lags.extend(self._lag(run) for run in self.runs)
            self._admit_and_end()
            self._reassign()

    def _admit_and_end(self) -> None:
        while self.arrivals and self.arrivals[0].t <= self.now:
            used = sum(run.parallelism for run in self.runs)
            self._count_arrival(len(self.pool.ready(self.now)) * self.pool.cores - used)
            self.runs.append(_FlinkRun(self.arrivals.popleft()))
        if any(run.job.end <= self.now for run in self.runs):
            self.runs = [run for run in self.runs if run.job.end > self.now]

    def _reassign(self) -> None:
        """Give each job min(max_parallelism, free slots); a changed parallelism restarts it."""
        ready = self.pool.ready(self.now)
        free = len(ready) * self.pool.cores
        for run in self.runs:
            parallelism = min(run.job.max_parallelism, free)
            free -= parallelism
            if parallelism != run.parallelism:
                run.parallelism = parallelism
                run.paused_until = self.now + self.rescale_s
        self._mark_busy(ready)

    def _mark_busy(self, ready: list[SimWorker]) -> None:
        used = sum(run.parallelism for run in self.runs)
        self.pool.changed()
        for worker in ready:
            worker.busy = min(self.pool.cores, used)
            used -= worker.busy

    def _integrate(self, run: _FlinkRun, start: float, end: float) -> None:
        """Backlog over [start, end]: input linear, capacity constant (split where they cross)."""
        if end <= start:
            return
        cap = run.capacity(start)
        r0, r1 = run.rate(start), run.rate(end)
        pieces = [(start, r0, end, r1)]
        if (r0 - cap) * (r1 - cap) < 0:
            mid = start + (cap - r0) / (r1 - r0) * (end - start)
            pieces = [(start, r0, mid, cap), (mid, cap, end, r1)]
        for a, ra, b, rb in pieces:
            run.backlog = max(0.0, run.backlog + ((ra + rb) / 2 - cap) * (b - a))

    def _lag(self, run: _FlinkRun) -> float:
        rate = run.rate(self.now)
        return run.backlog / (rate if rate > 0 else max(run.capacity(self.now), 1.0))

    def scale_to(self, target: int, victims: tuple[str, ...], warm: bool = False) -> None:
        """A removed TaskManager goes at once; its job restarts on the slots that are left."""
        self.pool.scale_to(target, victims, self.now, warm)
        for worker in list(self.pool.draining.values()):
            self.pool.release(worker, self.now)
        self._reassign()

    def signal(self) -> FlinkSignal:
        running = [run for run in self.runs if run.parallelism > 0]
        restarting = any(run.paused_until > self.now for run in running)
        input_rate = sum(run.rate(self.now) for run in self.runs)
        capacity = sum(run.capacity(self.now) for run in running)
        processing = sum(
            run.capacity(self.now)
            if run.backlog > 0
            else min(run.rate(self.now), run.capacity(self.now))
            for run in running
        )
        nan = math.nan
        return FlinkSignal(
            sampled_at=self.now,
            slots_required=float(sum(run.job.max_parallelism for run in self.runs)),
            running_jobs=float(len(running)),
            input_rate=input_rate,
            processing_rate=nan if restarting else processing,
            busy_ratio=nan if restarting or capacity == 0 else processing / capacity,
            backlog_records=sum(run.backlog for run in self.runs),
            parallelism=float(sum(run.parallelism for run in running)),
            slots_per_worker=self.pool.cores,
            workers=self.pool.loads(self.now),
        )
