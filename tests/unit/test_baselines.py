"""The baseline policies behave as their systems document, driven call by call like a backend."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.policy.decision import CAUSES, ClusterState, Decision, Policy
from autoscaler.policy.signals import NAN, FlinkSignal, Signal, SparkSignal, WorkerLoad
from autoscaler.sim.baselines import (
    DaskAdaptivePolicy,
    FixedParallelismPolicy,
    FlinkAutoscalerPolicy,
    KedaHpaPolicy,
    SparkDynamicAllocationPolicy,
    StaticPolicy,
)
from hubscale.spec import ComputeClusterSpec
from tests.builders import cluster_spec

DA = SparkDynamicAllocationPolicy()
FIXED = FixedParallelismPolicy()
DASK = DaskAdaptivePolicy()
KEDA = KedaHpaPolicy()
FLINK = FlinkAutoscalerPolicy()
BASELINES = [StaticPolicy(), DA, DASK, KEDA, FLINK]
METRIC_DRIVEN = [DA, FIXED, DASK, KEDA, FLINK]
SPARK_UP_TO_10 = cluster_spec(max_workers=10)
FLINK_UP_TO_10 = cluster_spec("flink", max_workers=10)


def loads(busy: Iterable[float], starting: int = 0) -> tuple[WorkerLoad, ...]:
    """Workers w0, w1, ... with the given load, then ``starting`` ones not registered yet."""
    ready = [WorkerLoad(f"w{i}", float(b)) for i, b in enumerate(busy)]
    return (*ready, *(WorkerLoad(f"s{i}", 0.0, ready=False) for i in range(starting)))


def spark(
    pending: float = 0.0,
    running: float = 0.0,
    workers: Iterable[WorkerLoad] = (),
    queued_s: float = NAN,
) -> SparkSignal:
    return SparkSignal(
        sampled_at=0.0,
        running_tasks=running,
        pending_tasks=pending,
        queued_work_s=queued_s,
        workers=tuple(workers),
    )


def flink(
    workers: int,
    parallelism: float,
    input_rate: float,
    rate_per_slot: float = 100.0,
    slots_required: float = 20.0,
    slots_per_worker: int = 1,
    backlog: float = 0.0,
) -> FlinkSignal:
    """One running job; slots process ``rate_per_slot`` records/s when fully busy."""
    capacity = parallelism * rate_per_slot
    processing = min(input_rate, capacity)
    return FlinkSignal(
        sampled_at=0.0,
        slots_required=slots_required,
        running_jobs=1.0,
        input_rate=input_rate,
        processing_rate=processing,
        busy_ratio=processing / capacity,
        backlog_records=backlog,
        parallelism=parallelism,
        slots_per_worker=slots_per_worker,
        workers=loads([slots_per_worker] * workers),
    )


def idle_flink(
    slots_required: float, busy: Iterable[float], slots_per_worker: int = 1
) -> FlinkSignal:
    """No job running; ``slots_required`` slots wanted by waiting jobs."""
    return FlinkSignal(
        sampled_at=0.0,
        slots_required=slots_required,
        running_jobs=0.0,
        slots_per_worker=slots_per_worker,
        workers=loads(busy),
    )


def step(
    policy: Policy, spec: ComputeClusterSpec, signal: Signal, state: ClusterState, now: float
) -> tuple[Decision, ClusterState]:
    """One call, then the state a backend reports next: the target reached, the memo kept."""
    decision = policy.decide(spec, signal, state, now)
    assert decision.cause in CAUSES
    assert spec.min_workers <= decision.target <= spec.max_workers
    return decision, ClusterState(decision.target, decision.target, memo=decision.memo)


def drive(
    policy: Policy,
    spec: ComputeClusterSpec,
    signal_at: Callable[[ClusterState, float], Signal],
    times: Iterable[float],
    state: ClusterState | None = None,
) -> tuple[list[Decision], ClusterState]:
    """Call ``policy`` at each of ``times``, feeding back its memo and target."""
    state = state or ClusterState(0, 0)
    decisions = []
    for now in times:
        decision, state = step(policy, spec, signal_at(state, now), state, now)
        decisions.append(decision)
    return decisions, state


# Spark dynamic allocation


def test_spark_da_adds_1_2_4_8_executors_each_second_of_sustained_backlog():
    spec = cluster_spec(max_workers=100)
    decisions, _ = drive(
        DA, spec, lambda s, t: spark(pending=1000, workers=loads([1] * s.workers)), range(6)
    )
    targets = [d.target for d in decisions]
    assert targets == [0, 1, 3, 7, 15, 31]  # nothing before schedulerBacklogTimeout
    assert [b - a for a, b in itertools.pairwise(targets)] == [1, 2, 4, 8, 16]


def test_spark_da_counts_the_rounds_that_passed_between_calls():
    spec = cluster_spec(max_workers=1000)
    decisions, _ = drive(DA, spec, lambda s, t: spark(pending=10_000), [0, 5])
    assert decisions[-1].target == 1 + 2 + 4 + 8 + 16


def test_spark_da_target_capped_by_executors_running_and_pending_tasks_need():
    def six_tasks(state: ClusterState, now: float) -> SparkSignal:
        running = min(state.workers, 6)
        return spark(pending=6 - running, running=running, workers=loads([1] * state.workers))

    decisions, _ = drive(DA, cluster_spec(max_workers=100), six_tasks, range(6))
    assert [d.target for d in decisions] == [0, 1, 3, 6, 6, 6]


def test_spark_da_needs_one_executor_per_cores_tasks():
    decisions, _ = drive(
        DA,
        cluster_spec(max_workers=100, worker={"cores": 4}),
        lambda s, t: spark(pending=20),
        range(5),
    )
    assert decisions[-1].target == 5


def test_spark_da_target_capped_by_max_workers():
    decisions, _ = drive(
        DA, cluster_spec(max_workers=5), lambda s, t: spark(pending=1000), range(6)
    )
    assert [d.target for d in decisions] == [0, 1, 3, 5, 5, 5]


def test_spark_da_ramp_restarts_at_one_after_the_backlog_clears():
    def backlog_except_at_4(state: ClusterState, now: float) -> SparkSignal:
        pending = 0 if now == 4 else 100
        return spark(pending=pending, running=state.workers, workers=loads([1] * state.workers))

    decisions, _ = drive(DA, cluster_spec(max_workers=100), backlog_except_at_4, range(7))
    assert [d.target for d in decisions] == [0, 1, 3, 7, 7, 7, 8]


def test_spark_da_removes_only_workers_idle_for_executor_idle_timeout():
    spec = SPARK_UP_TO_10
    state = ClusterState(4, 4)
    busy_at = {"w0": lambda t: 1, "w1": lambda t: 1, "w2": lambda t: t < 10, "w3": lambda t: t < 40}

    def signal_at(state: ClusterState, now: float) -> SparkSignal:
        workers = tuple(WorkerLoad(n, float(b(now))) for n, b in busy_at.items() if n in alive)
        return spark(running=sum(w.busy for w in workers), workers=workers)

    alive = set(busy_at)
    for now in range(0, 101):
        decision, state = step(DA, spec, signal_at(state, now), state, now)
        alive -= set(decision.victims)
        if now < 70:
            assert decision.victims == () and decision.target == 4
        if now == 70:
            assert decision.victims == ("w2",) and decision.target == 3
        if 70 < now < 100:
            assert decision.victims == ()
    assert decision.victims == ("w3",) and decision.target == 2
    assert alive == {"w0", "w1"}


def test_spark_da_never_removes_a_busy_worker_even_when_fewer_are_needed():
    spec = cluster_spec(max_workers=10, worker={"cores": 4})
    workers = loads([1, 1, 1])  # three tasks: one executor of 4 cores would do
    decisions, state = drive(
        DA,
        spec,
        lambda s, t: spark(running=3, workers=workers),
        range(0, 601, 10),
        ClusterState(3, 3),
    )
    assert all(d.victims == () for d in decisions)
    assert state.workers == 3


def test_spark_da_cancels_starting_workers_beyond_its_target():
    workers = loads([1], starting=2)
    decision, _ = step(DA, SPARK_UP_TO_10, spark(running=1, workers=workers), ClusterState(3, 3), 0)
    assert decision.target == 1
    assert set(decision.victims) == {"s0", "s1"}


def test_spark_da_sizes_flink_clusters_by_fixed_parallelism():
    signal = idle_flink(slots_required=5, busy=[], slots_per_worker=2)
    decision = DA.decide(FLINK_UP_TO_10, signal, ClusterState(0, 0), 0.0)
    assert decision == FIXED.decide(FLINK_UP_TO_10, signal, ClusterState(0, 0), 0.0)
    assert decision.target == 3


# Fixed parallelism (Flink without an autoscaler)


def test_fixed_parallelism_starts_taskmanagers_for_the_required_slots_at_once():
    decision, _ = step(FIXED, FLINK_UP_TO_10, idle_flink(6, []), ClusterState(0, 0), 0)
    assert decision.target == 6 and decision.cause == "backlog"


def test_fixed_parallelism_releases_taskmanagers_idle_for_the_timeout_when_no_job_needs_them():
    spec = FLINK_UP_TO_10
    decisions, _ = drive(
        FIXED, spec, lambda s, t: idle_flink(0, [0] * s.workers), range(0, 31), ClusterState(3, 3)
    )
    assert all(d.target == 3 for d in decisions[:30])
    assert decisions[30].target == 0 and decisions[30].cause == "idle"
    assert set(decisions[30].victims) == {"w0", "w1", "w2"}


def test_fixed_parallelism_keeps_idle_taskmanagers_a_waiting_job_needs():
    spec = FLINK_UP_TO_10
    decisions, state = drive(
        FIXED, spec, lambda s, t: idle_flink(2, [0, 0, 0]), range(0, 61), ClusterState(3, 3)
    )
    assert state.workers == 2
    assert decisions[30].victims == ("w0",)  # all idle since t = 0: one goes, two are needed


# Dask adaptive


def test_dask_scales_up_at_once_to_finish_queued_work_in_target_duration():
    spec = cluster_spec(max_workers=20, worker={"cores": 2})
    signal = spark(pending=50, queued_s=100)  # 100 core-s in 5 s: 20 cores, 10 workers
    decision, _ = step(DASK, spec, signal, ClusterState(0, 0), 0)
    assert decision.target == 10 and decision.cause == "backlog"


def test_dask_asks_no_more_cores_than_tasks_can_run():
    decision, _ = step(DASK, SPARK_UP_TO_10, spark(pending=3, queued_s=1000), ClusterState(0, 0), 0)
    assert decision.target == 3


def test_dask_starts_one_worker_for_queued_tasks_when_it_has_none():
    decision, _ = step(DASK, SPARK_UP_TO_10, spark(pending=1, queued_s=0.0), ClusterState(0, 0), 0)
    assert decision.target == 1


def test_dask_closes_an_idle_worker_after_3_consecutive_lower_recommendations():
    signal = spark(running=3, queued_s=3, workers=loads([1, 1, 1, 0]))
    decisions, _ = drive(DASK, SPARK_UP_TO_10, lambda s, t: signal, range(3), ClusterState(4, 4))
    assert [d.target for d in decisions] == [4, 4, 3]
    assert [d.cause for d in decisions] == ["stabilizing", "stabilizing", "shrink"]
    assert decisions[-1].victims == ("w3",)


def test_dask_starts_counting_again_when_a_recommendation_is_not_lower():
    low = spark(running=3, queued_s=3, workers=loads([1, 1, 1, 0]))
    high = spark(running=3, pending=5, queued_s=100, workers=loads([1, 1, 1, 0]))
    signals = [low, low, high, low, low, low]
    decisions, _ = drive(
        DASK, cluster_spec(max_workers=4), lambda s, t: signals[t], range(6), ClusterState(4, 4)
    )
    assert [d.target for d in decisions] == [4, 4, 4, 4, 4, 3]


def test_dask_never_closes_busy_workers():
    signal = spark(running=4, queued_s=4, workers=loads([1, 1, 1, 1]))  # 1 core wanted, all busy
    decisions, _ = drive(DASK, SPARK_UP_TO_10, lambda s, t: signal, range(10), ClusterState(4, 4))
    assert all(d.target == 4 and d.victims == () for d in decisions)


# KEDA + HPA


def tasks(n: float) -> Callable[[ClusterState, float], SparkSignal]:
    return lambda state, now: spark(running=n, workers=loads([1] * state.workers))


def test_keda_activates_from_zero_to_one_then_the_hpa_grows_it_each_sync():
    """KEDA's activation phase takes 0 -> 1; the HPA's scaling phase takes it from there, at
    most max(double, +4 pods) per 15 s sync."""
    decision, state = step(
        KEDA, SPARK_UP_TO_10, tasks(6)(ClusterState(0, 0), 0), ClusterState(0, 0), 0
    )
    assert decision.target == 1 and decision.cause == "backlog"
    decisions, _ = drive(KEDA, SPARK_UP_TO_10, tasks(6), (15, 30), state)
    assert [d.target for d in decisions] == [5, 6]


def test_keda_scales_to_zero_only_after_cooldown_period_of_zero_metric():
    spec = SPARK_UP_TO_10
    _, state = step(KEDA, spec, tasks(3)(ClusterState(0, 0), 0), ClusterState(0, 0), 0)
    decisions, _ = drive(KEDA, spec, tasks(0), range(30, 301, 30), state)
    assert all(d.target >= 1 for d in decisions[:-1])  # t = 30 … 270
    assert decisions[-1].target == 0 and decisions[-1].cause == "idle"  # t = 300


def test_keda_keeps_the_highest_recommendation_of_the_last_300_s():
    spec = cluster_spec(max_workers=20)
    metric = {0: 4, 60: 8}
    decisions, _ = drive(
        KEDA,
        spec,
        lambda s, t: tasks(metric.get(t, 2))(s, t),
        range(0, 421, 30),
        ClusterState(4, 4, memo={"last_active": 0.0}),  # activated already
    )
    targets = {t: d.target for t, d in zip(range(0, 421, 30), decisions, strict=True)}
    assert targets[0] == 4 and targets[60] == 8
    assert all(targets[t] == 8 for t in range(60, 360, 30))
    assert targets[360] == 2 and decisions[12].cause == "shrink"


def test_keda_ignores_changes_within_tolerance():
    spec = cluster_spec(max_workers=20)
    state = ClusterState(10, 10, memo={"last_active": 0.0})
    assert KEDA.decide(spec, tasks(10.9)(state, 30), state, 30).target == 10
    assert KEDA.decide(spec, tasks(11.5)(state, 30), state, 30).target == 12


def test_keda_adds_at_most_double_or_4_pods_per_step():
    spec = cluster_spec(max_workers=100)
    small, large = ClusterState(2, 2), ClusterState(10, 10)
    assert KEDA.decide(spec, tasks(40)(small, 30), small, 30).target == 6
    assert KEDA.decide(spec, tasks(40)(large, 30), large, 30).target == 20


def test_keda_aims_flink_busy_ratio_at_70_percent():
    spec = cluster_spec("flink", max_workers=20)
    state = ClusterState(4, 4)
    signal = flink(workers=4, parallelism=4, input_rate=400)  # busy 1.0
    assert KEDA.decide(spec, signal, state, 30).target == math.ceil(4 / 0.7)


# Flink Kubernetes operator autoscaler

FLINK_SPEC = cluster_spec("flink", max_workers=20)
STABLE_AND_FULL_S = 300 + 900  # stabilization.interval + metrics.window


def settle(signal: FlinkSignal, workers: int, until: float = STABLE_AND_FULL_S):
    """Run a job from t = 0 every 15 s up to ``until``; the decisions and the last state."""
    return drive(
        FLINK,
        FLINK_SPEC,
        lambda s, t: signal,
        range(0, int(until) + 1, 15),
        ClusterState(workers, workers),
    )


def test_flink_autoscaler_waits_for_stabilization_and_a_full_metrics_window_after_job_start():
    decisions, _ = settle(flink(workers=4, parallelism=4, input_rate=600), 4)
    assert all(d.target == 4 and d.cause == "stabilizing" for d in decisions[:-1])
    assert decisions[-1].target > 4


def test_flink_autoscaler_aims_at_70_percent_utilization():
    decisions, _ = settle(flink(workers=4, parallelism=4, input_rate=700), 4)
    assert decisions[-1].target == 10  # 700/s over 100/s per slot at 0.7 utilization
    assert decisions[-1].cause == "backlog"


def test_flink_autoscaler_adds_the_catch_up_rate_for_the_backlog():
    signal = flink(workers=4, parallelism=4, input_rate=700, backlog=700 * 1800)
    decisions, _ = settle(signal, 4)
    assert decisions[-1].target == 20  # twice the rate: 1400/s / 70/s per slot


def test_flink_autoscaler_does_not_rescale_within_5_min_of_the_last_rescale():
    _, state = settle(flink(workers=4, parallelism=4, input_rate=700), 4)
    assert state.workers == 10
    after = flink(workers=10, parallelism=10, input_rate=2000)  # utilization 2.0
    more, _ = drive(FLINK, FLINK_SPEC, lambda s, t: after, range(1215, 1200 + 300 + 1, 15), state)
    assert all(d.target == 10 and d.cause == "stabilizing" for d in more)


def test_flink_autoscaler_scale_down_is_bounded_by_max_factor():
    decisions, _ = settle(flink(workers=10, parallelism=10, input_rate=100), 10)
    assert decisions[-1].target == 4  # wants 2, but at least (1 - 0.6) × 10
    assert decisions[-1].cause == "shrink"


def test_flink_autoscaler_keeps_parallelism_while_utilization_stays_in_boundary():
    for utilization in (0.45, 0.95):
        signal = flink(workers=10, parallelism=10, input_rate=1000 * utilization)
        decisions, _ = settle(signal, 10)
        assert decisions[-1].target == 10 and decisions[-1].cause == "steady"


def test_flink_autoscaler_starts_a_waiting_job_at_its_configured_parallelism():
    signal = idle_flink(slots_required=6, busy=[], slots_per_worker=2)
    assert FLINK.decide(FLINK_SPEC, signal, ClusterState(0, 0), 0.0).target == 3


def test_flink_autoscaler_releases_taskmanagers_when_no_job_remains():
    decisions, _ = drive(
        FLINK, FLINK_SPEC, lambda s, t: idle_flink(0, [0, 0]), range(0, 61, 15), ClusterState(2, 2)
    )
    assert decisions[-1].target == FLINK_SPEC.min_workers


def test_flink_autoscaler_leaves_spark_clusters_to_dynamic_allocation():
    signal = spark(pending=10, running=0)
    state = ClusterState(0, 0, memo={"target": 0.0, "to_add": 1.0, "add_at": 1.0})
    assert FLINK.decide(SPARK_UP_TO_10, signal, state, 1.0) == DA.decide(
        SPARK_UP_TO_10, signal, state, 1.0
    )


# All baselines


def test_each_baseline_describes_its_defaults_on_one_line():
    for policy in BASELINES:
        line = policy.describe()
        assert line and "\n" not in line
    assert "executorIdleTimeout=60 s" in DA.describe()
    assert "cooldownPeriod=300 s" in KEDA.describe()
    assert "scale-down.max-factor=0.6" in FLINK.describe()
    assert "Flink: fixed-parallelism (" in DASK.describe()


@pytest.mark.parametrize("policy", METRIC_DRIVEN, ids=lambda p: p.name)
@pytest.mark.parametrize("engine", ["spark", "flink"])
def test_every_metric_driven_baseline_holds_without_a_sample(policy, engine):
    signal = SparkSignal(None) if engine == "spark" else FlinkSignal(None)
    signal = _with_workers(signal, loads([0, 0, 0]))
    state = ClusterState(3, 3, memo={"idle_since:w0": -1e6})
    decision = policy.decide(cluster_spec(engine, max_workers=10), signal, state, 1e6)
    if policy is FIXED and engine == "spark":
        assert decision.target == 3
        return
    assert (decision.target, decision.victims, decision.cause) == (3, (), "metrics-missing")


@pytest.mark.parametrize("policy", METRIC_DRIVEN, ids=lambda p: p.name)
@pytest.mark.parametrize("engine", ["spark", "flink"])
def test_every_metric_driven_baseline_holds_on_nan_metrics(policy, engine):
    signal = SparkSignal(0.0) if engine == "spark" else FlinkSignal(0.0, running_jobs=1.0)
    signal = _with_workers(signal, loads([0, 0, 0]))
    state = ClusterState(3, 3, memo={"idle_since:w0": -1e6})
    decision = policy.decide(cluster_spec(engine, max_workers=10), signal, state, 1e6)
    assert decision.target == 3 and decision.victims == ()


def test_static_keeps_max_workers_whatever_the_metrics():
    for signal in (SparkSignal(None), FlinkSignal(0.0), spark(pending=0)):
        assert (
            StaticPolicy().decide(cluster_spec(max_workers=7), signal, ClusterState(0, 0), 0).target
            == 7
        )


def _with_workers(signal: Signal, workers: tuple[WorkerLoad, ...]) -> Signal:
    if isinstance(signal, SparkSignal):
        return SparkSignal(signal.sampled_at, workers=workers)
    return FlinkSignal(signal.sampled_at, running_jobs=signal.running_jobs, workers=workers)


metric = st.one_of(
    st.just(NAN),
    st.just(-1.0),
    st.integers(0, 50).map(float),
    st.floats(0, 1e4),
    st.floats(min_value=0, allow_nan=False),  # tiny, huge and infinite values too
)
worker_loads = st.lists(
    st.tuples(st.sampled_from([0.0, 1.0, 2.0, NAN]), st.booleans()), max_size=12
).map(lambda ws: tuple(WorkerLoad(f"w{i}", busy, ready) for i, (busy, ready) in enumerate(ws)))
spark_signals = st.builds(
    SparkSignal,
    sampled_at=st.one_of(st.none(), st.just(0.0)),
    needed_executors=metric,
    waiting_apps=metric,
    executor_cores=st.integers(1, 4),
    running_tasks=metric,
    pending_tasks=metric,
    queued_work_s=metric,
    workers=worker_loads,
)
flink_signals = st.builds(
    FlinkSignal,
    sampled_at=st.one_of(st.none(), st.just(0.0)),
    slots_required=metric,
    running_jobs=metric,
    input_rate=metric,
    processing_rate=metric,
    busy_ratio=st.one_of(metric, st.floats(0, 1)),
    backlog_records=metric,
    parallelism=metric,
    slots_per_worker=st.integers(1, 4),
    workers=worker_loads,
)
SCALARS = {
    "spark": (
        "needed_executors",
        "waiting_apps",
        "running_tasks",
        "pending_tasks",
        "queued_work_s",
    ),
    "flink": (
        "slots_required",
        "running_jobs",
        "input_rate",
        "processing_rate",
        "busy_ratio",
        "backlog_records",
        "parallelism",
    ),
}


@settings(max_examples=300, deadline=None)
@given(
    policy=st.sampled_from(BASELINES),
    engine=st.sampled_from(["spark", "flink"]),
    bounds=st.tuples(st.integers(0, 3), st.integers(0, 12)),
    cores=st.integers(1, 4),
    data=st.data(),
)
def test_every_baseline_stays_within_bounds_and_holds_on_missing_metrics(
    policy, engine, bounds, cores, data
):
    low, high = min(bounds), max(bounds)
    spec = cluster_spec(engine, min_workers=low, max_workers=high, worker={"cores": cores})
    signals = spark_signals if engine == "spark" else flink_signals
    desired = data.draw(st.integers(low, high))
    state = ClusterState(data.draw(st.integers(0, 12)), desired)
    now = 0.0
    for _ in range(data.draw(st.integers(1, 8))):
        now += data.draw(st.sampled_from([1.0, 15.0, 30.0, 400.0]))
        signal = data.draw(signals)
        decision = policy.decide(spec, signal, state, now)
        assert decision == policy.decide(spec, signal, state, now)  # pure
        assert low <= decision.target <= high
        assert decision.cause in CAUSES
        names = {worker.name for worker in signal.workers}
        assert set(decision.victims) <= names
        assert len(decision.victims) <= max(0, state.workers - decision.target)
        for value in decision.memo.values():
            assert isinstance(value, float) or all(isinstance(v, float) for v in value)
        nothing_known = all(math.isnan(getattr(signal, name)) for name in SCALARS[engine])
        if policy.name != "static" and (signal.sampled_at is None or nothing_known):
            assert decision.target == state.desired and decision.victims == ()
        state = ClusterState(data.draw(st.integers(0, 12)), decision.target, memo=decision.memo)
