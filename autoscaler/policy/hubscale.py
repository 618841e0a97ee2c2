"""hubscale's scaling policy: metrics in, a target worker count and its reason out.

Pure: no I/O, no clock, no randomness. Everything it must remember between calls (when demand
dropped, when work last ran, the user's recent pauses) goes back in ``Decision.memo``; the
controller stores it in ``status.policyState``, so a restarted controller decides the same way.

Rules (DESIGN.md): scale up at once to what the backlog needs; scale down only after demand stayed
lower for a stabilization window; hold, never shrink, when metrics are missing, NaN or stale (but
a job known to wait with no worker at all is demand in itself: never held at zero);
with nothing running, keep the workers through the user's usual pause between bursts of work
(anticipation from recent activity; after a window of lower demand, only what that demand used),
then release them, and at the latest after
``idleTimeoutSeconds`` go to ``minWorkers``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from autoscaler.policy.decision import Cause, ClusterState, Decision, Memo, within_bounds
from autoscaler.policy.signals import NAN, FlinkSignal, Signal, SparkSignal, WorkerLoad, known
from autoscaler.policy.victims import choose_victims
from hubscale.spec import ComputeClusterSpec


@dataclass(frozen=True, slots=True)
class Demand:
    """What the metrics say the cluster needs now, in workers, and whether anything runs."""

    workers: int
    active: bool
    why: str  # the numbers behind it, for the reason string
    protect: bool = False  # catching up on a backlog: never shrink now


@dataclass(frozen=True)
class HubscalePolicy:
    """hubscale's policy; fields are its tunables (seconds, ratios)."""

    name: str = "hubscale"
    interval_s: float = 2.0
    stale_after_s: float = 45.0  # newest sample older than this: hold
    spark_stabilization_s: float = 20.0  # Spark: lower demand must last this long
    flink_stabilization_s: float = 180.0  # Flink: each rescale restarts the job, so wait longer
    flink_target_utilization: float = 0.9  # DS2: aim the busy time of slots at this ratio
    flink_catch_up_s: float = 300.0  # drain a backlog within this long
    flink_backlog_protect_s: float = 5.0  # a backlog above this many seconds of input: no shrink
    keep_warm_max_s: float = 120.0  # longest pause the workers are kept warm through
    keep_warm_min_s: float = 30.0  # keep-warm floor, also before any pause of this user is known
    pauses_remembered: int = 16

    def describe(self) -> str:
        """One line with the tunables, for the bench output."""
        return (
            f"interval {self.interval_s:g} s, hold on metrics older than {self.stale_after_s:g} s,"
            f" stabilization spark {self.spark_stabilization_s:g} s / flink"
            f" {self.flink_stabilization_s:g} s, flink target utilization"
            f" {self.flink_target_utilization:g}, catch-up {self.flink_catch_up_s:g} s,"
            f" keep warm through this user's recent pauses up to {self.keep_warm_max_s:g} s"
            f" (at least {self.keep_warm_min_s:g} s)"
        )

    def decide(
        self, spec: ComputeClusterSpec, signal: Signal, state: ClusterState, now: float
    ) -> Decision:
        """Target workers for one cluster, with a reason a person can read."""
        if signal.sampled_at is None:
            return _hold(spec, state, signal, "no metrics yet", "metrics-missing")
        age_s = now - signal.sampled_at
        if age_s > self.stale_after_s:
            return _hold(spec, state, signal, f"metrics stale for {age_s:.0f} s", "metrics-stale")
        if isinstance(signal, SparkSignal):
            demand = spark_demand(spec, signal)
        else:
            demand = self.flink_demand(spec, signal, state)
        if demand is None:
            held = _hold(spec, state, signal, "metrics missing or invalid", "metrics-missing")
            return _start_for_waiting_work(spec, state, signal, held)
        return self._decide(spec, signal.workers, demand, state, now)

    def flink_demand(
        self, spec: ComputeClusterSpec, signal: FlinkSignal, state: ClusterState
    ) -> Demand | None:
        """Slots the jobs need: batch jobs their tasks of the moment, streaming jobs (DS2) the
        true processing rate per slot at the target utilization."""
        if not (known(signal.slots_required) and known(signal.running_jobs)):
            return None
        if signal.slots_required == 0:
            return Demand(0, False, "no Flink job")
        slots_per_worker = max(1, signal.slots_per_worker)
        batch = min(signal.batch_slots, signal.slots_required) if known(signal.batch_slots) else 0
        if batch == 0:
            return self.streaming_demand(spec, signal, state)
        batch_why = f"{batch:.0f} tasks of batch jobs running or waiting for a slot"
        if batch == signal.slots_required:
            slots = min(batch, spec.max_workers * slots_per_worker)
            return Demand(math.ceil(slots / slots_per_worker), True, batch_why)
        # Streaming and batch jobs side by side: the streaming part sized as if alone, plus a
        # slot per batch task (those tasks hold some of the slots in use).
        streaming_signal = replace(
            signal,
            slots_required=signal.slots_required - batch,
            parallelism=max(0.0, signal.parallelism - batch) if known(signal.parallelism) else NAN,
        )
        streaming = self.streaming_demand(spec, streaming_signal, state)
        if streaming is None:
            return None
        workers = streaming.workers + math.ceil(batch / slots_per_worker)
        return Demand(workers, True, f"{streaming.why}; {batch_why}", streaming.protect)

    def streaming_demand(
        self, spec: ComputeClusterSpec, signal: FlinkSignal, state: ClusterState
    ) -> Demand | None:
        """Slots streaming jobs need (DS2: true processing rate per slot at the target
        utilization)."""
        slots_per_worker = max(1, signal.slots_per_worker)
        max_slots = min(signal.slots_required, spec.max_workers * slots_per_worker)
        if signal.running_jobs == 0:
            workers = math.ceil(max_slots / slots_per_worker)
            return Demand(
                workers, True, f"{signal.slots_required:.0f} slots wanted by waiting jobs"
            )
        declared = math.ceil(max_slots / slots_per_worker)
        if not known(signal.parallelism) or signal.parallelism == 0:
            why = f"{signal.slots_required:.0f} slots declared by jobs running on no slot yet"
            return Demand(declared, True, why, protect=True)
        if not (known(signal.input_rate) and known(signal.processing_rate)):
            # Restarting or rescaling: no trustworthy rate. Keep what the jobs have (growing
            # them to their declared parallelism would restart them again).
            why = "jobs restarting (no throughput metrics): keeping their slots"
            return Demand(state.desired, True, why, protect=True)
        if not known(signal.busy_ratio):
            # Records flow but no task publishes busy time (a source chained to its sink): no
            # rate per slot to size with. The declared parallelism, never shrunk on.
            why = f"{signal.slots_required:.0f} slots declared by running jobs (no busy time)"
            return Demand(declared, True, why, protect=True)
        backlog = signal.backlog_records if known(signal.backlog_records) else 0.0
        protect = backlog > signal.input_rate * self.flink_backlog_protect_s
        if signal.busy_ratio < 0.01 or signal.processing_rate == 0:
            slots = 1 if signal.input_rate == 0 else state.workers * slots_per_worker
            why = f"input {signal.input_rate:.0f}/s, slots almost idle"
        else:
            busy_slots = signal.busy_ratio * signal.parallelism  # 0.0 if it underflows
            rate_per_slot = signal.processing_rate / busy_slots if busy_slots > 0 else math.inf
            target_rate = signal.input_rate + backlog / self.flink_catch_up_s
            per_slot_at_target = rate_per_slot * self.flink_target_utilization
            if per_slot_at_target > 0:
                needed = target_rate / per_slot_at_target  # a vanishing rate overflows to inf
            else:  # a rate so small it underflows to 0.0: as if vanishing, not a ZeroDivisionError
                needed = math.inf if target_rate > 0 else 0.0
            slots = math.ceil(min(needed, max_slots))
            why = (
                f"input {signal.input_rate:.0f}/s + backlog {backlog:.0f}"
                f" at {rate_per_slot:.0f}/s per slot needs {slots} slots"
            )
        slots = min(max(slots, 1), max_slots)
        return Demand(math.ceil(slots / slots_per_worker), True, why, protect)

    def _decide(
        self,
        spec: ComputeClusterSpec,
        workers: tuple[WorkerLoad, ...],
        demand: Demand,
        state: ClusterState,
        now: float,
    ) -> Decision:
        memo = _Memo.read(state.memo)
        memo = memo.on_active(now, self.pauses_remembered) if demand.active else memo.on_idle()
        wanted = within_bounds(demand.workers, spec)
        capped = demand.workers > spec.max_workers
        if capped:
            demand = replace(demand, why=f"{demand.why} (capped at maxWorkers {spec.max_workers})")
        current = state.desired
        if wanted >= current or demand.protect:
            target = max(wanted, current) if demand.protect else wanted
            cause = "backlog" if target > current else "steady"
            if capped and target == spec.max_workers:
                cause = "bounds"  # the work wants more than the cluster may have
            reason = demand.why if target > current else f"steady at {target}: {demand.why}"
            return _decision(spec, state, workers, target, reason, cause, memo.no_low())
        if demand.active:
            return self._shrink_after_window(spec, state, workers, wanted, demand, memo, now)
        return self._idle(spec, state, workers, memo, now)

    def _window_s(self, spec: ComputeClusterSpec) -> float:
        """How long lower demand must last before the cluster shrinks."""
        return self.spark_stabilization_s if spec.engine == "spark" else self.flink_stabilization_s

    def _shrink_after_window(self, spec, state, workers, wanted, demand, memo, now) -> Decision:
        window_s = self._window_s(spec)
        memo = memo.on_low(now, wanted)
        waited_s = now - memo.low_since
        if waited_s < window_s:
            reason = f"demand {wanted} < {state.desired} for {waited_s:.0f}/{window_s:.0f} s"
            return _decision(spec, state, workers, state.desired, reason, "stabilizing", memo)
        target = int(memo.low_peak)
        reason = f"demand stayed at or below {target} for {waited_s:.0f} s: {demand.why}"
        return _decision(spec, state, workers, target, reason, "shrink", memo.no_low())

    def _idle(self, spec, state, workers, memo: _Memo, now: float) -> Decision:
        idle_s = now - memo.last_active if memo.last_active is not None else math.inf
        floor = spec.min_workers
        if idle_s >= spec.idle_timeout_seconds:
            reason = f"idle for {min(idle_s, 1e9):.0f} s: scaling to minWorkers {floor}"
            return _decision(spec, state, workers, floor, reason, "idle", memo.no_low())
        keep_warm_s = memo.keep_warm_s(self.keep_warm_min_s, self.keep_warm_max_s)
        if idle_s >= keep_warm_s:
            reason = (
                f"nothing running for {idle_s:.0f} s, longer than this user's usual pause"
                f" ({keep_warm_s:.0f} s): releasing to {floor}"
            )
            return _decision(spec, state, workers, floor, reason, "idle", memo.no_low())
        pause = f"for {keep_warm_s:.0f} s, this user's usual pause"
        lower = int(memo.low_peak)
        low_s = now - memo.low_since if memo.low_since is not None else -math.inf
        if low_s >= self._window_s(spec) and lower < state.desired:
            # The work had stayed lower for a whole window before it stopped: keep warm what it
            # used, as the shrink would have had it still run (more work never gets fewer).
            reason = (
                f"demand stayed at or below {lower} for {low_s:.0f} s, then nothing running"
                f" for {idle_s:.0f} s; keeping {lower} warm {pause}"
            )
            return _decision(spec, state, workers, lower, reason, "shrink", memo.no_low())
        reason = f"nothing running for {idle_s:.0f} s; keeping {state.desired} warm {pause}"
        return _decision(spec, state, workers, state.desired, reason, "anticipate", memo)


def spark_demand(spec: ComputeClusterSpec, signal: SparkSignal) -> Demand | None:
    """Workers the drivers' executor demand needs, plus one per app still waiting for any."""
    needed, waiting = signal.needed_executors, signal.waiting_apps
    if not known(needed) and not known(waiting):
        return None
    executors = needed if known(needed) else 0.0
    cores = executors * max(1, signal.executor_cores)  # inf if absurdly large
    # Past maxWorkers + 1 the count changes nothing (the target is capped): no ceil of inf.
    workers = math.ceil(min(cores / spec.worker.cores, spec.max_workers + 1) - 1e-9)
    if known(waiting):
        workers = max(workers, math.ceil(waiting))
    why = f"{executors:.0f} executors needed"
    if known(waiting) and waiting:
        why += f", {waiting:.0f} apps waiting"
    return Demand(workers, workers > 0, why)


def _hold(spec: ComputeClusterSpec, state: ClusterState, signal: Signal, why: str, cause: Cause):
    """No usable metrics: keep the target, moved only by the spec's bounds."""
    held = Decision.no_change(state, f"{why}: holding at {state.desired}", cause)
    bounded = within_bounds(held.target, spec)
    if bounded == held.target:
        return held
    victims = choose_victims(signal.workers, state.workers - bounded)
    return Decision(bounded, f"{held.reason} (bounded to {bounded})", "bounds", victims, state.memo)


def waiting_for_capacity(signal: Signal) -> bool:
    """Work is known to wait although what it needs is not: a Spark app registered with the
    master without executors, or a Flink job with a JobMaster."""
    if isinstance(signal, SparkSignal):
        return known(signal.waiting_apps) and signal.waiting_apps > 0
    return any(known(count) and count > 0 for count in (signal.jobs, signal.running_jobs))


def _start_for_waiting_work(
    spec: ComputeClusterSpec, state: ClusterState, signal: Signal, held: Decision
) -> Decision:
    """A hold never keeps a cluster at zero while a job waits: it gets one worker to start on."""
    if held.target > 0 or spec.max_workers == 0 or not waiting_for_capacity(signal):
        return held
    reason = f"{held.reason}; but a job waits with no worker: starting 1"
    return Decision(max(1, spec.min_workers), reason, "backlog", (), state.memo)


def _decision(spec, state, workers, target, reason, cause, memo: _Memo) -> Decision:
    """A decision with the victims a shrink needs, the target within the spec's bounds."""
    bounded = within_bounds(target, spec)
    if bounded != target:
        reason = f"{reason} (bounded to {bounded})"
        cause = "bounds"
    victims = choose_victims(workers, state.workers - bounded) if bounded < state.workers else ()
    return Decision(bounded, reason, cause, victims, memo.write())


@dataclass(frozen=True, slots=True)
class _Memo:
    """The policy's memory, as read from and written to ``status.policyState``."""

    last_active: float | None = None  # last time anything ran or waited
    busy_since: float | None = None  # start of the current stretch of work
    pauses: tuple[float, ...] = ()  # recent pauses between stretches of work, seconds
    low_since: float | None = None  # demand below the target since
    low_peak: float = 0.0  # highest demand seen since low_since

    @classmethod
    def read(cls, memo: Memo) -> _Memo:
        def number(key: str) -> float | None:
            value = memo.get(key)
            return float(value) if isinstance(value, int | float) and known(value) else None

        pauses = memo.get("pauses", ())
        pauses = tuple(float(p) for p in pauses if known(p)) if isinstance(pauses, tuple) else ()
        return cls(
            number("lastActive"),
            number("busySince"),
            pauses,
            number("lowSince"),
            number("lowPeak") or 0.0,
        )

    def write(self) -> Memo:
        values: dict[str, float | tuple[float, ...]] = {"pauses": self.pauses}
        for key, value in (
            ("lastActive", self.last_active),
            ("busySince", self.busy_since),
            ("lowSince", self.low_since),
        ):
            if value is not None:
                values[key] = value
        if self.low_since is not None:
            values["lowPeak"] = self.low_peak
        return values

    def on_active(self, now: float, remembered: int) -> _Memo:
        """Work runs now: a pause that just ended joins the user's recent pauses."""
        pauses = self.pauses
        busy_since = self.busy_since
        if self.last_active is not None and now - self.last_active > 0 and busy_since is None:
            pauses = (*pauses, now - self.last_active)[-remembered:]
        if busy_since is None:
            busy_since = now
        return _Memo(now, busy_since, pauses, self.low_since, self.low_peak)

    def on_idle(self) -> _Memo:
        return _Memo(self.last_active, None, self.pauses, self.low_since, self.low_peak)

    def on_low(self, now: float, demand: int) -> _Memo:
        if self.low_since is None:
            return _Memo(self.last_active, self.busy_since, self.pauses, now, float(demand))
        peak = max(self.low_peak, float(demand))
        return _Memo(self.last_active, self.busy_since, self.pauses, self.low_since, peak)

    def no_low(self) -> _Memo:
        return _Memo(self.last_active, self.busy_since, self.pauses)

    def keep_warm_s(self, floor_s: float, max_s: float) -> float:
        """Keep warm through the longest recent pause short enough to be worth it (at least
        ``floor_s``); a user whose recent pauses were all long gets no keep-warm at all."""
        short = [p for p in self.pauses if p <= max_s]
        if self.pauses and not short:
            return 0.0
        return max([floor_s, *short])


DEFAULT_POLICY = HubscalePolicy()


def decide(spec: ComputeClusterSpec, signal: Signal, state: ClusterState, now: float) -> Decision:
    """hubscale's decision with the default tunables."""
    return DEFAULT_POLICY.decide(spec, signal, state, now)
