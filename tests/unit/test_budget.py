"""The global budget: minimums first, then max-min fairness across users."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from autoscaler.policy.budget import (
    Claim,
    cap_decisions,
    cap_targets,
    max_min_shares,
    user_allowances,
)
from autoscaler.policy.decision import Decision
from autoscaler.policy.signals import WorkerLoad
from hubscale.spec import ComputeClusterSpec


def test_small_demands_are_met_and_the_rest_shared_evenly():
    shares = max_min_shares({"a": 2, "b": 10, "c": 10}, 12)
    assert shares == {"a": 2, "b": 5, "c": 5}


def test_rounding_leftovers_go_to_unmet_demands_in_name_order():
    assert max_min_shares({"b": 10, "a": 10, "c": 10}, 11) == {"a": 4, "b": 4, "c": 3}


def test_no_budget_means_everyone_gets_what_they_want():
    claims = [Claim("c1", "alice", 8, 0, 1), Claim("c2", "bob", 3, 0, 2)]
    assert cap_targets(claims, None) == {"c1": 8, "c2": 3}


def test_minimums_come_before_anyone_elses_extra():
    claims = [Claim("a-spark", "alice", 8, 2, 1), Claim("b-spark", "bob", 8, 0, 1)]
    # 6 cores: alice keeps her 2 minimum, then 4 are split max-min: 2 each over wishes 6 and 8.
    assert user_allowances(claims, 6) == {"alice": 4, "bob": 2}
    assert cap_targets(claims, 6) == {"a-spark": 4, "b-spark": 2}


def test_a_users_allowance_is_split_over_their_clusters_in_whole_workers():
    claims = [Claim("spark", "alice", 4, 0, 2), Claim("flink", "alice", 4, 0, 1)]
    targets = cap_targets(claims, 6)
    assert targets["spark"] * 2 + targets["flink"] <= 6
    assert targets == {"spark": 1, "flink": 3}


def spark(owner: str, **fields) -> ComputeClusterSpec:
    return ComputeClusterSpec(owner=owner, engine="spark", **fields)


def never_asked(key):
    raise AssertionError(f"workers of {key} asked although it is not capped")


def test_without_a_budget_every_decision_stands_and_no_worker_is_looked_at():
    decisions = {"a": Decision(8, "eight", "backlog"), "b": Decision(2, "two", "steady")}
    specs = {"a": spark("alice"), "b": spark("bob")}
    assert cap_decisions(decisions, specs, None, never_asked) == decisions


def test_a_capped_decision_says_so_and_removes_idle_workers_first():
    decisions = {"a": Decision(4, "4 executors needed", "backlog"), "b": Decision(1, "1", "steady")}
    specs = {"a": spark("alice"), "b": spark("bob")}
    loads = (
        WorkerLoad("w0", 1.0),
        WorkerLoad("w1", 0.0),
        WorkerLoad("w2", 1.0),
        WorkerLoad("w3", 1.0),
    )

    capped = cap_decisions(
        decisions, specs, 4, lambda key: loads if key == "a" else never_asked(key)
    )

    assert capped["b"] == decisions["b"]
    assert (capped["a"].target, capped["a"].cause, capped["a"].victims) == (3, "bounds", ("w1",))
    assert capped["a"].reason == (
        "4 executors needed (capped at 3: budget of 4 cores shared between users)"
    )


def test_the_simulators_keys_are_capped_like_the_controllers_names():
    decisions = {
        ("alice", "spark"): Decision(6, "six", "backlog"),
        ("bob", "flink"): Decision(6, "six", "backlog"),
    }
    specs = {("alice", "spark"): spark("alice"), ("bob", "flink"): spark("bob")}
    capped = cap_decisions(decisions, specs, 6, lambda key: ())
    assert {key: d.target for key, d in capped.items()} == {
        ("alice", "spark"): 3,
        ("bob", "flink"): 3,
    }


claims_strategy = st.lists(
    st.builds(
        Claim,
        cluster=st.uuids().map(str),
        user=st.sampled_from(["a", "b", "c", "d", "e"]),
        wanted=st.integers(0, 20),
        minimum=st.integers(0, 3),
        worker_cores=st.integers(1, 4),
    ),
    max_size=12,
    unique_by=lambda c: c.cluster,
).map(lambda cs: [Claim(c.cluster, c.user, max(c.wanted, c.minimum), *_rest(c)) for c in cs])


def _rest(claim: Claim) -> tuple[int, int]:
    return claim.minimum, claim.worker_cores


@given(claims_strategy, st.integers(0, 200))
def test_targets_stay_within_wishes_minimums_and_the_budget(claims, budget):
    targets = cap_targets(claims, budget)
    for claim in claims:
        assert claim.minimum <= targets[claim.cluster] <= claim.wanted
    minimums = sum(c.minimum * c.worker_cores for c in claims)
    used = sum(targets[c.cluster] * c.worker_cores for c in claims)
    assert used <= max(budget, minimums)


@given(st.dictionaries(st.text(max_size=3), st.integers(0, 50), max_size=10), st.integers(0, 300))
def test_max_min_is_fair_and_uses_the_capacity(demands, capacity):
    shares = max_min_shares(demands, capacity)
    assert sum(shares.values()) == min(capacity, sum(demands.values()))
    for name, share in shares.items():
        assert share <= demands[name]
        if share < demands[name]:  # unmet: nobody else got more than one unit above it
            assert all(other <= share + 1 for other in shares.values())
