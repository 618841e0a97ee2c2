"""Every policy over one trace, side by side with the always-on reference and the oracle."""

from __future__ import annotations

import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import TextIO

from autoscaler.policy.decision import Policy
from autoscaler.policy.hubscale import HubscalePolicy
from autoscaler.sim.baselines import KedaHpaPolicy, StaticPolicy
from autoscaler.sim.engine import RunResult, SimConfig, oracle, simulate
from autoscaler.sim.report import PolicySummary, summarize
from autoscaler.sim.stacks import dask_adaptive_with_flink_operator, spark_da_with_flink_operator
from autoscaler.sim.trace import Event


def all_policies() -> list[Policy]:
    """hubscale and the peer stacks, each with its documented defaults; the slowest to
    simulate (1 s intervals) first, so parallel runs finish together."""
    return [
        spark_da_with_flink_operator(),
        dask_adaptive_with_flink_operator(),
        HubscalePolicy(),
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
    progress: TextIO | None = None,
) -> Comparison:
    """Simulate each policy (in parallel processes) and summarize against static and oracle."""
    return compare_profiles(events, [config or SimConfig()], policies, processes, progress)[0]


def compare_profiles(
    events: list[Event],
    configs: list[SimConfig],
    policies: list[Policy] | None = None,
    processes: int | None = None,
    progress: TextIO | None = None,
) -> list[Comparison]:
    """One comparison per config (e.g. per start profile); every (policy, config) run shares
    one process pool, the slowest policies first so the workers finish together."""
    policies = policies if policies is not None else all_policies()
    if not any(policy.name == "static" for policy in policies):
        policies = [StaticPolicy(), *policies]
    jobs = [(policy, config) for policy in policies for config in configs]
    workers = processes or min(len(jobs), os.cpu_count() or 1)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_timed, policy, events, config) for policy, config in jobs]
            runs = [
                _report(future.result(), config, progress)
                for future, (_, config) in zip(futures, jobs, strict=True)
            ]
    else:
        runs = [
            _report(_timed(policy, events, config), config, progress) for policy, config in jobs
        ]
    return [
        _summarize(
            events,
            config,
            policies,
            [run for run, (_, c) in zip(runs, jobs, strict=True) if c is config],
        )
        for config in configs
    ]


def _summarize(
    events: list[Event], config: SimConfig, policies: list[Policy], runs: list[RunResult]
) -> Comparison:
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


def _timed(
    policy: Policy, events: list[Event], config: SimConfig
) -> tuple[RunResult, float, float]:
    """The run, its wall-clock seconds and its CPU seconds (steadier on shared cores)."""
    started, cpu = time.perf_counter(), time.process_time()
    run = simulate(policy, events, config)
    return run, time.perf_counter() - started, time.process_time() - cpu


def _report(
    timed: tuple[RunResult, float, float], config: SimConfig, progress: TextIO | None
) -> RunResult:
    run, seconds, cpu_s = timed
    if progress:
        print(
            f"simulated {run.policy} ({config.profile} profile) in {seconds:.0f} s"
            f" ({cpu_s:.0f} CPU-s)",
            file=progress,
            flush=True,
        )
    return run
