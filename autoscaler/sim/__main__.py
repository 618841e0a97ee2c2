"""``python -m autoscaler.sim``: replay a trace (or generate a day) under every policy."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from autoscaler.readers.prometheus import PrometheusClient, PrometheusError
from autoscaler.sim.compare import compare
from autoscaler.sim.engine import SimConfig
from autoscaler.sim.from_prometheus import DEFAULT_STEP_S, parse_duration_s, reconstruct
from autoscaler.sim.generator import TeamDay, generate
from autoscaler.sim.output import comparison_json, describe_run, write_json
from autoscaler.sim.profiles import PROFILES
from autoscaler.sim.trace import Event, FlinkJob, SparkJob, TraceError, dump_trace, load_trace


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m autoscaler.sim",
        description="Replay a team's trace under hubscale's policy and the common baselines.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--trace", help="JSON Lines trace to replay")
    source.add_argument("--generate", metavar="OUT", help="write a generated day to OUT and run it")
    source.add_argument(
        "--from-prometheus",
        metavar="URL",
        help="rebuild the trace from the platform's Prometheus (e.g. http://127.0.0.1:9090)",
    )
    parser.add_argument(
        "--since", default="7d", help="with --from-prometheus: how far back (30m, 12h, 7d)"
    )
    parser.add_argument(
        "--step",
        default=f"{DEFAULT_STEP_S:g}s",
        help="with --from-prometheus: sample every STEP (at least the scrape interval)",
    )
    parser.add_argument(
        "--trace-out", metavar="OUT", help="with --from-prometheus: also write the rebuilt trace"
    )
    parser.add_argument("--users", type=int, default=TeamDay.users, help="generated users")
    parser.add_argument("--hours", type=float, default=TeamDay.hours, help="generated day length")
    parser.add_argument("--seed", type=int, default=TeamDay.seed, help="generator seed")
    parser.add_argument(
        "--worker-start-s",
        type=float,
        default=None,
        help="a fixed worker start (asked -> runs tasks) instead of the profile's",
    )
    parser.add_argument(
        "--profile", choices=sorted(PROFILES), default=SimConfig.profile, help="start latencies"
    )
    parser.add_argument("--max-workers", type=int, default=SimConfig.max_workers)
    parser.add_argument(
        "--node-cores", type=int, default=SimConfig.node_cores, help="cores per node of the pool"
    )
    parser.add_argument("--budget-cores", type=int, default=None, help="global core budget")
    parser.add_argument(
        "--user-budget-cores", type=int, default=None, help="each user's core budget"
    )
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.generate:
        day = TeamDay(users=args.users, hours=args.hours, seed=args.seed)
        events = generate(day)
        dump_trace(events, args.generate)
        trace = {"users": day.users, "hours": day.hours, "seed": day.seed, "file": args.generate}
    elif args.from_prometheus:
        try:
            events, trace = from_prometheus(args.from_prometheus, args.since, args.step)
        except (ValueError, PrometheusError) as error:
            print(f"cannot rebuild a trace from Prometheus: {error}", file=sys.stderr)
            return 2
        if not any(isinstance(event, SparkJob | FlinkJob) for event in events):
            print(f"no Spark job nor Flink stream in the last {args.since}", file=sys.stderr)
            return 1
        if args.trace_out:
            dump_trace(events, args.trace_out)
    else:
        try:
            events = load_trace(args.trace)
        except (OSError, TraceError) as error:
            print(f"{args.trace}: {error}", file=sys.stderr)
            return 2
        trace = {"file": args.trace, "users": len({event.user for event in events})}
    try:
        config = SimConfig(
            profile=args.profile,
            worker_start_s=args.worker_start_s,
            max_workers=args.max_workers,
            node_cores=args.node_cores,
            budget_cores=args.budget_cores,
            user_budget_cores=args.user_budget_cores,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    comparison = compare(events, config, progress=sys.stderr)
    print(describe_run(comparison, config))
    if args.json:
        write_json(comparison_json(comparison, config, trace), args.json)
    return 0


def from_prometheus(url: str, since: str, step: str) -> tuple[list[Event], dict[str, object]]:
    """The trace of the last ``since`` and what the JSON says about it; prints the counts."""
    since_s, step_s = parse_duration_s(since), parse_duration_s(step)
    end = time.time()

    async def read():
        async with PrometheusClient(url, timeout_s=60.0) as prometheus:
            return await reconstruct(prometheus, end - since_s, end, step_s)

    rebuilt = asyncio.run(read())
    print(rebuilt.describe())
    trace = {  # not the URL: it may carry credentials
        "source": "prometheus",
        "since": since,
        "step_s": step_s,
        "start": rebuilt.start,
        "users": len({event.user for event in rebuilt.events}),
    }
    return rebuilt.events, trace


if __name__ == "__main__":
    sys.exit(main())
