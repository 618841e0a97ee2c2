"""Running notebooks headless on a real python3 kernel: which cell failed, timeouts, parameters,
the environment and working directory, and nbval-style output comparison."""

from __future__ import annotations

import json
import re
import time

import nbformat
import pytest

from hubscale_nb.errors import CellError, NotebookSetupError, OutputsDiffer
from hubscale_nb.execute import check, load, run
from hubscale_nb.notebook_files import find_notebooks
from hubscale_nb.options import RunOptions
from hubscale_nb.outputs import load_sanitizers
from tests.nb_support import notebook, v4, write

FAILS_IN_CELL_3 = notebook(
    "# md: Totals",
    "totals = {'a': 1}\nprint('loaded', len(totals))",
    "share = totals['a'] / totals.get('b', 0)",
    "print('never')",
)


def test_a_notebook_failing_in_cell_3_names_cell_3_its_source_and_the_error(tmp_path):
    path = write(tmp_path / "totals.ipynb", FAILS_IN_CELL_3)

    with pytest.raises(CellError) as raised:
        check(path, RunOptions())

    error = raised.value
    assert (error.cell_number, error.cell_index) == (3, 2)
    assert error.source == "share = totals['a'] / totals.get('b', 0)"
    assert (error.ename, error.evalue) == ("ZeroDivisionError", "division by zero")
    assert "----> 1 share = totals['a'] / totals.get('b', 0)" in error.traceback
    assert "\x1b[" not in error.traceback  # ANSI colours stripped
    report = error.report()
    assert report.startswith(f"{path}: cell 3 (index 2, In [2]) raised ZeroDivisionError")
    assert "share = totals['a'] / totals.get('b', 0)" in report
    assert '"outputs"' not in report and "cell_type" not in report  # no notebook JSON


def test_a_passing_notebook_passes_and_returns_its_outputs(tmp_path):
    path = write(tmp_path / "ok.ipynb", notebook("x = 6 * 7", "print(x)"))
    notebook_, options = load(path, RunOptions())

    executed = run(notebook_, options, path)

    assert check(path, RunOptions()) is None
    assert executed.cells[1].outputs[0].text == "42\n"


def test_a_hanging_cell_fails_with_a_timeout_naming_that_cell(tmp_path):
    hangs = notebook("import time", "x = 1", "time.sleep(600)", "print('done')", timeout=3)
    path = write(tmp_path / "hangs.ipynb", hangs)
    started = time.monotonic()

    with pytest.raises(CellError) as raised:
        check(path, RunOptions())

    assert time.monotonic() - started < 60
    error = raised.value
    assert error.timed_out and (error.cell_number, error.source) == (3, "time.sleep(600)")
    assert "timed out" in error.report() and "3 s timeout" in error.report()


def test_the_timeout_is_for_the_whole_notebook_not_each_cell(tmp_path):
    slow = notebook(*["import time; time.sleep(1.5)"] * 4, timeout=4)
    path = write(tmp_path / "slow.ipynb", slow)

    with pytest.raises(CellError) as raised:
        check(path, RunOptions())

    assert raised.value.timed_out and raised.value.cell_number in (3, 4)


def test_parameters_go_after_the_parameters_cell_and_cells_keep_their_saved_numbers(tmp_path):
    parameters = v4.new_code_cell("rows = 10", metadata={"tags": ["parameters"]})
    nb = notebook(parameters, "print(rows)", "assert rows == 10, rows", parameters={"rows": 7})
    path = write(tmp_path / "report.ipynb", nb)

    with pytest.raises(CellError) as raised:
        check(path, RunOptions())

    assert raised.value.cell_number == 3  # not 4: papermill's injected cell is not counted
    assert raised.value.evalue == "7"


def test_the_kernel_runs_in_the_notebooks_folder_with_the_callers_environment(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "input.csv").write_text("a,b\n1,2\n")
    nb = notebook(
        "import os, pathlib",
        "assert pathlib.Path('input.csv').read_text() == 'a,b\\n1,2\\n'",
        "assert os.environ['SPARK_CONF_DIR'] == '/clusters/alice/spark/conf'",
    )
    path = write(tmp_path / "data" / "read.ipynb", nb)
    env = {"PATH": "/usr/bin:/bin", "SPARK_CONF_DIR": "/clusters/alice/spark/conf"}

    assert check(path, RunOptions(), env=env) is None
    with pytest.raises(CellError) as raised:
        check(path, RunOptions(), env={"PATH": "/usr/bin:/bin"})
    assert raised.value.cell_number == 3 and raised.value.ename == "KeyError"


def test_an_unknown_kernel_is_a_setup_error_listing_the_installed_ones(tmp_path):
    path = write(tmp_path / "k.ipynb", notebook("1", kernel="no-such-kernel"))

    with pytest.raises(NotebookSetupError, match=r"no kernel named 'no-such-kernel'.*python3"):
        check(path, RunOptions())


def test_a_kernel_that_dies_at_start_is_a_setup_error_naming_it(tmp_path, monkeypatch):
    spec = tmp_path / "jupyter" / "kernels" / "broken"
    spec.mkdir(parents=True)
    argv = ["/bin/sh", "-c", "echo no such engine >&2; exit 3", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Broken"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    path = write(tmp_path / "k.ipynb", notebook("1", kernel="broken"))

    with pytest.raises(NotebookSetupError, match="kernel 'broken' did not start"):
        check(path, RunOptions())


def test_a_notebook_asking_to_be_skipped_is_not_run(tmp_path):
    path = write(tmp_path / "s.ipynb", notebook("raise SystemExit(3)", skip="needs prod data"))
    assert check(path, RunOptions()) == "needs prod data"


def test_a_percent_twin_runs_only_where_its_ipynb_is_missing(tmp_path):
    script = "# %%\nvalue = 40 + 2\n\n# %%\nassert value == 42\n"
    header = (
        "# ---\n# jupyter:\n#   kernelspec:\n#     display_name: Python 3\n"
        "#     language: python\n#     name: python3\n# ---\n\n"
    )
    (tmp_path / "alone.py").write_text(header + script)
    (tmp_path / "paired.py").write_text(header + script)
    write(tmp_path / "paired.ipynb", notebook("1"))
    (tmp_path / "module.py").write_text("# %%\nimport os\n")  # no jupytext header: a module
    (tmp_path / ".ipynb_checkpoints").mkdir()
    write(tmp_path / ".ipynb_checkpoints" / "paired-checkpoint.ipynb", notebook("1"))

    found = find_notebooks([tmp_path])

    assert [path.name for path in found] == ["alone.py", "paired.ipynb"]
    assert check(tmp_path / "alone.py", RunOptions()) is None


def with_outputs(*outputs: list[nbformat.NotebookNode]) -> nbformat.NotebookNode:
    """A notebook of print cells whose stored outputs are ``outputs``."""
    nb = notebook(
        "# md: Markdown cells count in cell numbers, and have no outputs.",
        "import datetime\nprint('run at', datetime.datetime.now().isoformat())",
        "print(6 * 7)",
        "{'answer': 42}",
    )
    for cell, stored in zip(nb.cells[1:], outputs, strict=True):
        cell.outputs = stored
        cell.execution_count = 99  # a stale count: never compared
    return nb


def stream(text: str) -> list[nbformat.NotebookNode]:
    return [v4.new_output("stream", name="stdout", text=text)]


def result(text: str) -> list[nbformat.NotebookNode]:
    return [v4.new_output("execute_result", data={"text/plain": text}, execution_count=7)]


def test_fresh_outputs_equal_to_the_stored_ones_after_sanitizing_pass(tmp_path):
    sanitize = tmp_path / "sanitize.cfg"
    sanitize.write_text("[timestamps]\nregex: \\d{4}-\\d\\d-\\d\\dT[\\d:.]+\nreplace: TIME\n")
    stored = with_outputs(
        stream("run at 2020-01-01T00:00:00.000001\n"), stream("42\n"), result("{'answer': 42}")
    )
    path = write(tmp_path / "stable.ipynb", stored)

    options = RunOptions(compare_outputs=True)
    assert check(path, options, load_sanitizers(sanitize)) is None
    with pytest.raises(OutputsDiffer, match=r"cell\(s\) 2$"):
        check(path, options)  # without the sanitizer the timestamp differs


def test_a_changed_output_fails_the_comparison_with_nbdimes_diff_of_that_cell(tmp_path):
    sanitize = tmp_path / "sanitize.cfg"
    sanitize.write_text("[timestamps]\nregex: run at .*\nreplace: run at TIME\n")
    stored = with_outputs(stream("run at then\n"), stream("41\n"), result("{'answer': 42}"))
    path = write(tmp_path / "drifted.ipynb", stored)

    with pytest.raises(OutputsDiffer) as raised:
        check(path, RunOptions(compare_outputs=True), load_sanitizers(sanitize))

    assert raised.value.cells == [2]
    report = raised.value.report()
    assert "cell(s) 3" in report
    assert "deleted /cells/2/outputs/0" in report and "inserted before /cells/2/outputs/0" in report
    assert re.search(r"^-\s+41$", report, re.M) and re.search(r"^\+\s+42$", report, re.M)
    assert "execution_count" not in report and "99" not in report


def test_an_unreadable_sanitizer_file_is_a_setup_error(tmp_path):
    bad = tmp_path / "bad.cfg"
    bad.write_text("[dates]\nregex: (\n")
    with pytest.raises(NotebookSetupError, match=r"\[dates\]"):
        load_sanitizers(bad)
