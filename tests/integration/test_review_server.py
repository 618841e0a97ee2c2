"""The review page in a real Jupyter server (the extension as the spawner enables it) and in real
Chromium: nbdime's web diff draws every changed notebook, the page written by the CLI draws the
same offline; a large review never stalls the user's server, and the server's authorizer
decides who may read it. Screenshots go to bench/results/screenshots/."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from hubscale.ports import free_port
from hubscale_nb.review import write_review
from spawner.notebook_env import REVIEW_EXTENSION
from tests.integration.browser import chromium, wait
from tests.nb_support import REPO, git, git_env, notebook, v4, write
from tests.support import wait_for

SCREENSHOTS = REPO / "bench" / "results" / "screenshots"

TOKEN = "review-test-token"
NOTEBOOKS, CELLS = 40, 150  # a review nbdime takes seconds over


def big_change(root: Path, env: dict[str, str]) -> None:
    """A repository whose last commit rewrites every cell of many notebooks."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main", env=env)
    for version in ("old", "new"):
        for number in range(NOTEBOOKS):
            cells = [f"value_{cell} = '{version} {number} {cell}'" for cell in range(CELLS)]
            write(root / f"nb{number:02}.ipynb", notebook(*cells))
        git(root, "add", "-A", env=env)
        git(root, "commit", "-qm", version, env=env)


def table(rows: dict[str, int]) -> dict[str, str]:
    """A DataFrame-like result: an HTML table and its text."""
    cells = "".join(f"<tr><td>{name}</td><td>{value}</td></tr>" for name, value in rows.items())
    return {
        "text/html": f"<table><thead><tr><th>region</th><th>revenue</th></tr></thead>"
        f"<tbody>{cells}</tbody></table>",
        "text/plain": repr(rows),
    }


def revenue(currency: str, region: str, rows: dict[str, int], added: bool = False):
    nb = notebook(
        f"# md: # Revenue\n\nBy **region**, in *{currency}*.",
        f"df = load({region!r})",
        *[f"step_{n} = {n}" for n in range(6)],
    )
    nb.cells[1].outputs = [v4.new_output("execute_result", data=table(rows), execution_count=1)]
    if added:
        nb.cells.append(v4.new_markdown_cell("## Added section\n\nA *new* cell."))
    return nb


def feature_branch(root: Path, env: dict[str, str]) -> None:
    """main and a branch that changes a markdown cell, a code cell's source and its table
    output, and adds a cell."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main", env=env)
    write(root / "revenue.ipynb", revenue("EUR", "eu", {"north": 100, "south": 200}))
    git(root, "add", "-A", env=env)
    git(root, "commit", "-qm", "first", env=env)
    git(root, "remote", "add", "origin", "git@github.com:team/analysis.git", env=env)
    git(root, "checkout", "-qb", "feature", env=env)
    changed = revenue("USD", "us", {"north": 110, "south": 210}, added=True)
    write(root / "revenue.ipynb", changed)
    write(root / "checks.ipynb", notebook("x = 1", "# md: x must be 2", "assert x == 2, 'x is 1'"))
    git(root, "add", "-A", env=env)
    git(root, "commit", "-qm", "feature", env=env)


DENY_CONTENTS = """
from jupyter_server.auth import Authorizer

class DenyContents(Authorizer):
    def is_authorized(self, handler, user, action, resource):
        return resource != "contents"
"""


def start_server(root: Path, tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [
        sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", f"--port={port}",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.root_dir={root}",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.jpserver_extensions={REVIEW_EXTENSION}=True", *extra,
    ]  # fmt: skip
    # this checkout's hubscale_nb, not the one the virtualenv was installed from
    env = {**git_env(tmp_path / "server-home"), "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(f"{url}/api/status"), timeout_s=60)
    return process, url


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, headers=HEADERS, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


HEADERS = {"Authorization": f"token {TOKEN}"}


@pytest.fixture(scope="module")
def root_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's root: a large change in big/, a feature branch in analysis/, a notebook
    nbformat cannot read and a broken link (for the error pages)."""
    root = tmp_path_factory.mktemp("review-server") / "root"
    big_change(root / "big", git_env(root.parent / "home"))
    feature_branch(root / "analysis", git_env(root.parent / "home"))
    (root / "unreadable.ipynb").write_text("{}")  # no cells: nbformat cannot read it
    (root / "broken.ipynb").symlink_to(root.parent / "gone.ipynb")
    return root


@pytest.fixture(scope="module")
def served(root_dir: Path) -> Iterator[str]:
    process, url = start_server(root_dir, root_dir.parent)
    yield url
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(served: str) -> Iterator[WebDriver]:
    """One headless Chromium for the module, signed in to the server with its token."""
    for driver in chromium():
        driver.get(f"{served}/tree?token={TOKEN}")
        yield driver


def drawn_diffs(browser: WebDriver) -> list[dict[str, object]]:
    """What nbdime drew in each frame of the review page, once every frame has drawn."""
    frames = wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "iframe.nbdime-frame"))
    drawn = []
    for frame in frames:
        browser.execute_script("arguments[0].scrollIntoView()", frame)  # frames draw when near
        browser.switch_to.frame(frame)
        wait(browser).until(lambda d: d.execute_script("return document.body.dataset.rendered"))
        drawn.append(browser.execute_script(READ_FRAME))
        browser.switch_to.default_content()
    return drawn


READ_FRAME = """
const texts = (css) => [...document.querySelectorAll(css)].map((e) => e.innerText.trim());
return {
  rendered: document.body.dataset.rendered,
  markdownBase: [...document.querySelectorAll(".review-markdown-base")].map((e) => e.innerHTML),
  markdownHead: [...document.querySelectorAll(".review-markdown-head")].map((e) => e.innerHTML),
  tables: texts(".jp-Diff-removed table, .jp-Diff-added table, .jp-Diff-twoway table"),
  added: texts(".jp-Cell-diff.jp-Diff-added"),
  hidden: texts(".jp-Diff-unchanged-hidden, [data-nbdime-ncellshiddenbefore]"),
  sources: texts(".cm-content"),
};
"""


def screenshot(browser: WebDriver, name: str) -> None:
    """The whole page (past the window) as a PNG in bench/results/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot", {"captureBeyondViewport": True, "format": "png"}
    )
    (SCREENSHOTS / name).write_bytes(base64.b64decode(shot["data"]))


def assert_the_branch_is_drawn(drawn: list[dict[str, object]]) -> None:
    _checks, diff = drawn  # sorted by path
    assert diff["rendered"] == "true", diff
    # the changed markdown cell, rendered on both sides; and the added one, on its side
    assert "<strong>region</strong>" in diff["markdownBase"][0]
    assert "<em>EUR</em>" in diff["markdownBase"][0] and "<em>USD</em>" in diff["markdownHead"][0]
    assert any("Added section" in html and "<em>new</em>" in html for html in diff["markdownHead"])
    # the changed source, and the table output drawn as tables on both sides
    assert any("load('eu')" in text for text in diff["sources"])
    assert any("load('us')" in text for text in diff["sources"])
    tables = " ".join(diff["tables"])
    assert "100" in tables and "110" in tables and "revenue" in tables, diff["tables"]
    assert any("Added section" in text for text in diff["added"]), diff["added"]


def test_the_review_page_draws_the_branch_with_nbdimes_web_diff(served, browser):
    browser.get(f"{served}/hubscale/review?repo=analysis&range=main..feature")

    drawn = drawn_diffs(browser)

    screenshot(browser, "review-server.png")
    assert_the_branch_is_drawn(drawn)


def test_the_picker_lists_branches_and_reviews_from_the_merge_base(served, browser):
    browser.get(f"{served}/hubscale/review")
    repos = [o.text for o in browser.find_elements(By.CSS_SELECTOR, "select[name=repo] option")]
    assert repos == ["choose a repository", "analysis", "big"]
    Select(browser.find_element(By.CSS_SELECTOR, "select[name=repo]")).select_by_value("analysis")
    wait(browser).until(lambda d: "repo=analysis" in d.current_url)

    branch = wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, "select[name=head]"))
    options = [o.text for o in branch.find_elements(By.TAG_NAME, "option")]
    assert options == ["main", "feature"]  # the default branch first
    Select(branch).select_by_value("feature")
    assert "merge base with main" in browser.find_element(By.NAME, "base").get_attribute(
        "placeholder"
    )
    browser.find_element(By.CSS_SELECTOR, "form.picker button").click()

    wait(browser).until(
        lambda d: "main...feature" in d.current_url or "head=feature" in d.current_url
    )
    drawn = drawn_diffs(browser)
    assert_the_branch_is_drawn(drawn)
    compare = browser.find_element(By.CSS_SELECTOR, "a.compare").get_attribute("href")
    assert compare == "https://github.com/team/analysis/compare/main...feature"
    opened = [a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "a.open")]
    assert opened == [
        f"{served}/lab/tree/analysis/{name}" for name in ("checks.ipynb", "revenue.ipynb")
    ]
    screenshot(browser, "review-picker.png")


def test_run_marks_a_failing_notebook_with_its_cell_and_a_second_run_is_cached(served, browser):
    browser.get(f"{served}/hubscale/review?repo=analysis&head=feature")
    section = wait(browser).until(
        lambda d: d.find_element(By.CSS_SELECTOR, 'section[data-path="checks.ipynb"]')
    )

    section.find_element(By.CSS_SELECTOR, "button.run").click()
    result = section.find_element(By.CSS_SELECTOR, ".result")
    wait(browser).until(lambda d: "running" not in result.get_attribute("class"))
    first = result.text
    section.find_element(By.CSS_SELECTOR, "button.run").click()
    wait(browser).until(lambda d: "(cached)" in result.text)

    screenshot(browser, "review-run.png")
    assert "failed" in result.get_attribute("class"), first
    assert first.startswith("failed in ") and "cell 3 (index 2" in first, first
    assert "AssertionError: x is 1" in first and "(cached)" not in first, first
    assert result.text.startswith("failed in ") and "cell 3 (index 2" in result.text
    browser.switch_to.frame(section.find_element(By.CSS_SELECTOR, "iframe.nbdime-frame"))
    outlined = wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".review-failed"))
    assert len(outlined) == 1 and "assert x == 2" in outlined[0].text  # the cell, in nbdime's view
    assert "Failed here on head" in outlined[0].text
    browser.switch_to.default_content()
    # the page shows a cached result when it opens
    browser.refresh()
    shown = wait(browser).until(
        lambda d: d.find_element(By.CSS_SELECTOR, 'section[data-path="checks.ipynb"] .result')
    )
    assert "(cached)" in shown.text and "cell 3" in shown.text


def test_the_cli_page_draws_the_same_offline(root_dir, browser, tmp_path):
    out = tmp_path / "review.html"
    write_review(root_dir / "analysis", "main..feature", out)

    browser.get(out.as_uri())
    drawn = drawn_diffs(browser)

    screenshot(browser, "review-cli.png")
    assert_the_branch_is_drawn(drawn)


def test_a_large_review_does_not_stall_the_users_server(served):
    """While a review of seconds runs, the server keeps answering: no request waits for it."""
    review: dict[str, float] = {}

    def run_review() -> None:
        review["start"] = time.monotonic()
        page = httpx.get(
            f"{served}/hubscale/review", params={"repo": "big", "range": "main~1..main"},
            headers=HEADERS, timeout=300,
        )  # fmt: skip
        review["end"] = time.monotonic()
        review["ok"] = page.status_code == 200 and "nb39.ipynb" in page.text

    reviewing = threading.Thread(target=run_review)
    reviewing.start()
    waits = []
    while reviewing.is_alive():
        asked = time.monotonic()
        assert httpx.get(f"{served}/api/status", headers=HEADERS, timeout=300).status_code == 200
        waits.append(time.monotonic() - asked)
        time.sleep(0.05)
    assert review["ok"]
    duration = review["end"] - review["start"]
    # a server blocked by the review makes the first status request wait for most of it
    assert max(waits) < duration / 2, (waits, duration)


def test_error_pages_name_paths_relative_to_the_root(served):
    page = httpx.get(
        f"{served}/hubscale/review", params={"repo": "big", "range": "nope..main"},
        headers=HEADERS, timeout=60,
    )  # fmt: skip
    assert page.status_code == 400 and "nope" in page.text
    assert "/root" not in page.text, page.text


@pytest.mark.parametrize(
    "path",
    [
        "/api/contents/unreadable.ipynb",
        "/api/contents/broken.ipynb",
        "/nbconvert/html/unreadable.ipynb",
        "/nbconvert/html/broken.ipynb",
    ],
)
def test_the_servers_own_error_pages_show_no_absolute_path(served, path):
    """Issue 14, finding 10: Jupyter Server's contents and nbconvert errors named the notebook
    by its absolute path (``Unreadable Notebook: /…/root/unreadable.ipynb``)."""
    page = httpx.get(f"{served}{path}", headers=HEADERS, timeout=60)
    assert page.status_code >= 400
    assert "review-server" not in page.text and "/tmp" not in page.text, page.text
    assert "ipynb" in page.text  # still says which notebook, relative to the root


def test_the_servers_authorizer_decides_who_reads_a_review(tmp_path):
    (tmp_path / "deny_contents.py").write_text(DENY_CONTENTS)
    root = tmp_path / "root"
    root.mkdir()
    process, url = start_server(
        root, tmp_path, "--ServerApp.authorizer_class=deny_contents.DenyContents"
    )
    try:
        page = httpx.get(f"{url}/hubscale/review", headers=HEADERS, timeout=60)
        assert page.status_code == 403
        assert httpx.get(f"{url}/api/status", headers=HEADERS, timeout=60).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize(
    ("asked", "named"),
    [
        ({"repo": "analysis", "commit": "feature", "path": "../../etc/passwd"}, "not a path"),
        ({"repo": "analysis", "commit": "feature", "path": "/etc/passwd"}, "not a path"),
        ({"repo": "..", "commit": "feature", "path": "checks.ipynb"}, "outside"),
        ({"repo": "analysis", "commit": "no-such-ref", "path": "checks.ipynb"}, "no-such-ref"),
        ({"repo": "analysis", "commit": "main", "path": "checks.ipynb"}, "checks.ipynb"),
        ({"repo": "analysis"}, "commit"),
    ],
)
def test_a_bad_run_request_is_a_400_naming_what_is_wrong(served, root_dir, asked, named):
    answer = httpx.post(f"{served}/hubscale/review/run", json=asked, headers=HEADERS, timeout=60)

    assert answer.status_code == 400, answer.text
    assert named in answer.text and str(root_dir) not in answer.text, answer.text
