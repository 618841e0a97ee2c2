"""A user's git and jupytext, set up at spawn: nbdime's drivers and the ipynb ⇄ py:percent pair.

What ``nbdime config-git --enable --global`` does for a person, plus jupytext's user-level
configuration. nbdime's command is a Python process that takes seconds to import (6-7 s here, more
under load), too slow to run at every login: it runs once per process into a scratch home, and each
user gets its git entries and attribute lines copied into their own files with ``git config``
(milliseconds). Idempotent; a user's own entries and ``jupytext.toml`` are kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
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


@dataclass(frozen=True)
class NbdimeGitSettings:
    """What nbdime's ``config-git --enable --global`` writes: git config entries (in order) and
    lines of the global attributes file."""

    entries: tuple[tuple[str, str], ...]
    attributes: tuple[str, ...]


NBDIME_CONFIG_GIT = ("-m", "nbdime", "config-git", "--enable", "--global")
_nbdime_settings: NbdimeGitSettings | None = None
_nbdime_settings_lock = threading.Lock()


def nbdime_git_settings() -> NbdimeGitSettings:
    """nbdime's settings, from running its command once in this process (into a scratch home)."""
    global _nbdime_settings
    with _nbdime_settings_lock:
        if _nbdime_settings is None:
            _nbdime_settings = _run_nbdime_config_git()
        return _nbdime_settings


def _run_nbdime_config_git() -> NbdimeGitSettings:
    with tempfile.TemporaryDirectory(prefix="hubscale-nbdime-") as scratch:
        home = Path(scratch)
        config, attributes = home / ".gitconfig", home / "attributes"
        env = {"HOME": scratch, "GIT_CONFIG_GLOBAL": str(config), "PATH": os.environ["PATH"]}
        _run(["git", "config", "--global", "core.attributesFile", str(attributes)], home, env)
        _run([sys.executable, *NBDIME_CONFIG_GIT], home, env)
        listed = _run(["git", "config", "--file", str(config), "--list", "-z"], home, env)
        pairs = (item.partition("\n") for item in listed.split("\0") if item)
        entries = tuple((key, value) for key, _, value in pairs if key != "core.attributesfile")
        lines = attributes.read_text(encoding="utf-8").splitlines() if attributes.exists() else []
    return NbdimeGitSettings(entries, tuple(line for line in lines if line.strip()))


def configure_user(
    home: Path,
    git_config: Path | None = None,
    path: str | None = None,
    settings: NbdimeGitSettings | None = None,
) -> dict[str, str]:
    """Enable nbdime's git diff/merge drivers and tools and jupytext's default pairing for the
    user whose home is ``home``; the variables their server needs for git to find both.

    ``git_config``: the global git config file (default ``home/.gitconfig``); ``path``: the
    server's ``PATH`` (default this process's), returned with nbdime's scripts first;
    ``settings``: nbdime's (default: computed once in this process).
    """
    home.mkdir(parents=True, exist_ok=True)
    config = git_config or home / ".gitconfig"
    config.parent.mkdir(parents=True, exist_ok=True)
    scripts = str(nbdime_scripts_dir())
    server_path = os.environ.get("PATH", "") if path is None else path
    if scripts not in server_path.split(os.pathsep):
        server_path = os.pathsep.join(part for part in (scripts, server_path) if part)
    env = {"HOME": str(home), "GIT_CONFIG_GLOBAL": str(config), "PATH": server_path}
    settings = settings or nbdime_git_settings()
    attributes = home / ".config" / "git" / "attributes"
    _run(["git", "config", "--global", "core.attributesFile", str(attributes)], home, env)
    for key, value in settings.entries:
        _run(["git", "config", "--global", "--replace-all", key, value], home, env)
    _append_missing_lines(attributes, settings.attributes)
    _write_jupytext_config(home / ".config" / "jupytext")
    return {"GIT_CONFIG_GLOBAL": str(config), "PATH": server_path}


def configure_user_as(
    preexec_fn: Callable[[], None], home: Path, path: str | None = None
) -> dict[str, str]:
    """``configure_user`` for a user whose home belongs to another account, done by that
    account: a child process that ``preexec_fn`` turns into it (so a root hub never writes into a
    home whose owner may plant links). nbdime's settings come from this process."""
    settings = nbdime_git_settings()
    server_path = os.environ.get("PATH", "") if path is None else path
    request = {"home": str(home), "path": server_path, **asdict(settings)}
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-m", __name__],
            input=json.dumps(request),
            cwd=home,
            env={"HOME": str(home), "PATH": os.environ.get("PATH", "")},
            preexec_fn=preexec_fn,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
        )
    except (OSError, subprocess.SubprocessError) as error:
        raise GitSetupError(f"git set-up as the user's account: {error}") from error
    if done.returncode != 0:
        raise GitSetupError(f"git set-up as the user's account failed: {done.stderr[-1000:]}")
    return json.loads(done.stdout)


def configure_system(jupytext_dir: Path = SYSTEM_JUPYTEXT_DIR) -> None:
    """The same for every user of a machine or image: git's system config (``/etc/gitconfig``
    and ``/etc/gitattributes``, or where ``GIT_CONFIG_SYSTEM`` says) and jupytext's global file.
    nbdime's scripts must be on the users' ``PATH``."""
    command = [sys.executable, "-m", "nbdime", "config-git", "--enable", "--system"]
    _run(command, Path("/"), dict(os.environ))
    _write_jupytext_config(jupytext_dir)


def _append_missing_lines(path: Path, lines: tuple[str, ...]) -> None:
    """``lines`` at the end of ``path``, those it does not hold yet (the user's own are kept)."""
    present = set(path.read_text(encoding="utf-8").splitlines()) if path.exists() else set()
    missing = [line for line in lines if line not in present]
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write("".join(f"\n{line}" for line in missing) + "\n")


def _write_jupytext_config(directory: Path) -> None:
    """The default pairing, unless a ``jupytext.toml`` is there already (the user's own)."""
    path = directory / "jupytext.toml"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        path.write_text(JUPYTEXT_CONFIG, encoding="utf-8")


def main() -> None:
    """``configure_user_as``'s child: the request as JSON on stdin, the variables on stdout."""
    request = json.load(sys.stdin)
    entries = tuple((str(key), str(value)) for key, value in request["entries"])
    settings = NbdimeGitSettings(entries, tuple(map(str, request["attributes"])))
    env = configure_user(Path(request["home"]), path=request["path"], settings=settings)
    json.dump(env, sys.stdout)


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    """The command's standard output; a ``GitSetupError`` with its error output if it fails."""
    try:
        done = subprocess.run(
            command, cwd=cwd, env=env, check=True, capture_output=True, timeout=GIT_TIMEOUT_S
        )
    except (OSError, subprocess.SubprocessError) as error:
        output = getattr(error, "stderr", b"") or b""
        raise GitSetupError(
            f"{' '.join(command[:4])} failed in {cwd}: {error} {output.decode(errors='replace')}"
        ) from error
    return done.stdout.decode(errors="replace")


if __name__ == "__main__":
    main()
