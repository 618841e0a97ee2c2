"""Every policy over one trace, side by side with the always-on reference and the oracle."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from autoscaler.decision import Policy
from autoscaler.policy import HubscalePolicy
from autoscaler.sim.baselines import (
    DaskAdaptivePolicy,
    FlinkAutoscalerPolicy,
    KedaHpaPolicy,
    SparkDynamicAllocationPolicy,
    StaticPolicy,
)
from autoscaler.sim.engine import RunResult, SimConfig, oracle, simulate
from autoscaler.sim.report import PolicySummary, summarize
from autoscaler.sim.trace import Event


def all_policies() -> list[Policy]:
    """hubscale and the baselines, each with its documented defaults; the slowest to simulate
    (1 s intervals) first, so parallel runs finish together."""
    return [
        SparkDynamicAllocationPolicy(),
        DaskAdaptivePolicy(),
        HubscalePolicy(),
        FlinkAutoscalerPolicy(),
        KedaHpaPolicy(),
        StaticPolicy(),
    ]


@dataclass(frozen=True)
class Comparison:
    rows: list[PolicySummary]
    descriptions: dict[str, str]  # policy name -> its defaults, one line


def compare(
    events: list[Event],
    config: SimConfig | None = None,
    policies: list[Policy] | None = None,
    processes: int | None = None,
) -> Comparison:
    """Simulate each policy (in parallel processes) and summarize against static and oracle."""
    config = config or SimConfig()
    policies = policies if policies is not None else all_policies()
    if not any(policy.name == "static" for policy in policies):
        policies = [StaticPolicy(), *policies]
    workers = processes or min(len(policies), os.cpu_count() or 1)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            runs = list(
                pool.map(simulate, policies, [events] * len(policies), [config] * len(policies))
            )
    else:
        runs = [simulate(policy, events, config) for policy in policies]
    reference = next(run for run in runs if run.policy == "static")
    best = oracle(events, config, reference)
    order = ["static", *(run.policy for run in runs if run.policy != "static")]
    runs = sorted(runs, key=lambda run: order.index(run.policy))
    rows = [summarize(run, reference, best) for run in [*runs, best]]
    descriptions = {policy.name: policy.describe() for policy in policies}
    descriptions["oracle"] = (
        "perfect foresight, workers start at once: holds exactly the cores tasks run on and"
        " the slots streams need at their input rate"
    )
    return Comparison(rows, descriptions)


def runs_by_name(runs: list[RunResult]) -> dict[str, RunResult]:
    return {run.policy: run for run in runs}
