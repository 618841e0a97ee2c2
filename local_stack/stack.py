"""The local platform as processes: Prometheus, MLflow, the controller and the hub, each with a
pid file.

Starting adopts what still runs (after a killed terminal or a crash) and starts the rest, so users'
servers and clusters carry on. Stopping goes in order: the hub (its users' servers stop, and the
spawner deletes their clusters), then every cluster is torn down by the controller, then the
controller, MLflow and Prometheus stop: no JVM is left behind.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from hub_config.local import hub_marker
from hub_config.settings import HUB_CONFIG_DIR, REPO, Settings
from hubscale import processes
from hubscale.prometheus_server import PrometheusServer, file_sd_dir
from hubscale.scrape_targets import ScrapeTarget, write_file_sd
from hubscale.state_dir import (
    CLUSTERS,
    RUNTIME,
    SERVERS,
    logs_dir,
    mlflow_dir,
    pid_dir,
    platform_pid_dir,
    prometheus_dir,
    runtime_dir,
    runtime_root,
)
from hubscale.store import LocalClusterStore
from spawner.local import servers_marker, stop_marked
from tracking.server import (
    SERVER_ENV,
    UPSTREAM_URL,
    MlflowMissing,
    mlflow_command,
    server_argv,
    socket_path,
)

COMPONENTS = ("prometheus", "mlflow", "controller", "hub")
# Generous: on a loaded 2-core machine importing the controller alone has taken a minute.
READY_S = {"prometheus": 30.0, "mlflow": 180.0, "controller": 180.0, "hub": 180.0}
HUB_STOP_S = 180.0  # the hub stops every user's server before it exits
TEARDOWN_S = 240.0  # the controller stops every cluster's JVMs (Spark workers drain first)
LEFTOVER_GRACE_S = 10.0
PLATFORM_TARGETS = "hubscale-platform.json"
# The hub logs every request: scrape it every 15 s, not at the clusters' pace.
HUB_TARGET_LABELS = {"role": "hub", "__scrape_interval__": "15s", "__scrape_timeout__": "10s"}


class StackError(RuntimeError):
    """A component did not start; the message says which and where its log is."""


@dataclass
class Stack:
    """The processes of one state directory."""

    settings: Settings
    say: Callable[[str], None] = print
    interrupted: threading.Event = field(default_factory=threading.Event)

    @property
    def state_dir(self) -> Path:
        return self.settings.state_dir

    @property
    def log_dir(self) -> Path:
        return logs_dir(self.state_dir)

    @property
    def prometheus_dir(self) -> Path:
        return prometheus_dir(self.state_dir)

    def pid_file(self, component: str) -> Path:
        return platform_pid_dir(self.state_dir) / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        if component == "prometheus":
            return self.prometheus_dir / "prometheus.log"
        return self.log_dir / f"{component}.log"

    def pid(self, component: str) -> int | None:
        return processes.running_pid(self.pid_file(component))

    def start(self) -> None:
        """Start (or adopt) Prometheus, the controller and the hub; return once all answer.

        The controller and the hub start side by side: neither needs the other to come up.
        """
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.settings.accounts == "system":
            close_to_accounts(self.state_dir)
        for component in COMPONENTS:
            self._launch(component)
        for component in COMPONENTS:
            self._wait_ready(component)

    def ensure(self, component: str) -> None:
        """Adopt ``component`` if it runs, else start it; return once it answers."""
        self._launch(component)
        self._wait_ready(component)

    def _launch(self, component: str) -> None:
        pid = self.pid(component)
        if pid is not None:
            self.say(f"{component}: already running (pid {pid}), adopted")
        elif component == "prometheus":
            self._start_prometheus()
        else:
            if component == "hub":
                stop_marked(hub_marker(self.settings), LEFTOVER_GRACE_S)  # a dead hub's proxy
            processes.start(self._spec(component))

    def _start_prometheus(self) -> None:
        server = PrometheusServer(
            self.prometheus_dir, self.settings.prometheus_port, self.settings.scrape_interval_s
        )
        server.start(timeout_s=READY_S["prometheus"])
        assert server.process is not None
        pid = server.process.pid
        self.pid_file("prometheus").parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.pid_file("prometheus").write_text(f"{pid} {processes.start_time(pid)}\n")
        settings = self.settings
        hub = ScrapeTarget(f"127.0.0.1:{settings.port}", HUB_TARGET_LABELS, "/hub/metrics")
        controller = ScrapeTarget(f"127.0.0.1:{settings.controller_port}", {"role": "controller"})
        write_file_sd(server.file_sd_dir / PLATFORM_TARGETS, [hub, controller])

    def _spec(self, component: str) -> processes.ProcessSpec:
        settings = self.settings
        env = {**os.environ, **settings.env()}
        marker = ""
        if component == "mlflow":
            directory = mlflow_dir(self.state_dir)
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                argv = server_argv(mlflow_command(REPO), directory)
            except (MlflowMissing, ValueError) as error:
                raise StackError(str(error)) from None
            env.update(SERVER_ENV)
        elif component == "controller":
            argv = [
                sys.executable, "-m", "autoscaler",
                "--state-dir", str(self.state_dir),
                "--file-sd-dir", str(file_sd_dir(self.prometheus_dir)),
                "--prometheus-url", f"http://127.0.0.1:{settings.prometheus_port}",
                "--listen", f"127.0.0.1:{settings.controller_port}",
            ]  # fmt: skip
        else:
            argv = [
                sys.executable,
                "-m",
                "jupyterhub",
                "-f",
                str(HUB_CONFIG_DIR / "jupyterhub_config.py"),
            ]
            marker = hub_marker(settings)
        return processes.ProcessSpec(
            argv=argv,
            env=env,
            pid_file=self.pid_file(component),
            log_file=self.log_file(component),
            cwd=REPO,
            marker=marker,
        )

    def _get(self, component: str, url: str) -> httpx.Response:
        if component != "mlflow":
            return httpx.get(url, timeout=2.0)
        transport = httpx.HTTPTransport(uds=str(socket_path(mlflow_dir(self.state_dir))))
        with httpx.Client(transport=transport, timeout=2.0) as client:
            return client.get(url)

    def _ready_url(self, component: str) -> str:
        if component == "mlflow":
            return f"{UPSTREAM_URL}/health"  # over its socket
        if component == "prometheus":
            return f"http://127.0.0.1:{self.settings.prometheus_port}/-/ready"
        if component == "controller":
            return f"http://127.0.0.1:{self.settings.controller_port}/healthz"
        return f"{self.settings.url}/hub/health"  # through the proxy: both are up

    def _wait_ready(self, component: str) -> None:
        deadline = time.monotonic() + READY_S[component]
        url = self._ready_url(component)
        while True:
            if self.pid(component) is None:
                raise StackError(f"{component} exited while starting:\n{self.log_tail(component)}")
            try:
                if self._get(component, url).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.interrupted.is_set():
                raise StackError(f"interrupted while {component} was starting")
            if time.monotonic() > deadline:
                raise StackError(
                    f"{component} not ready after {READY_S[component]:g} s ({url}):\n"
                    + self.log_tail(component)
                )
            time.sleep(0.2)

    def log_tail(self, component: str, lines: int = 15) -> str:
        try:
            text = self.log_file(component).read_text(errors="replace")
        except OSError:
            return f"(no log at {self.log_file(component)})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"{tail}\n(log: {self.log_file(component)})"

    def stop(self) -> None:
        """Stop everything of this state directory, hub first, JVMs before the controller."""
        if self.pid("hub") is not None:
            self.say("stopping the hub and every user's server ...")
            processes.stop(self.pid_file("hub"), timeout_s=HUB_STOP_S)
        stop_marked(hub_marker(self.settings), LEFTOVER_GRACE_S)
        left = stop_marked(servers_marker(self.state_dir), LEFTOVER_GRACE_S)
        if left:
            self.say(f"stopped {len(left)} processes of servers the hub did not stop")
        store = LocalClusterStore(self.state_dir)
        for stored in store.list():
            store.delete(stored.name)
        self._tear_down_clusters()
        for component in ("controller", "mlflow", "prometheus"):
            processes.stop(self.pid_file(component), timeout_s=30.0)
        self.say("hubscale stopped: no cluster left running")

    def runtime_clusters(self) -> list[str]:
        """Clusters whose processes the controller has not yet torn down."""
        runtime = runtime_root(self.state_dir)
        return (
            sorted(path.name for path in runtime.iterdir() if path.is_dir())
            if runtime.is_dir()
            else []
        )

    def _tear_down_clusters(self) -> None:
        if not self.runtime_clusters():
            return
        if self.pid("controller") is None:
            self.ensure("controller")  # it tears down what has no object any more
        self.say(f"waiting for the controller to stop {len(self.runtime_clusters())} clusters ...")
        deadline = time.monotonic() + TEARDOWN_S
        while self.runtime_clusters() and time.monotonic() < deadline:
            time.sleep(0.5)
        for name in self.runtime_clusters():  # the controller could not: stop them ourselves
            self.say(f"cluster {name} still running after {TEARDOWN_S:g} s: stopping it directly")
            for pid_file in sorted(pid_dir(runtime_dir(self.state_dir, name)).glob("*.pid")):
                processes.stop(pid_file)


# What system accounts pass through in the state directory (each is given only its own entries).
SHARED_WITH_ACCOUNTS = frozenset({CLUSTERS, RUNTIME, SERVERS})
PRIVATE_UMASK = 0o077


def close_to_accounts(state_dir: Path) -> None:
    """System accounts: every account enters the state directory (0711) and the entries it is
    given, nothing else (logs, Prometheus' data, the databases: 0700/0600); and what the
    platform's processes write from now on is private unless given (umask 077, inherited)."""
    os.umask(PRIVATE_UMASK)
    state_dir.chmod(0o711)
    for entry in state_dir.iterdir():
        if entry.name not in SHARED_WITH_ACCOUNTS and not entry.is_symlink():
            entry.chmod(entry.stat().st_mode & 0o700)
