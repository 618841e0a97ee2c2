"""The local spawner: a notebook server as a process, the user's clusters as ComputeClusters.

Start: user_options are checked against the profiles (a bad one is an HTTP 400 naming it, nothing
started), the user's Spark and Flink objects are written to the state directory's store, the
controller brings the clusters up, and the server starts with an environment pointing at them.
Stop: the server stops, then the objects are deleted and the controller stops the JVMs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jupyterhub.spawner import SimpleLocalProcessSpawner, SpawnException
from traitlets import Float, Unicode, default

from autoscaler.__main__ import default_state_dir
from autoscaler.backends import processes
from autoscaler.backends.spark_local import client_env
from autoscaler.store import LocalClusterStore
from spawner.cluster_clients import ClustersNotReady, wait_for_clients, wait_for_teardown
from spawner.compute import (
    Resolved,
    UserOptionsError,
    cluster_name,
    compute_clusters,
    options_form,
    options_from_form,
    resolve_options,
)
from spawner.flink_client import remove_client_dir, write_client_dir
from spawner.notebook_env import flink_env, server_args, spark_env
from spawner.profiles import ENGINES, Profiles, load_profiles

DEFAULT_PROFILES = Path(__file__).resolve().parents[1] / "hub_config" / "profiles.yaml"
SERVERS = "servers"  # <state>/servers/: per-server client files; also the process marker's root
LEFTOVER_GRACE_S = 5.0


@cache
def _profiles(path: str) -> Profiles:
    return load_profiles(Path(path))


def servers_marker(state_dir: Path) -> str:
    """The marker prefix of every notebook server (and its kernels) of this state directory."""
    return f"{state_dir}/{SERVERS}/"


def bad_options(error: UserOptionsError) -> SpawnException:
    """The user's mistake as JupyterHub shows it: HTTP 400 via the API, a message on the form."""
    message = f"Invalid user_options: {error}"
    exception = SpawnException(message, reason="user_options", status_code=400)
    exception.jupyterhub_message = message  # the form page shows this text as is
    return exception


def _form_options(formdata: dict[str, list[str]]) -> dict[str, object]:
    """The spawn form's fields as typed user_options (JupyterHub's ``options_from_form`` hook)."""
    try:
        return options_from_form(formdata)
    except UserOptionsError as error:
        raise bad_options(error) from None


def _apply_profile(spawner: LocalSpawner, user_options: dict[str, Any]) -> None:
    """JupyterHub's ``apply_user_options`` hook: runs before start, for the form and the API."""
    spawner.apply_profile(user_options)


class LocalSpawner(SimpleLocalProcessSpawner):
    """A notebook server with the user's own Spark and Flink clusters, all on this machine."""

    state_dir = Unicode(
        config=True,
        help="The local state directory shared with the controller (HUBSCALE_STATE_DIR).",
    )
    profiles_file = Unicode(
        str(DEFAULT_PROFILES), config=True, help="The profiles users choose from."
    )
    clusters_timeout_s = Float(
        180.0, config=True, help="How long a start waits for the user's clusters to come up."
    )
    cluster_error_grace_s = Float(
        15.0,
        config=True,
        help="How long a cluster may stay in phase Error before the start gives up on it.",
    )

    @default("state_dir")
    def _default_state_dir(self) -> str:
        return os.environ.get("HUBSCALE_STATE_DIR") or str(default_state_dir())

    @default("home_dir_template")
    def _default_home_dir_template(self) -> str:
        return str(Path(self.state_dir) / "users" / "{username}")

    @default("cmd")
    def _default_cmd(self) -> list[str]:
        return [str(Path(sys.executable).with_name("jupyterhub-singleuser"))]

    @default("default_url")
    def _default_default_url(self) -> str:
        return "/lab"

    @default("options_form")
    def _default_options_form(self) -> str:
        return options_form(self.profiles)

    @default("options_from_form")
    def _default_options_from_form(self) -> Callable[..., object]:
        return _form_options

    @default("apply_user_options")
    def _default_apply_user_options(self) -> Callable[..., object]:
        return _apply_profile

    resolved: Resolved | None = None  # set by the apply_user_options hook before each start
    cluster_env: Mapping[str, str] = {}  # replaced, never mutated
    _events: tuple[dict[str, Any], ...] = ()

    @property
    def profiles(self) -> Profiles:
        return _profiles(self.profiles_file)

    @property
    def store(self) -> LocalClusterStore:
        return LocalClusterStore(Path(self.state_dir))

    @property
    def cluster_names(self) -> dict[str, str]:
        """Engine -> the name of this server's cluster (named servers each have their own)."""
        return {engine: cluster_name(self.user.name, self.name, engine) for engine in ENGINES}

    @property
    def process_marker(self) -> str:
        """Marks the server and everything it starts (kernels, Spark drivers) for the cleanup."""
        return servers_marker(Path(self.state_dir)) + json.dumps([self.user.name, self.name])

    @property
    def flink_client_dir(self) -> Path:
        return Path(self.state_dir) / SERVERS / self.cluster_names["flink"]

    def apply_profile(self, user_options: Mapping[str, object]) -> Resolved:
        """Check user_options against the profiles; a bad option fails the spawn with a 400."""
        try:
            self.resolved = resolve_options(self.profiles, user_options or {})
        except UserOptionsError as error:
            raise bad_options(error) from None
        return self.resolved

    def get_args(self) -> list[str]:
        root = ["--allow-root"] if os.geteuid() == 0 else []
        return [*super().get_args(), *server_args(), *root]

    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        env.update(self.cluster_env)
        env[processes.MARKER_VARIABLE] = self.process_marker
        return env

    async def start(self) -> tuple[str, int]:
        self._events = ()
        resolved = self.resolved or self.apply_profile(self.user_options)
        try:
            clients = await self._start_clusters(resolved)
        except ClustersNotReady as error:
            exception = SpawnException(str(error), reason="clusters", status_code=503)
            exception.jupyterhub_message = str(error)
            raise exception from None
        self.cluster_env = await asyncio.to_thread(self._cluster_env, clients)
        self._event(70, "Clusters ready; starting your notebook server")
        return await super().start()

    async def _start_clusters(self, resolved: Resolved) -> dict[str, dict[str, str]]:
        """Write this server's ComputeClusters and wait for the controller to run them."""
        names = list(self.cluster_names.values())
        store = self.store
        await wait_for_teardown(store, names, self.clusters_timeout_s)
        for cluster in compute_clusters(self.user.name, self.name, resolved):
            await asyncio.to_thread(store.apply, cluster)
        self._event(30, f"Starting your clusters ({resolved.profile.display_name})")
        return await wait_for_clients(
            store, names, self.clusters_timeout_s, self.cluster_error_grace_s
        )

    def _cluster_env(self, clients: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
        spark = clients[self.cluster_names["spark"]]
        flink = clients[self.cluster_names["flink"]]
        client_dir = write_client_dir(Path(flink["conf_dir"]), self.flink_client_dir)
        return {
            **client_env(Path(spark["conf_dir"])),
            **spark_env(spark),
            **flink_env(flink, client_dir),
        }

    async def stop(self, now: bool = False) -> None:
        try:
            await super().stop(now=now)
        finally:
            await asyncio.to_thread(self._release)

    def _release(self) -> None:
        """Stop what the server left running, delete the objects and the client files."""
        stop_marked(self.process_marker, LEFTOVER_GRACE_S)
        store = self.store
        for name in self.cluster_names.values():
            store.delete(name)
        remove_client_dir(self.flink_client_dir)
        self.cluster_env = {}

    def _event(self, progress: int, message: str) -> None:
        self._events = (*self._events, {"progress": progress, "message": message})

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """Spawn progress for the hub's pending page: the clusters first, then the server."""
        shown = 0
        while True:
            events = self._events
            for event in events[shown:]:
                yield event
            shown = len(events)
            await asyncio.sleep(0.5)


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
