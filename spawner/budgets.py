"""A user's core budget across engines and servers: from the profile and the user's groups.

The hub's configuration sets it per profile (``budgetCores`` in the profiles file) and per group
(``group_budget_cores``: locally ``HUBSCALE_GROUP_BUDGETS``, on Kubernetes the chart's
``hub.groupBudgetCores``). The smallest that applies is written into each of the user's
ComputeCluster specs (``userBudgetCores``); the controller enforces it with the global budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hubscale.spec import MAX_BUDGET_CORES


def user_budget(
    profile_budget: int | None, groups: Iterable[str], group_budgets: Mapping[str, int]
) -> int | None:
    """The smallest budget of the profile's and the user's groups'; None if none applies."""
    found = [group_budgets[group] for group in groups if group in group_budgets]
    if profile_budget is not None:
        found.append(profile_budget)
    return min(found) if found else None


def check_group_budgets(budgets: Mapping[object, object]) -> dict[str, int]:
    """``group -> cores`` checked: ValueError naming the first bad entry."""
    checked: dict[str, int] = {}
    for group, cores in budgets.items():
        if not isinstance(group, str) or not group:
            raise ValueError(f"group {group!r}: must be a group name")
        if isinstance(cores, bool) or not isinstance(cores, int):
            raise ValueError(f"group {group!r}: {cores!r} is not a whole number of cores")
        if not 1 <= cores <= MAX_BUDGET_CORES:
            raise ValueError(f"group {group!r}: {cores} cores, must be 1..{MAX_BUDGET_CORES}")
        checked[group] = cores
    return checked


def parse_group_budgets(text: str) -> dict[str, int]:
    """``GROUP=CORES,...`` (the local setting) as a mapping; ValueError saying what is wrong."""
    budgets: dict[str, object] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        group, equals, cores = item.partition("=")
        if not equals or not cores.strip().isdigit():
            raise ValueError(f"{item!r}: must be GROUP=CORES")
        if group.strip() in budgets:
            raise ValueError(f"group {group.strip()!r} given twice")
        budgets[group.strip()] = int(cores)
    return check_group_budgets(budgets)
