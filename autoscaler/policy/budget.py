"""A global core budget shared fairly: each user's minimum first, then max-min fairness.

Pure: the controller calls ``cap_targets`` once per loop with every cluster's wanted target.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Claim:
    """One cluster's wish: ``wanted`` workers of ``worker_cores`` each, ``minimum`` guaranteed."""

    cluster: str
    user: str
    wanted: int
    minimum: int
    worker_cores: int


def max_min_shares(demands: Mapping[str, int], capacity: int) -> dict[str, int]:
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


def cap_targets(claims: Iterable[Claim], budget_cores: int | None) -> dict[str, int]:
    """Each cluster's target within its user's allowance; all targets as wanted if no budget."""
    claims = list(claims)
    if budget_cores is None:
        return {claim.cluster: claim.wanted for claim in claims}
    allowances = user_allowances(claims, budget_cores)
    by_user: dict[str, list[Claim]] = defaultdict(list)
    for claim in claims:
        by_user[claim.user].append(claim)
    targets: dict[str, int] = {}
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
