"""Per-user core budgets, across engines and servers: each user's clusters within their own.

A user's budget is the smallest ``userBudgetCores`` among their clusters' specs (the spawner
writes it from the profile and the user's groups); a user without one is not capped here. Inside
a budget the split is the global budget's (``budget.cap_targets``: minimums first, then max-min
fair between the user's clusters). Pure: the controller calls ``cap_user_decisions`` once per
loop before the global budget's ``cap_decisions``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

from autoscaler.policy.budget import Claim, ClusterKey, cap_targets, held_to
from autoscaler.policy.decision import Decision
from autoscaler.policy.signals import WorkerLoad
from hubscale.spec import ComputeClusterSpec


def user_budgets(specs: Mapping[ClusterKey, ComputeClusterSpec]) -> dict[str, int]:
    """Each user's budget in cores: the smallest their clusters' specs give; absent if none."""
    budgets: dict[str, int] = {}
    for spec in specs.values():
        if spec.user_budget_cores is not None:
            known = budgets.get(spec.owner, spec.user_budget_cores)
            budgets[spec.owner] = min(known, spec.user_budget_cores)
    return budgets


def budget_reason(reason: str, target: int, budget_cores: int) -> str:
    """The policy's reason with the cap said in the user's words."""
    return f"{reason} (capped at {target}: at your budget of {budget_cores} cores)"


def cap_user_decisions(
    decisions: Mapping[ClusterKey, Decision],
    specs: Mapping[ClusterKey, ComputeClusterSpec],
    workers: Callable[[ClusterKey], Sequence[WorkerLoad]],
) -> dict[ClusterKey, Decision]:
    """Every decision within its owner's budget. A capped one says so (cause "bounds") and names
    its victims among ``workers(key)``, asked only of the clusters a budget shrinks."""
    budgets = user_budgets({key: specs[key] for key in decisions})
    if not budgets:
        return dict(decisions)
    claims: dict[str, list[Claim]] = defaultdict(list)
    for key, decision in decisions.items():
        spec = specs[key]
        if spec.owner in budgets:
            claim = Claim(key, spec.owner, decision.target, spec.min_workers, spec.worker.cores)
            claims[spec.owner].append(claim)
    capped = dict(decisions)
    for user, own in claims.items():
        for key, target in cap_targets(own, budgets[user]).items():
            decision = decisions[key]
            if target >= decision.target:
                continue
            reason = budget_reason(decision.reason, target, budgets[user])
            capped[key] = held_to(decision, target, reason, workers(key))
    return capped
