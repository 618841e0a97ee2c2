"""The Team page for hub admins: every user's core-hours, sortable, with totals, and the clusters
holding idle capacity right now. Rendered on the server (tornado's template, escaped); sorting is
a link per column (``?sort=30d.idle&order=desc``), so it works without script."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tornado.template import Template

from usage.db import Latest
from usage.reports import WINDOWS_DAYS

METRICS = ("held", "used", "idle")
COLUMNS = tuple(f"{window}.{metric}" for window in WINDOWS_DAYS for metric in METRICS)
DEFAULT_SORT = "30d.idle"


class BadSort(ValueError):
    """``?sort=`` or ``?order=`` is not one the page knows; the message lists what is."""


@dataclass(frozen=True, slots=True)
class Sort:
    """Which column the table is ordered by (``user`` or a ``window.metric``), and how."""

    column: str = DEFAULT_SORT
    descending: bool = True

    @classmethod
    def parse(cls, column: str | None, order: str | None) -> Sort:
        column = column or DEFAULT_SORT
        if column != "user" and column not in COLUMNS:
            raise BadSort(f"sort={column!r}: one of user, {', '.join(COLUMNS)}")
        if order not in (None, "", "asc", "desc"):
            raise BadSort(f"order={order!r}: asc or desc")
        descending = order == "desc" if order else column != "user"
        return cls(column, descending)

    def link(self, column: str) -> str:
        """The query of the header link for ``column``: flips the order of the current one."""
        descending = not self.descending if column == self.column else column != "user"
        return f"?sort={column}&order={'desc' if descending else 'asc'}"


def cell(windows: Mapping[str, Mapping[str, float]], column: str) -> float:
    window, metric = column.split(".")
    return windows[window][metric]


def team_rows(users: Mapping[str, Mapping[str, Any]], sort: Sort) -> list[dict[str, Any]]:
    """One row per user (``usage_report``'s ``users``), in ``sort``'s order (then by name)."""
    rows = [{"user": name, "windows": windows} for name, windows in users.items()]
    rows.sort(key=lambda row: row["user"])
    if sort.column == "user":
        rows.sort(key=lambda row: row["user"], reverse=sort.descending)
    else:
        rows.sort(key=lambda row: cell(row["windows"], sort.column), reverse=sort.descending)
    return rows


def team_totals(users: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Every column summed over the users."""
    return {
        column: round(sum(cell(windows, column) for windows in users.values()), 4)
        for column in COLUMNS
    }


def idle_now(latest: Sequence[Latest], now_s: float, max_age_s: float) -> list[dict[str, Any]]:
    """Clusters whose last sample (no older than ``max_age_s``) held cores measured not busy,
    the most idle cores first. A cluster without a busy metric is not called idle."""
    rows = []
    for item in latest:
        sample = item.sample
        if now_s - sample.time_s > max_age_s or sample.busy_cores is None:
            continue
        idle = sample.held_cores - sample.used_cores
        if idle <= 0:
            continue
        rows.append(
            {
                "cluster": item.key.cluster,
                "user": item.key.owner,
                "server": item.key.server,
                "engine": item.key.engine,
                "workers": sample.workers,
                "held": sample.held_cores,
                "used": round(sample.used_cores, 2),
                "idle": round(idle, 2),
            }
        )
    rows.sort(key=lambda row: (-row["idle"], row["cluster"]))
    return rows


PAGE = Template(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Team · hubscale</title>
<style>
 body { font-family: sans-serif; margin: 2em; } table { border-collapse: collapse; }
 th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: right; }
 td:first-child, th:first-child { text-align: left; } tr.total { font-weight: bold; }
 th a { text-decoration: none; } .sorted { background: #eef; }
</style></head>
<body>
<h1>Team</h1>
<p>Signed in as <strong id="user">{{ user }}</strong> (admin). <a href="./">My compute</a></p>
<h2>Core-hours per user</h2>
<table id="team"><tr><th rowspan="2"><a href="{{ sort.link('user') }}">user</a></th>
{% for window in windows %}<th colspan="{{ len(metrics) }}">{{ window }}</th>{% end %}
{% if budgets is not None %}<th rowspan="2">budget (cores)</th>{% end %}</tr>
<tr>{% for column in columns %}<th class="{{ 'sorted' if column == sort.column else '' }}">
<a href="{{ sort.link(column) }}">{{ column.split('.')[1] }}</a></th>{% end %}</tr>
{% for row in rows %}<tr class="user"><td>{{ row["user"] }}</td>
{% for column in columns %}<td>{{ "%.2f" % cell(row["windows"], column) }}</td>{% end %}
{% if budgets is not None %}<td>{{ budgets.get(row["user"], "none") }}</td>{% end %}</tr>
{% end %}<tr class="total"><td>total</td>
{% for column in columns %}<td>{{ "%.2f" % totals[column] }}</td>{% end %}
{% if budgets is not None %}<td></td>{% end %}</tr>
</table>
<p>Held: workers × cores × time. Used: cores the engines reported busy. Idle: held, measured
 not busy. JSON: <a href="api/usage?all=1">api/usage?all=1</a>.</p>
<h2>Holding idle capacity now</h2>
{% if idle %}<table id="idle"><tr><th>cluster</th><th>user</th><th>engine</th><th>workers</th>
<th>cores held</th><th>cores busy</th><th>cores idle</th></tr>
{% for c in idle %}<tr><td>{{ c["cluster"] }}</td><td>{{ c["user"] }}</td><td>{{ c["engine"] }}</td>
<td>{{ c["workers"] }}</td><td>{{ c["held"] }}</td><td>{{ c["used"] }}</td><td>{{ c["idle"] }}</td>
</tr>{% end %}</table>
{% else %}<p id="idle">No cluster holds idle capacity now.</p>{% end %}
</body></html>
"""
)


def render_team(
    user: str,
    users: Mapping[str, Mapping[str, Any]],
    sort: Sort,
    idle: Sequence[Mapping[str, Any]],
    budgets: Mapping[str, int] | None = None,
) -> bytes:
    """The Team page: ``users`` as ``usage_report`` gives them, ``idle`` as ``idle_now``."""
    return PAGE.generate(
        user=user,
        windows=list(WINDOWS_DAYS),
        metrics=METRICS,
        columns=COLUMNS,
        rows=team_rows(users, sort),
        totals=team_totals(users),
        sort=sort,
        cell=cell,
        idle=idle,
        budgets=budgets,
    )
