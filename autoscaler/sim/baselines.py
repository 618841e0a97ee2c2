"""The autoscaling rules data platforms use today, as pure policies the simulator compares.

Each class follows one system's documented behaviour with its documented defaults, behind the
same interface as hubscale's policy (``autoscaler.policy.decision.Policy``). Like it, they read no
clock and keep no state: whatever they must remember goes back in ``Decision.memo``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from autoscaler.policy.decision import Cause, ClusterState, Decision, Memo, within_bounds
from autoscaler.policy.signals import FlinkSignal, Signal, SparkSignal, WorkerLoad, known
from autoscaler.policy.victims import choose_victims

if TYPE_CHECKING:
    from hubscale.spec import ComputeClusterSpec

IDLE_SINCE = "idle_since:"  # memo key prefix: when a worker last became idle
CLOSE_COUNT = "close_count:"  # memo key prefix: Dask's consecutive suggestions to close a worker
SPARK_SCHEDULE_INTERVAL_S = 0.1  # how often Spark's ExecutorAllocationManager re-evaluates

# Where each default comes from (the ``source`` of every option below).
SPARK_DA_DOCS = "https://spark.apache.org/docs/latest/configuration.html#dynamic-allocation"
DASK_ADAPTIVE_DOCS = "https://docs.dask.org/en/stable/adaptive.html (distributed.deploy.Adaptive)"
KEDA_DOCS = "https://keda.sh/docs/latest/reference/scaledobject-spec/"
# "Activation phase: the operator decides whether to scale from 0 to 1 ... Scaling phase: the
# HPA decides 1 to N" (activation goes to max(minReplicaCount, 1), then the HPA takes over).
KEDA_PHASES_DOCS = (
    "https://keda.sh/docs/latest/concepts/scaling-deployments/#activating-and-scaling-thresholds"
)
HPA_DOCS = "https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/"
FLINK_OPERATOR_DOCS = (
    "https://nightlies.apache.org/flink/flink-kubernetes-operator-docs-stable/docs/operations/"
    "configuration/ (job.autoscaler.*, kubernetes.operator.reconcile.interval)"
)
TEAM_CHOICE = "no documented default: a ScaledObject's trigger target, set by the team"
FLINK_RM_DOCS = "https://nightlies.apache.org/flink/flink-docs-stable/docs/deployment/config/"


def _option(default: Any, key: str, source: str = "") -> Any:
    """A tunable with the name its system documents it under (shown by ``describe()``) and the
    page that documents its default."""
    return field(default=default, metadata={"key": key, "source": source})


class _Baseline:
    """What every baseline shares: a one-line description of the defaults it runs with."""

    name: str

    def describe(self, skip: tuple[str, ...] = ()) -> str:
        """Every tunable under its documented name, on one line (the bench prints the name),
        except the policies named in ``skip`` (the other engine's, in a stack)."""
        parts = []
        for option in fields(self):  # type: ignore[arg-type]  # every subclass is a dataclass
            if option.name == "name" or option.name in skip:
                continue
            value = getattr(self, option.name)
            key = option.metadata.get("key", option.name)
            if isinstance(value, _Baseline):
                parts.append(f"{key}: {value.name} ({value.describe()})")
            else:
                parts.append(f"{key}={value:g}{' s' if option.name.endswith('_s') else ''}")
        return ", ".join(parts)


def _ceil_div(amount: float, per: float = 1) -> int:
    """Units of size ``per`` that hold ``amount``; float noise does not add a unit, and absurd
    amounts stop at a bound far above any cluster (targets are clamped to maxWorkers anyway)."""
    return max(0, math.ceil(min(amount / max(per, 1), 1e15) - 1e-9))


def _number(memo: Memo, key: str) -> float | None:
    value = memo.get(key)
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _series(memo: Memo, key: str, width: int) -> list[tuple[float, ...]]:
    """A memo tuple read back as records of ``width`` numbers (a malformed tail is dropped)."""
    flat = memo.get(key, ())
    if not isinstance(flat, tuple):
        return []
    return [flat[i : i + width] for i in range(0, len(flat) - width + 1, width)]


def _flatten(records: Sequence[tuple[float, ...]]) -> tuple[float, ...]:
    return tuple(float(value) for record in records for value in record)


def _missing(signal: Signal, *metrics: str) -> str:
    """Why the signal cannot be used (no sample, or the named metrics unknown); '' if it can."""
    if signal.sampled_at is None:
        return "no metrics yet"
    unknown = [metric for metric in metrics if not known(getattr(signal, metric))]
    return f"{', '.join(unknown)} unknown" if unknown else ""


def _hold(spec: ComputeClusterSpec, signal: Signal, state: ClusterState, why: str) -> Decision:
    """Keep the last target (never shrink on missing data), only moved by the spec's bounds."""
    reason = f"{why}: holding at {state.desired}"
    held = Decision.no_change(state, reason, cause="metrics-missing")
    if within_bounds(held.target, spec) == held.target:
        return held
    return _decision(spec, signal, state, held.target, reason, "metrics-missing", state.memo)


def _decision(
    spec: ComputeClusterSpec,
    signal: Signal,
    state: ClusterState,
    target: int,
    reason: str,
    cause: Cause,
    memo: Memo,
    victims: Sequence[str] | None = None,
) -> Decision:
    """The target within the spec's bounds; a shrink names its victims (idle first by default)."""
    bounded = within_bounds(target, spec)
    if bounded != target:
        reason, cause = f"{reason} (bounded to {bounded})", "bounds"
    remove = state.workers - bounded
    if remove <= 0:
        victims = ()
    elif victims is None:
        victims = choose_victims(signal.workers, remove)
    numbers = {
        key: value if isinstance(value, tuple) else float(value) for key, value in memo.items()
    }
    return Decision(bounded, reason, cause, tuple(victims)[:remove], numbers)


def _idle_since(workers: Sequence[WorkerLoad], memo: Memo, now: float) -> dict[str, float]:
    """Memo entries: since when each registered worker with nothing running has been idle."""
    idle = {}
    for worker in workers:
        if worker.ready and known(worker.busy) and worker.busy == 0:
            key = IDLE_SINCE + worker.name
            since = _number(memo, key)
            idle[key] = now if since is None else since
    return idle


def _follow_demand(
    spec: ComputeClusterSpec,
    signal: Signal,
    state: ClusterState,
    now: float,
    wanted: int,
    idle_timeout_s: float,
    why: str,
    memo: dict[str, float | tuple[float, ...]],
) -> Decision:
    """Up at once to ``wanted``; above it, cancel starting workers and release only workers idle
    for ``idle_timeout_s`` (Spark's executorIdleTimeout, Flink's taskmanager-timeout)."""
    idle = _idle_since(signal.workers, state.memo, now)
    memo = {**memo, **idle}
    keep = within_bounds(wanted, spec)
    if keep >= state.workers:
        cause = "backlog" if keep > state.workers else "steady"
        return _decision(spec, signal, state, keep, f"{why}: {keep} workers", cause, memo)
    excess = state.workers - keep
    starting = [worker for worker in signal.workers if not worker.ready]
    cancelled = choose_victims(starting, min(excess, len(starting)))
    timed_out = sorted(
        (since, key.removeprefix(IDLE_SINCE))
        for key, since in idle.items()
        if now - since >= idle_timeout_s
    )
    released = [name for _, name in timed_out][: excess - len(cancelled)]
    target = state.workers - len(cancelled) - len(released)
    reason = (
        f"{why}: {keep} workers wanted, {len(released)} idle for ≥ {idle_timeout_s:g} s released,"
        f" {len(cancelled)} starting cancelled"
    )
    cause = "stabilizing" if target == state.workers else "idle" if wanted == 0 else "shrink"
    return _decision(spec, signal, state, target, reason, cause, memo, (*cancelled, *released))


@dataclass(frozen=True)
class StaticPolicy(_Baseline):
    """maxWorkers always on: the reference every autoscaler is measured against."""

    name: str = "static"
    interval_s: float = _option(60.0, "interval")

    def decide(
        self, spec: ComputeClusterSpec, signal: Signal, state: ClusterState, now: float
    ) -> Decision:
        """maxWorkers whatever the metrics say (it reads none, so missing ones change nothing)."""
        reason = f"static: maxWorkers {spec.max_workers} always on"
        cause = "steady" if state.desired == spec.max_workers else "bounds"
        return _decision(spec, signal, state, spec.max_workers, reason, cause, {})


@dataclass(frozen=True)
class FixedParallelismPolicy(_Baseline):
    """Flink session cluster without an autoscaler: TaskManagers for the slots jobs ask for, idle
    ones released by the ResourceManager after resourcemanager.taskmanager-timeout."""

    name: str = "fixed-parallelism"
    interval_s: float = _option(1.0, "interval")
    taskmanager_timeout_s: float = _option(
        30.0, "resourcemanager.taskmanager-timeout", FLINK_RM_DOCS
    )

    def decide(
        self, spec: ComputeClusterSpec, signal: Signal, state: ClusterState, now: float
    ) -> Decision:
        """ceil(slots required / slots per TaskManager); idle TaskManagers beyond it time out."""
        if not isinstance(signal, FlinkSignal):
            reason = "fixed parallelism applies to Flink only"
            return _decision(spec, signal, state, state.desired, reason, "steady", state.memo)
        if why := _missing(signal, "slots_required", "running_jobs"):
            return _hold(spec, signal, state, why)
        wanted = _ceil_div(signal.slots_required, signal.slots_per_worker)
        why = (
            f"{signal.slots_required:.0f} slots required by jobs"
            f" ({signal.running_jobs:.0f} running), {signal.slots_per_worker} per TaskManager"
        )
        return _follow_demand(
            spec, signal, state, now, wanted, self.taskmanager_timeout_s, why, memo={}
        )


@dataclass(frozen=True)
class SparkDynamicAllocationPolicy(_Baseline):
    """Spark's ExecutorAllocationManager (spark.dynamicAllocation.*), one executor per worker;
    Flink clusters get fixed parallelism (dynamic allocation does not apply to them)."""

    name: str = "spark-dynamic-allocation"
    interval_s: float = _option(1.0, "interval")
    scheduler_backlog_timeout_s: float = _option(1.0, "schedulerBacklogTimeout", SPARK_DA_DOCS)
    # default: schedulerBacklogTimeout
    sustained_backlog_timeout_s: float = _option(
        1.0, "sustainedSchedulerBacklogTimeout", SPARK_DA_DOCS
    )
    executor_idle_timeout_s: float = _option(60.0, "executorIdleTimeout", SPARK_DA_DOCS)
    min_executors: int = _option(0, "minExecutors", SPARK_DA_DOCS)
    initial_executors: int = _option(0, "initialExecutors", SPARK_DA_DOCS)  # = minExecutors
    max_executors: float = _option(math.inf, "maxExecutors", SPARK_DA_DOCS)
    flink: FixedParallelismPolicy = field(
        default_factory=FixedParallelismPolicy, metadata={"key": "Flink"}
    )

    def decide(
        self, spec: ComputeClusterSpec, signal: Signal, state: ClusterState, now: float
    ) -> Decision:
        """Exponential ramp-up while tasks wait, target cut to what tasks need, idle ones go."""
        if isinstance(signal, FlinkSignal):
            return self.flink.decide(spec, signal, state, now)
        if why := _missing(signal, "pending_tasks", "running_tasks"):
            return _hold(spec, signal, state, why)
        floor = max(self.min_executors, spec.min_workers)
        ceiling = int(min(self.max_executors, spec.max_workers))
        target = _number(state.memo, "target")
        if target is None:  # a new cluster starts at initialExecutors; a running one at its size
            target = max(self.initial_executors, floor, state.desired)
        target = int(target)
        to_add = int(_number(state.memo, "to_add") or 1)
        add_at = _number(state.memo, "add_at")  # None: no backlog (Spark's NOT_SET)
        tasks = signal.running_tasks + signal.pending_tasks
        max_needed = _ceil_div(tasks, spec.worker.cores)
        if signal.pending_tasks > 0:
            add_at = now + self.scheduler_backlog_timeout_s if add_at is None else add_at
        else:
            add_at, to_add = None, 1
        if max_needed < target:
            target, to_add = max(max_needed, floor), 1
        else:
            registered = sum(1 for worker in signal.workers if worker.ready)
            bounds = (registered, max_needed, floor, ceiling)
            target, to_add, add_at = self._ramp(target, to_add, add_at, now, *bounds)
        memo: dict[str, float | tuple[float, ...]] = {"target": target, "to_add": to_add}
        if add_at is not None:
            memo["add_at"] = add_at
        why = (
            f"{signal.pending_tasks:.0f} pending + {signal.running_tasks:.0f} running tasks"
            f" need {max_needed} executors, target {target}"
        )
        return _follow_demand(
            spec, signal, state, now, target, self.executor_idle_timeout_s, why, memo
        )

    def _ramp(
        self,
        target: int,
        to_add: int,
        add_at: float | None,
        now: float,
        registered: int,
        max_needed: int,
        floor: int,
        ceiling: int,
    ) -> tuple[int, int, float | None]:
        """The addExecutors rounds Spark's schedule loop ran up to ``now``, one each
        sustainedSchedulerBacklogTimeout; a round that adds nothing resets the increment to 1."""
        step_s = max(self.sustained_backlog_timeout_s, SPARK_SCHEDULE_INTERVAL_S)
        while add_at is not None and add_at <= now:
            new = target
            if target < ceiling:
                new = min(max(target, registered) + to_add, max_needed)
                new = max(min(new, ceiling), floor)
            add_at += step_s
            if new == target:  # the later rounds before ``now`` add nothing either: skip them
                skipped = max(0, math.floor((now - add_at) / step_s) + 1)
                return target, 1, add_at + skipped * step_s
            to_add = to_add * 2 if new - target == to_add else 1
            target = new
        return target, to_add, add_at


@dataclass(frozen=True)
class DaskAdaptivePolicy(_Baseline):
    """distributed.deploy.Adaptive with the scheduler's adaptive_target, applied to Spark tasks;
    Flink clusters get fixed parallelism."""

    name: str = "dask-adaptive"
    interval_s: float = _option(1.0, "interval", DASK_ADAPTIVE_DOCS)
    target_duration_s: float = _option(5.0, "target_duration", DASK_ADAPTIVE_DOCS)
    wait_count: int = _option(3, "wait_count", DASK_ADAPTIVE_DOCS)
    flink: FixedParallelismPolicy = field(
        default_factory=FixedParallelismPolicy, metadata={"key": "Flink"}
    )

    def decide(
        self, spec: ComputeClusterSpec, signal: Signal, state: ClusterState, now: float
    ) -> Decision:
        """Cores to finish the queued work in target_duration; a worker goes after being
        suggested for closing wait_count times in a row."""
        if isinstance(signal, FlinkSignal):
            return self.flink.decide(spec, signal, state, now)
        if why := _missing(signal, "queued_work_s", "running_tasks", "pending_tasks"):
            return _hold(spec, signal, state, why)
        tasks = signal.running_tasks + signal.pending_tasks
        cores = min(_ceil_div(signal.queued_work_s / self.target_duration_s), tasks)
        wanted = _ceil_div(cores, spec.worker.cores)
        arrived = [worker for worker in signal.workers if worker.ready]
        if tasks > 0 and not arrived:
            wanted = max(1, wanted)
        if wanted < len(arrived):  # the scheduler only offers its idle workers for closing
            idle = sum(1 for worker in arrived if known(worker.busy) and worker.busy == 0)
            wanted = len(arrived) - idle
        recommended = within_bounds(wanted, spec)
        why = (
            f"{signal.queued_work_s:.0f} core-s queued, {tasks:.0f} tasks:"
            f" {cores:.0f} cores, {recommended} workers recommended"
        )
        if recommended >= state.workers:
            cause = "backlog" if recommended > state.workers else "steady"
            return _decision(spec, signal, state, recommended, why, cause, {})
        suggested = choose_victims(signal.workers, state.workers - recommended)
        counts = {name: (_number(state.memo, CLOSE_COUNT + name) or 0.0) + 1 for name in suggested}
        closing = [name for name in suggested if counts[name] >= self.wait_count]
        memo = {CLOSE_COUNT + name: count for name, count in counts.items() if name not in closing}
        times = int(max(counts.values(), default=0))
        reason = f"{why}; closing suggested {times}/{self.wait_count} times"
        target = state.workers - len(closing)
        cause = "shrink" if closing else "stabilizing"
        return _decision(spec, signal, state, target, reason, cause, memo, closing)


@dataclass(frozen=True)
class KedaHpaPolicy(_Baseline):
    """A KEDA ScaledObject driving a HorizontalPodAutoscaler: activation from zero and cooldown
    back to it by KEDA, the HPA's tolerance, stabilization window and scale-up rate in between."""

    name: str = "keda-hpa"
    interval_s: float = _option(15.0, "horizontal-pod-autoscaler-sync-period", HPA_DOCS)
    polling_interval_s: float = _option(30.0, "pollingInterval", KEDA_DOCS)
    cooldown_period_s: float = _option(300.0, "cooldownPeriod", KEDA_DOCS)
    scale_down_window_s: float = _option(300.0, "scaleDown.stabilizationWindowSeconds", HPA_DOCS)
    tolerance: float = _option(0.1, "tolerance", HPA_DOCS)
    scale_up_pods: int = _option(4, "scaleUp.pods", HPA_DOCS)
    scale_up_percent: float = _option(100.0, "scaleUp.percent", HPA_DOCS)
    tasks_per_core: float = _option(1.0, "Spark target tasks per core", TEAM_CHOICE)
    target_utilization: float = _option(0.7, "Flink target busy ratio", TEAM_CHOICE)

    def decide(
        self, spec: ComputeClusterSpec, signal: Signal, state: ClusterState, now: float
    ) -> Decision:
        """KEDA activates 0 -> 1 at its polls (KEDA_PHASES_DOCS); then replicas = ceil(metric /
        target) each HPA sync, the highest recommendation of the window on the way down; to
        minWorkers after cooldownPeriod of zero metric."""
        measured = self._measure(spec, signal, state)
        if isinstance(measured, str):
            return _hold(spec, signal, state, measured)
        activity, desired, what = measured
        last_active = now if activity > 0 else _number(state.memo, "last_active")
        memo: dict[str, float | tuple[float, ...]] = {}
        if last_active is not None:
            memo["last_active"] = last_active
        current = state.desired
        if current <= 0 and not self._polls_at(now):  # only KEDA activates, at its own polls
            reason = f"{what}: at zero until KEDA's next poll"
            return _decision(spec, signal, state, current, reason, "steady", state.memo)
        if current <= 0:
            target = max(1, spec.min_workers) if activity > 0 else spec.min_workers
            memo["recommendations"] = (float(now), float(target)) if activity > 0 else ()
            cause = "backlog" if target > current else "steady"
            return _decision(spec, signal, state, target, f"{what}: activation", cause, memo)
        if activity == 0 and (last_active is None or now - last_active >= self.cooldown_period_s):
            reason = f"{what} for ≥ {self.cooldown_period_s:g} s: cooldown over"
            return _decision(spec, signal, state, spec.min_workers, reason, "idle", memo)
        return self._hpa(spec, signal, state, now, desired, what, memo)

    def _polls_at(self, now: float) -> bool:
        """Whether KEDA's pollingInterval falls within the HPA sync period ending at ``now``."""
        return now % self.polling_interval_s < self.interval_s

    def _measure(
        self, spec: ComputeClusterSpec, signal: Signal, state: ClusterState
    ) -> tuple[float, float, str] | str:
        """(activity metric, desired replicas before rounding, description), or why unknown."""
        if isinstance(signal, SparkSignal):
            if not _missing(signal, "running_tasks", "pending_tasks"):
                tasks = signal.running_tasks + signal.pending_tasks
            elif not (why := _missing(signal, "needed_executors")):
                tasks = signal.needed_executors * signal.executor_cores
            else:
                return why
            desired = tasks / (self.tasks_per_core * max(spec.worker.cores, 1))
            return tasks, desired, f"{tasks:.0f} tasks"
        if why := _missing(signal, "slots_required", "running_jobs"):
            return why
        if signal.running_jobs == 0:
            return signal.slots_required, 0.0, f"{signal.slots_required:.0f} slots, no job running"
        if why := _missing(signal, "busy_ratio"):
            return why
        desired = state.desired * signal.busy_ratio / self.target_utilization
        return signal.slots_required, desired, f"busy ratio {signal.busy_ratio:.2f}"

    def _hpa(
        self,
        spec: ComputeClusterSpec,
        signal: Signal,
        state: ClusterState,
        now: float,
        desired: float,
        what: str,
        memo: dict[str, float | tuple[float, ...]],
    ) -> Decision:
        """One HPA sync: tolerance, then the scale-down window's maximum, then the up rate."""
        current = state.desired
        if abs(desired / current - 1) <= self.tolerance:
            recommended = current
        else:
            recommended = _ceil_div(desired)
        history = [
            (at, value)
            for at, value in _series(state.memo, "recommendations", 2)
            if at > now - self.scale_down_window_s
        ]
        history.append((now, float(recommended)))
        memo["recommendations"] = _flatten(history)
        highest = int(max(value for _, value in history))
        up_limit = max(
            _ceil_div(current * (1 + self.scale_up_percent / 100)), current + self.scale_up_pods
        )
        if recommended > current:
            target, cause = min(recommended, up_limit), "backlog"
        elif highest < current:
            target, cause = highest, "shrink"
        else:
            target, cause = current, "stabilizing" if recommended < current else "steady"
        reason = (
            f"{what}: {recommended} recommended, highest in {self.scale_down_window_s:g} s"
            f" {highest}"
        )
        return _decision(spec, signal, state, max(target, 1), reason, cause, memo)


@dataclass(frozen=True)
class FlinkAutoscalerPolicy(_Baseline):
    """The Flink Kubernetes operator's job autoscaler (job.autoscaler.*, DS2-style) for Flink;
    Spark clusters get dynamic allocation, as on a platform running that operator."""

    name: str = "flink-operator"
    interval_s: float = _option(60.0, "reconcile.interval", FLINK_OPERATOR_DOCS)
    target_utilization: float = _option(0.7, "target.utilization", FLINK_OPERATOR_DOCS)
    utilization_boundary: float = _option(0.3, "target.utilization.boundary", FLINK_OPERATOR_DOCS)
    stabilization_s: float = _option(300.0, "stabilization.interval", FLINK_OPERATOR_DOCS)
    metrics_window_s: float = _option(900.0, "metrics.window", FLINK_OPERATOR_DOCS)
    scale_down_max_factor: float = _option(0.6, "scale-down.max-factor", FLINK_OPERATOR_DOCS)
    catch_up_s: float = _option(1800.0, "catch-up.duration", FLINK_OPERATOR_DOCS)
    idle: FixedParallelismPolicy = field(
        default_factory=FixedParallelismPolicy, metadata={"key": "no job running"}
    )
    spark: SparkDynamicAllocationPolicy = field(
        default_factory=SparkDynamicAllocationPolicy, metadata={"key": "Spark"}
    )

    def interval_for(self, engine: str) -> float:
        """Spark clusters run at dynamic allocation's own pace, Flink at the operator's."""
        return self.spark.interval_s if engine == "spark" else self.interval_s

    def decide(
        self, spec: ComputeClusterSpec, signal: Signal, state: ClusterState, now: float
    ) -> Decision:
        """Parallelism for the input rate plus catch-up at the target utilization, after the
        job has been stable and a full metrics window collected."""
        if isinstance(signal, SparkSignal):
            return self.spark.decide(spec, signal, state, now)
        if why := _missing(signal, "slots_required", "running_jobs"):
            return _hold(spec, signal, state, why)
        if signal.running_jobs == 0:  # jobs start at their configured parallelism
            return self.idle.decide(spec, signal, state, now)
        rates = ("input_rate", "processing_rate", "busy_ratio", "parallelism")
        if (why := _missing(signal, *rates)) or signal.parallelism == 0:
            return _hold(spec, signal, state, why or "job restarting")
        stable_at = _number(state.memo, "stable_at")
        if stable_at is None:  # the job just started
            stable_at = now + self.stabilization_s
        memo: dict[str, float | tuple[float, ...]] = {"stable_at": stable_at}
        if now < stable_at:
            reason = f"stabilizing for {stable_at - now:.0f} s more"
            return _decision(spec, signal, state, state.desired, reason, "stabilizing", memo)
        sample = (now, signal.input_rate, signal.processing_rate, signal.busy_ratio)
        samples = [
            s for s in _series(state.memo, "samples", 4) if s[0] >= now - self.metrics_window_s
        ]
        samples.append(sample)
        memo["samples"] = _flatten(samples)
        if now < stable_at + self.metrics_window_s:
            full_in = stable_at + self.metrics_window_s - now
            reason = f"metrics window full in {full_in:.0f} s ({len(samples)} samples)"
            return _decision(spec, signal, state, state.desired, reason, "stabilizing", memo)
        return self._scale(spec, signal, state, now, samples, memo)

    def _scale(
        self,
        spec: ComputeClusterSpec,
        signal: FlinkSignal,
        state: ClusterState,
        now: float,
        samples: list[tuple[float, ...]],
        memo: dict[str, float | tuple[float, ...]],
    ) -> Decision:
        """DS2: the parallelism whose true processing rate meets the target rate."""
        input_rate, processing_rate, busy = (
            sum(s[i] for s in samples) / len(samples) for i in (1, 2, 3)
        )
        backlog = signal.backlog_records if known(signal.backlog_records) else 0.0
        target_rate = input_rate + backlog / self.catch_up_s
        current = max(1, math.ceil(signal.parallelism))
        if processing_rate > 0 and busy > 0:  # true processing rate: processing / busy
            utilization = target_rate * busy / processing_rate
        elif target_rate == 0:
            utilization = 0.0
        else:  # a stalled job: no rate to size it by (the samples are kept)
            reason = f"input {input_rate:.0f}/s but nothing processed: holding at {state.desired}"
            return _decision(spec, signal, state, state.desired, reason, "metrics-missing", memo)
        wanted = max(1, _ceil_div(current * utilization / self.target_utilization))
        why = f"target rate {target_rate:.0f}/s at utilization {utilization:.2f}"
        low = self.target_utilization - self.utilization_boundary
        high = self.target_utilization + self.utilization_boundary
        if low <= utilization <= high:
            reason = f"{why}, within [{low:g}, {high:g}]: parallelism {current} kept"
            return _decision(spec, signal, state, state.desired, reason, "steady", memo)
        slots = max(1, signal.slots_per_worker)
        parallelism = max(1, min(wanted, int(signal.slots_required), spec.max_workers * slots))
        if parallelism < current:
            floor = _ceil_div((1 - self.scale_down_max_factor) * current)
            parallelism = max(parallelism, floor)
        reason = f"{why}: parallelism {current} → {parallelism}"
        if parallelism == current:
            return _decision(spec, signal, state, state.desired, reason, "steady", memo)
        target = _ceil_div(parallelism, slots)
        cause = "backlog" if parallelism > current else "shrink"
        rescaled = {"stable_at": now + self.stabilization_s}  # the window starts over
        return _decision(spec, signal, state, target, reason, cause, rescaled)
