"""The login bench's baseline: a plain JupyterHub, the same packages on the same machine, with no
hubscale in it (JupyterHub's own SimpleLocalProcessSpawner, its dummy authenticator, a bare
``jupyterhub-singleuser``), so a spawn-to-ready figure has the floor it stands on beside it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from hub_config.local import proxy_command
from hubscale import processes
from hubscale.ports import free_port

READY_S = 120.0
# Read by the config file from its environment: the token never shows on a command line.
TOKEN_VARIABLE = "BARE_HUB_BENCH_TOKEN"
CONFIG = """\
import os
c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = {proxy!r}
c.JupyterHub.db_url = "sqlite:///{directory}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{directory}/cookie_secret"
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.spawner_class = "simple"
c.Spawner.cmd = [{singleuser!r}]
c.Spawner.args = ["--allow-root"] if os.getuid() == 0 else []  # as hubscale's local spawner
c.SimpleLocalProcessSpawner.home_dir_template = "{directory}/home/{{username}}"
c.JupyterHub.services = [{{"name": "bench", "api_token": os.environ[{variable!r}]}}]
c.JupyterHub.load_roles = [
    {{"name": "bench", "scopes": ["admin:users", "admin:servers"], "services": ["bench"]}}
]
"""


@contextlib.contextmanager
def bare_hub(directory: Path) -> Iterator[tuple[str, str]]:
    """A running plain JupyterHub: (its REST API's URL, a token with admin:users/servers)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = directory / "jupyterhub_config.py"
    config.write_text(
        CONFIG.format(
            port=port,
            hub_port=free_port(),
            proxy_api_port=free_port(),
            proxy=proxy_command(),
            directory=directory,
            singleuser=str(Path(sys.executable).with_name("jupyterhub-singleuser")),
            variable=TOKEN_VARIABLE,
        )
    )
    token = secrets.token_hex(32)
    spec = processes.ProcessSpec(
        argv=[sys.executable, "-m", "jupyterhub", "-f", str(config)],
        env={**os.environ, TOKEN_VARIABLE: token},
        pid_file=directory / "hub.pid",
        log_file=directory / "hub.log",
        cwd=directory,
    )
    processes.start(spec)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(f"{url}/hub/health", spec)
        yield f"{url}/hub/api", token
    finally:
        processes.stop(spec.pid_file, timeout_s=30.0)


def _wait_ready(url: str, spec: processes.ProcessSpec) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if processes.running_pid(spec.pid_file) is None:
            raise RuntimeError(f"the bare hub exited while starting: see {spec.log_file}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"the bare hub not ready after {READY_S:g} s: see {spec.log_file}")
