"""The welcome on a first login: notebooks copied once, JupyterLab opens one, never a failure."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from jupyterlab_server.workspaces_handler import WorkspacesManager

from hubscale_nb.first_login import (
    ENABLED_ENV,
    NOTEBOOKS,
    OPENED,
    WORKSPACE,
    welcome_in_server,
    welcome_once,
)


@pytest.fixture
def dirs(tmp_path: Path) -> SimpleNamespace:
    made = SimpleNamespace(
        root=tmp_path / "home", spaces=tmp_path / "spaces", data=tmp_path / "data"
    )
    made.root.mkdir()
    return made


def test_the_welcome_notebooks_are_valid_and_one_per_engine() -> None:
    kernels = {}
    for path in NOTEBOOKS.glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        assert all(not cell.get("outputs") for cell in notebook.cells)  # shipped clean
        kernels[path.name] = notebook.metadata.kernelspec.name
    assert kernels == {"Welcome.ipynb": "spark", "Flink.ipynb": "flink"}


def test_a_first_login_gets_the_notebooks_and_a_layout_that_opens_the_welcome(dirs) -> None:
    assert welcome_once(dirs.root, dirs.spaces, dirs.data) is True

    assert sorted(p.name for p in (dirs.root / "Welcome").iterdir()) == [
        "Flink.ipynb",
        "Welcome.ipynb",
    ]
    workspace = WorkspacesManager(str(dirs.spaces)).load(WORKSPACE)
    dock = workspace["data"]["layout-restorer:data"]["main"]["dock"]
    assert dock["widgets"] == [f"notebook:{OPENED}"]
    assert workspace["data"][f"notebook:{OPENED}"]["data"]["path"] == OPENED


def test_it_happens_once_even_after_the_user_deletes_the_notebooks(dirs) -> None:
    welcome_once(dirs.root, dirs.spaces, dirs.data)
    for notebook in (dirs.root / "Welcome").iterdir():
        notebook.unlink()

    assert welcome_once(dirs.root, dirs.spaces, dirs.data) is False
    assert list((dirs.root / "Welcome").iterdir()) == []


def test_a_users_own_files_and_layout_are_kept(dirs) -> None:
    (dirs.root / "Welcome").mkdir()
    (dirs.root / "Welcome" / "Welcome.ipynb").write_text("mine")
    own_layout = {"data": {"layout-restorer:data": {"main": {}}}, "metadata": {"id": WORKSPACE}}
    WorkspacesManager(str(dirs.spaces)).save(WORKSPACE, json.dumps(own_layout))

    assert welcome_once(dirs.root, dirs.spaces, dirs.data) is True

    assert (dirs.root / "Welcome" / "Welcome.ipynb").read_text() == "mine"
    assert (dirs.root / "Welcome" / "Flink.ipynb").exists()
    assert WorkspacesManager(str(dirs.spaces)).load(WORKSPACE)["data"] == own_layout["data"]


def test_the_admin_can_turn_it_off(dirs, monkeypatch) -> None:
    monkeypatch.setenv(ENABLED_ENV, "0")

    assert welcome_once(dirs.root, dirs.spaces, dirs.data) is False
    assert not (dirs.root / "Welcome").exists()


def test_a_failure_is_a_warning_and_the_server_goes_on(tmp_path, caplog, monkeypatch) -> None:
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    root = tmp_path / "not-a-directory"
    root.write_text("")  # the welcome folder cannot be made under a file
    lab = SimpleNamespace(workspaces_dir=str(tmp_path / "spaces"))
    server = SimpleNamespace(
        root_dir=str(root),
        extension_manager=SimpleNamespace(extension_apps={"jupyterlab": [lab]}),
    )
    log = logging.getLogger("test-first-login")

    with caplog.at_level(logging.WARNING, logger=log.name):
        welcome_in_server(server, log)

    assert "no welcome notebook (NotADirectoryError" in caplog.text
    assert not (tmp_path / "data" / "hubscale" / "welcomed").exists()  # tried again next start
