"""The hold rule around every policy: no signal, no scale-down; the controller's and the
simulator's shared way to decide (autoscaler.policy.hold)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from autoscaler.policy.decision import ClusterState, Decision
from autoscaler.policy.hold import decide_or_hold, hold
from autoscaler.policy.hubscale import HubscalePolicy
from autoscaler.policy.signals import SparkSignal
from tests.builders import cluster_spec as spec

NOW = 100_000.0


def test_a_hold_keeps_the_workers_that_run_and_restores_the_dead_ones():
    assert hold(spec(), ClusterState(workers=3, desired=2), "down").target == 3
    restored = hold(spec(), ClusterState(workers=1, desired=2, memo={"lowPeak": 1.0}), "down")
    assert (restored.target, restored.cause, restored.memo) == (
        2,
        "metrics-missing",
        {"lowPeak": 1.0},
    )
    assert restored.reason == "down: holding at 2, no scale-down without metrics"


def test_a_hold_still_obeys_the_specs_bounds():
    assert hold(spec(maxWorkers=2), ClusterState(workers=5, desired=5), "down").target == 2
    assert hold(spec(minWorkers=1), ClusterState(workers=0, desired=0), "down").target == 1


class Asked:
    """A policy that records being asked and always wants 4 workers."""

    name = "asked"
    interval_s = 1.0

    def __init__(self) -> None:
        self.asked = 0

    def decide(self, spec, signal, state, now) -> Decision:
        self.asked += 1
        return Decision(4, "four", "backlog")


def test_without_a_signal_no_policy_is_asked():
    policy = Asked()
    decision = decide_or_hold(policy, spec(), None, ClusterState(2, 2), NOW, "Prometheus down")
    assert policy.asked == 0
    assert decision.target == 2 and decision.reason.startswith("Prometheus down: holding at 2")


def test_a_problem_with_this_cluster_leads_the_policys_reason():
    policy = Asked()
    signal = SparkSignal(NOW, needed_executors=4.0, waiting_apps=0.0)
    assert decide_or_hold(policy, spec(), signal, ClusterState(2, 2), NOW).reason == "four"
    flagged = decide_or_hold(policy, spec(), signal, ClusterState(2, 2), NOW, "JobManager silent")
    assert (flagged.target, flagged.reason) == (4, "JobManager silent: four")


@given(st.integers(0, 5), st.integers(0, 12), st.integers(0, 15), st.integers(0, 15))
def test_a_hold_never_shrinks_below_what_runs_or_was_wanted_within_bounds(
    low, high, workers, desired
):
    bounds = spec(minWorkers=low, maxWorkers=max(low, high))
    target = decide_or_hold(
        HubscalePolicy(), bounds, None, ClusterState(workers, desired), NOW
    ).target
    assert target == max(low, min(max(low, high), max(workers, desired)))
