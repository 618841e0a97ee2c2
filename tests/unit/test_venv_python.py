"""The interpreter `make install` builds the venvs from: one every account may run if possible."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tools.venv_python import choose, open_to_others


def test_a_program_under_a_private_directory_is_not_open_to_others(tmp_path: Path):
    private = tmp_path / "private"
    (private / "bin").mkdir(parents=True)
    inside = private / "bin" / "tool"
    inside.write_text("")
    inside.chmod(0o755)
    private.chmod(0o700)
    assert not open_to_others(inside)
    assert open_to_others(Path("/usr/bin/env"))


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="no /usr/bin/python3 here")
def test_the_first_open_interpreter_wins_over_a_private_one(tmp_path: Path):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    wrapper = private / "python3"  # runs, but other accounts cannot reach it
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    chosen, shared = choose((str(private / "python3"), "/usr/bin/python3"))
    assert (chosen, shared) == (Path("/usr/bin/python3"), open_to_others(Path("/usr/bin/python3")))
