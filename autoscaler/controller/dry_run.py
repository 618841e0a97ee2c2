"""Dry-run mode, for admins trialling hubscale beside what they run today: the controller decides
as always, writes the status (desired = what it would scale to, the reason saying so, a ``DryRun``
condition), its Events and metrics, and resizes nothing. Clusters' heads still follow their
objects (a spawn waits for them); workers are never added or removed.
"""

from __future__ import annotations

from dataclasses import replace

from autoscaler.controller.status import _rfc3339
from autoscaler.policy.decision import Decision
from hubscale.spec import DRY_RUN, ComputeClusterStatus, Condition

PREFIX = "dry run"


def would_scale(decision: Decision, serving: int) -> Decision:
    """The decision as dry-run reports it: same target, the reason saying nothing was done."""
    if decision.target == serving:
        reason = f"{PREFIX}: {decision.reason}"
    else:
        reason = (
            f"{PREFIX}: would scale to {decision.target} (running {serving}): {decision.reason}"
        )
    return replace(decision, reason=reason, victims=())


def as_is(decision: Decision, serving: int) -> Decision:
    """The decision the phase is judged by in dry-run: nothing moves, so nothing is Scaling."""
    return replace(decision, target=serving)


def mark(status: ComputeClusterStatus, dry_run: bool, now: float) -> ComputeClusterStatus:
    """``status`` with a ``DryRun=True`` condition in dry-run, without one otherwise (a status
    without the condition is returned as it is, so a normal controller writes nothing new)."""
    others = [c for c in status.conditions if c.type != DRY_RUN]
    if not dry_run:
        if len(others) == len(status.conditions):
            return status
        return status.model_copy(update={"conditions": others})
    before = next((c for c in status.conditions if c.type == DRY_RUN), None)
    since = before.last_transition_time if before is not None else _rfc3339(now)
    condition = Condition(
        type=DRY_RUN,
        status="True",
        reason="DryRun",
        message="the controller decides and resizes nothing",
        last_transition_time=since,
    )
    return status.model_copy(update={"conditions": [*others, condition]})
