"""``make up``: Prometheus, MLflow, the controller and the hub on 127.0.0.1, until Ctrl-C or
``make down``.

Settings come from the environment (``python -m local_stack.up --help`` lists them). A second
``make up`` on the same state directory while one runs is refused; after a crash it adopts what
still runs, so users' servers and clusters carry on.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time

from hub_config import credentials
from hub_config.settings import Settings, SettingsError, describe
from hubscale import processes
from hubscale.atomic_files import write_atomic
from hubscale.state_dir import logs_dir
from local_stack.stack import COMPONENTS, Stack, StackError

SUPERVISE_EVERY_S = 2.0
MAX_RESTARTS = 5  # a component that keeps dying is a bug to read about in its log, not to loop on


def banner(settings: Settings) -> str:
    password = credentials.user_password(settings.password_file)
    return "\n".join(
        [
            "",
            f"hubscale is up: {settings.url}",
            f"  log in with any user name and the password {password}",
            f"  (user 'admin' is the hub admin: password in {settings.admin_password_file})",
            f"  admin API token for scripts: {settings.admin_token_file}",
            f"  experiment tracking (MLflow): {settings.url}/services/mlflow/",
            f"  state: {settings.state_dir}   logs: {logs_dir(settings.state_dir)}",
            "Stop with Ctrl-C here, or `make down` from another terminal.",
            "",
        ]
    )


def supervise(stack: Stack) -> None:
    """Until interrupted: start again any component that exited (all are restart-safe)."""
    restarts = 0
    while not stack.interrupted.wait(SUPERVISE_EVERY_S):
        for component in COMPONENTS:
            if stack.pid(component) is not None or stack.interrupted.is_set():
                continue
            restarts += 1
            if restarts > MAX_RESTARTS:
                raise StackError(f"{component} keeps exiting:\n{stack.log_tail(component)}")
            stack.say(f"{component} exited (log: {stack.log_file(component)}); starting it again")
            stack.ensure(component)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_stack.up",
        description=__doc__,
        epilog="environment:\n" + describe(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"hubscale: {error}", file=sys.stderr)
        return 2
    if settings.mode != "local":
        print(
            f"hubscale: `make up` runs local mode, not HUBSCALE_MODE={settings.mode}"
            " (Kubernetes arrives with the Kubernetes issue: helm install)",
            file=sys.stderr,
        )
        return 2
    stack = Stack(settings, say=lambda text: print(text, flush=True))
    running = stack.pid("up")
    if running is not None:
        print(f"hubscale is already running (pid {running}): `make down` stops it", file=sys.stderr)
        return 1
    stack.pid_file("up").parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    write_atomic(stack.pid_file("up"), f"{os.getpid()} {processes.start_time(os.getpid())}\n")
    interrupt = threading.Event()
    stack.interrupted = interrupt

    def on_signal(signum: int, _frame: object) -> None:
        if interrupt.is_set():
            print("still stopping: waiting for the clusters to stop ...", flush=True)
        interrupt.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, on_signal)
    status = 0
    started = time.monotonic()
    try:
        stack.start()
        print(f"(started in {time.monotonic() - started:.1f} s)", flush=True)
        print(banner(settings), flush=True)
        supervise(stack)
    except StackError as error:
        print(f"hubscale: {error}", file=sys.stderr, flush=True)
        status = 1
    finally:
        print("stopping hubscale ...", flush=True)
        stack.stop()
        stack.pid_file("up").unlink(missing_ok=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
