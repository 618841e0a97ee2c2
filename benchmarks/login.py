"""Hub benchmarks: spawn-to-ready for one user and for several at once, memory per idle user.

First a plain JupyterHub (``benchmarks.bare_hub``) spawns one bare server: the floor beside the
figures. Then it runs the real local platform (``local_stack.stack``: Prometheus, controller, hub)
on free loopback ports in a temporary state directory, spawns servers through the REST API as a
script would, and stops every server again, checking that nothing leaked (no server process, no
cluster JVM left), then the platform. With heads on demand (``make up``'s default) an idle user
holds no master or JobManager; the bench then opens a Spark kernel for one user and times its
first job (one task) from the kernel's start: the master, a worker and the driver start on the
way. ``python -m benchmarks.login [--users 10] [--json out.json]``;
a leak exits 1.
The fault matrix's "20 concurrent spawns" row is this bench with ``--users 20`` (too slow for the
test suite on 2 cores).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from benchmarks.bare_hub import bare_hub
from benchmarks.results import write_json
from hub_config.settings import Settings
from hubscale import processes
from hubscale.ports import free_port
from hubscale.state_dir import pid_dir, runtime_dir, runtime_root
from local_stack.stack import Stack
from spawner.compute import cluster_name
from tests.integration.kernel_client import Kernel

READY_TIMEOUT_S = 600.0
STOP_TIMEOUT_S = 300.0
FIRST_JOB = """
from pyspark.sql import SparkSession
print("COUNT", SparkSession.builder.getOrCreate().range(1).count())
"""


@dataclass
class Result:
    """What one run measured (seconds, MiB)."""

    bare_spawn_s: float  # a plain JupyterHub's spawn of a bare server, same machine, same run
    one_user_spawn_s: float
    concurrent_users: int
    concurrent_spawn_p50_s: float
    concurrent_spawn_max_s: float
    idle_user_mib: float  # notebook server + whatever its clusters run while no kernel is open
    idle_server_mib: float
    idle_clusters_mib: float  # the heads (0 with heads on demand)
    first_task_after_kernel_s: float  # Spark kernel start -> its first job (one task) done
    spark_kernel_user_mib: float  # server, Spark kernel + driver, master and worker after that
    stop_all_s: float
    leaked_processes: int  # server processes and cluster JVMs still running after every stop


class Hub:
    """A REST client of a hub's API with a token that may spawn and stop servers."""

    def __init__(self, api_url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=api_url, headers={"Authorization": f"token {token}"}, timeout=60
        )

    def spawn_to_ready(self, user: str) -> float:
        started = time.monotonic()
        self.client.post(f"/users/{user}").raise_for_status()
        self.client.post(f"/users/{user}/server").raise_for_status()
        while time.monotonic() - started < READY_TIMEOUT_S:
            server = self.client.get(f"/users/{user}").json()["servers"].get("")
            if server is None:
                raise RuntimeError(f"{user}'s server failed to start")
            if server["ready"]:
                return time.monotonic() - started
            time.sleep(0.2)
        raise TimeoutError(f"{user}'s server not ready after {READY_TIMEOUT_S:g} s")

    def stop(self, user: str) -> None:
        self.client.delete(f"/users/{user}/server").raise_for_status()

    def has_server(self, user: str) -> bool:
        return "" in self.client.get(f"/users/{user}").json()["servers"]

    def server_pid(self, user: str) -> int:
        return self.client.get(f"/users/{user}").json()["servers"][""]["state"]["pid"]


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants."""
    total_kib, stack = 0, [pid]
    while stack:
        current = stack.pop()
        rss = processes.rss_kib(current)
        if rss is None:
            continue
        total_kib += rss
        stack.extend(processes.children(current))
    return total_kib / 1024


def cluster_mib(state_dir: Path, user: str) -> float:
    total = 0.0
    for engine in ("spark", "flink"):
        pids = pid_dir(runtime_dir(state_dir, cluster_name(user, "", engine)))
        for pid_file in pids.glob("*.pid"):
            pid = processes.running_pid(pid_file)
            total += rss_mib(pid) if pid is not None else 0.0
    return total


def spawn_concurrently(hub: Hub, users: list[str]) -> list[float]:
    times: dict[str, float] = {}
    errors: list[BaseException] = []

    def spawn(user: str) -> None:
        try:
            times[user] = hub.spawn_to_ready(user)
        except BaseException as error:  # reported after all threads end
            errors.append(error)

    threads = [threading.Thread(target=spawn, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [times[user] for user in users]


def first_task_after_kernel(settings: Settings, user: str) -> tuple[float, Kernel]:
    """Seconds from asking for a Spark kernel to its first job (one task) done, and the kernel."""
    token = settings.admin_token_file.read_text().strip()
    started = time.monotonic()
    kernel = Kernel(f"{settings.url}/user/{user}/", token, "spark").start()
    run = kernel.execute(FIRST_JOB, timeout_s=READY_TIMEOUT_S)
    if run.status != "ok" or run.lines("COUNT") != ["1"]:
        raise RuntimeError(f"{user}'s first Spark job failed: {run.error or run.stderr[-2000:]}")
    return time.monotonic() - started, kernel


def stop_all(hub: Hub, state_dir: Path, users: list[str]) -> tuple[float, list[str]]:
    """Stop every user's server at once; the seconds until all are gone, and what leaked."""
    server_pids = [hub.server_pid(user) for user in users]
    started = time.monotonic()
    for user in users:
        hub.stop(user)

    def leftovers() -> list[str]:
        servers = [f"server pid={pid}" for pid in server_pids if processes.rss_kib(pid)]
        jvms = processes.marked(f"{runtime_root(state_dir)}/")
        return servers + [f"{marker} pid={pid}" for pid, marker in jvms.items()]

    while time.monotonic() - started < STOP_TIMEOUT_S:
        if not any(map(hub.has_server, users)) and not leftovers():
            break
        time.sleep(0.5)
    return time.monotonic() - started, leftovers()


def bare_spawn_s(directory: Path) -> float:
    with bare_hub(directory) as (api_url, token):
        return Hub(api_url, token).spawn_to_ready("bench-bare")


def run(users: int, state_dir: Path, heads_on_demand: bool = True) -> Result:
    bare = bare_spawn_s(state_dir.parent / "bare-hub")
    print(f"  plain JupyterHub, bare server: ready in {bare:.1f} s", flush=True)
    ports = {name: free_port() for name in ("port", "hub", "proxy", "prometheus", "controller")}
    settings = Settings(
        state_dir=state_dir,
        port=ports["port"],
        hub_port=ports["hub"],
        proxy_api_port=ports["proxy"],
        prometheus_port=ports["prometheus"],
        controller_port=ports["controller"],
        heads_on_demand=heads_on_demand,
    )
    stack = Stack(settings, say=lambda text: print(f"  {text}", flush=True))
    stack.start()
    try:
        hub = Hub(f"{settings.url}/hub/api", settings.admin_token_file.read_text().strip())
        one = hub.spawn_to_ready("bench-solo")
        print(f"  one user: ready in {one:.1f} s", flush=True)
        many = spawn_concurrently(hub, [f"bench-{index}" for index in range(users)])
        print(f"  {users} users at once: slowest ready in {max(many):.1f} s", flush=True)
        time.sleep(10)  # let the fresh JVMs settle to their idle footprint
        names = ["bench-solo", *(f"bench-{index}" for index in range(users))]
        servers = [rss_mib(hub.server_pid(name)) for name in names]
        clusters = [cluster_mib(state_dir, name) for name in names]
        first_task_s, kernel = first_task_after_kernel(settings, "bench-solo")
        print(f"  Spark kernel start -> first job done: {first_task_s:.1f} s", flush=True)
        with_kernel = rss_mib(hub.server_pid("bench-solo")) + cluster_mib(state_dir, "bench-solo")
        kernel.shutdown()
        stop_s, leaked = stop_all(hub, state_dir, names)
        print(f"  all {len(names)} stopped in {stop_s:.1f} s; leaked: {leaked or 'nothing'}")
        return Result(
            bare_spawn_s=round(bare, 1),
            one_user_spawn_s=round(one, 1),
            concurrent_users=users,
            concurrent_spawn_p50_s=round(statistics.median(many), 1),
            concurrent_spawn_max_s=round(max(many), 1),
            idle_user_mib=round(
                statistics.median(map(sum, zip(servers, clusters, strict=True))), 0
            ),
            idle_server_mib=round(statistics.median(servers), 0),
            idle_clusters_mib=round(statistics.median(clusters), 0),
            first_task_after_kernel_s=round(first_task_s, 1),
            spark_kernel_user_mib=round(with_kernel, 0),
            stop_all_s=round(stop_s, 1),
            leaked_processes=len(leaked),
        )
    finally:
        stack.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.login", description=__doc__)
    parser.add_argument("--users", type=int, default=10, help="users spawning at once")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument(
        "--heads-always",
        action="store_true",
        help="run every user's heads from the spawn on (HUBSCALE_HEADS_ON_DEMAND=0): the before",
    )
    args = parser.parse_args(argv)
    directory = Path(tempfile.mkdtemp(prefix="hubscale-bench-"))
    try:
        result = run(args.users, directory / "state", not args.heads_always)
    except BaseException:
        print(f"bench failed: logs kept in {directory / 'state' / 'logs'}", flush=True)
        raise
    shutil.rmtree(directory, ignore_errors=True)
    print(
        f"spawn-to-ready: 1 user {result.one_user_spawn_s} s (plain JupyterHub, bare server:"
        f" {result.bare_spawn_s} s, {result.one_user_spawn_s / result.bare_spawn_s:.1f} x);"
        f" {result.concurrent_users} at once"
        f" p50 {result.concurrent_spawn_p50_s} s, max {result.concurrent_spawn_max_s} s\n"
        f"memory per idle user: {result.idle_user_mib:.0f} MiB (server"
        f" {result.idle_server_mib:.0f} + Spark master and Flink JobManager"
        f" {result.idle_clusters_mib:.0f}); {24 * 1024 // max(result.idle_user_mib, 1):.0f}"
        " idle users per 24 GiB\n"
        f"Spark kernel start -> first job done: {result.first_task_after_kernel_s} s; that user"
        f" then holds {result.spark_kernel_user_mib:.0f} MiB (server, kernel and driver, master,"
        " worker)\n"
        f"after every stop: {result.leaked_processes} processes leaked"
    )
    write_json(args.json, asdict(result))
    if result.leaked_processes:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
