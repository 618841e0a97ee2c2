"""Heads on demand: the pure decision whether a master/JobManager runs."""

from __future__ import annotations

from autoscaler.policy.heads import NEEDED_AT, UNREAD_SINCE, Activity, decide_head
from hubscale.spec import ComputeClusterSpec

NOW = 1_800_000_000.0


def spec(**fields) -> ComputeClusterSpec:
    return ComputeClusterSpec.model_validate(
        {"owner": "alice", "engine": "flink", "headOnDemand": True, **fields}
    )


def test_without_head_on_demand_the_head_always_runs():
    decision = decide_head(spec(headOnDemand=False), Activity(0), 0, False, {}, NOW)
    assert decision.run and decision.memo == {}


def test_a_kernel_of_the_engine_starts_the_head_and_dates_the_need():
    decision = decide_head(spec(), Activity(kernels=2, busy=1), 0, False, {}, NOW)
    assert decision.run
    assert decision.memo == {NEEDED_AT: NOW}
    assert decision.reason == "Flink JobManager runs: 2 Flink kernels are open"


def test_the_need_is_redated_only_once_a_step_has_passed():
    memo = {NEEDED_AT: NOW - 10}
    assert decide_head(spec(), Activity(1), 0, True, memo, NOW).memo == memo
    assert decide_head(spec(), Activity(1), 0, True, {NEEDED_AT: NOW - 31}, NOW).memo == {
        NEEDED_AT: NOW
    }


def test_no_kernel_keeps_the_head_through_the_idle_window_then_stops_it():
    memo = {NEEDED_AT: NOW - 100}
    kept = decide_head(spec(idleTimeoutSeconds=600), Activity(0), 0, True, memo, NOW)
    stopped = decide_head(spec(idleTimeoutSeconds=60), Activity(0), 0, True, memo, NOW)
    assert kept.run and not stopped.run
    # a restarted controller has not seen the head yet: inside the window it still runs
    assert decide_head(spec(idleTimeoutSeconds=600), Activity(0), 0, False, memo, NOW).run
    assert "no Flink kernel" in stopped.reason and stopped.memo == memo


def test_workers_or_min_workers_keep_the_head_whatever_the_activity():
    assert decide_head(spec(), Activity(0), 1, True, {}, NOW).run
    assert decide_head(spec(minWorkers=1), None, 0, False, {}, NOW).run


def test_a_missing_reading_neither_starts_nor_stops_the_head_within_the_grace():
    assert decide_head(spec(), None, 0, True, {}, NOW).run
    waiting = decide_head(spec(), None, 0, False, {}, NOW)
    assert not waiting.run and waiting.memo == {UNREAD_SINCE: NOW}
    assert not decide_head(spec(), None, 0, False, waiting.memo, NOW + 59).run


def test_a_server_that_never_publishes_gets_its_head_after_the_grace():
    decision = decide_head(spec(), None, 0, False, {UNREAD_SINCE: NOW - 60}, NOW)
    assert decision.run and "no activity reading from the notebook server for 60 s" in (
        decision.reason
    )
    assert UNREAD_SINCE not in decide_head(spec(), Activity(0), 0, True, decision.memo, NOW).memo


def test_a_fresh_cluster_with_no_kernel_has_no_head():
    decision = decide_head(spec(engine="spark"), Activity(0), 0, False, {}, NOW)
    assert not decision.run
    assert decision.reason.startswith("Spark master stopped: no Spark kernel")
