"""Real system accounts and cgroups (as root): created on first use, private homes, concurrent
logins, one account's files closed to another, one account's runaway process killed alone."""

from __future__ import annotations

import pwd
import signal
import stat
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hubscale.accounts import NOLOGIN, Account, account_name, lookup
from hubscale.cgroups import AccountCgroup, Limits
from tests.integration.account_fixtures import TEST_PREFIX


def test_first_use_creates_a_nologin_account_with_a_private_home(
    accounts: Callable[[str], Account], home_base: Path
):
    account = accounts("Zoë Doe")
    entry = pwd.getpwnam(account.name)
    assert account.name == account_name("Zoë Doe", TEST_PREFIX)
    assert entry.pw_shell == NOLOGIN and entry.pw_uid != 0
    assert account.home == home_base / account.name
    mode = account.home.stat()
    assert (mode.st_uid, mode.st_gid, stat.S_IMODE(mode.st_mode)) == (
        account.uid,
        account.gid,
        0o700,
    )


def test_a_second_login_gets_the_same_account(accounts: Callable[[str], Account]):
    first = accounts("jane")
    (first.home / "notes.txt").write_text("kept")
    assert accounts("jane") == first
    assert (first.home / "notes.txt").read_text() == "kept"


def test_concurrent_first_logins_create_one_account_each(accounts: Callable[[str], Account]):
    users = ["ann", "bob", "ann", "bob", "ann", "cy", "cy", "bob"]
    with ThreadPoolExecutor(len(users)) as pool:
        made = list(pool.map(accounts, users))
    by_user = dict(zip(users, made, strict=True))
    assert all(account == by_user[user] for user, account in zip(users, made, strict=True))
    assert len({account.uid for account in by_user.values()}) == 3
    assert all(lookup(account.name) == account for account in made)


MIB = 1024**2
PYTHON = "/usr/bin/python3"  # Debian's: every account may run it (the venvs' is under /root)
HOG = "b = bytearray({mib} * 1024**2)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint('held')"


def run_in(account: Account, cgroup: AccountCgroup, code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-c", code],
        preexec_fn=account.become(cgroup.procs_files),
        cwd=account.home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_process_past_its_accounts_memory_bound_is_killed_and_another_account_runs_on(
    accounts: Callable[[str], Account], cgroup_parent: str
):
    ann, bob = accounts("ann"), accounts("bob")
    anns = AccountCgroup(ann.name, cgroup_parent)
    bobs = AccountCgroup(bob.name, cgroup_parent)
    anns.create(Limits(memory_bytes=64 * MIB, cpu_cores=0.5))
    bobs.create(Limits(memory_bytes=512 * MIB, cpu_cores=1.0))

    runaway = run_in(ann, anns, HOG.format(mib=256))
    steady = run_in(bob, bobs, HOG.format(mib=128))

    assert runaway.wait(timeout=60) == -signal.SIGKILL
    assert steady.wait(timeout=60) == 0 and steady.communicate()[0].strip() == "held"
    oom = (anns.directory("memory") / "memory.oom_control").read_text()
    assert "oom_kill 1" in oom or "under_oom" in oom
    assert (anns.directory("cpu") / "cpu.cfs_quota_us").read_text().strip() == "50000"
    assert (anns.directory("cpu") / "cpu.cfs_period_us").read_text().strip() == "100000"
    assert anns.remove() and not anns.directory("memory").exists()


def test_an_account_cannot_read_anothers_private_file(accounts: Callable[[str], Account]):
    ann, bob = accounts("ann"), accounts("bob")
    secret = ann.home / "secret"
    write = subprocess.run(
        [PYTHON, "-c", "open('secret', 'w').write('s3cret')"],
        preexec_fn=ann.become(),
        cwd=ann.home,
        check=True,
    )
    assert write.returncode == 0 and stat.S_IMODE(secret.stat().st_mode) == 0o600
    read = subprocess.run(
        [PYTHON, "-c", f"open({str(secret)!r}).read()"],
        preexec_fn=bob.become(),
        capture_output=True,
        text=True,
    )
    assert read.returncode != 0 and "PermissionError" in read.stderr


def test_giving_a_tree_to_an_account_never_follows_a_link_out_of_it(
    accounts: Callable[[str], Account], home_base: Path
):
    ann = accounts("ann")
    outside = home_base / "roots-file"
    outside.write_text("root's")
    outside.chmod(0o644)
    tree = home_base / "cluster"
    (tree / "logs" / "w0").mkdir(parents=True)
    (tree / "logs" / "w0" / "w0.log").write_text("log")
    (tree / "logs" / "escape").symlink_to(outside)
    (tree / "logs" / "escape-dir").symlink_to(home_base)

    ann.own_tree(tree)

    assert (outside.stat().st_uid, stat.S_IMODE(outside.stat().st_mode)) == (0, 0o644)
    assert home_base.stat().st_uid == 0
    for path in (tree, tree / "logs", tree / "logs" / "w0"):
        assert (path.stat().st_uid, stat.S_IMODE(path.stat().st_mode)) == (ann.uid, 0o700)
    log = tree / "logs" / "w0" / "w0.log"
    assert (log.stat().st_uid, stat.S_IMODE(log.stat().st_mode)) == (ann.uid, 0o600)
