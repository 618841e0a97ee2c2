"""``python -m benchmarks.policies`` (``make bench``): a team's day under every policy, and the
controller's own cost.

For each start profile (local and kubernetes by default; all runs share one pool of processes)
prints the settings and one row per policy (held core-hours and their ratio to the oracle, job
slowdowns and added waits, stream lag, scale events), then how long one decision pass over 1,000
clusters and one budget split over 1,000 users take here; writes it all to
bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

from autoscaler.policy.budget import Claim, cap_targets
from autoscaler.policy.decision import ClusterState
from autoscaler.policy.hubscale import DEFAULT_POLICY
from autoscaler.policy.signals import FlinkSignal, SparkSignal, WorkerLoad
from autoscaler.sim.compare import Comparison, compare_profiles
from autoscaler.sim.engine import SimConfig
from autoscaler.sim.generator import TeamDay, generate
from autoscaler.sim.output import comparison_json, describe_run, write_json
from autoscaler.sim.profiles import PROFILES
from hubscale.spec import ComputeClusterSpec

RESULTS = Path("bench/results/latest.json")
DECIDE_TARGET_MS = 50.0
HELD_TARGET_RATIO = 1.10
SLOWDOWN_TARGET = 1.15
DEFAULT_PROFILES = ("local", "kubernetes")


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """Fastest of ``repeats`` runs, in milliseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def decide_inputs(clusters: int) -> list[tuple]:
    """A mix of clusters: Spark with backlog, shrinking and idle; Flink running and waiting."""
    inputs = []
    for i in range(clusters):
        engine = "spark" if i % 3 else "flink"
        spec = ComputeClusterSpec(owner=f"user{i}", engine=engine, maxWorkers=8)
        workers = tuple(WorkerLoad(f"w{j}", float(j % 2), True) for j in range(i % 8))
        now = 10_000.0 + i
        if engine == "spark":
            signal = SparkSignal(
                now - 3, needed_executors=float(i % 11), waiting_apps=0.0, workers=workers
            )
        else:
            signal = FlinkSignal(
                now - 3,
                slots_required=8.0,
                running_jobs=1.0,
                input_rate=1000.0 + i,
                processing_rate=900.0,
                busy_ratio=0.6,
                backlog_records=float(i % 5) * 100,
                parallelism=float(i % 8 + 1),
                workers=workers,
            )
        memo = {"lastActive": now - (i % 200), "pauses": (30.0, 45.0, 600.0)}
        inputs.append((spec, signal, ClusterState(len(workers), len(workers), now - 60, memo), now))
    return inputs


def controller_bench() -> dict[str, float]:
    inputs = decide_inputs(1000)
    decide_ms = best_of(5, lambda: [DEFAULT_POLICY.decide(*args) for args in inputs])
    claims = [
        Claim(f"c{i}-{engine}", f"user{i}", (i * 7) % 9, i % 2, 1 + i % 2)
        for i in range(1000)
        for engine in ("spark", "flink")
    ]
    budget = sum(c.wanted * c.worker_cores for c in claims) // 2
    budget_ms = best_of(5, lambda: cap_targets(claims, budget))
    return {"decide_1000_clusters_ms": decide_ms, "budget_split_1000_users_ms": budget_ms}


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.policies", description=__doc__)
    parser.add_argument("--users", type=int, default=TeamDay.users)
    parser.add_argument("--hours", type=float, default=TeamDay.hours)
    parser.add_argument("--seed", type=int, default=TeamDay.seed)
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument(
        "--profile",
        action="append",
        choices=sorted(PROFILES),
        help="start latencies; repeat for several (default: local and kubernetes)",
    )
    parser.add_argument(
        "--node-cores", type=int, default=SimConfig.node_cores, help="cores per node of the pool"
    )
    args = parser.parse_args(argv)
    args.profile = list(dict.fromkeys(args.profile or DEFAULT_PROFILES))
    if args.node_cores < 1:
        parser.error(f"--node-cores: must be at least 1, got {args.node_cores}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    day = TeamDay(users=args.users, hours=args.hours, seed=args.seed)
    configs = [SimConfig(profile=profile, node_cores=args.node_cores) for profile in args.profile]
    started = time.perf_counter()
    events = generate(day)
    comparisons = compare_profiles(events, configs, progress=sys.stderr)
    simulated_s = time.perf_counter() - started
    print(f"trace: {day.users} users, {day.hours:g} h, seed {day.seed}, {len(events)} events")
    trace = {"users": day.users, "hours": day.hours, "seed": day.seed}
    runs = []
    for config, comparison in zip(configs, comparisons, strict=True):
        print(f"\n== {config.profile} profile ==")
        print(describe_run(comparison, config))
        print_verdicts(comparison)
        runs.append(comparison_json(comparison, config, trace))
    print(f"\n(simulated {len(configs)} profile(s) in {simulated_s:.0f} s)")

    controller = controller_bench()
    print(
        f"\ncontroller: decide over 1,000 clusters {controller['decide_1000_clusters_ms']:.1f} ms"
        f" (target <= {DECIDE_TARGET_MS:g} ms:"
        f" {verdict(controller['decide_1000_clusters_ms'] <= DECIDE_TARGET_MS)}),"
        f" budget split over 1,000 users {controller['budget_split_1000_users_ms']:.1f} ms"
    )
    # The first profile's figures stay at the top level (the file's shape before profiles);
    # "runs" has one entry per profile, each with its trace's "profile".
    data = {**runs[0], "runs": runs, "simulated_s": simulated_s, "controller": controller}
    write_json(data, args.out)
    print(f"written: {args.out}")
    return 0


def print_verdicts(comparison: Comparison) -> None:
    """hubscale against its own target and against each peer row."""
    rows = {row.name: row for row in comparison.rows}
    hub = rows["hubscale"]
    held_ok = hub.oracle_ratio <= HELD_TARGET_RATIO and hub.p95_slowdown <= SLOWDOWN_TARGET
    print(
        f"\ntarget: hubscale held <= {HELD_TARGET_RATIO} x oracle at p95 slowdown <="
        f" {SLOWDOWN_TARGET}: {hub.oracle_ratio:.2f} x, p95 {hub.p95_slowdown:.2f}:"
        f" {verdict(held_ok)}"
    )
    for row in comparison.rows:
        if row.name in ("hubscale", "oracle", "static"):
            continue
        better = hub.held_core_hours < row.held_core_hours
        no_slower = hub.p95_slowdown <= row.p95_slowdown or math.isclose(
            hub.p95_slowdown, row.p95_slowdown
        )
        print(
            f"  vs {row.name}: held {hub.held_core_hours / row.held_core_hours:.2f} x,"
            f" p95 slowdown {hub.p95_slowdown:.2f} vs {row.p95_slowdown:.2f}:"
            f" {verdict(better and no_slower)}"
        )


if __name__ == "__main__":
    sys.exit(main())
