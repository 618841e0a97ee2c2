"""Start latencies from measurements, and the drivers' executorIdleTimeout, in the simulator."""

from __future__ import annotations

import json

import pytest

from autoscaler.sim.__main__ import main
from autoscaler.sim.engine import SimConfig, simulate
from autoscaler.sim.profiles import LOCAL_EXECUTOR_S, LOCAL_WORKER_JVM_S, PROFILES
from autoscaler.sim.trace import SparkJob, Stage
from tests.builders import FixedPolicy


def test_local_profile_is_the_measured_worker_jvm_plus_executor_start():
    local = PROFILES["local"]
    assert local.worker_start_s == pytest.approx((5.0, 6.1, 5.7))
    assert local.worker_start_s == pytest.approx(
        tuple(a + b for a, b in zip(LOCAL_WORKER_JVM_S, LOCAL_EXECUTOR_S, strict=True))
    )
    assert "benchmarks.local_backend" in local.source


def test_kubernetes_profile_adds_pod_start_and_documents_node_and_image_delays():
    kube, local = PROFILES["kubernetes"], PROFILES["local"]
    assert all(k > lo for k, lo in zip(kube.worker_start_s, local.worker_start_s, strict=True))
    assert kube.node_provision_s and kube.image_pull_s and "SLO" in kube.source


def test_workers_start_after_the_profiles_samples_in_turn():
    # 3 one-task jobs on 3 workers asked at 0: each runs once its worker is up.
    events = [SparkJob(0.0, "alice", f"j{i}", (Stage(1, 10.0),)) for i in range(3)]
    result = simulate(FixedPolicy(3, interval_s=1.0), events, SimConfig(profile="local"))
    finished = sorted(result.completions.values())
    assert finished == pytest.approx([15.0, 15.7, 16.1])


def test_a_warm_worker_idle_past_executor_idle_timeout_waits_for_a_new_executor():
    events = [
        SparkJob(0.0, "alice", "first", (Stage(1, 10.0),)),
        SparkJob(100.0, "alice", "later", (Stage(1, 10.0),)),  # 85 s idle > 60 s
    ]
    config = SimConfig(worker_start_s=5.0)
    result = simulate(FixedPolicy(1, interval_s=1.0), events, config)
    assert result.completions[("alice", "later")] == pytest.approx(10.0 + LOCAL_EXECUTOR_S[0])
    assert result.cold_jobs == 2
    kept = simulate(
        FixedPolicy(1, interval_s=1.0),
        events,
        SimConfig(worker_start_s=5.0, executor_idle_timeout_s=120.0),
    )
    assert kept.completions[("alice", "later")] == 10.0 and kept.cold_jobs == 1


def test_each_trace_result_says_its_profile(tmp_path):
    trace = tmp_path / "t.jsonl"
    trace.write_text(
        '{"t": 0, "user": "a", "engine": "spark", "job": "j", "stages": '
        '[{"tasks": 1, "task_seconds": 1}]}\n'
    )
    out = tmp_path / "out.json"
    assert main(["--trace", str(trace), "--profile", "kubernetes", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["trace"]["profile"] == "kubernetes"
