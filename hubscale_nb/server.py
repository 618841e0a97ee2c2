"""The review page inside every notebook server: ``<server>/hubscale/review``.

A Jupyter server extension (enabled by ``spawner.notebook_env.server_args``): the same page as
``hubscale-nb review``, for a repository under the server's root directory, behind the server's
own login and authorizer (reading a repository is reading ``contents``; running a notebook is
executing on ``kernels``). A picker chooses the repository, the branch and the base (default:
the merge base with the default branch, ``default...branch``); ``range=`` takes any git range.
Each notebook links to JupyterLab and, on request, runs on the head commit (``review_runs``).
Reviews and runs happen in threads: they never stall the user's server. The extension also keeps
the server's absolute paths out of every error page (``hubscale_nb.error_paths``) and opens the
welcome notebook on a first login (``hubscale_nb.first_login``).
"""

from __future__ import annotations

import asyncio
import html
import json
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from git import BadName
from gitdb.exc import BadObject
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from hubscale_nb import error_paths
from hubscale_nb.error_paths import redact_paths
from hubscale_nb.first_login import welcome_in_server
from hubscale_nb.review import Review, ReviewError, repository_root, review
from hubscale_nb.review_page import Controls, render_page
from hubscale_nb.review_repo import (
    branches,
    compare_url,
    current_branch,
    default_branch,
    open_repo,
    remote_url,
)
from hubscale_nb.review_runs import RunCache, content_hash, default_cache_dir, notebook_at

ROUTE = "/hubscale/review"
SEARCH_DEPTH = 2  # repositories at most this deep under the root are listed


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "hubscale_nb.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    web_app = serverapp.web_app
    route = url_path_join(web_app.settings["base_url"], ROUTE)
    root = Path(serverapp.root_dir).resolve()
    runs = RunCache(default_cache_dir())
    web_app.add_handlers(
        ".*$",
        [
            (route, ReviewHandler, {"root": root, "runs": runs}),
            (url_path_join(route, "run"), RunHandler, {"root": root, "runs": runs}),
        ],
    )
    error_paths.install(web_app, str(root))
    welcome_in_server(serverapp, serverapp.log)


def repository_under(root: Path, relative: str) -> Path:
    """``root/relative`` if it and the git repository holding it stay inside ``root`` (no ``..``,
    no symlink out, no parent repository of the root), else an error."""
    candidate = (root / relative).resolve()
    if not _inside(candidate, root):
        raise ReviewError(f"{relative!r} is outside the server's root directory")
    if not candidate.is_dir():
        raise ReviewError(f"{relative!r} is not a directory")
    if not _inside(repository_root(candidate), root):
        raise ReviewError(f"{relative!r} is not in a git repository under the root directory")
    return candidate


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def repositories(root: Path, depth: int = SEARCH_DEPTH) -> list[str]:
    """The git repositories (a ``.git`` entry) at most ``depth`` levels under ``root``."""
    found: list[str] = []
    level = [root]
    for _ in range(depth + 1):
        found += [str(d.relative_to(root)) for d in level if (d / ".git").exists()]
        level = [child for d in level for child in _subdirectories(d)]
    return found


def _subdirectories(directory: Path) -> list[Path]:
    try:
        children = sorted(directory.iterdir())
    except OSError:  # unreadable: nothing to list there
        return []
    return [
        child
        for child in children
        if child.is_dir() and not child.is_symlink() and not child.name.startswith(".")
    ]


class ReviewHandler(JupyterHandler):
    """GET: the picker, and the review of ``repo`` (relative to the root) for ``head`` against
    ``base`` (default: the merge base with the default branch) or for ``range`` (git syntax)."""

    auth_resource = "contents"

    def initialize(self, root: Path, runs: RunCache) -> None:
        self.root = root
        self.runs = runs

    @web.authenticated
    @authorized
    async def get(self) -> None:
        relative = self.get_argument("repo", "")
        head = self.get_argument("head", "")
        base = self.get_argument("base", "")
        revision_range = self.get_argument("range", "")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        try:
            page = await asyncio.to_thread(self._page, relative, head, base, revision_range)
        except ReviewError as error:
            self.set_status(400)
            message = html.escape(redact_paths(str(error), str(self.root)))
            page = f"<!DOCTYPE html><p>Cannot review: {message}</p>"
        self.finish(page)

    def _page(self, relative: str, head: str, base: str, revision_range: str) -> str:
        picker = Picker(self.root, relative, head, base)
        if not relative or not (revision_range or head):
            return picker.page()
        repo = repository_under(self.root, relative)
        revision_range = revision_range or picker.range()
        result = review(repo, revision_range)
        return render_page(result, self._controls(picker, repo, relative, result))

    def _controls(self, picker: Picker, repo: Path, relative: str, result: Review) -> Controls:
        git_repo = open_repo(repo)
        lab = url_path_join(self.base_url, "lab", "tree")
        checked_out = current_branch(git_repo)
        opened = {
            change.path: url_path_join(lab, quote(relative), quote(change.path))
            for change in result.changes
            if change.status != "deleted" and checked_out == result.head
        }
        results = {}
        for change in result.changes:
            if change.status == "deleted":
                continue
            data = notebook_at(repo, result.head_commit, change.path)
            if (cached := self.runs.get(content_hash(data))) is not None:
                results[change.path] = cached
        return Controls(
            picker=picker.form(),
            compare_url=compare_url(remote_url(git_repo), result.base, result.head) or "",
            open_urls=opened,
            run_url=url_path_join(self.base_url, ROUTE, "run"),
            xsrf=self.xsrf_token.decode("ascii"),
            repo=relative,
            head_commit=result.head_commit,
            results=results,
        )


class Picker:
    """The form that chooses a repository, a branch and a base."""

    def __init__(self, root: Path, repo: str, head: str, base: str) -> None:
        self.repos = repositories(root)
        self.repo, self.head, self.base = repo, head, base
        self.branches: list[str] = []
        self.default: str | None = None
        if repo:
            git_repo = open_repo(repository_under(root, repo))
            self.branches = branches(git_repo)
            self.default = default_branch(git_repo)
            self.head = head or current_branch(git_repo) or ""

    def range(self) -> str:
        """``base..head``, or ``default...head``: from the merge base with the default branch."""
        if self.base:
            return f"{self.base}..{self.head}"
        return f"{self.default or 'HEAD'}...{self.head}"

    def form(self) -> str:
        repos = "".join(_option(name, name == self.repo) for name in self.repos)
        if not self.repo:
            repos = '<option value="" selected>choose a repository</option>' + repos
        heads = "".join(_option(name, name == self.head) for name in self.branches)
        hint = f"merge base with {self.default}" if self.default else "a commit or branch"
        return (
            '<form class="picker" method="get">'
            f'<label>Repository<select name="repo">{repos}</select></label>'
            f'<label>Branch<select name="head">{heads}</select></label>'
            f'<label>Base<input name="base" value="{html.escape(self.base, quote=True)}"'
            f' placeholder="{html.escape(hint, quote=True)}"></label>'
            '<button type="submit">Review</button></form>'
        )

    def page(self) -> str:
        empty = "" if self.repos else "<p>No git repository under the root directory.</p>"
        return (
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>Notebook review</title><style>{PICKER_STYLE}</style></head><body>"
            f"<h1>Notebook review</h1>{empty}{self.form()}"
            f"<script>{PICKER_SCRIPT}</script></body></html>"
        )


PICKER_STYLE = (
    "body { font-family: system-ui, sans-serif; margin: 1.5em 2em; }"
    " form.picker { display: flex; gap: 1em; align-items: end; }"
    " form.picker label { display: flex; flex-direction: column; font-size: 0.9em; }"
)
# A new repository has other branches: ask again without the old branch.
PICKER_SCRIPT = (
    'document.querySelector("form.picker select[name=repo]").addEventListener("change",'
    " (e) => { const f = e.target.form; f.head.disabled = true; f.base.disabled = true;"
    " f.submit(); });"
)


def _option(name: str, selected: bool) -> str:
    chosen = " selected" if selected else ""
    value = html.escape(name, quote=True)
    return f'<option value="{value}"{chosen}>{html.escape(name)}</option>'


class RunHandler(JupyterHandler):
    """POST ``{"repo", "commit", "path"}``: run that notebook as committed; its result as JSON."""

    auth_resource = "kernels"

    def initialize(self, root: Path, runs: RunCache) -> None:
        self.root = root
        self.runs = runs

    @web.authenticated
    @authorized("execute")
    async def post(self) -> None:
        try:
            asked = json.loads(self.request.body or b"{}")
            relative, commit, path = (str(asked[key]) for key in ("repo", "commit", "path"))
            if PurePosixPath(path).is_absolute() or ".." in PurePosixPath(path).parts:
                raise ReviewError(f"{path!r} is not a path inside the repository")
            repo = repository_under(self.root, relative)
            data = await asyncio.to_thread(notebook_at, repo, commit, path)
        except (ValueError, KeyError, TypeError, ReviewError, BadName, BadObject) as error:
            message = redact_paths(str(error), str(self.root))
            raise web.HTTPError(400, f"cannot run: {message}") from None
        result = await self.runs.run(repository_root(repo), path, data)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(result.__dict__))
