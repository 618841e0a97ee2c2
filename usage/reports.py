"""What the API and the page say: usage windows in core-hours, decisions as JSON."""

from __future__ import annotations

from typing import Any

from usage.accounting import DAY_S, day_of
from usage.db import AccountingDB, Decision, Totals

WINDOWS_DAYS = {"today": 1, "7d": 7, "30d": 30}
HOUR_S = 3600.0


def core_hours(totals: Totals) -> dict[str, float]:
    """Held, used, idle and unmeasured core-hours, rounded for people and scripts alike."""
    return {
        "held": round(totals.held / HOUR_S, 4),
        "used": round(totals.used / HOUR_S, 4),
        "idle": round(totals.idle / HOUR_S, 4),
        "unmeasured": round(totals.unmeasured / HOUR_S, 4),
    }


def usage_report(db: AccountingDB, now_s: float, owner: str | None) -> dict[str, Any]:
    """Per user: core-hours for today, 7 and 30 UTC days (today included)."""
    today = day_of(now_s)
    users: dict[str, dict[str, Any]] = {}
    for window, days in WINDOWS_DAYS.items():
        for name, totals in db.totals(today - days + 1, owner).items():
            users.setdefault(name, {})[window] = core_hours(totals)
    if owner is not None:
        users.setdefault(owner, {})
    empty = core_hours(Totals())
    return {
        "unit": "core-hours",
        "since": {window: (today - days + 1) * DAY_S for window, days in WINDOWS_DAYS.items()},
        "users": {
            name: {window: windows.get(window, empty) for window in WINDOWS_DAYS}
            for name, windows in sorted(users.items())
        },
    }


def decision_json(decision: Decision) -> dict[str, Any]:
    return {
        "time": decision.time_s,
        "user": decision.key.owner,
        "server": decision.key.server,
        "cluster": decision.key.cluster,
        "engine": decision.key.engine,
        "from": decision.from_workers,
        "to": decision.to_workers,
        "cause": decision.cause,
        "reason": decision.reason,
    }
