"""The local spawner with system accounts (as root): the user's server runs as the user's own
account, in its cgroups, with a private home; a server the accounts cannot run is refused.

JupyterHub's own ``LocalProcessSpawner.start`` starts the process; only the clusters are left
out (no controller runs here), and the server is a small Python program (the whole platform in
system mode: test_system_mode_platform.py). nbdime's git set-up runs as the account: it needs
the hub's venv to be one the accounts may run, as ``make install`` builds it."""

from __future__ import annotations

import asyncio
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from jupyterhub.objects import Hub
from jupyterhub.spawner import LocalProcessSpawner, SpawnException

from hubscale.accounts import Account
from hubscale.cgroups import AccountCgroup
from spawner.local import LocalSpawner
from tests.integration.account_fixtures import TEST_PREFIX
from tests.kube.hub import HubUser
from tests.support import wait_for

PYTHON = "/usr/bin/python3"
SERVER = "import time; open('secret', 'w').write('s3cret'); time.sleep(120)"


def system_spawner(user: str, state_dir: Path, home_base: Path, cgroup_parent: str):
    hub = Hub(ip="127.0.0.1", port=8081, base_url="/hub/")
    return LocalSpawner(
        user=HubUser(user),
        hub=hub,
        state_dir=str(state_dir),
        accounts="system",
        account_home_base=str(home_base),
        account_prefix=TEST_PREFIX,
        cgroup_parent=cgroup_parent,
    )


def status_fields(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def test_the_server_runs_as_the_users_account_in_its_cgroup_and_stop_removes_the_cgroup(
    accounts: Callable[[str], Account], home_base: Path, open_state_dir: Path, cgroup_parent: str
):
    ann, bob = accounts("ann"), accounts("bob")
    spawner = system_spawner("ann", open_state_dir, home_base, cgroup_parent)
    spawner.cmd = [PYTHON, "-c", SERVER]

    async def scenario() -> int:
        spawner._system_account(spawner.apply_profile({}))
        spawner.git_env = await spawner._git_env()
        await LocalProcessSpawner.start(spawner)
        return spawner.pid

    pid = asyncio.run(scenario())
    try:
        secret = wait_for(lambda: (ann.home / "secret").exists() and ann.home / "secret", 30)
        fields = status_fields(pid)
        assert fields["Uid"].split() == [str(ann.uid)] * 4
        assert fields["Gid"].split() == [str(ann.gid)] * 4
        assert fields["Groups"].strip() == "" and fields["Umask"] == "0077"
        assert Path(f"/proc/{pid}/cwd").resolve() == ann.home
        cgroup = AccountCgroup(ann.name, cgroup_parent)
        assert pid in cgroup.pids()
        assert f"cpu:/{cgroup_parent}/{ann.name}" in Path(f"/proc/{pid}/cgroup").read_text()
        assert (secret.stat().st_uid, stat.S_IMODE(secret.stat().st_mode)) == (ann.uid, 0o600)
        gitconfig = ann.home / ".gitconfig"  # nbdime's drivers, written by ann's own process
        assert gitconfig.stat().st_uid == ann.uid and "nbdiffdriver" in gitconfig.read_text()
        read = subprocess.run(
            [PYTHON, "-c", f"open({str(secret)!r}).read()"],
            preexec_fn=bob.become(),
            capture_output=True,
            text=True,
        )
        assert read.returncode != 0 and "PermissionError" in read.stderr
        env = spawner.get_env()
        assert (env["USER"], env["HOME"]) == (ann.name, str(ann.home))
        assert "--allow-root" not in spawner.get_args()
    finally:
        asyncio.run(spawner.stop(now=True))
    assert not cgroup.directory("memory").exists() and not cgroup.directory("cpu").exists()


def test_a_server_program_the_accounts_cannot_run_is_refused_with_the_reason(
    accounts: Callable[[str], Account], home_base: Path, open_state_dir: Path, cgroup_parent: str
):
    accounts("ann")  # the start makes it; made here too so the fixture removes it
    spawner = system_spawner("ann", open_state_dir, home_base, cgroup_parent)
    private = open_state_dir / "private"
    private.mkdir(mode=0o700)
    program = private / "jupyterhub-singleuser"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    spawner.cmd = [str(program)]

    with pytest.raises(SpawnException) as refused:
        asyncio.run(spawner.start())
    assert refused.value.status_code == 503
    assert str(program) in str(refused.value)  # the hub's log names it
    assert str(program) not in refused.value.jupyterhub_message  # the user's page does not
    assert "jupyterhub-singleuser" in refused.value.jupyterhub_message
    assert "make install" in refused.value.jupyterhub_message
    assert spawner.account is None and not spawner.store.list()
