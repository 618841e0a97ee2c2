"""Per-user budgets across engines and servers, with the global budget after them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from autoscaler.policy.budget import cap_decisions
from autoscaler.policy.decision import Decision
from autoscaler.policy.signals import WorkerLoad
from autoscaler.policy.user_budget import cap_user_decisions, user_budgets
from hubscale.spec import ComputeClusterSpec


def spec(owner: str, engine: str = "spark", cores: int = 1, budget: int | None = None, **kw):
    return ComputeClusterSpec(
        owner=owner,
        engine=engine,
        worker={"cores": cores},
        user_budget_cores=budget,
        **kw,
    )


def never_asked(key):
    raise AssertionError(f"workers of {key} asked, yet it was not capped")


def test_a_users_budget_is_the_smallest_their_clusters_say_and_absent_without_one():
    specs = {
        "a-spark": spec("alice", budget=16),
        "a-flink": spec("alice", "flink", budget=8),
        "a-named": spec("alice", server="big"),  # no budget on this one: the others' still binds
        "b-spark": spec("bob"),
    }

    assert user_budgets(specs) == {"alice": 8}


def test_without_budgets_every_decision_stands_and_no_worker_is_looked_at():
    decisions = {"a": Decision(8, "eight", "backlog")}

    assert cap_user_decisions(decisions, {"a": spec("alice")}, never_asked) == decisions


def test_a_budget_spans_engines_and_servers_and_the_cap_is_said_in_the_users_words():
    specs = {
        "a-spark": spec("alice", cores=2, budget=16),  # wants 6 x 2 = 12 cores
        "a-flink": spec("alice", "flink", cores=2, budget=16),  # wants 6 x 2 = 12 cores
        "a-big-spark": spec("alice", server="big", cores=4, budget=16),  # wants 0
        "b-spark": spec("bob", cores=2),  # no budget: untouched
    }
    decisions = {
        "a-spark": Decision(6, "6 executors needed", "backlog"),
        "a-flink": Decision(6, "6 slots needed", "backlog"),
        "a-big-spark": Decision(0, "idle", "idle"),
        "b-spark": Decision(9, "9 executors needed", "backlog"),
    }
    loads = tuple(WorkerLoad(f"w{i}", float(i != 2)) for i in range(6))

    capped = cap_user_decisions(decisions, specs, lambda key: loads)

    assert {key: d.target for key, d in capped.items()} == {
        "a-spark": 4,  # 16 cores max-min fair: 8 and 8
        "a-flink": 4,
        "a-big-spark": 0,
        "b-spark": 9,
    }
    assert capped["a-spark"].reason == (
        "6 executors needed (capped at 4: at your budget of 16 cores)"
    )
    assert capped["a-spark"].cause == "bounds"
    assert capped["a-spark"].victims[0] == "w2"  # the idle worker goes first
    assert capped["b-spark"] == decisions["b-spark"]


def test_minimum_workers_stay_even_past_a_users_budget():
    specs = {"a": spec("alice", cores=4, budget=2, min_workers=1)}

    capped = cap_user_decisions({"a": Decision(3, "three", "backlog")}, specs, lambda key: ())

    assert capped["a"].target == 1


def test_the_global_budget_still_shares_fairly_after_the_users_budgets():
    specs = {"a": spec("alice", budget=3), "b": spec("bob"), "c": spec("carol")}
    decisions = {key: Decision(10, "ten", "backlog") for key in specs}

    mine = cap_user_decisions(decisions, specs, lambda key: ())
    both = cap_decisions(mine, specs, 9, lambda key: ())

    # alice's own budget leaves her 3; the global 9 gives bob and carol the other 6 fairly.
    assert {key: d.target for key, d in both.items()} == {"a": 3, "b": 3, "c": 3}
    assert "at your budget of 3 cores" in both["a"].reason


users = st.sampled_from(["alice", "bob", "carol"])
clusters = st.lists(
    st.tuples(
        users,
        st.integers(0, 20),  # wanted
        st.integers(0, 2),  # minWorkers
        st.integers(1, 4),  # cores per worker
        st.none() | st.integers(1, 40),  # the spec's budget
    ),
    max_size=8,
)


@given(clusters)
def test_each_user_holds_at_most_their_budget_or_their_minimums_and_never_more_than_wanted(items):
    specs, decisions = {}, {}
    for index, (owner, wanted, minimum, cores, budget) in enumerate(items):
        key = f"c{index}"
        specs[key] = spec(owner, cores=cores, budget=budget, min_workers=minimum, max_workers=40)
        decisions[key] = Decision(max(wanted, minimum), "wish", "backlog")

    capped = cap_user_decisions(decisions, specs, lambda key: ())

    budgets = user_budgets(specs)
    for key, decision in capped.items():
        assert specs[key].min_workers <= decision.target <= decisions[key].target
        if specs[key].owner not in budgets:
            assert decision == decisions[key]
    for owner, budget in budgets.items():
        mine = [key for key in specs if specs[key].owner == owner]
        held = sum(capped[key].target * specs[key].worker.cores for key in mine)
        floor = sum(specs[key].min_workers * specs[key].worker.cores for key in mine)
        assert held <= max(budget, floor)
