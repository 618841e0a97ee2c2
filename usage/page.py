"""The "My compute" page, rendered on the server (tornado's template, escaped)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tornado.template import Template


@dataclass(frozen=True, slots=True)
class Budget:
    """The owner's budget in cores (None: none) and the cores their clusters hold now."""

    cores: int | None
    held: int


PAGE = Template(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>My compute · hubscale</title>
<style>
 body { font-family: sans-serif; margin: 2em; } table { border-collapse: collapse; }
 th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; }
</style></head>
<body>
<h1>My compute</h1>
<p>Signed in as <strong id="user">{{ user }}</strong>{% if owner != user %}, showing
 <strong>{{ owner }}</strong>{% end %}. <a href="team">Team</a> (hub admins)</p>
<h2>My clusters now</h2>
{% if clusters %}
<table id="clusters"><tr><th>cluster</th><th>server</th><th>engine</th><th>phase</th>
<th>workers / desired</th><th>last decision</th></tr>
{% for c in clusters %}<tr>
<td>{{ c["name"] }}</td><td>{{ c["server"] or "default" }}</td><td>{{ c["engine"] }}</td>
<td>{{ c["phase"] or "starting" }}</td><td>{{ c["workers"] }} / {{ c["desired"] }}</td>
<td>{{ c["reason"] }}</td></tr>
{% end %}</table>
{% else %}<p id="clusters">No clusters: start a server from the hub's home page.</p>{% end %}
<p id="budget">{% if budget.cores is None %}No budget: your clusters may grow to their
 maxWorkers (and the platform's shared budget).{% else %}Your budget: <strong>{{ budget.cores }}
 cores</strong> across all your clusters and servers; they hold {{ budget.held }} now.{% end %}</p>
<h2>Cores held and used, last day</h2>
<div id="held-vs-used">{% raw chart %}</div>
<p><span style="color:#d62728">━ held</span> (workers × cores) ·
 <span style="color:#2ca02c">━ used</span> (busy) · ┆ a scaling decision (<span
 style="color:#1f77b4">up</span> / <span style="color:#9467bd">down</span>; hover for why).</p>
{% if decisions %}<table id="decisions"><tr><th>time (UTC)</th><th>cluster</th><th>workers</th>
<th>cause</th><th>why</th></tr>
{% for d in decisions %}<tr><td>{{ d["when"] }}</td><td>{{ d["cluster"] }}</td>
<td>{{ d["from"] }} → {{ d["to"] }}</td><td>{{ d["cause"] }}</td><td>{{ d["reason"] }}</td></tr>
{% end %}</table>{% else %}<p id="decisions">No scaling decision in the last day.</p>{% end %}
<h2>Core-hours</h2>
<table id="usage"><tr><th></th><th>held</th><th>used</th><th>idle</th><th>unmeasured</th></tr>
{% for window, hours in usage %}<tr><th>{{ window }}</th><td>{{ "%.2f" % hours["held"] }}</td>
<td>{{ "%.2f" % hours["used"] }}</td><td>{{ "%.2f" % hours["idle"] }}</td>
<td>{{ "%.2f" % hours["unmeasured"] }}</td></tr>
{% end %}</table>
<p>Held: workers × cores × time. Used: cores the engines reported busy. Unmeasured: held while
 no metric said. JSON: <a href="api/clusters">api/clusters</a>, <a href="api/usage">api/usage</a>,
 <a href="api/decisions">api/decisions</a>.</p>
</body></html>
"""
)


def render_page(
    user: str,
    owner: str,
    clusters: list[dict],
    usage: dict[str, dict[str, float]],
    chart: str = "",
    decisions: Sequence[Mapping[str, Any]] = (),
    budget: Budget | None = None,
) -> bytes:
    """The page for ``user`` showing ``owner``'s clusters, the last day's chart (SVG made by
    ``usage.chart``, inserted as it is) and decisions (newest first), core-hours per window."""
    shown = [
        {**d, "when": datetime.fromtimestamp(d["time"], UTC).strftime("%Y-%m-%d %H:%M:%S")}
        for d in reversed(decisions)
    ]
    return PAGE.generate(
        user=user,
        owner=owner,
        clusters=clusters,
        usage=list(usage.items()),
        chart=chart,
        decisions=shown,
        budget=budget or Budget(None, 0),
    )
