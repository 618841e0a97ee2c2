"""Clusters run as their owner's system account (local mode with ``HUBSCALE_ACCOUNTS=system``).

The controller stays root and keeps what decides what it kills (``runtime.json``, ``pids/``, the
Spark secret file) to itself; the account gets the cluster's configuration and scratch
directories (0700) and runs the JVMs, inside its cgroups when the spawner made them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autoscaler.backends.base import BackendError
from hubscale.accounts import ACCOUNT_PREFIX, Account, account_group, account_name, lookup
from hubscale.cgroups import CGROUP_PARENT, CGROUP_ROOT, AccountCgroup
from hubscale.state_dir import PIDS

ROOT_ONLY = frozenset({PIDS, "runtime.json", "secret"})  # never the account's to change
TRAVERSABLE = 0o711  # the cluster's own directory: the account enters it, lists nothing


@dataclass(frozen=True, slots=True)
class SystemAccounts:
    """Where the owners' accounts and cgroups are (the same settings as the spawner's)."""

    prefix: str = ACCOUNT_PREFIX
    cgroup_parent: str = CGROUP_PARENT
    cgroup_root: Path = CGROUP_ROOT

    def account(self, owner: str) -> Account:
        """The owner's account; a BackendError if their server has not made it yet."""
        account = lookup(account_name(owner, self.prefix))
        if account is None:
            raise BackendError(f"no system account for {owner!r}: it is made at their first login")
        return account

    def status_group(self, owner: str) -> int | None:
        """The group that may read the owner's cluster status files (their account's)."""
        return account_group(owner, self.prefix)

    def cgroup(self, account: Account) -> AccountCgroup:
        return AccountCgroup(account.name, self.cgroup_parent, self.cgroup_root)

    def launcher(self, owner: str, cluster_dir: Path) -> Callable[[], None]:
        """Give the cluster's directories to the owner's account, and return the ``preexec_fn``
        that puts a process in the account's cgroups (if made) and runs it as the account."""
        account = self.account(owner)
        os.chmod(cluster_dir, TRAVERSABLE)
        for entry in cluster_dir.iterdir():
            if entry.name in ROOT_ONLY or entry.name.startswith("."):
                continue
            if entry.is_dir() and not entry.is_symlink():
                account.own_tree(entry)
            else:
                account.own(entry, 0o600)
        procs = self.cgroup(account).procs_files
        return account.become([path for path in procs if path.exists()])
