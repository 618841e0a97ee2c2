"""The peer stacks: each engine to its own system's autoscaler, every default with its source."""

from __future__ import annotations

from dataclasses import fields

import pytest

from autoscaler.policy.decision import ClusterState
from autoscaler.policy.signals import FlinkSignal, SparkSignal
from autoscaler.sim.baselines import KedaHpaPolicy
from autoscaler.sim.compare import all_policies, compare
from autoscaler.sim.engine import SimConfig
from autoscaler.sim.stacks import dask_adaptive_with_flink_operator, spark_da_with_flink_operator
from autoscaler.sim.trace import FlinkJob, SparkJob, Stage
from tests.builders import cluster_spec

STACKS = [spark_da_with_flink_operator(), dask_adaptive_with_flink_operator()]


def test_the_bench_rows_are_hubscale_static_and_the_peer_stacks():
    names = [policy.name for policy in all_policies()]
    assert sorted(names) == sorted(
        [
            "hubscale",
            "static",
            "spark-da+flink-operator",
            "dask-adaptive+flink-operator",
            "keda-hpa",
        ]
    )


@pytest.mark.parametrize("stack", STACKS, ids=lambda stack: stack.name)
def test_a_stack_scales_flink_by_the_operator_at_its_60_s_reconcile_interval(stack):
    assert stack.interval_for("flink") == 60.0 and stack.interval_for("spark") == 1.0
    # A running stream at parallelism 8: the operator waits for stabilization, it does not
    # follow the declared parallelism like a Spark-only baseline's fixed-parallelism fallback.
    signal = FlinkSignal(
        0.0,
        slots_required=8.0,
        running_jobs=1.0,
        input_rate=100.0,
        processing_rate=100.0,
        busy_ratio=0.1,
        parallelism=8.0,
        backlog_records=0.0,
        slots_per_worker=1,
    )
    decision = stack.decide(cluster_spec("flink"), signal, ClusterState(8, 8), 0.0)
    assert decision.cause == "stabilizing"


@pytest.mark.parametrize("stack", STACKS, ids=lambda stack: stack.name)
def test_a_stack_scales_spark_by_its_spark_policy(stack):
    signal = SparkSignal(0.0, running_tasks=0.0, pending_tasks=4.0, queued_work_s=40.0)
    ours = stack.decide(cluster_spec(), signal, ClusterState(0, 0), 5.0)
    alone = stack.spark.decide(cluster_spec(), signal, ClusterState(0, 0), 5.0)
    assert ours == alone


def _options(policy: object) -> list:
    """Every documented option of a policy and of the policies it is built from."""
    found = []
    for option in fields(policy):  # type: ignore[arg-type]
        value = getattr(policy, option.name)
        if option.name in ("spark", "flink", "idle") and hasattr(value, "__dataclass_fields__"):
            found += _options(value)
        elif "key" in option.metadata and option.metadata["key"] != "interval":
            found.append((type(policy).__name__, option))
    return found


@pytest.mark.parametrize("policy", [*STACKS, KedaHpaPolicy()], ids=lambda p: p.name)
def test_every_default_of_a_peer_stack_cites_its_documentation(policy):
    uncited = [
        f"{owner}.{option.name}"
        for owner, option in _options(policy)
        if not option.metadata.get("source", "").startswith(("https://", "no documented"))
    ]
    assert not uncited


def test_keda_activates_from_zero_only_at_its_30_s_polls():
    keda = KedaHpaPolicy()
    signal = SparkSignal(0.0, running_tasks=0.0, pending_tasks=4.0)
    spec, zero = cluster_spec(), ClusterState(0, 0)
    assert keda.decide(spec, signal, zero, 45.0).target == 0  # an HPA sync between polls
    assert keda.decide(spec, signal, zero, 60.0).target >= 1  # KEDA's poll


def test_the_bench_prints_each_stacks_defaults():
    events = [
        SparkJob(0.0, "alice", "j", (Stage(2, 5.0),)),
        FlinkJob(0.0, "bob", "s", 2, 1000.0, ((0.0, 100.0), (60.0, 100.0))),
    ]
    comparison = compare(events, SimConfig(), processes=1)
    described = comparison.descriptions["spark-da+flink-operator"]
    assert "executorIdleTimeout=60 s" in described and "metrics.window=900 s" in described
    assert "stabilization.interval=300 s" in described and "reconcile.interval=60 s" in described
    assert "wait_count=3" in comparison.descriptions["dask-adaptive+flink-operator"]
    assert "pollingInterval=30 s" in comparison.descriptions["keda-hpa"]
