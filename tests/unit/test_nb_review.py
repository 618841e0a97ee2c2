"""The review: every notebook changed between two commits of a real git repository, and the one
self-contained HTML page that carries nbdime's web app with exactly what changed (no execution
counts, no metadata). The page as a browser draws it: tests/integration/test_review_server.py."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbdime import patch
from nbdime.diff_utils import to_diffentry_dicts

from hubscale_nb.nbdime_app import nbdime_bundle
from hubscale_nb.review import ReviewError, parse_range, review
from hubscale_nb.review_page import render_page
from tests.nb_support import git, git_env, notebook, run_python, v4, write


def analysis(query: str, revenue: str, count: int) -> nbformat.NotebookNode:
    """A notebook run once: sources, outputs and execution counts as Jupyter saves them."""
    nb = notebook("# md: Revenue by region", "import pandas as pd", query, "total.sum()")
    for offset, cell in enumerate(nb.cells[1:]):
        cell.execution_count = count + offset
    nb.cells[3].outputs = [
        v4.new_output("execute_result", data={"text/plain": revenue}, execution_count=count + 2)
    ]
    return nb


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Two commits: one cell's source and one output changed, plus the noise a re-run makes."""
    root, env = tmp_path / "repo", git_env(tmp_path / "home")
    root.mkdir()
    git(root, "init", "-q", "-b", "main", env=env)
    write(root / "notebooks" / "revenue.ipynb", analysis("total = df.revenue", "1200", 1))
    write(root / "notebooks" / "rerun.ipynb", analysis("x = 1", "1", 1))
    old_study = [f"print('step {step} of the old study, long gone')" for step in range(40)]
    write(root / "notebooks" / "removed.ipynb", notebook(*old_study))
    write(root / "notebooks" / "old_name.ipynb", analysis("y = 2", "2", 1))
    (root / "notes.md").write_text("not a notebook\n")
    git(root, "add", ".", env=env)
    git(root, "commit", "-qm", "first", env=env)

    changed = analysis("total = df.revenue * 1.2", "1440", 7)  # new source and output
    changed.metadata["widgets"] = {"state": {}}  # metadata noise
    changed.cells[1].metadata["collapsed"] = True
    write(root / "notebooks" / "revenue.ipynb", changed)
    rerun = analysis("x = 1", "1", 30)  # only re-run: counts differ
    rerun.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    write(root / "notebooks" / "rerun.ipynb", rerun)
    (root / "notebooks" / "removed.ipynb").unlink()
    write(root / "notebooks" / "added.ipynb", notebook("# md: A new study", "import math"))
    (root / "notebooks" / "old_name.ipynb").rename(root / "notebooks" / "new_name.ipynb")
    (root / "notes.md").write_text("changed\n")
    git(root, "add", "-A", env=env)
    git(root, "commit", "-qm", "second", env=env)
    return root, env


def test_the_review_shows_exactly_the_changed_source_and_output(repo):
    root, _ = repo
    result = review(root, "HEAD~1..HEAD")

    changes = {change.path: change for change in result.changes}
    assert {path: change.status for path, change in changes.items()} == {
        "notebooks/added.ipynb": "added",
        "notebooks/new_name.ipynb": "renamed from notebooks/old_name.ipynb",
        "notebooks/removed.ipynb": "deleted",
        "notebooks/revenue.ipynb": "modified",
        "notebooks/rerun.ipynb": "modified",
    }
    text = re.sub(r"\x1b\[[0-9;]*m", "", changes["notebooks/revenue.ipynb"].diff)
    assert re.findall(r"^## (.*)$", text, re.M) == [
        "modified /cells/2/source:",
        "modified /cells/3/outputs/0/data/text/plain:",
    ]
    assert re.search(r"^-\s*total = df.revenue$", text, re.M)
    assert re.search(r"^\+\s*total = df.revenue \* 1.2$", text, re.M)
    assert re.search(r"^-\s+1200$", text, re.M) and re.search(r"^\+\s+1440$", text, re.M)
    assert changes["notebooks/rerun.ipynb"].diff == ""  # execution counts and metadata only
    assert changes["notebooks/new_name.ipynb"].diff == ""


def test_the_page_is_one_file_carrying_nbdimes_app_and_every_diff(repo, tmp_path):
    root, env = repo
    out = tmp_path / "review.html"

    run = run_python(
        "-m", "hubscale_nb", "review", "HEAD~1..HEAD", "--repo", str(root), "--out", str(out),
        cwd=tmp_path, env=env,
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    assert "5 notebook(s) changed" in run.stdout
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert " src=" not in page and "<link" not in page  # nothing loaded from elsewhere
    assert json.loads(bundle_text(page)) == nbdime_bundle()  # one copy, for every frame
    frames = [frame_data(srcdoc) for srcdoc in re.findall(r'srcdoc="([^"]*)"', page)]
    # one sandboxed frame per notebook with a change to draw (not the re-run, not the rename)
    assert page.count('sandbox="allow-scripts"') == len(frames) == 3
    heads = json.dumps([patch(f["base"], to_diffentry_dicts(f["diff"])) for f in frames])
    assert "total = df.revenue * 1.2" in heads and "1440" in heads  # the data draws the head
    (revenue,) = [json.dumps(f["diff"]) for f in frames if "1440" in json.dumps(f["diff"])]
    for noise in ("execution_count", "metadata", "widgets", "collapsed", "language_info"):
        assert noise not in revenue, noise  # a modified notebook: only what a reader needs
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert "Only execution counts, cell ids or metadata changed." in text


def bundle_text(page: str) -> str:
    return re.search(
        r'<script type="application/json" id="nbdime-bundle">(.*?)</script>', page, re.S
    )[1]


def frame_data(srcdoc: str) -> dict:
    document = html.unescape(srcdoc)
    return json.loads(
        re.search(r'<script id="review-data" [^>]*>(.*?)</script>', document, re.S)[1]
    )


def test_a_merge_base_range_reviews_only_the_branchs_own_changes(repo):
    root, env = repo
    git(root, "checkout", "-qb", "feature", "HEAD~1", env=env)
    write(root / "notebooks" / "branch.ipynb", notebook("print('branch')"))
    git(root, "add", ".", env=env)
    git(root, "commit", "-qm", "branch", env=env)

    result = review(root, "main...feature")

    assert [(c.path, c.status) for c in result.changes] == [("notebooks/branch.ipynb", "added")]


def test_a_bad_range_or_folder_is_an_error_naming_it(repo, tmp_path):
    root, env = repo
    with pytest.raises(ReviewError, match="no-such-branch"):
        review(root, "no-such-branch..HEAD")
    with pytest.raises(ReviewError, match="not in a git repository"):
        review(tmp_path / "home", "HEAD~1..HEAD")
    run = run_python(
        "-m", "hubscale_nb", "review", "nope..HEAD", "--repo", str(root), cwd=root, env=env
    )  # fmt: skip
    assert run.returncode == 2 and "nope" in run.stderr


def test_ranges_are_read_as_git_reads_them():
    assert parse_range("main..feature") == ("main", "feature", False)
    assert parse_range("main...feature") == ("main", "feature", True)
    assert parse_range("v1.0") == ("v1.0", "HEAD", False)
    assert parse_range("..feature") == ("HEAD", "feature", False)


def test_a_page_carries_diffs_up_to_its_budget_and_names_the_rest(repo):
    root, _ = repo
    result = review(root, "main~1..main")
    sizes = [
        len(json.dumps(frame_data(f))) for f in re.findall(r'srcdoc="([^"]*)"', render_page(result))
    ]
    budget = sum(sizes) - min(sizes) - 1  # room for all but one notebook's data

    page = render_page(result, max_data_bytes=budget)

    cut = re.findall(r'<p class="too-large">This notebook.s diff is ([\d,]+) bytes', page)
    assert page.count("<iframe") == len(sizes) - 1 and len(cut) == 1, page[-3000:]
    assert f"nbdiff-web {result.base_commit[:12]} {result.head_commit[:12]} -- " in page


def test_the_page_carries_nbdimes_icon_fonts_inline():
    """Without a server nbdime's icons cannot load from its static folder: the two Font Awesome
    faces it uses (solid 900, regular 400) come inline, found by the name inside each font."""
    bundle = nbdime_bundle()
    prefix = bundle[: bundle.index("\n")]
    assert prefix.count("data:font/woff;base64,") == 2
    assert "font-weight:900" in prefix and "font-weight:400" in prefix
