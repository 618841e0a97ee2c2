"""The "My compute" page, rendered on the server (tornado's template, escaped)."""

from __future__ import annotations

from tornado.template import Template

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
 <strong>{{ owner }}</strong>{% end %}.</p>
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
) -> bytes:
    """The page for ``user`` showing ``owner``'s clusters and core-hours per window."""
    return PAGE.generate(user=user, owner=owner, clusters=clusters, usage=list(usage.items()))
