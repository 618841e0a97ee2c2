"""A changed notebook's run on the head commit, on demand from the review page, cached by content.

The notebook as committed at head runs headless with the project's runner
(``hubscale_nb.execute``: its kernel, its ``metadata.hubscale`` options, the caller's
environment, so inside a hub server Spark and Flink point at the user's own clusters), in its
folder of the working tree (where its data files are). A result is kept under the SHA-256 of
the notebook's bytes: an unchanged notebook is not run twice, and two runs asked at once share
one execution.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from dataclasses import asdict
from pathlib import Path, PurePosixPath

import nbformat

from hubscale_nb.errors import CellError, NotebookError
from hubscale_nb.execute import run
from hubscale_nb.options import RunOptions, notebook_options
from hubscale_nb.review_page import Result
from hubscale_nb.review_repo import open_repo


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hubscale" / "review-runs"


def notebook_at(repo: Path, commit: str, path: str) -> bytes:
    """The notebook's bytes as committed; KeyError when it is not in that commit."""
    tree = open_repo(repo).commit(commit).tree
    return tree[str(PurePosixPath(path))].data_stream.read()


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RunCache:
    """Results by content hash, one JSON file each; runs in flight shared by hash."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._running: dict[str, asyncio.Future[Result]] = {}

    def get(self, digest: str) -> Result | None:
        try:
            stored = json.loads((self.directory / f"{digest}.json").read_text(encoding="utf-8"))
            return Result(**{**stored, "cached": True})
        except (OSError, ValueError, TypeError):
            return None

    def put(self, digest: str, result: Result) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{digest}.json"
        partial = target.with_suffix(".tmp")
        partial.write_text(json.dumps(asdict(result)), encoding="utf-8")
        partial.replace(target)

    async def run(self, repo: Path, path: str, data: bytes) -> Result:
        """The cached result for ``data``, else a fresh run in a thread (never the loop)."""
        digest = content_hash(data)
        if (cached := self.get(digest)) is not None:
            return cached
        if digest in self._running:
            return await asyncio.shield(self._running[digest])
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._running[digest] = future
        try:
            # run_in_executor, not to_thread: to_thread copies the context, and with it
            # jupyter_core's context-variable event loop (the server's, running) that nbclient
            # would then try to run again ("This event loop is already running").
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(None, execute, repo, path, data)
            self.put(digest, result)
            future.set_result(result)
            return result
        except BaseException as error:
            future.set_exception(error)
            raise
        finally:
            del self._running[digest]
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: no "never retrieved" warning


def execute(repo: Path, path: str, data: bytes) -> Result:
    """Run the notebook ``data`` (``path`` in ``repo``) and say how it went."""
    started = time.monotonic()
    where = repo / path
    folder = where.parent if where.parent.is_dir() else repo
    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
        options = notebook_options(where, notebook.metadata, RunOptions())
        if options.skip:
            return Result("skipped", time.monotonic() - started, options.skip)
        run(notebook, options, where, cwd=folder)
    except CellError as error:
        detail = error.message
        return Result("failed", time.monotonic() - started, detail, error.cell_number)
    except NotebookError as error:
        return Result("failed", time.monotonic() - started, error.message)
    except (UnicodeDecodeError, ValueError) as error:
        return Result("failed", time.monotonic() - started, f"not a readable notebook: {error}")
    return Result("passed", time.monotonic() - started)
