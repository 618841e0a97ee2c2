"""The Python ``make install`` builds the venvs from: one every account on the machine may run.

With ``HUBSCALE_ACCOUNTS=system`` each user's server, kernels and JVMs run as that user's own
account, and a venv's ``bin/python`` is a link to the interpreter it was made from. An interpreter
under a private directory (pyenv's under ``/root``, mode 0700) leaves every account unable to run
the venvs. This prints the first candidate whose every directory lets others through, with the
version and the ``venv`` module the project needs; if none, the first usable one, and says why
system accounts will not work with it (stderr). Any Python 3 runs it: it imports nothing of ours.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

CANDIDATES = ("/usr/bin/python3", "python3")  # Debian's first: /usr is open to every account
SUPPORTED = ((3, 11), (3, 13))  # pyproject's requires-python: >=3.11,<3.13
CHECK = "import sys, venv, ensurepip; print('%d.%d' % sys.version_info[:2])"
CHECK_TIMEOUT_S = 20.0


def open_to_others(path: Path) -> bool:
    """True if an account other than the owner may run ``path``: the file and every directory
    on its resolved way have the execute bit for others (no ACLs or groups counted)."""
    real = Path(os.path.realpath(path))
    try:
        return all(stat.S_IMODE(part.stat().st_mode) & 0o001 for part in (real, *real.parents))
    except OSError:
        return False


def usable(program: str) -> Path | None:
    """The resolved path of ``program`` if it runs, is a supported version and has ``venv``."""
    found = shutil.which(program)
    if found is None:
        return None
    try:
        done = subprocess.run(
            [found, "-c", CHECK], capture_output=True, text=True, timeout=CHECK_TIMEOUT_S
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    major, minor = (int(part) for part in done.stdout.strip().split("."))
    low, high = SUPPORTED
    return Path(found) if low <= (major, minor) < high else None


def choose(candidates: tuple[str, ...] = CANDIDATES) -> tuple[Path, bool]:
    """The interpreter to build from, and whether every account may run it."""
    found = [path for path in map(usable, candidates) if path is not None]
    if not found:
        raise SystemExit(f"no Python 3.11 or 3.12 with venv among {', '.join(candidates)}")
    for path in found:
        if open_to_others(path):
            return path, True
    return found[0], False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", nargs="*", default=list(CANDIDATES))
    args = parser.parse_args(argv)
    path, shared = choose(tuple(args.candidates))
    if not shared:
        print(
            f"venv_python: {os.path.realpath(path)} lies under a directory other accounts cannot"
            " enter: the venvs will work for you, not for HUBSCALE_ACCOUNTS=system",
            file=sys.stderr,
        )
    print(path)


if __name__ == "__main__":
    main()
