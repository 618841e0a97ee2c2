"""The simulator: accounting on tiny hand-computed traces, determinism, and the CLI."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace

import pytest

from autoscaler.policy.hubscale import HubscalePolicy
from autoscaler.sim.__main__ import main
from autoscaler.sim.baselines import KedaHpaPolicy, StaticPolicy
from autoscaler.sim.compare import all_policies, compare, compare_profiles
from autoscaler.sim.engine import SimConfig, oracle, simulate
from autoscaler.sim.generator import TeamDay, generate
from autoscaler.sim.report import added_waits, slowdowns, summarize
from autoscaler.sim.trace import FlinkJob, Session, SparkJob, Stage, dump_trace
from benchmarks.policies import main as bench_main
from tests.builders import FixedPolicy

CONFIG = SimConfig(worker_start_s=10.0, flink_rescale_s=10.0, max_workers=8, lag_sample_s=5.0)


def test_spark_accounting_matches_a_hand_computed_schedule():
    # 2 workers asked at t=0, ready at 10; 4 tasks of 10 s run 10-20 and 20-30.
    events = [SparkJob(0.0, "alice", "j1", (Stage(4, 10.0),))]
    result = simulate(FixedPolicy(2), events, CONFIG)
    assert result.completions == {("alice", "j1"): 30.0}
    assert result.held_core_s == {"spark": 2 * 30.0}
    assert result.busy_core_s == 40.0
    assert (result.scale_ups, result.scale_downs) == (1, 0)


def test_a_users_budget_spans_their_engines_in_the_simulator_too():
    # alice wants 4 Spark workers and 4 TaskManagers; her budget of 4 cores gives 2 and 2.
    events = [
        SparkJob(0.0, "alice", "j1", (Stage(4, 10.0),)),
        FlinkJob(0.0, "alice", "s", 4, 1000.0, ((0.0, 4000.0), (30.0, 4000.0))),
    ]
    free = simulate(FixedPolicy(4), events, CONFIG)
    capped = simulate(FixedPolicy(4), events, replace(CONFIG, user_budget_cores=4))

    assert free.completions[("alice", "j1")] == 20.0  # 4 workers ready at 10, one wave
    assert capped.completions[("alice", "j1")] == 30.0  # 2 workers: two waves
    assert capped.held_core_s["spark"] < free.held_core_s["spark"]


def test_always_on_reference_and_oracle_for_the_same_job():
    events = [SparkJob(0.0, "alice", "j1", (Stage(4, 10.0),))]
    reference = simulate(FixedPolicy(8, name="static"), events, CONFIG)
    assert reference.completions == {("alice", "j1"): 10.0}  # warm: no start latency
    best = oracle(events, CONFIG, reference)
    assert best.held_core_s == {"spark": 40.0, "flink": 0.0}
    slow = simulate(FixedPolicy(2), events, CONFIG)
    assert slowdowns(slow, reference) == [3.0]
    row = summarize(slow, reference, best)
    assert row.oracle_ratio == pytest.approx(60 / 40)


def test_stages_run_one_after_another_and_jobs_share_cores_fifo():
    events = [
        SparkJob(0.0, "alice", "a", (Stage(3, 10.0), Stage(1, 5.0))),
        SparkJob(0.0, "alice", "b", (Stage(1, 10.0),)),
    ]
    result = simulate(FixedPolicy(3, name="static"), events, CONFIG)
    # a's 3 tasks take all cores 0-10, then its 1-task stage 10-15; b gets a core at 10-20.
    assert result.completions == {("alice", "a"): 15.0, ("alice", "b"): 20.0}


def test_flink_lag_builds_while_the_job_restarts_and_stays_without_headroom():
    # 2000 records/s for 100 s, 1000 per slot: 2 TMs ready at 10, job restarts until 20.
    job = FlinkJob(0.0, "bob", "s", 8, 1000.0, ((0.0, 2000.0), (100.0, 2000.0)))
    result = simulate(FixedPolicy(2), [job], CONFIG)
    assert result.held_core_s == {"flink": 2 * 100.0}
    assert result.lags[:4] == [5.0, 10.0, 15.0, 20.0]
    assert result.lags[4:] == [20.0] * (len(result.lags) - 4)
    assert len(result.lags) == 20


def test_flink_catches_up_with_headroom_and_oracle_holds_needed_slots():
    job = FlinkJob(0.0, "bob", "s", 8, 1000.0, ((0.0, 2000.0), (100.0, 2000.0)))
    result = simulate(FixedPolicy(4), [job], CONFIG)
    # backlog 40,000 at t=20, drained at 2,000/s net: gone by t=40.
    assert result.lags[3] == 20.0
    assert result.lags[7] == 0.0
    best = oracle([job], CONFIG, result)
    assert best.held_core_s["flink"] == pytest.approx(200.0)


def test_same_trace_same_result():
    events = generate(TeamDay(users=6, hours=2, seed=11))
    first = simulate(HubscalePolicy(), events, CONFIG)
    second = simulate(HubscalePolicy(), events, CONFIG)
    assert first == second
    assert first.completions  # the day had jobs, and all of them finished
    assert len(first.completions) == sum(isinstance(e, SparkJob) for e in events)


def test_hubscale_scales_a_cold_cluster_up_and_back_to_zero():
    events = [SparkJob(0.0, "alice", "j1", (Stage(16, 10.0),)), Session(300.0, "alice", "end")]
    result = simulate(HubscalePolicy(), events, CONFIG)
    # Up to 8 at once, ready at 10, two waves of 10 s: done at 30.
    assert result.completions[("alice", "j1")] == 30.0
    assert result.scale_ups == 1 and result.scale_downs == 1
    # Held: 8 cores from 0 until released after the default keep-warm following the job.
    assert 8 * 30 < result.held_core_s["spark"] <= 8 * (30 + 20 + 2 * 5)


def test_hubscale_sizes_a_flink_job_to_its_rate_not_its_declared_parallelism():
    """8 slots declared, 2 needed (2000 records/s, 1000 per slot): its restarts after each
    rescale (no throughput for 10 s) must not grow it back to 8."""
    job = FlinkJob(0.0, "bob", "s", 8, 1000.0, ((0.0, 2000.0), (1800.0, 2000.0)))
    result = simulate(HubscalePolicy(), [job], CONFIG)
    slots_held = result.held_core_s["flink"] / 1800.0
    assert slots_held < 4, f"held {slots_held:.1f} slots on average for a 2-slot stream"
    assert max(result.lags[-60:]) == 0.0  # and it keeps up once sized


def test_compare_reports_every_policy_against_static_and_oracle():
    events = generate(TeamDay(users=4, hours=1, seed=5))
    comparison = compare(events, CONFIG, processes=1)
    names = [row.name for row in comparison.rows]
    assert names[0] == "static" and names[-1] == "oracle" and "hubscale" in names
    rows = {row.name: row for row in comparison.rows}
    assert rows["static"].p95_slowdown == 1.0
    assert rows["oracle"].oracle_ratio == 1.0
    assert all(row.oracle_ratio >= 1.0 for row in comparison.rows)
    assert set(comparison.descriptions) == set(names)


def test_cli_replays_a_trace_and_writes_json(tmp_path, capsys):
    trace = tmp_path / "day.jsonl"
    dump_trace(generate(TeamDay(users=3, hours=1, seed=9)), trace)
    out = tmp_path / "out.json"
    assert main(["--trace", str(trace), "--worker-start-s", "5", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "hubscale" in printed and "oracle" in printed and "worker start 5 s" in printed
    data = json.loads(out.read_text())
    assert {p["name"] for p in data["policies"]} >= {"hubscale", "static", "oracle", "keda-hpa"}


def test_cli_names_the_bad_line_of_a_malformed_trace(tmp_path, capsys):
    trace = tmp_path / "bad.jsonl"
    trace.write_text('{"t": 0, "user": "a", "session": "start"}\n{"t": 1}\n')
    assert main(["--trace", str(trace)]) == 2
    assert "line 2: user: missing" in capsys.readouterr().err


@dataclass(frozen=True)
class PerEngine(FixedPolicy):
    """Fixed, asked every second for Spark and every 3 s for Flink."""

    def interval_for(self, engine: str) -> float:
        return 1.0 if engine == "spark" else 3.0


def test_a_policy_can_run_each_engine_at_its_own_pace():
    events = [
        SparkJob(0.0, "alice", "j1", (Stage(1, 1.0),)),
        FlinkJob(0.0, "bob", "s", 1, 1000.0, ((0.0, 10.0), (30.0, 10.0))),
    ]
    result = simulate(PerEngine(1), events, CONFIG)
    # 0..30 s: Spark asked at 31 ticks of 1 s, Flink at 11 ticks of 3 s.
    assert result.decisions == 31 + 11


def test_bench_prints_every_policy_and_writes_the_documented_json(tmp_path, capsys):
    out = tmp_path / "latest.json"
    assert bench_main(["--users", "3", "--hours", "1", "--seed", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "decide over 1,000 clusters" in printed and "target: hubscale" in printed
    data = json.loads(out.read_text())
    assert data["trace"] == {"users": 3, "hours": 1.0, "seed": 4, "profile": "local"}
    names = {policy["name"] for policy in data["policies"]}
    assert names == {
        "hubscale",
        "static",
        "spark-da+flink-operator",
        "dask-adaptive+flink-operator",
        "keda-hpa",
        "oracle",
    }
    for policy in data["policies"]:
        assert {
            "held_core_hours",
            "oracle_ratio",
            "p50_slowdown",
            "p95_slowdown",
            "p95_lag_s",
            "added_wait_p50_s",
            "added_wait_p95_s",
            "added_wait_p99_s",
            "cold_job_share",
            "held_node_hours",
            "node_oracle_ratio",
            "scale_events",
            "scale_downs_per_cluster_hour",
        } <= set(policy)
    assert set(data["controller"]) == {"decide_1000_clusters_ms", "budget_split_1000_users_ms"}
    assert all(value > 0 for value in data["controller"].values())


# A job, then a gap where nothing runs, then a job arriving after the last tick of the
# static policy's 60 s interval that falls within the day (the day ends at 130 s).
GAP_TRACE = [
    SparkJob(0.0, "alice", "first", (Stage(1, 10.0),)),
    SparkJob(130.0, "alice", "after-gap", (Stage(1, 10.0),)),
]


def test_the_static_reference_finishes_a_job_arriving_after_a_gap():
    result = simulate(StaticPolicy(), GAP_TRACE, CONFIG)
    assert result.completions == {("alice", "first"): 10.0, ("alice", "after-gap"): 10.0}


@pytest.mark.parametrize("policy", all_policies(), ids=lambda policy: policy.name)
def test_every_policy_finishes_every_job_of_a_trace_with_a_gap(policy):
    result = simulate(policy, GAP_TRACE, CONFIG)
    assert set(result.completions) == {("alice", "first"), ("alice", "after-gap")}
    assert all(math.isfinite(seconds) for seconds in result.completions.values())


def test_added_wait_and_cold_jobs_per_policy():
    # Two 1-task jobs of 10 s: the first finds no worker (asked at 0, ready at 10), the second
    # (at 60) finds the warm one; static runs both at once.
    events = [
        SparkJob(0.0, "alice", "cold", (Stage(1, 10.0),)),
        SparkJob(60.0, "alice", "warm", (Stage(1, 10.0),)),
    ]
    reference = simulate(FixedPolicy(1, name="static"), events, CONFIG)
    slow = simulate(FixedPolicy(1), events, CONFIG)
    assert added_waits(slow, reference) == [10.0, 0.0]
    assert (slow.arrived_jobs, slow.cold_jobs) == (2, 1)
    best = oracle(events, CONFIG, reference)
    rows = {row.name: row for row in (summarize(run, reference, best) for run in (slow, best))}
    assert rows["fixed"].cold_job_share == 0.5
    assert rows["fixed"].added_wait_p50_s == 5.0
    assert rows["fixed"].added_wait_p99_s == pytest.approx(9.9)
    assert rows["oracle"].cold_job_share == 0.0 and rows["oracle"].added_wait_p95_s == 0.0


def test_a_flink_job_arriving_to_no_free_slot_is_cold():
    streams = [
        FlinkJob(0.0, "bob", "a", 1, 1000.0, ((0.0, 10.0), (100.0, 10.0))),
        FlinkJob(50.0, "bob", "b", 1, 1000.0, ((0.0, 10.0), (100.0, 10.0))),
    ]
    result = simulate(FixedPolicy(1, name="static"), streams, CONFIG)  # one warm slot, taken by a
    assert (result.arrived_jobs, result.cold_jobs) == (2, 1)


def test_profiles_share_one_pool_and_each_gets_its_own_comparison():
    events = [SparkJob(0.0, "alice", "j1", (Stage(8, 10.0),))]
    local, kube = compare_profiles(
        events, [SimConfig(profile="local"), SimConfig(profile="kubernetes")], processes=2
    )
    rows = {row.name: row for row in local.rows}, {row.name: row for row in kube.rows}
    assert rows[0]["static"] == rows[1]["static"]  # always on: no start latency in either
    # On Kubernetes the cold job also waits for a node: the cluster-autoscaler's next scan
    # (10 s), provisioning (210 s), the image pull (45 s), then pod start on it (5 s).
    waited = rows[1]["hubscale"].added_wait_p50_s - rows[0]["hubscale"].added_wait_p50_s
    assert waited == pytest.approx(10 + 210 + 45 + 5)


def test_cli_rejects_a_node_smaller_than_a_worker(capsys):
    assert main(["--generate", "/dev/null", "--users", "1", "--node-cores", "0"]) == 2
    assert "node_cores (0) must hold a worker" in capsys.readouterr().err


def test_a_closed_loop_job_waits_for_the_one_before_under_the_policy_simulated():
    """b follows a with 5 s of thought: on one cold worker (ready at 10) a ends at 20, so b is
    submitted at 25 (not at its open-loop t of 15) and finds the worker warm."""
    events = [
        SparkJob(0.0, "alice", "a", (Stage(1, 10.0),)),
        SparkJob(15.0, "alice", "b", (Stage(1, 10.0),), after="a", think_s=5.0),
    ]
    reference = simulate(FixedPolicy(1, name="static"), events, CONFIG)
    assert reference.completions == {("alice", "a"): 10.0, ("alice", "b"): 10.0}
    cold = simulate(FixedPolicy(1), events, CONFIG)
    assert cold.completions == {("alice", "a"): 20.0, ("alice", "b"): 10.0}
    assert (cold.arrived_jobs, cold.cold_jobs) == (2, 1)
    assert cold.horizon_s == 35.0  # the run went on past the trace's last t until b finished


@dataclass(frozen=True)
class Recorded:
    """A policy whose every non-zero target is written down (the KEDA row, as simulated)."""

    inner: KedaHpaPolicy
    targets: list = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def interval_s(self) -> float:
        return self.inner.interval_s

    def decide(self, spec, signal, state, now):
        decision = self.inner.decide(spec, signal, state, now)
        if decision.target != state.desired:
            self.targets.append((now, decision.target))
        return decision


def test_the_keda_row_activates_to_one_then_the_hpa_grows_it_every_15_s():
    events = [SparkJob(0.0, "alice", "j", (Stage(16, 60.0),))]
    policy = Recorded(KedaHpaPolicy())
    simulate(policy, events, CONFIG)
    # KEDA's poll at 0 activates 0 -> 1; the HPA then at most doubles or adds 4 per sync.
    assert policy.targets[:3] == [(0.0, 1), (15.0, 5), (30.0, 8)]
