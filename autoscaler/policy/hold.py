"""The rule around every policy for a cluster without a signal: hold, never shrink.

A cluster has no signal when Prometheus failed or answered garbage; then no policy is asked.
How a policy treats a signal it cannot use (NaN, stale) is its own rule; this one is the
caller's, so the controller and the simulator both decide through ``decide_or_hold``.
"""

from __future__ import annotations

from dataclasses import replace

from autoscaler.policy.decision import ClusterState, Decision, Policy, within_bounds
from autoscaler.policy.signals import Signal
from hubscale.spec import ComputeClusterSpec


def hold(spec: ComputeClusterSpec, state: ClusterState, why: str) -> Decision:
    """No usable metrics: never shrink (keep what runs), restore dead workers, obey bounds."""
    target = within_bounds(max(state.desired, state.workers), spec)
    return Decision(
        target=target,
        reason=f"{why}: holding at {target}, no scale-down without metrics",
        cause="metrics-missing",
        memo=state.memo,
    )


def decide_or_hold(
    policy: Policy,
    spec: ComputeClusterSpec,
    signal: Signal | None,
    state: ClusterState,
    now: float,
    problem: str | None = None,
) -> Decision:
    """The policy's decision on ``signal``, or a hold without one; ``problem`` (what went wrong
    reading this cluster's metrics) leads the reason either way."""
    if signal is None:
        return hold(spec, state, problem or "no signal")
    decision = policy.decide(spec, signal, state, now)
    if problem is None:
        return decision
    return replace(decision, reason=f"{problem}: {decision.reason}")
