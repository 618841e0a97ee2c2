"""The whole local platform as ``make up`` runs it (``python -m local_stack.up``) for hub tests.

Prometheus, the controller and the hub (with its proxy and idle culler) on free loopback ports and
a state directory of the test's own; the tests drive it through the hub's REST API with the admin
token, as a script would, and stop it as Ctrl-C does.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
from jupyter_client.kernelspec import KernelSpecManager

from hub_config.settings import Settings
from hubscale import processes
from hubscale.state_dir import CLIENT_FILE, pid_dir, platform_pid_dir, runtime_dir, runtime_root
from hubscale.store import LocalClusterStore
from local_stack.stack import Stack
from spawner.cluster_clients import read_client
from spawner.compute import cluster_name
from spawner.local import servers_marker
from spawner.notebook_env import KERNELS
from tests.integration.kernel_client import Kernel
from tests.support import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
UP_READY_S = 360.0  # make up itself allows 180 s for each of controller and hub
SPAWN_READY_S = 300.0  # clusters (JVMs) and the notebook server, beside other tests' JVMs
UP_STOP_S = 600.0
# A real job per engine, as a user runs it in that engine's kernel.
SPARK_JOB = """
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("hubscale-hub-test").getOrCreate()
print("MASTER", spark.sparkContext.master)
print("RESULT", spark.sparkContext.parallelize(range(100000), 8).map(lambda x: x * 2).sum())
"""
FLINK_JOB = """
from pyflink.table import EnvironmentSettings, TableEnvironment
t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
result = t_env.execute_sql("SELECT x, x * x AS sq FROM (VALUES (1), (2), (3), (4)) AS T(x)")
print("JOB", result.get_job_client().get_job_id())
with result.collect() as rows:
    print("ROWS", sorted(tuple(row) for row in rows))
"""


def unique(name: str) -> str:
    """A user name of this test run's own."""
    return f"{name}-{secrets.token_hex(2)}"


@dataclass
class RunningHub:
    """A running ``make up`` and a client of its hub's REST API (admin token)."""

    env: dict[str, str]
    log_file: Path
    process: subprocess.Popen | None = None
    kernels: list[Kernel] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    @property
    def state_dir(self) -> Path:
        return self.settings.state_dir

    @property
    def store(self) -> LocalClusterStore:
        return LocalClusterStore(self.state_dir)

    @property
    def token(self) -> str:
        return self.settings.admin_token_file.read_text().strip()

    def start(self) -> None:
        """Start ``python -m local_stack.up``; return once it printed that the hub is up."""
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "local_stack.up"],
                env=self.env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def up() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"make up exited {self.process.returncode}:\n{self.output()}")
            return "hubscale is up" in self.output()[offset:]

        wait_for(up, timeout_s=UP_READY_S, every_s=0.5)

    def stop(self) -> int:
        """Ctrl-C ``make up`` and wait until it has stopped everything; its exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(UP_STOP_S)

    def output(self) -> str:
        return self.log_file.read_text(errors="replace")

    def hub_log(self) -> str:
        return Stack(self.settings).log_file("hub").read_text(errors="replace")

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"token {self.token}"}
        url = f"{self.settings.url}/hub/api{path}"
        return httpx.request(method, url, headers=headers, timeout=60, **kwargs)

    def create_user(self, name: str) -> None:
        response = self.api("POST", f"/users/{quote(name)}")
        assert response.status_code in (201, 409), response.text

    def spawn(self, user: str, server: str = "", options: Mapping | None = None) -> httpx.Response:
        body = {"user_options": dict(options)} if options is not None else None
        return self.api("POST", self._server_path(user, server), json=body)

    def server_model(self, user: str, server: str = "") -> dict | None:
        return self.api("GET", f"/users/{quote(user)}").json()["servers"].get(server)

    def wait_ready(self, user: str, server: str = "", timeout_s: float = SPAWN_READY_S) -> None:
        def ready() -> bool:
            model = self.server_model(user, server)
            if model is None:
                raise AssertionError(
                    f"{user}/{server} stopped while starting:\n{self.hub_log()[-4000:]}"
                )
            return bool(model["ready"])

        wait_for(ready, timeout_s=timeout_s, every_s=0.5)

    def start_server(self, user: str, server: str = "", options: Mapping | None = None) -> None:
        self.create_user(user)
        response = self.spawn(user, server, options)
        assert response.status_code in (201, 202), response.text
        self.wait_ready(user, server)

    def stop_server(self, user: str, server: str = "") -> None:
        response = self.api("DELETE", self._server_path(user, server))
        assert response.status_code in (202, 204), response.text
        wait_for(lambda: self.server_model(user, server) is None, timeout_s=120, every_s=0.5)

    def server_url(self, user: str, server: str = "") -> str:
        named = f"{quote(server)}/" if server else ""
        return f"{self.settings.url}/user/{quote(user)}/{named}"

    def kernel(self, user: str, kernel_name: str, server: str = "") -> Kernel:
        kernel = Kernel(self.server_url(user, server), self.token, kernel_name).start()
        self.kernels.append(kernel)
        return kernel

    def cluster(self, user: str, engine: str, server: str = "") -> str:
        return cluster_name(user, server, engine)

    def client(self, user: str, engine: str, server: str = "") -> dict[str, str]:
        client = read_client(self.state_dir, self.cluster(user, engine, server))
        assert client is not None, f"no {CLIENT_FILE} for {user}/{server} {engine}"
        return client

    def jvm_pids(self, name: str) -> dict[str, int]:
        """The cluster's running processes by pid file (master/JobManager and workers)."""
        pid_files = sorted(pid_dir(runtime_dir(self.state_dir, name)).glob("*.pid"))
        pids = {path.stem: processes.running_pid(path) for path in pid_files}
        return {role: pid for role, pid in pids.items() if pid is not None}

    def leftovers(self) -> list[str]:
        """Anything of this platform still running once it has stopped."""
        found = [
            f"server process {pid}" for pid in processes.marked(servers_marker(self.state_dir))
        ]
        runtime = runtime_root(self.state_dir)
        if runtime.is_dir():
            found += [f"cluster {path.name}" for path in runtime.iterdir()]
        for pid_file in sorted(platform_pid_dir(self.state_dir).glob("*.pid")):
            if processes.running_pid(pid_file) is not None:
                found.append(f"{pid_file.stem} still running")
        return found

    def _server_path(self, user: str, server: str) -> str:
        return (
            f"/users/{quote(user)}/servers/{quote(server)}"
            if server
            else f"/users/{quote(user)}/server"
        )


def checkout_kernels(directory: Path) -> Path:
    """The installed engine kernelspecs, each starting this checkout's ``kernel_startup`` (the
    installed ones name the checkout that ran ``make install``): a ``JUPYTER_PATH`` entry."""
    manager = KernelSpecManager()
    for name in KERNELS:
        spec = manager.get_kernel_spec(name)
        env = {**spec.env, "PYTHONSTARTUP": str(REPO / "spawner" / "kernel_startup.py")}
        target = directory / "kernels" / name
        shutil.copytree(spec.resource_dir, target, dirs_exist_ok=True)  # its logos too
        (target / "kernel.json").write_text(json.dumps({**spec.to_dict(), "env": env}))
    return directory


def platform_env(state_dir: Path, **overrides: str) -> dict[str, str]:
    """Environment for ``make up`` on free ports and a state directory of its own; its notebook
    servers and kernels run this checkout's code (``PYTHONPATH``, ``JUPYTER_PATH``)."""
    jupyter = checkout_kernels(state_dir.parent / "jupyter")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "JUPYTER_PATH": os.pathsep.join(
            filter(None, [str(jupyter), os.environ.get("JUPYTER_PATH")])
        ),
        "HUBSCALE_STATE_DIR": str(state_dir),
        "HUBSCALE_PORT": str(free_port()),
        "HUBSCALE_HUB_PORT": str(free_port()),
        "HUBSCALE_PROXY_API_PORT": str(free_port()),
        "HUBSCALE_PROMETHEUS_PORT": str(free_port()),
        "HUBSCALE_CONTROLLER_PORT": str(free_port()),
        "HUBSCALE_USAGE_PORT": str(free_port()),
        "HUBSCALE_MLFLOW_PORT": str(free_port()),
        "HUBSCALE_INTERVAL_S": "1",
        **overrides,
    }


def run_platform(directory: Path, **overrides: str) -> Iterator[RunningHub]:
    """Start a platform; on the way out stop it as Ctrl-C does and check nothing is left."""
    running = RunningHub(platform_env(directory / "state", **overrides), directory / "up.log")
    running.start()
    try:
        yield running
    finally:
        for kernel in running.kernels:
            kernel.close()
        started = time.monotonic()
        status = running.stop()
        print(f"make-up-stopped after_s={time.monotonic() - started:.1f} status={status}")
        assert status == 0, running.output()[-3000:]
        assert running.leftovers() == [], running.output()[-3000:]
