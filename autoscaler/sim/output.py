"""What the simulator CLI and the bench print and write: the settings, the table, the JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from autoscaler.sim.compare import Comparison
from autoscaler.sim.engine import SimConfig
from autoscaler.sim.report import format_table


def describe_run(comparison: Comparison, config: SimConfig) -> str:
    """The settings every figure depends on, then one line of defaults per policy."""
    lines = [
        f"platform: start profile {config.start_profile().describe()},"
        f" executorIdleTimeout {config.executor_idle_timeout_s:g} s, Flink rescale restart"
        f" {config.flink_rescale_s:g} s, Prometheus scrape {config.scrape_interval_s:g} s,"
        f" clusters {config.min_workers}..{config.max_workers} workers of"
        f" {config.worker_cores} core, idleTimeoutSeconds {config.idle_timeout_s}"
        + (f", budget {config.budget_cores} cores" if config.budget_cores else "")
        + (f", {config.user_budget_cores} cores per user" if config.user_budget_cores else ""),
        f"node pool: {config.node_pool().describe()}",
        "policies:",
    ]
    lines += [f"  {name}: {text}" for name, text in comparison.descriptions.items()]
    lines += ["", format_table(comparison.rows)]
    return "\n".join(lines)


def comparison_json(comparison: Comparison, config: SimConfig, trace: dict[str, Any]) -> dict:
    return {
        "trace": {**trace, "profile": config.profile},
        "config": asdict(config),
        "policies": [row.to_json() for row in comparison.rows],
        "descriptions": comparison.descriptions,
    }


def write_json(data: dict, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, allow_nan=False, default=_finite) + "\n")


def _finite(value: Any) -> Any:
    raise TypeError(f"not JSON serializable: {value!r}")
