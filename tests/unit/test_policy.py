"""hubscale's policy: rules from DESIGN.md, and properties that hold for any input."""

from __future__ import annotations

import ast
import math
from dataclasses import replace
from functools import partial
from itertools import pairwise
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from autoscaler.policy.decision import CAUSES, ClusterState, Decision
from autoscaler.policy.hubscale import HubscalePolicy, decide, waiting_for_capacity
from autoscaler.policy.signals import FlinkSignal, SparkSignal, WorkerLoad
from hubscale.spec import ComputeClusterSpec
from tests.builders import cluster_spec

POLICY = HubscalePolicy()
NOW = 100_000.0


spark_spec = partial(cluster_spec, "spark")
flink_spec = partial(cluster_spec, "flink")


def idle_workers(n: int) -> tuple[WorkerLoad, ...]:
    return tuple(WorkerLoad(f"w{i}", 0.0) for i in range(n))


def spark(needed: float, workers: int = 0, at: float = NOW, waiting: float = 0.0) -> SparkSignal:
    return SparkSignal(
        at, needed_executors=needed, waiting_apps=waiting, workers=idle_workers(workers)
    )


def at_workers(n: int, memo=None, last_scale: float | None = None) -> ClusterState:
    return ClusterState(n, n, last_scale, memo or {})


def run(spec, signals_at, state: ClusterState) -> list[Decision]:
    """Feed decisions back as a backend would: the target becomes the workers."""
    decisions = []
    for now, signal in signals_at:
        decision = POLICY.decide(spec, signal, state, now)
        decisions.append(decision)
        state = ClusterState(decision.target, decision.target, now, decision.memo)
    return decisions


def test_backlog_scales_up_at_once_to_what_it_needs():
    decision = decide(spark_spec(), spark(needed=5), at_workers(0), NOW)
    assert decision.target == 5
    assert decision.cause == "backlog"
    assert "5 executors needed" in decision.reason


def test_scale_up_is_bounded_by_max_workers():
    decision = decide(spark_spec(maxWorkers=3), spark(needed=50), at_workers(1), NOW)
    assert decision.target == 3
    assert "capped at maxWorkers 3" in decision.reason
    assert decision.cause == "bounds"  # the work wants more: the status says so (CapacityLimited)


def test_work_waiting_on_a_cluster_that_may_have_no_worker_is_bounded_not_steady():
    decision = decide(spark_spec(maxWorkers=0), spark(needed=0, waiting=1), at_workers(0), NOW)
    assert (decision.target, decision.cause) == (0, "bounds")


# Found by hypothesis: a finite demand whose cores overflow to inf (an OverflowError in ceil).
OVERFLOWING_DEMAND = SparkSignal(NOW, needed_executors=8.98846567431158e307, executor_cores=2)


def test_an_absurd_executor_demand_gets_max_workers_not_an_overflow():
    decision = decide(spark_spec(maxWorkers=4), OVERFLOWING_DEMAND, at_workers(0), NOW)
    assert (decision.target, decision.cause) == (4, "bounds")


def test_waiting_app_before_any_driver_metric_scales_from_zero():
    signal = SparkSignal(NOW, needed_executors=math.nan, waiting_apps=1.0)
    assert decide(spark_spec(), signal, at_workers(0), NOW).target == 1


def test_multi_core_workers_need_fewer_workers():
    spec = spark_spec(worker={"cores": 4, "memory": "8Gi"})
    signal = SparkSignal(NOW, needed_executors=3.0, waiting_apps=0.0, executor_cores=4)
    assert decide(spec, signal, at_workers(0), NOW).target == 3
    signal = SparkSignal(NOW, needed_executors=6.0, waiting_apps=0.0, executor_cores=2)
    assert decide(spec, signal, at_workers(0), NOW).target == 3


def test_scale_down_waits_for_stabilization_window():
    window = POLICY.spark_stabilization_s
    steps = [(NOW + t, spark(2, workers=6, at=NOW + t)) for t in range(0, int(window) + 10, 5)]
    decisions = run(spark_spec(), steps, at_workers(6))
    held = [d for d in decisions if d.target == 6]
    assert held and all(d.cause == "stabilizing" for d in held)
    first_shrink = next(i for i, d in enumerate(decisions) if d.target < 6)
    assert steps[first_shrink][0] - NOW >= window
    assert decisions[first_shrink].target == 2
    assert decisions[first_shrink].cause == "shrink"


def test_stabilization_keeps_the_highest_demand_seen_in_the_window():
    loads = [2, 5, 3, 2, 2, 2, 2, 2]
    steps = [(NOW + 5 * i, spark(n, workers=6, at=NOW + 5 * i)) for i, n in enumerate(loads)]
    decisions = run(spark_spec(), steps, at_workers(6))
    shrunk = [d.target for d in decisions if d.cause == "shrink"]
    assert shrunk[0] == 5


def test_a_rise_during_the_window_restarts_it():
    loads = [2, 2, 2, 6, 2, 2, 2]
    steps = [(NOW + 5 * i, spark(n, workers=6, at=NOW + 5 * i)) for i, n in enumerate(loads)]
    decisions = run(spark_spec(), steps, at_workers(6))
    assert all(d.target == 6 for d in decisions)


def test_idle_goes_to_min_workers_after_idle_timeout():
    spec = spark_spec(minWorkers=1, idleTimeoutSeconds=60)
    memo = {"lastActive": NOW - 61, "pauses": (300.0,) * 8}
    decision = decide(spec, spark(0, workers=4), at_workers(4, memo), NOW)
    assert decision.target == 1
    assert decision.cause == "idle"
    assert len(decision.victims) == 3


def test_keeps_workers_warm_through_this_users_usual_pause():
    memo = {"lastActive": NOW - 40, "pauses": (30.0, 60.0, 45.0)}
    warm = decide(spark_spec(), spark(0, workers=4), at_workers(4, memo), NOW)
    assert warm.target == 4
    assert warm.cause == "anticipate"
    later = {"lastActive": NOW - 70, "pauses": (30.0, 60.0, 45.0)}
    released = decide(spark_spec(), spark(0, workers=4), at_workers(4, later), NOW)
    assert released.target == 0
    assert "usual pause" in released.reason


def test_work_that_stayed_lower_for_a_window_before_stopping_keeps_only_that_much_warm():
    """Found by hypothesis (the monotonicity property below): 5 workers, then demand 1 for the
    20 s window, then none. Work still running at 1 shrinks to 1; work just stopped kept all 5
    warm: less work, more workers. Now both keep 1."""
    before = [(NOW, 5.0), (NOW + 5, 1.0), (NOW + 10, 1.0), (NOW + 15, 1.0)]
    stopped = run(
        spark_spec(),
        [(t, spark(n)) for t, n in [*before, (NOW + 20, 0.0), (NOW + 25, 0.0)]],
        at_workers(0),
    )
    running = run(
        spark_spec(),
        [(t, spark(n)) for t, n in [*before, (NOW + 20, 1.0), (NOW + 25, 1.0)]],
        at_workers(0),
    )
    assert [d.target for d in running] == [5, 5, 5, 5, 5, 1]
    assert [d.target for d in stopped] == [5, 5, 5, 5, 5, 1]
    assert stopped[-1].cause == "shrink" and "keeping 1 warm" in stopped[-1].reason


def test_long_pauses_are_not_worth_keeping_warm():
    memo = {"lastActive": NOW - 10, "pauses": (900.0, 1200.0)}
    decision = decide(spark_spec(), spark(0, workers=4), at_workers(4, memo), NOW)
    assert decision.target == 0


def test_pause_between_bursts_is_remembered():
    steps = [
        (NOW, spark(3, workers=0)),
        (NOW + 5, spark(0, workers=3, at=NOW + 5)),
        (NOW + 35, spark(2, workers=3, at=NOW + 35)),
    ]
    decisions = run(spark_spec(), steps, at_workers(0))
    assert decisions[-1].memo["pauses"] == (35.0,)  # from the last time work was seen


def test_stale_metrics_hold_with_a_reason_naming_the_age():
    signal = spark(0, workers=4, at=NOW - 45.5)
    decision = decide(spark_spec(), signal, at_workers(4), NOW)
    assert decision.target == 4
    assert decision.cause == "metrics-stale"
    assert decision.reason == "metrics stale for 46 s: holding at 4"


def test_no_metrics_at_all_hold():
    decision = decide(spark_spec(), SparkSignal(None), at_workers(3), NOW)
    assert (decision.target, decision.cause) == (3, "metrics-missing")


def test_hold_still_respects_a_lowered_max_workers():
    decision = decide(spark_spec(maxWorkers=2), SparkSignal(None), at_workers(5), NOW)
    assert decision.target == 2
    assert decision.cause == "bounds"


def flink(
    rate: float,
    parallelism: float,
    busy: float,
    backlog: float = 0.0,
    required: float = 8.0,
    at: float = NOW,
) -> FlinkSignal:
    processing = rate if backlog == 0 else parallelism * 1000
    return FlinkSignal(
        at,
        slots_required=required,
        running_jobs=1.0,
        input_rate=rate,
        processing_rate=processing,
        busy_ratio=busy,
        backlog_records=backlog,
        parallelism=parallelism,
        workers=tuple(WorkerLoad(f"tm{i}", 1.0) for i in range(int(parallelism))),
    )


def test_flink_scales_to_reach_target_utilization():
    # 2 slots 100 % busy processing 2000/s: 1000/s per slot; 3000/s at 0.8 needs 4 slots.
    signal = flink(rate=3000, parallelism=2, busy=1.0, backlog=0.0)
    signal = FlinkSignal(**{**_fields(signal), "processing_rate": 2000.0})
    decision = decide(flink_spec(), signal, at_workers(2), NOW)
    assert decision.target == 4


# Found by hypothesis: 5e-324 records/s over 2 fully busy slots is 0.0 per slot in floats;
# half-busy slots in use 5e-324 (garbage) are 0.0 busy slots.
UNDERFLOWING_RATE = replace(flink(rate=100, parallelism=2, busy=1.0), processing_rate=5e-324)
UNDERFLOWING_SLOTS = replace(flink(rate=100, parallelism=2, busy=0.5), parallelism=5e-324)


def test_a_rate_per_slot_that_underflows_to_zero_counts_as_vanishing_not_a_division_error():
    """A vanishing rate per slot asks for every slot the jobs declare (within maxWorkers), as a
    rate just large enough not to underflow does; with no input at all, one slot."""
    assert decide(flink_spec(), UNDERFLOWING_RATE, at_workers(2), NOW).target == 8
    tiny = replace(UNDERFLOWING_RATE, processing_rate=1e-300)
    assert decide(flink_spec(), tiny, at_workers(2), NOW).target == 8
    no_input = replace(UNDERFLOWING_RATE, input_rate=0.0)
    assert decide(flink_spec(), no_input, at_workers(0), NOW).target == 1


def test_busy_slots_that_underflow_to_zero_are_no_division_error():
    """Records over no busy slot at all: a rate per slot without bound, so one slot will do."""
    assert decide(flink_spec(), UNDERFLOWING_SLOTS, at_workers(0), NOW).target == 1


def test_flink_job_waiting_for_slots_scales_from_zero_to_its_parallelism():
    signal = FlinkSignal(NOW, slots_required=3.0, running_jobs=0.0)
    decision = decide(flink_spec(), signal, at_workers(0), NOW)
    assert decision.target == 3


def test_flink_never_scales_down_while_catching_up_on_backlog():
    memo = {"lowSince": NOW - 10_000, "lowPeak": 1.0}
    signal = flink(rate=500, parallelism=6, busy=1.0, backlog=50_000)
    decision = decide(flink_spec(), signal, at_workers(6, memo), NOW)
    assert decision.target >= 6


def flink_without(slots_required: float, processing: float, busy: float) -> FlinkSignal:
    return FlinkSignal(
        NOW,
        slots_required=slots_required,
        running_jobs=1.0,
        input_rate=100.0,
        processing_rate=processing,
        busy_ratio=busy,
        parallelism=4.0,
    )


def test_flink_job_without_busy_time_gets_its_declared_parallelism_and_never_shrinks():
    """Records flow, but a source chained to its sink publishes no busy time."""
    grown = decide(flink_spec(), flink_without(8.0, 100.0, math.nan), at_workers(4), NOW)
    assert (grown.target, grown.cause) == (8, "backlog")
    low = at_workers(4, {"lowSince": NOW - 10_000})
    held = decide(flink_spec(), flink_without(2.0, 100.0, math.nan), low, NOW)
    assert (held.target, held.victims) == (4, ())


def test_a_restarting_flink_job_keeps_its_slots_neither_grown_nor_shrunk():
    """No throughput while it restarts: growing it to its declared parallelism would only
    restart it again; shrinking it would lose the capacity it needs after the restart."""
    restarting = flink_without(8.0, math.nan, math.nan)
    assert decide(flink_spec(), restarting, at_workers(4), NOW).target == 4
    low = at_workers(4, {"lowSince": NOW - 10_000})
    held = decide(flink_spec(), flink_without(2.0, math.nan, math.nan), low, NOW)
    assert (held.target, held.victims) == (4, ())


def test_a_flink_job_running_on_no_slot_yet_gets_its_declared_parallelism():
    signal = replace(flink_without(6.0, math.nan, math.nan), parallelism=0.0)
    assert decide(flink_spec(), signal, at_workers(1), NOW).target == 6


def batch(tasks: float, workers: int = 0, streaming: float = 0.0, **fields) -> FlinkSignal:
    """A cluster whose batch jobs have ``tasks`` running or waiting for a slot."""
    return FlinkSignal(
        NOW,
        slots_required=tasks + streaming,
        batch_slots=tasks,
        running_jobs=1.0,
        jobs=1.0,
        parallelism=float(workers),
        workers=tuple(WorkerLoad(f"tm{i}", 1.0) for i in range(workers)),
        **fields,
    )


def test_a_batch_job_waiting_at_zero_workers_gets_a_slot_per_waiting_task():
    """The AdaptiveBatch scheduler's job: RUNNING, its tasks SCHEDULED, no slot anywhere."""
    decision = decide(flink_spec(maxWorkers=8), batch(tasks=3), at_workers(0), NOW)
    assert (decision.target, decision.cause) == (3, "backlog")
    assert "3 tasks of batch jobs" in decision.reason


def test_a_batch_job_wider_than_max_workers_gets_max_workers_and_runs_in_waves():
    decision = decide(flink_spec(maxWorkers=2), batch(tasks=16), at_workers(0), NOW)
    assert decision.target == 2


def test_a_batch_job_between_its_stages_keeps_its_workers_through_the_window():
    """One task left (the next stage not scheduled yet): lower demand waits for the window."""
    memo = {"lastActive": NOW - 2, "busySince": NOW - 60}
    decision = decide(flink_spec(), batch(tasks=1, workers=3), at_workers(3, memo), NOW)
    assert (decision.target, decision.cause) == (3, "stabilizing")


def test_batch_tasks_add_to_what_a_streaming_job_beside_them_needs():
    signal = batch(tasks=2, workers=4, streaming=3.0, input_rate=100.0, processing_rate=100.0)
    decision = decide(flink_spec(), signal, at_workers(4), NOW)  # no busy time: declared 3
    assert decision.target == 3 + 2


def test_a_job_whose_demand_is_unknown_is_never_held_at_zero():
    """The JobManager did not say what the job needs: hold, but give it a worker to start on."""
    unknown = FlinkSignal(NOW, slots_required=math.nan, running_jobs=0.0, jobs=1.0)
    started = decide(flink_spec(), unknown, at_workers(0), NOW)
    assert (started.target, started.cause) == (1, "backlog")
    assert "a job waits with no worker: starting 1" in started.reason
    held = decide(flink_spec(), unknown, at_workers(3), NOW)
    assert (held.target, held.cause) == (3, "metrics-missing")
    no_job = FlinkSignal(NOW, slots_required=math.nan, running_jobs=0.0, jobs=0.0)
    assert decide(flink_spec(), no_job, at_workers(0), NOW).target == 0


def test_a_waiting_spark_app_is_never_held_at_zero_even_without_driver_metrics():
    signal = SparkSignal(NOW, needed_executors=math.nan, waiting_apps=1.0)
    assert decide(spark_spec(), signal, at_workers(0), NOW).target == 1


def test_stale_metrics_hold_at_zero_even_with_a_job_seen_long_ago():
    """A job seen in a stale sample may be gone: stale means unknown, so hold."""
    stale = FlinkSignal(NOW - 1000, slots_required=math.nan, running_jobs=1.0, jobs=1.0)
    assert decide(flink_spec(), stale, at_workers(0), NOW).target == 0


# Where a cause is given positionally: Decision(target, reason, cause), the policies' helpers.
CAUSE_POSITION = {"Decision": 2, "no_change": 2, "_decision": 5, "_hold": 4}


def causes_given(tree: ast.AST) -> set[str]:
    """Every string given as a cause in ``tree``: ``cause=...``, ``cause = ...`` (also in
    ``x, cause = ...``) and the cause argument of the calls in CAUSE_POSITION."""
    given: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "cause":
            given.append(node.value)
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id == "cause":
                    given.append(node.value)
                elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    given += [v for t, v in zip(target.elts, node.value.elts, strict=True)
                              if isinstance(t, ast.Name) and t.id == "cause"]  # fmt: skip
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            position = CAUSE_POSITION.get(name)
            if position is not None and len(node.args) > position:
                given.append(node.args[position])
    return {
        leaf.value
        for value in given
        for leaf in ast.walk(value)
        if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str)
    }


def test_every_cause_the_code_gives_is_one_the_cause_type_lists():
    root = Path(__file__).resolve().parents[2] / "autoscaler"
    found = set()
    for path in root.rglob("*.py"):
        found |= causes_given(ast.parse(path.read_text(encoding="utf-8")))
    assert {"error", "bounds", "metrics-missing", "shrink"} <= found  # the walk sees them all
    assert found <= set(CAUSES)


def _fields(signal: FlinkSignal) -> dict:
    return {name: getattr(signal, name) for name in FlinkSignal.__slots__}


# Properties ----------------------------------------------------------------------------------

garbage = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=-1e-9),
    st.just(math.nan),
)
tiny = st.sampled_from([5e-324, 1e-310, 1e-300])  # rates that underflow once divided
metric = st.one_of(st.floats(min_value=0, max_value=1e4), tiny, garbage)
loads = st.lists(
    st.builds(
        WorkerLoad,
        name=st.text("abcdefgh", min_size=1, max_size=4),
        busy=st.one_of(st.sampled_from([0.0, 1.0, 2.0]), st.just(math.nan)),
        ready=st.booleans(),
    ),
    max_size=10,
    unique_by=lambda w: w.name,
)


@st.composite
def specs(draw, engine=None):
    low = draw(st.integers(0, 5))
    high = draw(st.integers(low, 12))
    return ComputeClusterSpec(
        owner="u",
        engine=engine or draw(st.sampled_from(["spark", "flink"])),
        minWorkers=low,
        maxWorkers=high,
        idleTimeoutSeconds=draw(st.integers(0, 1000)),
    )


spark_signals = st.builds(
    SparkSignal,
    sampled_at=st.one_of(st.none(), st.floats(NOW - 100, NOW)),
    needed_executors=metric,
    waiting_apps=metric,
    executor_cores=st.integers(1, 4),
    workers=loads,
)
flink_signals = st.builds(
    FlinkSignal,
    sampled_at=st.one_of(st.none(), st.floats(NOW - 100, NOW)),
    slots_required=metric,
    batch_slots=metric,
    running_jobs=metric,
    jobs=metric,
    input_rate=metric,
    processing_rate=metric,
    busy_ratio=st.one_of(st.floats(0, 1), garbage),
    backlog_records=metric,
    parallelism=metric,
    workers=loads,
)
memos = st.fixed_dictionaries(
    {},
    optional={
        "lastActive": st.floats(NOW - 2000, NOW),
        "pauses": st.lists(st.floats(0, 2000), max_size=8).map(tuple),
        "lowSince": st.floats(NOW - 500, NOW),
        "lowPeak": st.floats(0, 20),
        "busySince": st.floats(NOW - 500, NOW),
    },
)


@st.composite
def cases(draw):
    spec = draw(specs())
    signal = draw(spark_signals if spec.engine == "spark" else flink_signals)
    desired = draw(st.integers(0, 15))
    state = ClusterState(len(signal.workers), desired, None, draw(memos))
    return spec, signal, state


@settings(max_examples=400)
@given(cases())
@example(case=(flink_spec(), UNDERFLOWING_RATE, ClusterState(2, 2)))
@example(case=(flink_spec(), UNDERFLOWING_SLOTS, ClusterState(2, 2)))
@example(case=(spark_spec(), OVERFLOWING_DEMAND, ClusterState(0, 0)))
def test_target_always_within_min_and_max(case):
    spec, signal, state = case
    decision = decide(spec, signal, state, NOW)
    assert spec.min_workers <= decision.target <= spec.max_workers
    assert decision.cause in CAUSES


def _unusable(signal) -> bool:
    def bad(value: float) -> bool:
        return not math.isfinite(value) or value < 0

    if signal.sampled_at is None or NOW - signal.sampled_at > POLICY.stale_after_s:
        return True
    if isinstance(signal, SparkSignal):
        return bad(signal.needed_executors) and bad(signal.waiting_apps)
    return bad(signal.slots_required) or bad(signal.running_jobs)


@settings(max_examples=400)
@given(cases())
def test_never_shrinks_on_missing_stale_nan_or_negative_metrics(case):
    spec, signal, state = case
    decision = decide(spec, signal, state, NOW)
    if _unusable(signal):
        held = max(spec.min_workers, min(spec.max_workers, state.desired))
        fresh = signal.sampled_at is not None and NOW - signal.sampled_at <= POLICY.stale_after_s
        if held == 0 and fresh and waiting_for_capacity(signal) and spec.max_workers > 0:
            held = 1  # a job known to wait is never held at zero
        assert decision.target == held
        if decision.target >= state.workers:
            assert decision.victims == ()


@settings(max_examples=400)
@given(cases())
def test_never_names_a_busy_victim_while_an_idle_worker_stays(case):
    spec, signal, state = case
    decision = decide(spec, signal, state, NOW)
    victims = set(decision.victims)
    assert len(victims) == len(decision.victims)
    idle_left = [w for w in signal.workers if w.name not in victims and w.busy == 0]
    busy_taken = [w for w in signal.workers if w.name in victims and w.ready and w.busy != 0]
    assert not (idle_left and busy_taken)


@settings(max_examples=300)
@given(specs("spark"), st.floats(0, 100), st.floats(0, 100), st.integers(0, 15), memos)
@example(  # nothing running kept 5 warm; demand 1 after a window of lower demand shrank to 1
    spec=spark_spec(idleTimeoutSeconds=600),
    low=0.0,
    extra=0.5,
    desired=5,
    memo={"lowSince": NOW - 500, "lowPeak": 1.0, "lastActive": NOW - 10},
)
def test_spark_target_is_monotone_in_backlog(spec, low, extra, desired, memo):
    state = ClusterState(desired, desired, None, memo)
    smaller = decide(spec, spark(low, workers=desired), state, NOW)
    larger = decide(spec, spark(low + extra, workers=desired), state, NOW)
    assert larger.target >= smaller.target


@settings(max_examples=300)
@given(
    specs("flink"),
    st.floats(0, 50_000),
    st.floats(0, 50_000),
    st.floats(0, 1e6),
    st.integers(1, 8),
    st.integers(0, 15),
)
def test_flink_target_is_monotone_in_input_and_backlog(spec, rate, extra, backlog, slots, desired):
    state = ClusterState(desired, desired, None, {})
    base = flink(rate, slots, busy=0.9, backlog=backlog)
    more = FlinkSignal(**{**_fields(base), "input_rate": rate + extra})
    more_backlog = FlinkSignal(**{**_fields(base), "backlog_records": backlog + extra})
    target = decide(spec, base, state, NOW).target
    assert decide(spec, more, state, NOW).target >= target
    assert decide(spec, more_backlog, state, NOW).target >= target


@settings(max_examples=200)
@given(specs(), st.floats(0, 40), st.integers(0, 12))
def test_no_flapping_on_a_constant_load(spec, load, start):
    if spec.engine == "spark":
        signal_at = lambda t: spark(load, workers=0, at=t)  # noqa: E731
    else:
        signal_at = lambda t: flink(load * 1000, max(1, start), busy=0.5, at=t)  # noqa: E731
    steps = [(NOW + 5 * i, signal_at(NOW + 5 * i)) for i in range(200)]
    targets = [d.target for d in run(spec, steps, at_workers(start))]
    changes = sum(1 for a, b in pairwise(targets) if a != b)
    assert changes <= 1
