"""System accounts end to end (issue 14, finding 3): the whole local platform (``make up``) as
root with ``HUBSCALE_ACCOUNTS=system``. Two users log in; each runs a real Spark job (ann a Flink
job too) from their own server as their own account; the JVMs run as that account inside its
cgroups; bob's kernel cannot read ann's Spark secret, Flink TLS files, status or home; each
kernel reads its own cluster's status (the kernel notices) and git knows nbdime's drivers.

It needs root and venvs every account may run (``make install`` builds them from such a Python:
tools/venv_python.py), in a clone every account may enter: else it skips and says which path
is private."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubscale.accounts import Account, account_name, lookup
from hubscale.cgroups import CGROUP_PARENT, CGROUP_ROOT, CONTROLLERS, AccountCgroup
from hubscale.engines import flink_python, spark_python
from hubscale.state_dir import rest_tls_dir, runtime_dir, servers_dir
from tests.integration.account_fixtures import open_directory, remove_account
from tests.integration.hub_fixtures import FLINK_JOB, SPARK_JOB, RunningHub, run_platform, unique
from tools.venv_python import open_to_others

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
WHO = """
import os, subprocess
print("WHO", os.getpid(), os.getuid(), os.environ["HOME"])
print("STATUS", "phase" in open(os.environ["HUBSCALE_SPARK_STATUS_FILE"]).read())
print("GIT", subprocess.run(["git", "config", "--global", "diff.jupyternotebook.command"],
                            capture_output=True, text=True).stdout.strip())
"""
PROBE = """
import json, os
def probe(path):
    try:
        os.listdir(path) if os.path.isdir(path) else open(path, "rb").read(1)
        return "read"
    except OSError as error:
        return type(error).__name__
print("PROBE", json.dumps({path: probe(path) for path in json.loads(PATHS)}))
"""


def private_path() -> Path | None:
    """The first path of this clone's venvs (or the clone itself) no other account can reach."""
    needed = [REPO, Path(os.path.realpath(REPO / ".venv" / "bin" / "python"))]
    needed += [Path(os.path.realpath(python)) for python in (spark_python(), flink_python())]
    return next((path for path in needed if not open_to_others(path)), None)


@pytest.fixture(scope="module")
def made_accounts() -> Iterator[list[str]]:
    """The accounts the test's users got; removed once the platform has stopped (``userdel``
    refuses an account whose processes still run)."""
    names: list[str] = []
    yield names
    for name in names:
        account = lookup(name)
        remove_account(name)
        if account is not None:
            shutil.rmtree(account.home, ignore_errors=True)


@pytest.fixture(scope="module")
def hub(made_accounts: list[str]) -> Iterator[RunningHub]:
    if not all((CGROUP_ROOT / controller).is_dir() for controller in CONTROLLERS):
        pytest.skip("cgroup v1 memory and cpu controllers are not mounted here")
    private = private_path()
    if private is not None:
        pytest.skip(
            f"system accounts cannot run this clone: {private} lies under a directory other"
            " accounts cannot enter (clone where all may enter; make install builds the venvs"
            " from such a Python)"
        )
    for directory in open_directory("hubscale-system-"):
        yield from run_platform(directory, HUBSCALE_ACCOUNTS="system")


@pytest.fixture(scope="module")
def users(hub: RunningHub, made_accounts: list[str]) -> dict[str, Account]:
    """Two users with running servers, as their accounts."""
    names = {"ann": unique("sysmode-ann"), "bob": unique("sysmode-bob")}
    for name in names.values():
        made_accounts.append(account_name(name))
        hub.start_server(name, options={"profile": "small", "spark_max_workers": 1})
    made = {key: lookup(account_name(name)) for key, name in names.items()}
    assert all(made.values()), made
    return {key: account for key, account in made.items() if account is not None}


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid for {pid}")


def user_name(hub: RunningHub, account: Account) -> str:
    users = hub.api("GET", "/users").json()
    return next(u["name"] for u in users if account_name(u["name"]) == account.name)


def test_each_users_spark_job_runs_as_their_account_in_its_cgroup(hub, users):
    for account in users.values():
        name = user_name(hub, account)
        kernel = hub.kernel(name, "spark")
        who = kernel.execute(WHO, timeout_s=120)
        assert who.status == "ok", who.error or who.stderr[-3000:]
        ((kernel_pid, uid, home),) = [line.split() for line in who.lines("WHO")]
        assert (int(uid), home) == (account.uid, str(account.home))
        assert who.lines("STATUS") == ["True"]  # its own cluster's status: the kernel notices
        assert who.lines("GIT") == ["git-nbdiffdriver diff"]  # nbdime's, set as the account
        run = kernel.execute(SPARK_JOB, timeout_s=300)
        assert run.status == "ok", run.error or run.stderr[-3000:]
        assert run.lines("RESULT") == [str(2 * sum(range(100000)))]
        jvms = hub.jvm_pids(hub.cluster(name, "spark"))  # the master, and workers still up
        assert "master" in jvms, jvms
        cgroup = AccountCgroup(account.name, CGROUP_PARENT)
        for pid in [int(kernel_pid), *jvms.values()]:
            assert uid_of(pid) == account.uid, pid
            assert pid in cgroup.pids(), pid


def test_a_flink_job_runs_as_the_users_account(hub, users):
    ann = users["ann"]
    name = user_name(hub, ann)
    run = hub.kernel(name, "flink").execute(FLINK_JOB, timeout_s=360)
    assert run.status == "ok", run.error or run.stderr[-3000:]
    assert run.lines("ROWS") == ["[(1, 1), (2, 4), (3, 9), (4, 16)]"]
    jvms = hub.jvm_pids(hub.cluster(name, "flink"))
    assert jvms and {uid_of(pid) for pid in jvms.values()} == {ann.uid}


def test_another_users_kernel_reads_none_of_anns_credentials_status_or_home(hub, users):
    ann, bob = users["ann"], users["bob"]
    ann_name, bob_name = user_name(hub, ann), user_name(hub, bob)
    spark = runtime_dir(hub.state_dir, hub.cluster(ann_name, "spark"))
    flink_cluster = hub.cluster(ann_name, "flink")
    flink_tls = rest_tls_dir(runtime_dir(hub.state_dir, flink_cluster))
    client_dir = servers_dir(hub.state_dir) / flink_cluster
    anns = [spark / "secret", spark / "conf" / "spark-defaults.conf", ann.home]
    anns += sorted(flink_tls.iterdir()) + sorted(p for p in client_dir.rglob("*") if p.is_file())
    anns.append(hub.store.status_path(hub.cluster(ann_name, "spark")))
    anns += sorted(path for path in (spark / "logs").iterdir())  # her cluster's logs
    state = hub.state_dir  # the platform's own: every user's activity and usage
    anns += [state / "logs" / "hub.log", state / "usage.sqlite", state / "prometheus"]
    own = hub.store.status_path(hub.cluster(bob_name, "spark"))
    assert len(anns) > 5, anns

    paths = json.dumps([str(path) for path in [*anns, own]])
    probe = PROBE.replace("PATHS", repr(paths))
    run = hub.kernel(bob_name, "spark").execute(probe, timeout_s=120)

    assert run.status == "ok", run.error or run.stderr[-3000:]
    (shown,) = run.lines("PROBE")
    verdicts = json.loads(shown)
    assert verdicts.pop(str(own)) == "read"
    assert verdicts == dict.fromkeys(map(str, anns), "PermissionError")
