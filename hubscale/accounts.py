"""System accounts of local mode's multi-user setting: one per hub user, created on first login.

As The Littlest JupyterHub does: when the hub runs as root with ``HUBSCALE_ACCOUNTS=system``,
each hub user's notebook server (and what it starts) runs as that user's own account, without a
login shell, with a home of its own (0700). The account name is always hashed, never the bare
user name, so no user can pick a name that is spelled like another's account.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import re
import stat
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from hubscale.names import ascii_fold, digest

AccountMode = Literal["shared", "system"]
ACCOUNTS_VARIABLE = "HUBSCALE_ACCOUNTS"
ACCOUNT_PREFIX = "hs-"
MAX_ACCOUNT_NAME_LENGTH = 32  # useradd's limit on Debian
ACCOUNT_HASH_LENGTH = 16  # 64 bits of the exact user name, as the cluster names
DEFAULT_HOME_BASE = Path("/home")
NOLOGIN = "/usr/sbin/nologin"
LOCK_FILE = ".hubscale-accounts.lock"
USERADD_TIMEOUT_S = 30.0
_PREFIX = re.compile(r"^[a-z][a-z0-9-]{0,7}$")


class AccountError(RuntimeError):
    """An account that could not be created or used; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Account:
    """A hub user's system account."""

    name: str
    uid: int
    gid: int
    home: Path

    def become(self, join: Sequence[Path] = ()) -> Callable[[], None]:
        """A ``preexec_fn`` for ``subprocess.Popen``: the child writes its pid into each of
        ``join`` (cgroups' ``cgroup.procs``) while still root, then becomes this account (its
        gid, no supplementary groups, its uid) with files private by default (umask 077)."""

        def setup() -> None:
            pid = str(os.getpid()).encode()
            for procs in join:
                fd = os.open(procs, os.O_WRONLY)
                try:
                    os.write(fd, pid)
                finally:
                    os.close(fd)
            os.setgroups([])
            os.setgid(self.gid)
            os.setuid(self.uid)
            os.umask(0o077)

        return setup

    def own(self, path: Path, mode: int) -> None:
        """Give ``path`` to this account with ``mode`` (0700 for directories, 0600 for files)."""
        os.chown(path, self.uid, self.gid, follow_symlinks=False)
        if not path.is_symlink():  # a link's mode means nothing; its target is not ours to give
            os.chmod(path, mode)

    def own_tree(self, top: Path) -> None:
        """Give ``top`` (in a directory the account cannot write) and everything under it to
        this account: directories 0700, files 0600 (0700 if executable). Safe while the account
        changes the tree: each entry is opened without following links, then changed through
        its descriptor, so a directory swapped for a link never leads outside."""
        self.own(top, 0o700)
        for _, subdirs, files, directory_fd in os.fwalk(top, follow_symlinks=False):
            for name in (*subdirs, *files):
                self._own_at(directory_fd, name)

    def _own_at(self, directory_fd: int, name: str) -> None:
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
        try:
            fd = os.open(name, flags, dir_fd=directory_fd)
        except OSError:  # a symbolic link (ELOOP), or gone meanwhile: nothing of ours to give
            return
        try:
            mode = os.fstat(fd).st_mode
            private = 0o700 if stat.S_ISDIR(mode) or mode & 0o100 else 0o600
            os.fchown(fd, self.uid, self.gid)
            os.fchmod(fd, private)
        finally:
            os.close(fd)


def account_mode(text: str) -> AccountMode:
    """``text`` as an account mode; ValueError naming the choices otherwise."""
    if text not in get_args(AccountMode):
        raise ValueError(f"must be one of {', '.join(get_args(AccountMode))}")
    return text  # type: ignore[return-value]


def account_name(user: str, prefix: str = ACCOUNT_PREFIX) -> str:
    """``<prefix><readable>-<16 hex>``: valid for useradd, at most 32 characters, injective.

    The hash is of the exact user name and always present, so two users share an account name
    only if 64 bits of SHA-256 collide; the readable part (lowercase ASCII) is for people."""
    if not _PREFIX.match(prefix):
        raise ValueError(f"account prefix {prefix!r}: a lowercase letter, then [a-z0-9-], <= 8")
    hashed = digest(user, ACCOUNT_HASH_LENGTH)
    keep = MAX_ACCOUNT_NAME_LENGTH - len(prefix) - 1 - ACCOUNT_HASH_LENGTH
    readable = re.sub(r"[^a-z0-9]+", "-", ascii_fold(user).lower()).strip("-")
    readable = readable[:keep].rstrip("-")
    return f"{prefix}{readable}-{hashed}" if readable else f"{prefix}{hashed}"


def lookup(name: str) -> Account | None:
    """The account called ``name``, None if there is none."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))


def account_group(user: str, prefix: str = ACCOUNT_PREFIX) -> int | None:
    """The group of the hub user's account, None if it has none yet."""
    account = lookup(account_name(user, prefix))
    return None if account is None else account.gid


def ensure_account(
    user: str, home_base: Path = DEFAULT_HOME_BASE, prefix: str = ACCOUNT_PREFIX
) -> Account:
    """The hub user's account, created on first use with a private home; idempotent and safe
    for concurrent first logins (one lock for every creation, and an account that appeared
    meanwhile is taken as it is)."""
    name = account_name(user, prefix)
    home_base.mkdir(mode=0o755, parents=True, exist_ok=True)
    with _creation_lock(home_base):
        account = lookup(name) or _useradd(name, home_base / name)
        account.home.mkdir(mode=0o700, exist_ok=True)
        account.own(account.home, 0o700)
    return account


def _useradd(name: str, home: Path) -> Account:
    command = ["useradd", "--home-dir", str(home), "--no-create-home", "--user-group"]
    command += ["--shell", NOLOGIN, "--comment", "hubscale user", name]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=USERADD_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise AccountError(f"useradd {name}: {error}") from error
    account = lookup(name)  # exit 9: another process created it first, which is fine
    if account is None:
        raise AccountError(f"useradd {name} failed ({done.returncode}): {done.stderr.strip()}")
    return account


@contextmanager
def _creation_lock(home_base: Path) -> Iterator[None]:
    with open(home_base / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def executable_by(account: Account, program: Path) -> bool:
    """True if ``account`` can run ``program`` (its interpreter too, for a script) or enter it
    (a directory): every directory on the way must let it through."""
    paths = [Path(os.path.realpath(program))]
    interpreter = _shebang(paths[0])
    if interpreter is not None:
        paths.append(Path(os.path.realpath(interpreter)))
    try:
        return all(
            subprocess.run(
                ["test", "-x", str(path)], timeout=10, preexec_fn=account.become()
            ).returncode
            == 0
            for path in paths
        )
    except (OSError, subprocess.SubprocessError):
        return False


def _shebang(program: Path) -> str | None:
    try:
        with open(program, "rb") as file:
            first = file.readline(256)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    words = first[2:].decode(errors="replace").split()
    return words[0] if words else None
