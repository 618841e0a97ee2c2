"""A user's git and jupytext, set up at spawn: nbdime's drivers and the ipynb ⇄ py:percent pair.

What ``nbdime config-git --enable --global`` does for a person, done by nbdime itself for the
user's ``HOME`` (and ``GIT_CONFIG_GLOBAL``, when the global config lives elsewhere), plus
jupytext's user-level configuration. Idempotent; a user's own ``jupytext.toml`` is kept.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

GIT_TIMEOUT_S = 60
SYSTEM_JUPYTEXT_DIR = Path("/usr/local/share/jupytext")  # on jupytext's global search path
JUPYTEXT_CONFIG = """\
# Set by hubscale at spawn: every notebook gets a py:percent twin, the file reviewers read.
# A jupytext.toml in a repository overrides this one for the notebooks in it.
formats = "ipynb,py:percent"
"""


class GitSetupError(RuntimeError):
    """git or nbdime could not write the user's configuration; the message has their output."""


def nbdime_scripts_dir() -> Path:
    """Where nbdime's git drivers (``git-nbdiffdriver``…) are: this interpreter's scripts."""
    return Path(sysconfig.get_path("scripts"))


def configure_user(
    home: Path, git_config: Path | None = None, path: str | None = None
) -> dict[str, str]:
    """Enable nbdime's git diff/merge drivers and tools and jupytext's default pairing for the
    user whose home is ``home``; the variables their server needs for git to find both.

    ``git_config``: the global git config file (default ``home/.gitconfig``); ``path``: the
    server's ``PATH`` (default this process's), returned with nbdime's scripts first.
    """
    home.mkdir(parents=True, exist_ok=True)
    config = git_config or home / ".gitconfig"
    config.parent.mkdir(parents=True, exist_ok=True)
    scripts = str(nbdime_scripts_dir())
    server_path = os.environ.get("PATH", "") if path is None else path
    if scripts not in server_path.split(os.pathsep):
        server_path = os.pathsep.join(part for part in (scripts, server_path) if part)
    env = {"HOME": str(home), "GIT_CONFIG_GLOBAL": str(config), "PATH": server_path}
    attributes = home / ".config" / "git" / "attributes"
    _run(["git", "config", "--global", "core.attributesFile", str(attributes)], home, env)
    _run([sys.executable, "-m", "nbdime", "config-git", "--enable", "--global"], home, env)
    _write_jupytext_config(home / ".config" / "jupytext")
    return {"GIT_CONFIG_GLOBAL": str(config), "PATH": server_path}


def configure_system(jupytext_dir: Path = SYSTEM_JUPYTEXT_DIR) -> None:
    """The same for every user of a machine or image: git's system config (``/etc/gitconfig``
    and ``/etc/gitattributes``, or where ``GIT_CONFIG_SYSTEM`` says) and jupytext's global file.
    nbdime's scripts must be on the users' ``PATH``."""
    command = [sys.executable, "-m", "nbdime", "config-git", "--enable", "--system"]
    _run(command, Path("/"), dict(os.environ))
    _write_jupytext_config(jupytext_dir)


def _write_jupytext_config(directory: Path) -> None:
    """The default pairing, unless a ``jupytext.toml`` is there already (the user's own)."""
    path = directory / "jupytext.toml"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(JUPYTEXT_CONFIG, encoding="utf-8")


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    try:
        subprocess.run(
            command, cwd=cwd, env=env, check=True, capture_output=True, timeout=GIT_TIMEOUT_S
        )
    except (OSError, subprocess.SubprocessError) as error:
        output = getattr(error, "stderr", b"") or b""
        raise GitSetupError(
            f"{' '.join(command[:4])} failed in {cwd}: {error} {output.decode(errors='replace')}"
        ) from error
