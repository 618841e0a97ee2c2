"""A changed notebook's run on head: pass/fail with the failing cell, cached by content hash.

Real kernels (python3, no cluster): the notebooks here need none. Running on the user's own
Spark and Flink clusters is the runner's own business (tests/unit/test_nb_execute.py and the
hub tests); what is covered here is the outcome, the cell and the cache.
"""

from __future__ import annotations

import asyncio
import json

import nbformat

from hubscale_nb.review_runs import RunCache, content_hash
from tests.nb_support import notebook


def as_bytes(nb: nbformat.NotebookNode) -> bytes:
    return nbformat.writes(nb).encode("utf-8")


def test_a_failing_notebook_names_its_cell_and_its_second_run_comes_from_the_cache(tmp_path):
    cache = RunCache(tmp_path / "cache")
    failing = as_bytes(notebook("x = 1", "# md: x must be 2", "assert x == 2, 'x is 1'"))

    async def twice() -> tuple:
        return await cache.run(tmp_path, "checks.ipynb", failing), await cache.run(
            tmp_path, "checks.ipynb", failing
        )

    first, second = asyncio.run(twice())

    assert (first.outcome, first.cell, first.cached) == ("failed", 3, False)
    assert "AssertionError: x is 1" in first.detail and first.duration_s > 0
    assert (second.outcome, second.cell, second.cached) == ("failed", 3, True)
    assert second.duration_s == first.duration_s  # the first run's figures, not a new run
    stored = json.loads((tmp_path / "cache" / f"{content_hash(failing)}.json").read_text())
    assert stored["outcome"] == "failed"


def test_runs_asked_at_once_share_one_execution_and_a_change_runs_again(tmp_path):
    cache = RunCache(tmp_path / "cache")
    passing = notebook("import time; time.sleep(0.5)", "print('ok')")

    async def together() -> list:
        return await asyncio.gather(
            *(cache.run(tmp_path, "ok.ipynb", as_bytes(passing)) for _ in range(3))
        )

    results = asyncio.run(together())
    passing.cells.append(nbformat.v4.new_code_cell("y = 2"))
    changed = asyncio.run(cache.run(tmp_path, "ok.ipynb", as_bytes(passing)))

    assert {(r.outcome, r.cached) for r in results} == {("passed", False)}
    assert len({r.duration_s for r in results}) == 1  # one execution, three answers
    assert (changed.outcome, changed.cached) == ("passed", False)
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2
