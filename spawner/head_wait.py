"""In each engine kernel (started by ``kernel_startup``): wait for the cluster's head, saying so.

With heads on demand the user's Spark master / Flink JobManager starts once the controller sees
the user's first kernel of that engine, a few seconds after the kernel starts. So the first
``SparkSession.builder.getOrCreate()`` (and the first PyFlink gateway, which every
``TableEnvironment`` and ``StreamExecutionEnvironment`` starts from) waits until the head's port
answers, printing one line while it waits, and fails with the cluster's own reason after
``HUBSCALE_HEAD_WAIT_S`` (default 180 s). Patched when pyspark / pyflink is first imported, so a
kernel that never uses its engine pays nothing. Stdlib only (and PyYAML if present): it runs in
the engines' own environments.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import os
import socket
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

ENGINE_VARIABLE = "HUBSCALE_KERNEL_ENGINE"
WAIT_VARIABLE = "HUBSCALE_HEAD_WAIT_S"
DEFAULT_WAIT_S = 180.0
POLL_S = 0.25
HEADS = {"spark": ("Spark", "master"), "flink": ("Flink", "JobManager")}
ADDRESS_VARIABLES = {"spark": "SPARK_MASTER", "flink": "FLINK_REST_URL"}
STATUS_VARIABLES = {"spark": "HUBSCALE_SPARK_STATUS_FILE", "flink": "HUBSCALE_FLINK_STATUS_FILE"}


class HeadNotReady(RuntimeError):
    """The cluster's head did not come up in time; the message says why, for the user."""


def head_address(url: str) -> tuple[str, int] | None:
    """(host, port) of ``spark://h:p`` or ``https://h:p``; None if the URL names no port."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return parts.hostname, port


def answers(address: tuple[str, int], timeout_s: float = 1.0) -> bool:
    """Whether something accepts connections at ``address``."""
    try:
        with socket.create_connection(address, timeout=timeout_s):
            return True
    except OSError:
        return False


def wait_for_head(
    engine: str,
    address: tuple[str, int],
    timeout_s: float,
    say: Callable[[str], None],
    why: Callable[[], str] = lambda: "",
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once the head answers; say once that it is starting; HeadNotReady after
    ``timeout_s`` with ``why()`` (the cluster's status) in the message."""
    if answers(address):
        return
    name, head = HEADS.get(engine, (engine, "head"))
    started = clock()
    say(f"hubscale: waiting for your {name} {head} to start (it starts with your first {name}"
        " kernel; usually 10-20 s)...\n")  # fmt: skip
    while clock() - started < timeout_s:
        time.sleep(POLL_S)
        if answers(address):
            say(f"hubscale: your {name} {head} is up after {clock() - started:.0f} s.\n")
            return
    reason = why()
    raise HeadNotReady(
        f"your {name} {head} did not start within {timeout_s:g} s"
        + (f": {reason}" if reason else "")
        + ". Is the platform's controller running? Ask your admin if this persists."
    )


def _status_reason(engine: str) -> str:
    """What the cluster's status says of its head (the ``HeadRunning`` condition), if readable."""
    path = os.environ.get(STATUS_VARIABLES.get(engine, ""), "")
    try:
        import yaml

        with open(path, encoding="utf-8") as file:
            status = yaml.safe_load(file.read(1_000_000))
    except (ImportError, OSError, ValueError):
        return ""
    conditions = status.get("conditions") if isinstance(status, dict) else None
    for condition in conditions or []:
        if isinstance(condition, dict) and condition.get("type") == "HeadRunning":
            return str(condition.get("message") or "")
    return ""


def _waiter(engine: str) -> Callable[[], None] | None:
    address = head_address(os.environ.get(ADDRESS_VARIABLES.get(engine, ""), ""))
    if address is None:
        return None
    try:
        timeout_s = float(os.environ.get(WAIT_VARIABLE) or DEFAULT_WAIT_S)
    except ValueError:
        timeout_s = DEFAULT_WAIT_S

    def wait() -> None:
        wait_for_head(engine, address, timeout_s, _say, functools.partial(_status_reason, engine))

    return wait


def _say(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()


def _before(function: Callable, wait: Callable[[], None]) -> Callable:
    @functools.wraps(function)
    def waiting(*args: Any, **kwargs: Any) -> Any:
        wait()
        return function(*args, **kwargs)

    waiting.__hubscale_waits__ = True  # type: ignore[attr-defined]
    return waiting


def _patch_spark(module: Any, wait: Callable[[], None]) -> None:
    builder = module.SparkSession.Builder
    if not getattr(builder.getOrCreate, "__hubscale_waits__", False):
        builder.getOrCreate = _before(builder.getOrCreate, wait)


def _patch_flink(module: Any, wait: Callable[[], None]) -> None:
    if not getattr(module.get_gateway, "__hubscale_waits__", False):
        module.get_gateway = _before(module.get_gateway, wait)


TARGETS = {
    "spark": ("pyspark.sql.session", _patch_spark),
    "flink": ("pyflink.java_gateway", _patch_flink),
}


class PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches one module right after it first runs, before anything binds its names."""

    def __init__(self, module: str, patch: Callable[[Any], None]) -> None:
        self.module, self.patch = module, patch

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != self.module:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        run, patch = spec.loader.exec_module, self.patch

        def exec_module(module: Any) -> None:
            run(module)
            patch(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """In an engine kernel whose head's address is known: wait for the head before first use."""
    engine = os.environ.get(ENGINE_VARIABLE, "")
    if engine not in TARGETS:
        return
    wait = _waiter(engine)
    if wait is None:
        return
    module_name, patch = TARGETS[engine]
    patch_on_import(module_name, functools.partial(_patch_with, patch, wait))


def patch_on_import(module_name: str, patch: Callable[[Any], None]) -> None:
    """``patch(module)`` now if it is imported, else right after its first import."""
    if module_name in sys.modules:
        patch(sys.modules[module_name])
    else:
        sys.meta_path.insert(0, PatchOnImport(module_name, patch))


def _patch_with(patch: Callable, wait: Callable[[], None], module: Any) -> None:
    patch(module, wait)
