"""Paths in error messages shown to users (issue 14, finding 10)."""

from __future__ import annotations

from hubscale_nb.error_paths import redact_paths

ROOT = "/home/hs-ann-0123456789abcdef"


def test_paths_under_the_root_become_relative_and_others_lose_their_directories():
    text = f"Unreadable Notebook: {ROOT}/work/a.ipynb; cannot run '/srv/hubscale/.venv/bin/python'"
    assert redact_paths(text, ROOT) == "Unreadable Notebook: work/a.ipynb; cannot run '…/python'"


def test_the_root_itself_urls_and_relative_paths_are_kept_readable():
    text = f"in {ROOT}: see http://127.0.0.1:8000/hub/api/users and notebooks/a/b.ipynb"
    assert redact_paths(text, ROOT) == (
        "in .: see http://127.0.0.1:8000/hub/api/users and notebooks/a/b.ipynb"
    )


def test_a_sibling_of_the_root_is_not_taken_for_it():
    assert redact_paths(f"{ROOT}-other/secret.txt", ROOT) == "…/secret.txt"
