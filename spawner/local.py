"""The local spawner: a notebook server as a process, the user's clusters as ComputeClusters.

Start: user_options are checked against the profiles (a bad one is an HTTP 400 naming it, nothing
started), the user's Spark and Flink objects are written to the state directory's store, the
controller brings the clusters up, and the server starts with an environment pointing at them.
A name whose object is another user's (or server's) ends the start (HTTP 503), that object left
as it is. Stop: the server stops, then this server's objects are deleted (never another's) and the
controller stops the JVMs.

Heads on demand: when the platform's Prometheus has an activity token, the server publishes its
kernels per engine (``hubscale_nb.activity``, given only the token's hash), is registered as a
scrape target, and its clusters ask for ``headOnDemand``: the start waits only for their client
descriptions (written before any JVM runs), and a master/JobManager starts with the first kernel
of its engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from jupyterhub.spawner import SimpleLocalProcessSpawner
from traitlets import Bool, Enum, Instance, Unicode, default

from hubscale import processes
from hubscale.accounts import (
    ACCOUNT_PREFIX,
    ACCOUNTS_VARIABLE,
    DEFAULT_HOME_BASE,
    NOLOGIN,
    Account,
    AccountError,
    account_name,
    ensure_account,
    executable_by,
)
from hubscale.cgroups import CGROUP_PARENT, CGROUP_ROOT, AccountCgroup, CgroupError
from hubscale.engines import flink_python, spark_client_env, spark_python
from hubscale.prometheus_server import activity_token_file, file_sd_dir, notebook_targets_dir
from hubscale.scrape_targets import ScrapeTarget, write_file_sd
from hubscale.spec import ClusterConflict
from hubscale.state_dir import (
    SERVERS,
    default_state_dir,
    prometheus_dir,
    servers_dir,
    users_dir,
)
from hubscale.store import LocalClusterStore
from hubscale_nb.activity import TOKEN_DIGEST_VARIABLE, token_digest
from hubscale_nb.git_setup import GitSetupError, configure_user, configure_user_as
from spawner.account_limits import account_limits
from spawner.cluster_clients import ClustersNotReady, wait_for_clients, wait_for_teardown
from spawner.compute import Resolved, compute_clusters
from spawner.flink_client import remove_client_dir, write_client_dir
from spawner.kernel_notice import cluster_variable, status_file_variable
from spawner.notebook_env import flink_env, server_args, spark_env, tracking_env
from spawner.profiles import NOTEBOOK_TRAITS, Profile
from spawner.progress import Event, ProgressLog, follow
from spawner.user_options import ProfileChoice, clusters_failed, shown_without_paths

LEFTOVER_GRACE_S = 5.0


def servers_marker(state_dir: Path) -> str:
    """The marker prefix of every notebook server (and its kernels) of this state directory."""
    return f"{state_dir}/{SERVERS}/"


class LocalSpawner(ProfileChoice, SimpleLocalProcessSpawner):
    """A notebook server with the user's own Spark and Flink clusters, all on this machine."""

    state_dir = Unicode(
        config=True,
        help="The local state directory shared with the controller (HUBSCALE_STATE_DIR).",
    )

    accounts = Enum(
        ["shared", "system"],
        config=True,
        help="shared: every server runs as the hub's own OS user, with no isolation between"
        " users (a laptop). system: the hub runs as root and each hub user gets a system account"
        " (created on first login) that their server runs as, bounded in memory and CPU by"
        f" their profile (cgroup v1). Default: ${ACCOUNTS_VARIABLE}, else shared.",
    )
    account_home_base = Unicode(
        str(DEFAULT_HOME_BASE), config=True, help="system accounts: where their homes are made."
    )
    account_prefix = Unicode(
        ACCOUNT_PREFIX, config=True, help="system accounts: the start of every account's name."
    )
    cgroup_root = Unicode(
        str(CGROUP_ROOT), config=True, help="system accounts: where cgroup v1 is mounted."
    )
    cgroup_parent = Unicode(
        CGROUP_PARENT, config=True, help="system accounts: the cgroup holding one per account."
    )
    prometheus_dir = Unicode(
        config=True,
        help="The platform Prometheus's directory (default: make up's, in the state directory)."
        " When it holds an activity token, servers publish their kernels per engine, are"
        " scraped with that token, and their clusters' heads run on demand.",
    )
    heads_on_demand = Bool(
        True,
        config=True,
        help="Run each cluster's master/JobManager only while the server has a kernel of its"
        " engine (needs the Prometheus activity token); False: from the spawn on.",
    )
    tracking_url = Unicode(
        "",
        config=True,
        help="The hub's tracking service (MLflow, .../services/mlflow): the kernels log runs"
        " there as their user (MLFLOW_TRACKING_URI and _TOKEN); empty: not wired.",
    )
    account: Account | None = None  # system accounts: this user's, once the first start made it

    @default("accounts")
    def _default_accounts(self) -> str:
        return os.environ.get(ACCOUNTS_VARIABLE) or "shared"

    @default("state_dir")
    def _default_state_dir(self) -> str:
        return os.environ.get("HUBSCALE_STATE_DIR") or str(default_state_dir())

    @default("prometheus_dir")
    def _default_prometheus_dir(self) -> str:
        return str(prometheus_dir(Path(self.state_dir)))

    @property
    def activity_token_file(self) -> Path:
        return activity_token_file(Path(self.prometheus_dir))

    @property
    def activity_target_file(self) -> Path:
        """This server's scrape target (its activity page), named after its Spark cluster."""
        targets = notebook_targets_dir(file_sd_dir(Path(self.prometheus_dir)))
        return targets / f"{self.cluster_names['spark']}.json"

    @default("env_keep")
    def _default_env_keep(self) -> list[str]:
        """The local default, and JUPYTER_PATH: the hub's kernelspecs go to its servers."""
        return [*super()._env_keep_default(), "JUPYTER_PATH"]

    @default("home_dir_template")
    def _default_home_dir_template(self) -> str:
        return str(users_dir(Path(self.state_dir)) / "{username}")

    @default("cmd")
    def _default_cmd(self) -> list[str]:
        return [str(Path(sys.executable).with_name("jupyterhub-singleuser"))]

    @default("default_url")
    def _default_default_url(self) -> str:
        return "/lab"

    cluster_env: Mapping[str, str] = {}  # replaced, never mutated
    activity_env: Mapping[str, str] = {}  # the activity token's hash, when heads run on demand
    git_env: Mapping[str, str] = {}  # nbdime's git drivers and jupytext pairing, set at start
    progress_log = Instance(ProgressLog, args=())  # a new one at each start and stop
    _configured_size: dict[str, Any] | None = None  # the size traits as configured, kept once

    @property
    def store(self) -> LocalClusterStore:
        return LocalClusterStore(Path(self.state_dir))

    @property
    def process_marker(self) -> str:
        """Marks the server and everything it starts (kernels, Spark drivers) for the cleanup."""
        return servers_marker(Path(self.state_dir)) + json.dumps([self.user.name, self.name])

    @property
    def flink_client_dir(self) -> Path:
        return servers_dir(Path(self.state_dir)) / self.cluster_names["flink"]

    @property
    def cgroup(self) -> AccountCgroup | None:
        """The account's cgroups (system accounts; after a hub restart too), None when every
        user shares one account."""
        if self.accounts != "system":
            return None
        name = (
            self.account.name if self.account else account_name(self.user.name, self.account_prefix)
        )
        return AccountCgroup(name, self.cgroup_parent, Path(self.cgroup_root))

    def get_args(self) -> list[str]:
        root = ["--allow-root"] if os.geteuid() == 0 and self.account is None else []
        return [*super().get_args(), *server_args(activity=True), *root]

    def make_preexec_fn(self, name: str) -> Any:
        """System accounts: the server joins the account's cgroups and becomes the account."""
        if self.account is None:
            return super().make_preexec_fn(name)
        cgroup = self.cgroup
        become = self.account.become(cgroup.procs_files if cgroup else ())
        home = str(self.account.home)

        def preexec() -> None:
            become()
            os.chdir(home)

        return preexec

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        env = super().user_env(env)
        if self.account is not None:
            env.update(USER=self.account.name, LOGNAME=self.account.name, SHELL=NOLOGIN)
        return env

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        env.update(self.cluster_env)
        env.update(self.git_env)
        env.update(self.activity_env)
        env[processes.MARKER_VARIABLE] = self.process_marker
        if self.tracking_url:
            env.update(tracking_env(self.tracking_url, env["JUPYTERHUB_API_TOKEN"]))
        return env

    async def start(self) -> tuple[str, int]:
        try:
            return await self._start()
        except Exception as error:  # whatever failed, the user's page shows no absolute path
            shown_without_paths(error)
            raise

    async def _start(self) -> tuple[str, int]:
        self.progress_log = ProgressLog()
        resolved = self.resolved or self.apply_profile(self.user_options)
        self._size_notebook(resolved.profile)
        if self.accounts == "system":
            try:
                await asyncio.to_thread(self._system_account, resolved)
            except (AccountError, CgroupError) as error:
                self.log.error("account-failed user=%r error=%r", self.user.name, str(error))
                raise clusters_failed(error) from None
        self.git_env = await self._git_env()
        self.activity_env = await asyncio.to_thread(self._activity_env)
        try:
            clients = await self._start_clusters(resolved, bool(self.activity_env))
        except ClusterConflict as error:
            self.log.warning(
                "computecluster-name-conflict name=%s owner=%r server=%r held-by=%r",
                error.name, error.owner, error.server, error.holder,
            )  # fmt: skip
            raise clusters_failed(error) from None
        except ClustersNotReady as error:
            raise clusters_failed(error) from None
        self.cluster_env = await asyncio.to_thread(self._cluster_env, clients)
        if self.activity_env:
            ready = "Clusters configured (each starts with your first kernel of its engine)"
        else:
            ready = "Clusters ready"
        self.progress_log.add(70, f"{ready}; starting your notebook server")
        address = await super().start()
        if self.activity_env:
            await asyncio.to_thread(self._register_activity, address[1])
        return address

    def _activity_env(self) -> dict[str, str]:
        """The activity token's hash for the server, if the platform's Prometheus has one."""
        if not self.heads_on_demand:
            return {}
        try:
            token = self.activity_token_file.read_text().strip()
        except OSError:
            return {}
        return {TOKEN_DIGEST_VARIABLE: token_digest(token)} if token else {}

    def _register_activity(self, port: int) -> None:
        """This server's activity page as a scrape target labelled with its user and server."""
        path = f"{self.server.base_url.rstrip('/')}/hubscale/activity/metrics"
        labels = {"user": self.user.name, "server": self.name, "role": "notebook"}
        write_file_sd(self.activity_target_file, [ScrapeTarget(f"127.0.0.1:{port}", labels, path)])

    def _system_account(self, resolved: Resolved) -> None:
        """The user's account (made on first login) and its cgroups bounded by the profile; the
        server's home is the account's. A program or directory the account cannot reach ends
        the start with the reason (e.g. a venv whose Python lies under the private /root)."""
        if os.geteuid() != 0:
            raise AccountError(f"{ACCOUNTS_VARIABLE}=system needs the hub to run as root")
        account = ensure_account(self.user.name, Path(self.account_home_base), self.account_prefix)
        kernels = (spark_python(), flink_python())  # the engines' kernels run as the account
        for needed in (Path(self.cmd[0]), Path(self.state_dir), *kernels):
            if not executable_by(account, needed):
                raise AccountError(
                    f"{needed} (or what it runs) is out of reach of the users' system accounts:"
                    " a directory on its way is private. Keep the clone and the state directory"
                    " where all may enter, and rebuild the environments from a Python every"
                    " account can run (remove .venv*, then make install: it picks one)"
                )
        self.account = account
        self.home_dir = str(account.home)
        cgroup = self.cgroup
        if cgroup is not None:
            size = {name: getattr(self, name) for name in NOTEBOOK_TRAITS}
            clusters = compute_clusters(self.user.name, self.name, resolved)
            cgroup.create(account_limits(size["mem_limit"], size["cpu_limit"], clusters))

    async def _start_clusters(
        self, resolved: Resolved, head_on_demand: bool = False
    ) -> dict[str, dict[str, str]]:
        """Write this server's ComputeClusters and wait for the controller to run them (with
        heads on demand: to describe them)."""
        names = list(self.cluster_names.values())
        store = self.store
        await wait_for_teardown(store, names, self.clusters_timeout_s)
        try:
            for cluster in compute_clusters(self.user.name, self.name, resolved, head_on_demand):
                await asyncio.to_thread(store.apply, cluster)
        except ClusterConflict:
            await asyncio.to_thread(self._delete_own_clusters)  # those applied before it
            raise
        self.progress_log.add(30, f"Starting your clusters ({resolved.profile.display_name})")
        return await wait_for_clients(
            store, names, self.clusters_timeout_s, self.cluster_error_grace_s
        )

    def _size_notebook(self, profile: Profile) -> None:
        """The profile's notebook size (else the configured one) as this start's Spawner traits:
        JupyterHub passes them to the server as MEM_LIMIT, CPU_LIMIT...; nothing enforces them."""
        if self._configured_size is None:
            self._configured_size = {name: getattr(self, name) for name in NOTEBOOK_TRAITS}
        size = profile.notebook.spawner_traits() if profile.notebook else self._configured_size
        for name, value in size.items():
            setattr(self, name, value)

    async def _git_env(self) -> dict[str, str]:
        """The user's git set up for notebooks (nbdime drivers, jupytext pairs) in their home.

        A convenience: if it fails the server starts anyway, with git as it was, and says so.
        A system account's own process writes its home (root must not: the account may plant
        links there)."""
        account = self.account
        try:
            if account is not None:
                return await asyncio.to_thread(configure_user_as, account.become(), account.home)
            return await asyncio.to_thread(configure_user, Path(self.home_dir))
        except GitSetupError as error:
            self.log.warning("Setting up git for %s failed: %s", self.user.name, error)
            self.progress_log.add(
                10, "Could not set up nbdime for git; git diff shows notebooks as JSON this time"
            )
            return {}

    def _cluster_env(self, clients: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
        spark = clients[self.cluster_names["spark"]]
        flink = clients[self.cluster_names["flink"]]
        if self.account is not None:  # written afresh by root, then given: no planted links
            remove_client_dir(self.flink_client_dir)
        client_dir = write_client_dir(Path(flink["conf_dir"]), self.flink_client_dir)
        if self.account is not None:  # the account enters servers/, lists nothing there
            client_dir.parent.chmod(0o711)
            self.account.own_tree(client_dir)
        status_files = {  # what the kernels relay while a cell waits (spawner.kernel_notice)
            status_file_variable(engine): str(self.store.status_path(name))
            for engine, name in self.cluster_names.items()
        }
        names = {  # what MLflow runs record (spawner.kernel_tracking)
            cluster_variable(engine): name for engine, name in self.cluster_names.items()
        }
        return {
            **spark_client_env(Path(spark["conf_dir"])),
            **spark_env(spark),
            **flink_env(flink, client_dir),
            **status_files,
            **names,
        }

    async def stop(self, now: bool = False) -> None:
        self.progress_log = ProgressLog()  # the next start's page shows nothing of this one
        try:
            await super().stop(now=now)
        finally:
            await asyncio.to_thread(self._release)

    def _release(self) -> None:
        """Stop what the server left running, delete its objects and the client files."""
        stop_marked(self.process_marker, LEFTOVER_GRACE_S)
        self.activity_target_file.unlink(missing_ok=True)
        if self.cluster_names["flink"] not in self._delete_own_clusters():
            remove_client_dir(self.flink_client_dir)
        self.cluster_env = {}
        cgroup = self.cgroup
        if cgroup is not None:  # gone if this was the account's last process (else: its JVMs'
            cgroup.remove(wait_s=0.0)  # teardown, by the controller, removes it)

    def _delete_own_clusters(self) -> list[str]:
        """Delete this server's objects; return the names held by another's, left alone."""
        store, foreign = self.store, []
        for name in self.cluster_names.values():
            try:
                store.delete(name, owner=self.user.name, server=self.name)
            except ClusterConflict as error:
                self.log.warning(
                    "computecluster-not-deleted name=%s reason=not-this-servers held-by=%r",
                    name, error.holder,
                )  # fmt: skip
                foreign.append(name)
        return foreign

    async def progress(self) -> AsyncIterator[Event]:
        """Spawn progress for the hub's pending page: the clusters first, then the server."""
        async for event in follow(lambda: self.progress_log):
            yield event


def stop_marked(marker: str, grace_s: float) -> list[int]:
    """SIGTERM processes marked ``marker…``; SIGKILL those still there after ``grace_s``."""
    found = sorted(processes.marked(marker))
    for pid in found:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while processes.marked(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in processes.marked(marker):
        processes.kill_group(pid)
    return found
