"""The controller loop: objects -> observe -> ensure -> Prometheus -> policy -> scale -> status.

Each loop lists the ComputeCluster objects, observes what the backend runs (tearing down the
clusters whose object is gone), ensures each cluster's head runs, reads every cluster's signal
from one batch of Prometheus queries, decides through the policy layer (the policy, the hold rule
without a signal, the global budget), scales, and writes each status that changed.

Level-triggered and restart-safe: every loop starts from the objects, the backend's view of what
runs and Prometheus. The work per loop follows what changed: ``ensure`` runs only for a cluster
whose spec (uid, generation) is new to this process, whose running objects the backend reports
changed (its watches), whose last ensure failed, or whose turn in the slow full resync came
(every cluster once per ``resync_s``, a slice per loop); the others keep the backend's cached
observation. A status is written only when ``worth_writing`` says a reader would see a change.
What it carries between loops besides that is rebuilt by a restart: the Prometheus backoff, the
ensures still running past their deadline, the newest status decided per cluster (the policy's
memo between two writes), open Flink clients.

Failures stay local: an unparsable object gets phase Error and its processes are left alone; a
backend error on one cluster is retried next loop; an ensure past its deadline puts only that
cluster in Error, and it is not ensured again until the overdue call has ended; Prometheus down
or answering garbage holds every cluster (no scale-down, dead workers still restored) and backs
off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from autoscaler.backends.base import (
    BACKEND_ERRORS,
    Backend,
    BackendOverdue,
    Observation,
    changed_clusters,
    ensures_at_once,
)
from autoscaler.controller import dry_run
from autoscaler.controller.flink_clients import FlinkClients
from autoscaler.controller.metrics import ControllerMetrics
from autoscaler.controller.shard import Shard
from autoscaler.controller.status import (
    head_condition,
    state_from_status,
    status_after,
    worth_writing,
)
from autoscaler.policy.budget import cap_decisions
from autoscaler.policy.decision import ClusterState, Decision, Policy
from autoscaler.policy.heads import MEMO_KEYS as HEAD_MEMO_KEYS
from autoscaler.policy.heads import HeadDecision, decide_head
from autoscaler.policy.hold import decide_or_hold
from autoscaler.policy.hubscale import DEFAULT_POLICY
from autoscaler.policy.signals import Signal, WorkerLoad
from autoscaler.policy.user_budget import cap_user_decisions
from autoscaler.readers.activity import ActivityReadings, read_activity
from autoscaler.readers.flink_rest import FlinkError, FlinkRest, FlinkUnavailable
from autoscaler.readers.prometheus import (
    PrometheusBadResponse,
    PrometheusClient,
    PrometheusError,
    PrometheusQueryError,
)
from autoscaler.readers.signal_queries import (
    FlinkDemand,
    FlinkReadings,
    flink_signal,
    has_jobs,
    read_flink,
    read_flink_demand,
    read_spark,
    spark_signal,
)
from hubscale.spec import ComputeCluster, ComputeClusterStatus, Phase
from hubscale.store import StoredCluster

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0
# One JobManager's whole answer (several requests); past it, only that cluster holds. Each
# request has its own timeout, but a server that trickles bytes never trips one.
FLINK_READ_DEADLINE_S = 10.0
# One cluster's ensure (config, credentials, its head's start; no waiting for the head to be up):
# past it, only that cluster is in Error and the loop goes on without it.
ENSURE_DEADLINE_S = 30.0
FLINK_READS_AT_ONCE = 32  # JobManagers asked at the same time
RESYNC_S = 600.0  # every cluster ensured at least this often, changed or not
ALL_CLUSTERS = "*"  # key of a problem that concerns every cluster (Prometheus down)


class ClusterObjects(Protocol):
    """Where the ComputeCluster objects live (local store files or the Kubernetes API)."""

    def list(self) -> list[StoredCluster]: ...

    def write_status(self, name: str, status: ComputeClusterStatus) -> bool: ...

    def delete_status(self, name: str) -> bool: ...

    def orphaned_statuses(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class LoopResult:
    """What one loop did, for logs and tests."""

    decisions: dict[str, Decision]
    metrics_error: str | None


class Controller:
    """Reconciles every ComputeCluster once per ``interval_s``."""

    def __init__(
        self,
        objects: ClusterObjects,
        backend: Backend,
        prometheus: PrometheusClient,
        policy: Policy = DEFAULT_POLICY,
        interval_s: float | None = None,
        metrics: ControllerMetrics | None = None,
        clock: Callable[[], float] = time.time,
        flink_rest: Callable[..., FlinkRest] = FlinkRest,  # (url, tls=context)
        budget_cores: int | None = None,
        flink_read_deadline_s: float = FLINK_READ_DEADLINE_S,
        ensure_deadline_s: float = ENSURE_DEADLINE_S,
        dry_run: bool = False,
        flink_reads_at_once: int = FLINK_READS_AT_ONCE,
        resync_s: float = RESYNC_S,
        shard: Shard | None = None,
    ) -> None:
        self.objects = objects
        self.backend = backend
        self.prometheus = prometheus
        self.policy = policy
        self.interval_s = interval_s if interval_s is not None else policy.interval_s
        self.metrics = metrics or ControllerMetrics()
        self.clock = clock
        self.flink_rest = flink_rest
        # through ``self.flink_rest`` at each use: tests swap the factory after construction
        self.flink_clients = FlinkClients(lambda *args, **kwargs: self.flink_rest(*args, **kwargs))
        self.flink_read_deadline_s = flink_read_deadline_s
        self.ensure_deadline_s = ensure_deadline_s
        self._overdue: dict[str, asyncio.Task[Observation]] = {}  # ensures past their deadline
        self.flink_reads = asyncio.Semaphore(flink_reads_at_once)
        self.resync_s = resync_s
        self.shard = shard  # None: every cluster is this controller's
        self._resync_at = 0  # where the next slice of the full resync starts (sorted names)
        self._resync_share = 0.0  # clusters due for the resync, carried between loops
        self._ensured: dict[str, tuple[object, bool]] = {}  # name -> (spec version, head) ensured
        # name -> (the status as the object holds it, the newest status decided from it)
        self._decided: dict[str, tuple[ComputeClusterStatus | None, ComputeClusterStatus]] = {}
        self._written_at: dict[str, float] = {}  # when this process last wrote each status
        self._gauged: dict[str, tuple[int, int]] = {}  # (workers, desired) last exported
        self.budget_cores = budget_cores  # all clusters' workers together, None: no cap
        self.dry_run = dry_run  # decide and report, resize nothing (controller.dry_run)
        self.metrics.dry_run.set(1 if dry_run else 0)
        self.failures = 0  # consecutive loops without usable metrics
        self.last_loop_end: float | None = None

    def delay_s(self) -> float:
        """Time to the next loop: the interval, doubled per consecutive Prometheus failure."""
        return min(MAX_BACKOFF_S, self.interval_s * 2 ** min(self.failures, 16))

    def health(self) -> tuple[bool, str]:
        """Healthy while loops keep finishing (holding on bad metrics is healthy)."""
        if self.last_loop_end is None:
            return True, "starting"
        age = self.clock() - self.last_loop_end
        limit = 3 * self.delay_s() + 30
        if age > limit:
            return False, f"last loop finished {age:.0f} s ago (limit {limit:.0f} s)"
        return True, f"last loop {age:.1f} s ago"

    async def run(self, stop: asyncio.Event, leading: Callable[[], bool] | None = None) -> None:
        """Loop until ``stop`` is set; one failed loop is logged, never fatal.

        With ``leading`` (leader election), a standby loops without acting until it leads.
        """
        while not stop.is_set():
            if leading is not None and not leading():
                self.last_loop_end = self.clock()  # a healthy standby
            else:
                try:
                    await self.reconcile_once()
                except Exception:  # a bug in one loop must not stop reconciling: log, go on
                    log.exception("loop-failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.delay_s())
        await self.flink_clients.close()

    async def reconcile_once(self) -> LoopResult:
        """One loop, in the order the module's docstring gives."""
        started, now = time.monotonic(), self.clock()
        stored = [item for item in self.objects.list() if self._owns(item.name)]
        valid = {item.name: item for item in stored if item.cluster is not None}
        invalid = [item for item in stored if item.cluster is None]
        observed = {name: o for name, o in (await self._observe()).items() if self._owns(name)}
        await self._forget_deleted({item.name for item in stored}, observed)
        heads = self._heads(valid, observed, await self._activity(valid, now), now)
        ensured = await self._ensure(valid, observed, heads, now)
        signals, problems = await self._signals(valid, ensured, now)
        decisions = self._decide(valid, ensured, signals, problems, now)
        causes: Counter[tuple[str, str]] = Counter()
        for name, observation in ensured.items():
            await self._act(valid[name], observation, decisions[name], heads[name], now)
            causes[observation.engine, decisions[name].cause] += 1
        for (engine, cause), count in causes.items():
            self.metrics.decisions.labels(engine, cause).inc(count)
        for item in invalid:
            self._write_error(item, observed.get(item.name), f"invalid object: {item.error}", now)
        self._forget_memory(valid.keys() | {item.name for item in invalid})
        self._record_loop(ensured, invalid, started)
        return LoopResult(decisions, problems.get(ALL_CLUSTERS))

    def _owns(self, name: str) -> bool:
        return self.shard is None or self.shard.owns(name)

    async def _observe(self) -> dict[str, Observation]:
        try:
            return await self.backend.observe()
        except BACKEND_ERRORS as error:
            self.metrics.backend_errors.labels("observe").inc()
            log.error("observe-failed error=%r", str(error))
            return {}

    async def _forget_deleted(self, names: set[str], observed: dict[str, Observation]) -> None:
        """Tear down clusters whose object is gone (an unparsable object is not gone)."""
        for name in observed.keys() - names:
            try:
                await self.backend.delete(name)
            except BACKEND_ERRORS as error:
                self.metrics.backend_errors.labels("delete").inc()
                log.error("delete-failed cluster=%s error=%r", name, str(error))
                continue
            self.objects.delete_status(name)
        for name in self.objects.orphaned_statuses():
            if name not in observed and self._owns(name):
                self.objects.delete_status(name)

    async def _activity(
        self, valid: dict[str, StoredCluster], now: float
    ) -> ActivityReadings | None:
        """The notebook servers' activity, asked only when a cluster runs its head on demand;
        None when Prometheus did not answer (each head then stays as it is)."""
        if not any(item.cluster.spec.head_on_demand for item in valid.values()):
            return None
        try:
            return await read_activity(self.prometheus, now)
        except PrometheusError as error:
            self.metrics.prometheus_errors.labels(_error_kind(error)).inc()
            log.warning("activity-unread error=%r", str(error))
            return None

    def _heads(
        self,
        valid: dict[str, StoredCluster],
        observed: dict[str, Observation],
        activity: ActivityReadings | None,
        now: float,
    ) -> dict[str, HeadDecision]:
        """Whether each cluster's head runs (always, unless its spec says on demand)."""
        heads = {}
        for name, item in valid.items():
            spec, seen = item.cluster.spec, observed.get(name)
            heads[name] = decide_head(
                spec,
                activity.get(spec.owner, spec.server, spec.engine) if activity else None,
                len(seen.workers) if seen else 0,
                seen.head_running if seen else False,
                _policy_state(self._newest(item)),
                now,
            )
        return heads

    async def _ensure(
        self,
        valid: dict[str, StoredCluster],
        observed: dict[str, Observation],
        heads: dict[str, HeadDecision],
        now: float,
    ) -> dict[str, Observation]:
        """Each valid cluster's head running or stopped as decided, and what runs; a backend
        error marks that one.

        Only the clusters that need it are ensured (see the module's docstring); the others
        keep what the backend observed."""
        changed = changed_clusters(self.backend)
        due = self._resync_slice(valid)
        ensured: dict[str, Observation] = {}
        needed = []
        for name, item in valid.items():
            ensured_as = (_spec_version(item), heads[name].run)  # a head to start or stop: ensure
            current = observed.get(name)
            if (
                current is not None
                and changed is not None
                and name not in changed
                and name not in due
                and self._ensured.get(name) == ensured_as
            ):
                ensured[name] = current
            else:
                needed.append((item, ensured_as, current))
        room = asyncio.Semaphore(ensures_at_once(self.backend))

        async def ensure(
            item: StoredCluster, ensured_as: tuple, current: Observation | None
        ) -> None:
            name = item.name
            self._ensured.pop(name, None)
            try:
                async with room:
                    ensured[name] = await self._ensure_within_deadline(
                        item.cluster, heads[name].run
                    )
            except BACKEND_ERRORS as error:
                self.metrics.backend_errors.labels("ensure").inc()
                self._write_error(item, current, f"backend: {error}", now)
                return
            self._ensured[name] = ensured_as

        await asyncio.gather(*(ensure(*each) for each in needed))
        for name, task in list(self._overdue.items()):  # deleted meanwhile: kept until it ends
            if name not in valid and task.done():
                _settle(self._overdue.pop(name))
        return {name: ensured[name] for name in valid if name in ensured}

    async def _ensure_within_deadline(self, cluster: ComputeCluster, head: bool) -> Observation:
        """The backend's ensure, waited for at most ``ensure_deadline_s``. One past it goes on
        (a thread cannot be stopped) and the cluster is not ensured again until it has ended, so
        a hung call never runs twice at once; its late answer is stale and asked afresh."""
        name = cluster.metadata.name
        deadline = self.ensure_deadline_s
        overdue = f"not finished within {deadline:g} s; retried once the last try ends"
        previous = self._overdue.pop(name, None)
        if previous is not None and not previous.done():
            self._overdue[name] = previous
            raise BackendOverdue(overdue)
        if previous is not None:
            _settle(previous)
        task = asyncio.ensure_future(self.backend.ensure(cluster, head=head))
        done, _ = await asyncio.wait({task}, timeout=deadline)
        if not done:
            log.warning("ensure-overdue cluster=%s deadline_s=%g", name, deadline)
            self._overdue[name] = task
            raise BackendOverdue(overdue)
        return task.result()

    def _resync_slice(self, valid: dict[str, StoredCluster]) -> set[str]:
        """This loop's share of the full resync: every cluster once per ``resync_s``."""
        if not valid:
            return set()
        names = sorted(valid)
        self._resync_share += len(names) * self.interval_s / self.resync_s
        size = min(len(names), int(self._resync_share))
        self._resync_share -= size
        start = self._resync_at % len(names)
        self._resync_at = start + size
        return set(names[start : start + size]) | set(names[: max(0, start + size - len(names))])

    async def _signals(
        self, valid: dict[str, StoredCluster], ensured: dict[str, Observation], now: float
    ) -> tuple[dict[str, Signal], dict[str, str]]:
        """Every cluster's signal from one batch of queries, and why some have none.

        A Prometheus failure concerns every cluster (key ``ALL_CLUSTERS``) and backs off.
        """
        engines = {observation.engine for observation in ensured.values()}
        if not engines:
            return {}, {}
        try:
            spark, flink = await asyncio.gather(
                read_spark(self.prometheus, now) if "spark" in engines else _none(),
                read_flink(self.prometheus, now) if "flink" in engines else _none(),
            )
        except PrometheusError as error:
            self.failures += 1
            kind = _error_kind(error)
            self.metrics.prometheus_errors.labels(kind).inc()
            log.warning("prometheus-%s failures=%d error=%r", kind, self.failures, str(error))
            return {}, {ALL_CLUSTERS: f"Prometheus {kind.replace('-', ' ')}: {error}"}
        self.failures = 0
        signals: dict[str, Signal] = {}
        problems: dict[str, str] = {}
        if spark is not None:
            for name, observation in ensured.items():
                if observation.engine == "spark":
                    cores = valid[name].cluster.spec.worker.cores
                    signals[name] = spark_signal(spark, name, observation.workers, cores)
        if flink is not None:
            await self._flink_signals(valid, ensured, flink, signals, problems)
        return signals, problems

    async def _flink_signals(
        self,
        valid: dict[str, StoredCluster],
        ensured: dict[str, Observation],
        readings: FlinkReadings,
        signals: dict[str, Signal],
        problems: dict[str, str],
    ) -> None:
        """Flink signals; the JobManagers of clusters with a job are asked for their demand."""
        flink = {name: o for name, o in ensured.items() if o.engine == "flink"}
        active = [name for name in flink if has_jobs(readings, name)]
        await self.flink_clients.keep(active)
        answers = await asyncio.gather(
            *(self._flink_demand(name, flink[name]) for name in active), return_exceptions=True
        )
        demands: dict[str, FlinkDemand | None] = dict.fromkeys(flink)
        for name, answer in zip(active, answers, strict=True):
            if isinstance(answer, FlinkError):
                log.warning("flink-rest-failed cluster=%s error=%r", name, str(answer))
                problems[name] = f"the Flink JobManager did not say what your jobs need ({answer})"
                continue  # demand unknown: the policy holds (and starts a worker for a waiting job)
            if isinstance(answer, Exception):  # a bug met by one cluster's answer: that one holds
                log.error("flink-read-crashed cluster=%s", name, exc_info=answer)
                problems[name] = (
                    "the controller could not read what your Flink jobs need"
                    f" ({type(answer).__name__}: {answer})"
                )
                continue
            if isinstance(answer, BaseException):
                raise answer
            demands[name] = answer
        for name, observation in flink.items():
            slots = valid[name].cluster.spec.worker.cores  # one slot per core
            signals[name] = flink_signal(readings, name, observation.workers, slots, demands[name])

    async def _flink_demand(self, name: str, observation: Observation) -> FlinkDemand:
        """One JobManager's demand over its TLS, whole within ``flink_read_deadline_s`` from
        its turn (``flink_reads_at_once`` JobManagers are asked at a time)."""
        async with self.flink_reads:
            rest = await self.flink_clients.get(name, observation)
            try:
                async with asyncio.timeout(self.flink_read_deadline_s):
                    return await read_flink_demand(rest)
            except TimeoutError:
                await self.flink_clients.drop(name)  # a trickling connection is not reused
                deadline = self.flink_read_deadline_s
                raise FlinkUnavailable(f"no whole answer within {deadline:g} s") from None

    def _decide(
        self,
        valid: dict[str, StoredCluster],
        ensured: dict[str, Observation],
        signals: dict[str, Signal],
        problems: dict[str, str],
        now: float,
    ) -> dict[str, Decision]:
        """The policy's decision for each cluster with a signal, the hold rule's for the others,
        then each user's within their own budget, then all of them within the global core budget,
        fairly between users."""
        everywhere = problems.get(ALL_CLUSTERS)
        decisions = {
            name: decide_or_hold(
                self.policy,
                valid[name].cluster.spec,
                signals.get(name),
                _state(self._newest(valid[name]), observation),
                now,
                problems.get(name, everywhere),
            )
            for name, observation in ensured.items()
        }

        def serving(name: str) -> tuple[WorkerLoad, ...]:  # the victims a budget cap picks from
            if name in signals:
                return signals[name].workers
            return tuple(WorkerLoad(worker, math.nan) for worker in ensured[name].workers)

        specs = {name: valid[name].cluster.spec for name in decisions}
        within_users = cap_user_decisions(decisions, specs, serving)
        return cap_decisions(within_users, specs, self.budget_cores, serving)

    async def _act(
        self,
        item: StoredCluster,
        observation: Observation,
        decision: Decision,
        head: HeadDecision,
        now: float,
    ) -> None:
        """Scale to the decision and write the status (only when it changed)."""
        cluster = item.cluster
        if cluster.spec.head_on_demand:
            decision = _with_head(decision, head, observation)
        serving = len(observation.workers)
        if self.dry_run:
            decision = dry_run.would_scale(decision, serving)
        if decision.target != serving and self.dry_run:
            log.info(
                "would-scale cluster=%s from=%d to=%d cause=%s",
                cluster.metadata.name,
                serving,
                decision.target,
                decision.cause,
            )
        elif decision.target != serving:
            log.info(
                "scale cluster=%s from=%d to=%d cause=%s reason=%r",
                cluster.metadata.name,
                serving,
                decision.target,
                decision.cause,
                decision.reason,
            )
            try:
                await self.backend.scale(cluster, decision.target, decision.victims)
            except BACKEND_ERRORS as error:
                self.metrics.backend_errors.labels("scale").inc()
                log.error("scale-failed cluster=%s error=%r", cluster.metadata.name, str(error))
        as_is = dry_run.as_is(decision, serving) if self.dry_run else decision
        phase = _phase(observation, as_is, head)
        status = status_after(decision, serving, now, phase, self._newest(item))
        if cluster.spec.head_on_demand:
            status = head_condition(status, observation.head_running, head.reason, now)
        status = dry_run.mark(status, self.dry_run, now)
        written_at = self._written_at.get(item.name)
        if worth_writing(item.status, status, written_at, now) and self.objects.write_status(
            item.name, status
        ):
            self._written_at[item.name] = now
        self._decided[item.name] = (item.status, status)
        if self._gauged.get(item.name) != (serving, decision.target):
            self._gauged[item.name] = (serving, decision.target)
            self.metrics.set_cluster(
                item.name, cluster.spec.owner, cluster.spec.engine, serving, decision.target
            )

    def _newest(self, item: StoredCluster) -> ComputeClusterStatus | None:
        """The newest status decided for the object: the one it holds, or one decided since but
        not worth writing yet (its figures, the policy's clock), while the object still holds
        what that was decided from; a restart starts again from what the object holds."""
        known = self._decided.get(item.name)
        if known is None:
            return item.status
        basis, newest = known
        if basis is item.status:
            return newest
        if item.status == newest:  # our own write came back
            self._decided[item.name] = (item.status, newest)
            return newest
        if basis == item.status:  # the same status, read again
            self._decided[item.name] = (item.status, newest)
            return newest
        return item.status

    def _forget_memory(self, names: set[str]) -> None:
        """Drop what this process remembers of clusters whose object is gone."""
        for memory in (self._ensured, self._decided, self._written_at, self._gauged):
            for name in memory.keys() - names:
                del memory[name]

    def _record_loop(
        self, ensured: dict[str, Observation], invalid: list[StoredCluster], started: float
    ) -> None:
        self.metrics.invalid.set(len(invalid))
        self.metrics.keep_clusters(ensured)
        self.metrics.loop_seconds.observe(time.monotonic() - started)
        self.last_loop_end = self.clock()
        self.metrics.last_loop.set(self.last_loop_end)

    def _write_error(
        self, item: StoredCluster, observation: Observation | None, why: str, now: float
    ) -> None:
        previous = item.status
        workers = len(observation.workers) if observation else 0
        held = Decision(
            target=previous.desired if previous else workers,
            reason=why,
            cause="error",
            memo=previous.policy_state if previous else {},
        )
        if previous is not None and previous.phase == "Error" and previous.reason == why:
            return  # already says so: no rewrite every loop
        log.warning("cluster-error cluster=%s reason=%r", item.name, why)
        self.objects.write_status(item.name, status_after(held, workers, now, "Error", previous))


async def _none() -> None:
    return None


def _policy_state(status: ComputeClusterStatus | None) -> dict:
    return status.policy_state if status else {}


def _settle(task: asyncio.Task[Observation]) -> None:
    """Take an overdue ensure's outcome so that asyncio does not report it as never retrieved."""
    if not task.cancelled() and task.exception() is not None:
        log.info("ensure-overdue-ended cluster-error=%r", str(task.exception()))


def _spec_version(item: StoredCluster) -> tuple[object, object]:
    """What identifies one version of a cluster's spec: its uid and generation (the API server
    bumps the generation on every spec change); the spec itself where the store has none."""
    if item.cluster is None:
        return None, None
    extra = item.cluster.metadata.model_extra or {}
    generation = extra.get("generation")
    return extra.get("uid"), item.cluster.spec if generation is None else generation


def _state(status: ComputeClusterStatus | None, observation: Observation) -> ClusterState:
    """What the policy knows: the status it decided last, with the workers that serve now."""
    state = state_from_status(status)
    return ClusterState(len(observation.workers), state.desired, state.last_scale_time, state.memo)


def _with_head(decision: Decision, head: HeadDecision, observation: Observation) -> Decision:
    """The decision with the head's memory; no workers while the head is stopped on purpose."""
    memo = {k: v for k, v in decision.memo.items() if k not in HEAD_MEMO_KEYS} | dict(head.memo)
    if head.run or observation.head_running:
        return replace(decision, memo=memo)
    return Decision(0, head.reason, "idle", memo=memo)


def _phase(observation: Observation, decision: Decision, head: HeadDecision) -> Phase:
    if not observation.head_running:
        return "Pending" if head.run else "Idle"
    if decision.target != len(observation.workers) or observation.draining:
        return "Scaling"
    return "Idle" if decision.target == 0 else "Ready"


def _error_kind(error: PrometheusError) -> str:
    if isinstance(error, PrometheusQueryError):
        return "query-rejected"
    if isinstance(error, PrometheusBadResponse):
        return "bad-response"
    return "unavailable"
