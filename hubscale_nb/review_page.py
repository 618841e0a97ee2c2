"""The review as one self-contained HTML page, each notebook drawn by nbdime's own web diff.

nbdime ships its web app built (``nbdime/webapp/static``: ``nbdime.js`` and the chunks it loads
on demand); the page carries it once, every chunk included, so it needs no server and no
network (a CI artifact opens as it is). Each changed notebook gets a sandboxed frame (scripts
only: no access to the page, its cookies or the notebook server) holding nbdime's data for that
notebook; the page hands the app to each frame, which draws the diff side by side with markdown
and outputs rendered and unchanged cells collapsed (nbdime's "hide unchanged" default). Inside
a notebook server the page adds the branch picker, links and the run buttons.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from hubscale_nb.nbdime_app import nbdime_bundle
from hubscale_nb.review import MAX_PAGE_DATA_BYTES, NotebookChange, Review
from hubscale_nb.review_cells import frame_layout

ASSETS = Path(__file__).with_name("review_assets")
FRAME_STYLE = """
html, html body, #nbdime-root, #main, .jp-Notebook-diff {
  height: auto !important; overflow: hidden !important; }
body { margin: 0; }
.review-markdown .anchor-link { display: none; }
#nbdime-header { padding: 0.3em 1em 0; }
#nbdime-export, #nbdime-close { display: none !important; }
.review-markdown { display: grid; grid-template-columns: 1fr 1fr; gap: 1em;
  border-top: 1px dashed #d0d7de; margin: 0.3em 0; padding: 0.3em 1em; }
.review-markdown > div { overflow-x: auto; }
.review-markdown.one-side { grid-template-columns: 1fr; }
.review-failed { outline: 2px solid #cf222e; outline-offset: 2px; }
.review-failed-note { color: #cf222e; font-weight: bold; padding: 0.2em 1em; }
"""


@dataclass(frozen=True)
class Result:
    """A notebook's run on the head commit."""

    outcome: str  # passed | failed | skipped
    duration_s: float
    detail: str = ""  # the failing cell and its error, or the skip reason
    cell: int | None = None  # 1-based number of the failing cell
    cached: bool = False


@dataclass(frozen=True)
class Controls:
    """What a notebook server adds to the page: the picker, links and the run buttons."""

    picker: str = ""  # HTML of the branch picker
    compare_url: str = ""  # the host's compare page for the range
    open_urls: Mapping[str, str] = field(default_factory=dict)  # path -> JupyterLab URL
    run_url: str = ""
    xsrf: str = ""
    repo: str = ""  # the repository, relative to the server's root
    head_commit: str = ""
    results: Mapping[str, Result] = field(default_factory=dict)  # path -> cached result


@cache
def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(
    result: Review,
    controls: Controls | None = None,
    max_data_bytes: int = MAX_PAGE_DATA_BYTES,
) -> str:
    """The whole page: a summary, then every changed notebook's diff that fits the budget."""
    controls = controls or Controls()
    title = f"Notebook review {result.base}..{result.head}"
    budget = max_data_bytes
    sections, items = [], []
    for number, change in enumerate(result.changes):
        data = _frame_data(change, result)
        size = len(json.dumps(data)) if data else 0
        fits = size <= budget
        budget -= size if fits else 0
        items.append(
            f'<li><a href="#nb-{number}">{html.escape(change.path)}</a> {_status(change)}</li>'
        )
        sections.append(_section(number, change, result, controls, data if fits else None, size))
    summary = (
        f"{len(result.changes)} notebook(s) changed between <code>{html.escape(result.base)}"
        f"</code> ({result.base_commit[:12]}) and <code>{html.escape(result.head)}</code>"
        f" ({result.head_commit[:12]}). Drawn by nbdime: base on the left, head on the right;"
        " unchanged cells collapsed; execution counts, cell ids and metadata left out."
    )
    compare = (
        f' <a class="compare" href="{html.escape(controls.compare_url)}">Compare on the host</a>'
        if controls.compare_url
        else ""
    )
    run_all = (
        '<p><button type="button" class="run-all">Run every notebook on head</button></p>'
        if controls.run_url
        else ""
    )
    config = {
        "runUrl": controls.run_url,
        "xsrf": controls.xsrf,
        "repo": controls.repo,
        "commit": controls.head_commit,
    }
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title><style>{_asset('page.css')}</style>",
            f'<script type="application/json" id="nbdime-bundle">{script_json(nbdime_bundle())}'
            "</script>",
            f'<script type="application/json" id="review-config">{script_json(config)}</script>',
            f"<script>{_asset('page.js')}</script></head><body>",
            controls.picker,
            f"<h1>{html.escape(title)}</h1><p>{summary}{compare}</p>",
            run_all,
            f"<ul>{''.join(items)}</ul>",
            *sections,
            "</body></html>",
        ]
    )


def _status(change: NotebookChange) -> str:
    return f'<span class="status">{html.escape(change.status)}</span>'


def _section(
    number: int,
    change: NotebookChange,
    result: Review,
    controls: Controls,
    data: dict[str, Any] | None,
    size: int,
) -> str:
    name = html.escape(change.path)
    tools = []
    if change.path in controls.open_urls:
        url = html.escape(controls.open_urls[change.path])
        tools.append(f'<a class="open" href="{url}" target="_blank">Open in JupyterLab</a>')
    if controls.run_url and change.status != "deleted":
        tools.append('<button type="button" class="run">Run on head</button>')
        tools.append(_result_html(controls.results.get(change.path)))
    header = f"<header><h2>{name} {_status(change)}</h2>{''.join(tools)}</header>"
    if not change.entries:
        body = "<p>Only execution counts, cell ids or metadata changed.</p>"
    elif data is None:
        command = f"nbdiff-web {result.base_commit[:12]} {result.head_commit[:12]} -- {change.path}"
        body = (
            f'<p class="too-large">This notebook\'s diff is {size:,} bytes: more than this page'
            f" carries ({MAX_PAGE_DATA_BYTES:,} in all). See it with <code>"
            f"{html.escape(command)}</code> or nbdime's diff in JupyterLab.</p>"
        )
    else:
        body = (
            f'<iframe class="nbdime-frame" sandbox="allow-scripts" title="diff of {name}"'
            f' srcdoc="{html.escape(_frame(data, result), quote=True)}"></iframe>'
        )
    path = html.escape(change.path, quote=True)
    cached = controls.results.get(change.path)
    failed = f' data-failed-cell="{cached.cell}"' if cached and cached.cell else ""
    return (
        f'<section class="notebook" id="nb-{number}" data-path="{path}"{failed}>'
        f"{header}{body}</section>"
    )


def _result_html(result: Result | None) -> str:
    """The run result's line; filled in by the page's script after a run."""
    if result is None:
        return '<span class="result"></span>'
    text = f"{result.outcome} in {result.duration_s:.1f} s"
    if result.detail:
        text += f": {result.detail}"
    if result.cached:
        text += " (cached)"
    return f'<span class="result {html.escape(result.outcome)}">{html.escape(text)}</span>'


def _frame_data(change: NotebookChange, result: Review) -> dict[str, Any] | None:
    if not change.entries:
        return None
    return {
        "base": change.base,
        "diff": change.entries,
        **frame_layout(change.base, change.entries),
    }


def _frame(data: Mapping[str, Any], result: Review) -> str:
    """The document of one notebook's frame: nbdime's page elements, the data, the loader."""
    config = {"base": "base", "remote": "head", "baseUrl": "/", "hideUnchanged": True}
    return "".join(
        [
            '<!DOCTYPE html><html><head><meta charset="utf-8"><base href="https://review.invalid/">',
            f"<style>{FRAME_STYLE}</style></head><body>",
            '<div id="nbdime-header" class="nbdime-Diff"><div id="nbdime-header-buttonrow">',
            '<label><input id="nbdime-hide-unchanged" type="checkbox">Hide unchanged cells</label>',
            '<button id="nbdime-trust" style="display: none">Trust outputs</button>',
            '<button id="nbdime-close" style="display: none">Close tool</button>',
            '<button id="nbdime-export" style="display: none">Export diff</button></div>',
            '<div id="nbdime-header-banner" class="cm-merge-2pane">',
            f'<span id="nbdime-header-base">Base: {html.escape(_ref(result, "base"))}</span>',
            f'<span id="nbdime-header-remote">Head: {html.escape(_ref(result, "head"))}</span>',
            '</div></div><div id="nbdime-root" class="nbdime-root"></div>',
            f'<script id="nbdime-config-data" type="application/json">{script_json(config)}'
            "</script>",
            '<script id="jupyter-config-data" type="application/json">{"baseUrl":"null/"}</script>',
            f'<script id="review-data" type="application/json">{script_json(data)}</script>',
            f"<script>{_asset('frame.js')}</script></body></html>",
        ]
    )


def _ref(result: Review, side: str) -> str:
    name, commit = (
        (result.base, result.base_commit) if side == "base" else (result.head, result.head_commit)
    )
    return f"{name} ({commit[:12]})"
