"""The local backend with system accounts (as root): a cluster's JVMs run as their owner's
account, in its cgroups; the configuration with the Spark secret is that account's alone, and
the controller keeps its pid files and records to itself. Real Spark master and worker."""

from __future__ import annotations

import asyncio
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

from autoscaler.backends.local.accounts import SystemAccounts
from autoscaler.backends.local.backend import LocalBackend
from autoscaler.backends.local.spark import master_state
from autoscaler.controller.wiring import local_engines
from hubscale import processes
from hubscale.accounts import Account
from hubscale.cgroups import AccountCgroup, Limits
from hubscale.state_dir import pid_dir
from tests.builders import cluster
from tests.integration.account_fixtures import TEST_PREFIX
from tests.support import wait_for

GIB = 1024**3


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid for {pid}")


def test_a_clusters_jvms_run_as_the_owners_account_in_its_cgroup_with_private_config(
    accounts: Callable[[str], Account], open_state_dir: Path, cgroup_parent: str
):
    ann, bob = accounts("ann"), accounts("bob")
    cgroup = AccountCgroup(ann.name, cgroup_parent)
    cgroup.create(Limits(memory_bytes=4 * GIB, cpu_cores=2.0))
    backend = LocalBackend(
        open_state_dir,
        open_state_dir / "targets",
        local_engines(),
        accounts=SystemAccounts(prefix=TEST_PREFIX, cgroup_parent=cgroup_parent),
    )
    spark = cluster("ann-spark", owner="ann", maxWorkers=1)
    directory = backend.directory("ann-spark")
    try:
        observed = asyncio.run(backend.ensure(spark))
        asyncio.run(backend.scale(spark, 1, []))
        pids = {p.stem: processes.running_pid(p) for p in pid_dir(directory).glob("*.pid")}
        assert set(pids) == {"master", "worker-w0"} and all(pids.values())
        assert {uid_of(pid) for pid in pids.values()} == {ann.uid}
        assert set(pids.values()) <= cgroup.pids()
        ui = observed.endpoints["master_ui"]
        wait_for(lambda: (master_state(ui) or {}).get("aliveworkers") == 1, 120)

        conf = directory / "conf" / "spark-defaults.conf"
        assert (conf.stat().st_uid, stat.S_IMODE(conf.stat().st_mode)) == (ann.uid, 0o600)
        assert pid_dir(directory).stat().st_uid == 0
        assert (directory / "runtime.json").stat().st_uid == 0
        assert (directory / "secret").stat().st_uid == 0
        read = subprocess.run(
            ["/usr/bin/python3", "-c", f"open({str(conf)!r}).read()"],
            preexec_fn=bob.become(),
            capture_output=True,
            text=True,
        )
        assert read.returncode != 0 and "PermissionError" in read.stderr
    finally:
        asyncio.run(backend.delete("ann-spark"))
    assert not cgroup.directory("memory").exists()
