"""A global core budget shared fairly: each user's minimum first, then max-min fairness.

Pure: the controller and the simulator call ``cap_decisions`` once per loop (tick) with every
cluster's decision; ``cap_targets`` is the split itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from autoscaler.policy.decision import Decision
from autoscaler.policy.signals import WorkerLoad
from autoscaler.policy.victims import choose_victims
from hubscale.spec import ComputeClusterSpec

# A cluster as the caller names it: the object's name (controller), (user, engine) (simulator).
ClusterKey = str | tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Claim:
    """One cluster's wish: ``wanted`` workers of ``worker_cores`` each, ``minimum`` guaranteed."""

    cluster: ClusterKey
    user: str
    wanted: int
    minimum: int
    worker_cores: int


def max_min_shares(demands: Mapping[ClusterKey, int], capacity: int) -> dict[ClusterKey, int]:
    """Integer max-min fair split of ``capacity``: nobody gets more than asked, the rest evenly.

    Water-filling: demands under the fair level are met in full; the others get the level, and
    the units rounding leaves over go one each to them in name order.
    """
    shares = {name: max(0, demand) for name, demand in demands.items()}
    remaining = max(0, capacity)
    ordered = sorted(shares.items(), key=lambda item: (item[1], item[0]))
    for index, (_, demand) in enumerate(ordered):
        level = remaining // (len(ordered) - index)
        if demand > level:
            unmet = sorted(other for other, _ in ordered[index:])
            for position, other in enumerate(unmet):
                extra = 1 if position < remaining - level * len(unmet) else 0
                shares[other] = level + extra
            return shares
        remaining -= demand
    return shares


def user_allowances(claims: Iterable[Claim], budget_cores: int) -> dict[str, int]:
    """Cores each user may hold: minimums first (kept even past the budget: no cluster goes
    below its minWorkers), then the rest of the budget max-min fair over the wishes beyond."""
    minimum: dict[str, int] = defaultdict(int)
    wanted: dict[str, int] = defaultdict(int)
    for claim in claims:
        minimum[claim.user] += claim.minimum * claim.worker_cores
        wanted[claim.user] += max(claim.wanted, claim.minimum) * claim.worker_cores
    left = budget_cores - sum(minimum.values())
    extra = max_min_shares({user: wanted[user] - minimum[user] for user in wanted}, left)
    return {user: minimum[user] + extra[user] for user in wanted}


def cap_targets(claims: Iterable[Claim], budget_cores: int | None) -> dict[ClusterKey, int]:
    """Each cluster's target within its user's allowance; all targets as wanted if no budget."""
    claims = list(claims)
    if budget_cores is None:
        return {claim.cluster: claim.wanted for claim in claims}
    allowances = user_allowances(claims, budget_cores)
    by_user: dict[str, list[Claim]] = defaultdict(list)
    for claim in claims:
        by_user[claim.user].append(claim)
    targets: dict[ClusterKey, int] = {}
    for user, own in by_user.items():
        # Within a user, split the allowance in workers: minimums first, then max-min.
        cores = allowances[user]
        floors = {c.cluster: min(c.minimum, c.wanted) for c in own}
        cores -= sum(floors[c.cluster] * c.worker_cores for c in own)
        size = {c.cluster: c.worker_cores for c in own}
        extra_cores = max_min_shares(
            {c.cluster: (c.wanted - floors[c.cluster]) * c.worker_cores for c in own},
            max(0, cores),
        )
        for cluster, floor in floors.items():
            targets[cluster] = floor + extra_cores[cluster] // size[cluster]
    return targets


def cap_decisions(
    decisions: Mapping[ClusterKey, Decision],
    specs: Mapping[ClusterKey, ComputeClusterSpec],
    budget_cores: int | None,
    workers: Callable[[ClusterKey], Sequence[WorkerLoad]],
) -> dict[ClusterKey, Decision]:
    """Every decision within the budget (``cap_targets``). A capped one says so (cause
    "bounds": the work wants more) and names its victims among ``workers(key)``, the workers
    serving now, asked only of the clusters the budget shrinks."""
    if budget_cores is None:
        return dict(decisions)
    claims = [
        Claim(key, specs[key].owner, decision.target, specs[key].min_workers,
              specs[key].worker.cores)
        for key, decision in decisions.items()
    ]  # fmt: skip
    capped = dict(decisions)
    for key, target in cap_targets(claims, budget_cores).items():
        decision = decisions[key]
        if target >= decision.target:
            continue
        reason = (
            f"{decision.reason} (capped at {target}: budget of {budget_cores} cores"
            " shared between users)"
        )
        capped[key] = held_to(decision, target, reason, workers(key))
    return capped


def held_to(
    decision: Decision, target: int, reason: str, serving: Sequence[WorkerLoad]
) -> Decision:
    """``decision`` held to ``target`` by a budget: cause "bounds" (the work wants more), the
    ``reason`` saying so, and its victims among the ``serving`` workers, idle ones first."""
    return replace(
        decision,
        target=target,
        reason=reason,
        cause="bounds",
        victims=choose_victims(serving, len(serving) - target),
    )
