"""The review page inside every notebook server: ``<server>/hubscale/review?repo=…&range=…``.

A Jupyter server extension (enabled by ``spawner.notebook_env.server_args``): the same page as
``hubscale-nb review``, for a repository under the server's root directory, behind the server's
own login and authorizer (reading a repository is reading ``contents``). Without ``repo`` it
lists the git repositories it can review. Reviews run in a thread: a large one never stalls the
user's server.
"""

from __future__ import annotations

import asyncio
import html
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from hubscale_nb.review import ReviewError, repository_root, review
from hubscale_nb.review_page import render_page

ROUTE = "/hubscale/review"
DEFAULT_RANGE = "HEAD~1..HEAD"
SEARCH_DEPTH = 2  # repositories at most this deep under the root are listed


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "hubscale_nb.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    web_app = serverapp.web_app
    route = url_path_join(web_app.settings["base_url"], ROUTE)
    root = Path(serverapp.root_dir).resolve()
    web_app.add_handlers(".*$", [(route, ReviewHandler, {"root": root})])


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
    """GET: the review page of ``repo`` (relative to the root) for ``range`` (git syntax)."""

    auth_resource = "contents"

    def initialize(self, root: Path) -> None:
        self.root = root

    @web.authenticated
    @authorized
    async def get(self) -> None:
        relative = self.get_argument("repo", "")
        revision_range = self.get_argument("range", DEFAULT_RANGE) or DEFAULT_RANGE
        self.set_header("Content-Type", "text/html; charset=utf-8")
        try:
            page = await asyncio.to_thread(self._page, relative, revision_range)
        except ReviewError as error:
            self.set_status(400)
            message = str(error).replace(f"{self.root}/", "").replace(str(self.root), ".")
            page = f"<!DOCTYPE html><p>Cannot review: {html.escape(message)}</p>"
        self.finish(page)

    def _page(self, relative: str, revision_range: str) -> str:
        if not relative:
            return self._index()
        return render_page(review(repository_under(self.root, relative), revision_range))

    def _index(self) -> str:
        items = "".join(
            f'<li><a href="?{html.escape(urlencode({"repo": name, "range": DEFAULT_RANGE}))}">'
            f"{html.escape(name)}</a></li>"
            for name in repositories(self.root)
        )
        return (
            "<!DOCTYPE html><title>Notebook review</title><h1>Notebook review</h1>"
            "<p>Add <code>?repo=PATH&amp;range=BASE..HEAD</code> to review a branch.</p>"
            f"<ul>{items or '<li>No git repository under the root directory.</li>'}</ul>"
        )
