"""Figures per policy, from simulation runs: the table the bench prints and the JSON it writes."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass

from autoscaler.sim.engine import RunResult


@dataclass(frozen=True)
class PolicySummary:
    """One row of the comparison; slowdowns are relative to the always-on (static) run."""

    name: str
    held_core_hours: float
    spark_core_hours: float
    flink_core_hours: float
    oracle_ratio: float
    p50_slowdown: float
    p95_slowdown: float
    p95_lag_s: float
    added_wait_p50_s: float
    added_wait_p95_s: float
    added_wait_p99_s: float
    cold_job_share: float
    held_node_hours: float
    node_oracle_ratio: float
    nodes_added: int | None
    scale_events: int | None
    scale_downs_per_cluster_hour: float | None

    @property
    def added_waits(self) -> str:
        """Added wait p50 / p95 / p99 as one table cell."""
        waits = (self.added_wait_p50_s, self.added_wait_p95_s, self.added_wait_p99_s)
        return " / ".join(f"{wait:.1f}" for wait in waits)

    def to_json(self) -> dict:
        """JSON-ready: a figure that is not finite (no jobs of that kind) becomes null."""
        return {
            key: None if isinstance(value, float) and not math.isfinite(value) else value
            for key, value in asdict(self).items()
        }


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), interpolated; NaN for no values."""
    if not values:
        return math.nan
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def slowdowns(result: RunResult, reference: RunResult) -> list[float]:
    """Each Spark job's completion time over its time on the reference; inf if unfinished."""
    return [
        result.completions.get(key, math.inf) / reference_s
        for key, reference_s in reference.completions.items()
        if reference_s > 0
    ]


def added_waits(result: RunResult, reference: RunResult) -> list[float]:
    """Seconds each Spark job took beyond its time on the reference; inf if unfinished."""
    return [
        result.completions.get(key, math.inf) - reference_s
        for key, reference_s in reference.completions.items()
    ]


def summarize(result: RunResult, reference: RunResult, oracle: RunResult) -> PolicySummary:
    held = sum(result.held_core_s.values())
    downs = result.scale_downs
    cluster_hours = result.clusters * result.horizon_s / 3600
    per_job = slowdowns(result, reference)
    waits = added_waits(result, reference)
    return PolicySummary(
        name=result.policy,
        held_core_hours=held / 3600,
        spark_core_hours=result.held_core_s.get("spark", 0.0) / 3600,
        flink_core_hours=result.held_core_s.get("flink", 0.0) / 3600,
        oracle_ratio=held / sum(oracle.held_core_s.values()),
        p50_slowdown=percentile(per_job, 50),
        p95_slowdown=percentile(per_job, 95),
        p95_lag_s=percentile(result.lags, 95),
        added_wait_p50_s=percentile(waits, 50),
        added_wait_p95_s=percentile(waits, 95),
        added_wait_p99_s=percentile(waits, 99),
        held_node_hours=result.held_node_s / 3600,
        node_oracle_ratio=result.held_node_s / oracle.held_node_s
        if oracle.held_node_s
        else math.nan,
        nodes_added=result.nodes_added,
        cold_job_share=result.cold_jobs / result.arrived_jobs if result.arrived_jobs else math.nan,
        scale_events=None if downs is None else (result.scale_ups or 0) + downs,
        scale_downs_per_cluster_hour=None if downs is None else downs / max(cluster_hours, 1e-9),
    )


COLUMNS = (
    ("policy", "name", "{}"),
    ("held core-h", "held_core_hours", "{:.0f}"),
    ("spark", "spark_core_hours", "{:.0f}"),
    ("flink", "flink_core_hours", "{:.0f}"),
    ("x oracle", "oracle_ratio", "{:.2f}"),
    ("p50 slowdown", "p50_slowdown", "{:.2f}"),
    ("p95 slowdown", "p95_slowdown", "{:.2f}"),
    ("wait p50/p95/p99 s", "added_waits", "{}"),
    ("cold jobs", "cold_job_share", "{:.1%}"),
    ("node-h", "held_node_hours", "{:.0f}"),
    ("x oracle", "node_oracle_ratio", "{:.2f}"),
    ("p95 lag s", "p95_lag_s", "{:.1f}"),
    ("scale events", "scale_events", "{}"),
    ("downs/cluster-h", "scale_downs_per_cluster_hour", "{:.2f}"),
)


def format_table(rows: list[PolicySummary]) -> str:
    """A fixed-width table, one row per policy."""
    cells = [[title for title, _, _ in COLUMNS]]
    for row in rows:
        values = []
        for _, attr, fmt in COLUMNS:
            value = getattr(row, attr)
            values.append("-" if value is None else fmt.format(value))
        cells.append(values)
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = []
    for line in cells:
        first = line[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)]
        lines.append("  ".join([first, *rest]))
    return "\n".join(lines)
