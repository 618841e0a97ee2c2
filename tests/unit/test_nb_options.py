"""Per-notebook options: metadata.hubscale over the run's defaults, bad values named."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubscale_nb.errors import NotebookSetupError
from hubscale_nb.options import RunOptions, notebook_options

PATH = Path("notebooks/sales.ipynb")
SPARK = {"kernelspec": {"name": "spark", "language": "python"}}


def test_the_notebooks_kernelspec_is_used_when_nothing_else_names_a_kernel():
    assert notebook_options(PATH, SPARK, RunOptions()).kernel == "spark"
    assert notebook_options(PATH, {}, RunOptions()).kernel == "python3"


def test_the_runs_kernel_overrides_the_kernelspec_and_metadata_overrides_both():
    defaults = RunOptions(kernel="python3")
    assert notebook_options(PATH, SPARK, defaults).kernel == "python3"
    pinned = {**SPARK, "hubscale": {"kernel": "flink"}}
    assert notebook_options(PATH, pinned, defaults).kernel == "flink"


def test_metadata_sets_timeout_parameters_skip_and_output_comparison():
    metadata = {
        "hubscale": {
            "timeout": 90,
            "parameters": {"day": "2024-01-02"},
            "skip": "needs the production catalog",
            "compare_outputs": True,
        }
    }
    defaults = RunOptions(timeout_s=600, parameters={"rows": 10, "day": "today"})
    options = notebook_options(PATH, metadata, defaults)
    assert options.timeout_s == 90.0
    assert options.parameters == {"rows": 10, "day": "2024-01-02"}
    assert options.skip == "needs the production catalog"
    assert options.compare_outputs is True
    assert notebook_options(PATH, {"hubscale": {"skip": True}}, defaults).skip


@pytest.mark.parametrize(
    ("hubscale", "named"),
    [
        ({"timeout": 0}, "metadata.hubscale.timeout"),
        ({"timeout": "5m"}, "metadata.hubscale.timeout"),
        ({"timeout": True}, "metadata.hubscale.timeout"),
        ({"parameters": ["a"]}, "metadata.hubscale.parameters"),
        ({"kernel": ""}, "metadata.hubscale.kernel"),
        ({"skip": 3}, "metadata.hubscale.skip"),
        ({"compare_outputs": "yes"}, "metadata.hubscale.compare_outputs"),
        ({"timout": 5}, "unknown keys ['timout']"),
        ("fast", "metadata.hubscale must be a mapping"),
    ],
)
def test_a_bad_metadata_value_is_rejected_naming_the_key(hubscale, named):
    with pytest.raises(NotebookSetupError, match=r"sales\.ipynb") as raised:
        notebook_options(PATH, {"hubscale": hubscale}, RunOptions())
    assert named in str(raised.value)
