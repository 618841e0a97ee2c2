"""How long the usage service takes to draw its pages for a big team (no hub, no database):
My compute's chart over a full day (1,440 per-minute points, decisions marked) and the Team table.

    .venv/bin/python -m benchmarks.usage_pages [--users 1000] [--decisions 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.results import write_json
from usage.chart import render_chart
from usage.db import MINUTE_S, ClusterKey, Decision, Point
from usage.team import Sort, render_team

DAY_S = 86_400.0
NOW_S = 1_800_000_000.0
ROUNDS = 5


def median_ms(draw: Callable[[], bytes | str]) -> tuple[float, int]:
    """The median time of ``ROUNDS`` draws (ms) and the size of one (bytes)."""
    times, size = [], 0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        size = len(draw())
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), size


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.usage_pages", description=__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--decisions", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    since = NOW_S - DAY_S
    points = [Point(since + MINUTE_S * i, 8.0, float(i % 8)) for i in range(int(DAY_S / MINUTE_S))]
    key = ClusterKey("alice-spark", "alice", "", "spark")
    step = DAY_S / max(1, args.decisions)
    decisions = [
        Decision(since + step * i, key, i % 8, (i + 1) % 8, "policy", "3 executors needed")
        for i in range(args.decisions)
    ]
    hours = {"held": 1.0, "used": 0.5, "idle": 0.5, "unmeasured": 0.0}
    users = {f"user{i}": {"today": hours, "7d": hours, "30d": hours} for i in range(args.users)}

    chart_ms, chart_bytes = median_ms(lambda: render_chart(points, decisions, since, NOW_S))
    team_ms, team_bytes = median_ms(lambda: render_team("admin", users, Sort(), []))
    figures = {
        "chart": {"points": len(points), "decisions": args.decisions, "ms": round(chart_ms, 1),
                  "bytes": chart_bytes},
        "team": {"users": args.users, "ms": round(team_ms, 1), "bytes": team_bytes},
    }  # fmt: skip
    print(
        f"My compute chart ({len(points)} points, {args.decisions} decisions): "
        f"{chart_ms:.1f} ms, {chart_bytes / 1024:.0f} KiB\n"
        f"Team page ({args.users} users): {team_ms:.1f} ms, {team_bytes / 1024:.0f} KiB"
    )
    write_json(args.json, figures)


if __name__ == "__main__":
    main()
