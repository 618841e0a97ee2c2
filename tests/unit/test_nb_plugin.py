"""``pytest notebooks/`` with the plugin (a child pytest, real kernels) and the same checks from
``python -m hubscale_nb test``: what is collected, what a failure shows, options, exit codes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hubscale_nb.__main__ import main
from tests.nb_support import notebook, run_pytest, run_python, v4, write

PERCENT_HEADER = (
    "# ---\n# jupyter:\n#   kernelspec:\n#     display_name: Python 3\n"
    "#     language: python\n#     name: python3\n# ---\n\n"
)
CONF_DIR = "/srv/clusters/alice/spark/conf"


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A team's notebooks folder: passing, failing in cell 3, hanging, skipped, twins."""
    root = tmp_path_factory.mktemp("team") / "notebooks"
    write(root / "passes.ipynb", notebook("total = sum(range(5))", "assert total == 10"))
    fails = notebook(
        "# md: Revenue",
        "revenue = {'north': 10}",
        "revenue['south'] / revenue['north']",
        "print('unreached')",
    )
    fails.cells[1].outputs = [v4.new_output("stream", name="stdout", text="x" * 5000)]
    write(root / "fails.ipynb", fails)
    write(root / "sub" / "hangs.ipynb", notebook("import time", "time.sleep(600)", timeout=3))
    write(root / "skipped.ipynb", notebook("raise SystemExit(1)", skip="needs the warehouse"))
    uses_env = f"import os\nassert os.environ['SPARK_CONF_DIR'] == {CONF_DIR!r}"
    write(root / "cluster.ipynb", notebook(uses_env))
    (root / "twin_only.py").write_text(PERCENT_HEADER + "# %%\nx = 1\n\n# %%\nassert x == 1\n")
    (root / "passes.py").write_text(PERCENT_HEADER + "# %%\nraise RuntimeError('twin ran')\n")
    (root / "helpers.py").write_text("# %%\nraise RuntimeError('a module, not a notebook')\n")
    return root


@pytest.fixture(scope="module")
def team_run(notebooks: Path) -> subprocess.CompletedProcess[str]:
    """``pytest -v notebooks`` in the team's repository, inside a server with a Spark cluster."""
    env = {**os.environ, "SPARK_CONF_DIR": CONF_DIR}
    return run_pytest("-v", "--junitxml=report.xml", "notebooks", cwd=notebooks.parent, env=env)


def test_pytest_collects_one_test_per_notebook_and_twins_only_without_their_ipynb(team_run):
    out = team_run.stdout
    assert team_run.returncode == 1, out + team_run.stderr
    for name, outcome in [
        ("passes.ipynb", "PASSED"),
        ("twin_only.py", "PASSED"),
        ("cluster.ipynb", "PASSED"),  # the kernel saw the server's environment
        ("skipped.ipynb", "SKIPPED"),
        ("fails.ipynb", "FAILED"),
        ("sub/hangs.ipynb", "FAILED"),
    ]:
        assert f"notebooks/{name}::notebook {outcome}" in out
    assert "passes.py" not in out and "helpers.py" not in out  # twin of an .ipynb; a module
    assert "2 failed, 3 passed, 1 skipped" in out


def test_a_failure_report_shows_the_cell_its_source_and_traceback_not_json(team_run, notebooks):
    out = team_run.stdout
    source = "revenue['south'] / revenue['north']"
    assert "fails.ipynb: cell 3 (index 2, In [2]) raised KeyError: 'south'" in out
    assert f"---- source of cell 3 (index 2, In [2]) ----\n{source}" in out
    assert f"----> 1 {source}" in out
    assert "hangs.ipynb: cell 2 (index 1, In [2]) timed out" in out and "time.sleep(600)" in out
    assert "xxxxxxxxxx" not in out and '"cell_type"' not in out  # no notebook JSON, no outputs
    assert (notebooks.parent / "report.xml").exists()


def test_command_line_options_set_kernel_timeout_and_output_comparison(tmp_path):
    elsewhere = {"name": "team-kernel", "display_name": "Team", "language": "python"}
    drift = notebook("print('a')", timeout=300)  # metadata wins over --nb-timeout
    drift.cells[0].outputs = [v4.new_output("stream", name="stdout", text="b\n")]
    same = notebook("print('same')", timeout=300)
    same.cells[0].outputs = [v4.new_output("stream", name="stdout", text="same\n")]
    slow = notebook("import time; time.sleep(600)")
    pinned = notebook("1", kernel="no-such-kernel")  # metadata wins over --nb-kernel
    for nb, name in [(drift, "drift"), (same, "same"), (slow, "slow"), (pinned, "pinned")]:
        nb.metadata.kernelspec = elsewhere  # not installed here: --nb-kernel replaces it
        write(tmp_path / f"{name}.ipynb", nb)

    run = run_pytest(
        "--nb-kernel", "python3", "--nb-timeout", "8", "--nb-compare-outputs", ".", cwd=tmp_path
    )  # fmt: skip

    assert "drift.ipynb: outputs differ from the stored ones in cell(s) 1" in run.stdout
    assert "slow.ipynb: cell 1 (index 0, In [1]) timed out" in run.stdout
    assert "8 s timeout" in run.stdout
    assert "pinned.ipynb: no kernel named 'no-such-kernel'" in run.stdout
    assert "3 failed, 1 passed" in run.stdout, run.stdout


def test_the_command_line_runs_the_same_checks_and_exits_1_on_a_failure(
    notebooks, tmp_path, capsys
):
    failing = main(["test", *(str(notebooks / n) for n in ("fails.ipynb", "skipped.ipynb"))])
    failing_out = capsys.readouterr().out
    passing = main(["test", str(notebooks / "twin_only.py"), str(notebooks / "skipped.ipynb")])
    passing_out = capsys.readouterr().out
    empty = main(["test", str(tmp_path)])
    missing = main(["test", str(tmp_path / "no-such-folder")])

    assert failing == 1
    assert "cell 3 (index 2, In [2]) raised KeyError: 'south'" in failing_out
    assert failing_out.rstrip().endswith("0 passed, 1 failed, 1 skipped")
    assert passing == 0
    assert passing_out.rstrip().endswith("1 passed, 0 failed, 1 skipped")
    assert (empty, missing) == (1, 2)  # nothing to test; not a notebook or folder


def test_the_plugin_costs_a_pytest_run_without_notebooks_no_notebook_imports(tmp_path):
    code = (
        "import sys, hubscale_nb.pytest_plugin\n"
        "heavy = {'nbformat', 'nbclient', 'jupytext', 'nbdime', 'papermill'} & set(sys.modules)\n"
        "assert not heavy, heavy"
    )
    run = run_python("-c", code, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
