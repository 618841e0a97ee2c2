"""One system account's memory and CPU bounds, from the profile its server was started with.

The account's cgroup holds its notebook server (the Spark driver runs there) and its clusters'
JVMs, so the bound is their sum at the most the profile allows: the server's size, and per
cluster its head plus ``maxWorkers`` workers, each worker's size plus its daemon's own JVM.
"""

from __future__ import annotations

from collections.abc import Iterable

from hubscale.cgroups import Limits
from hubscale.spec import ComputeCluster

MIB = 1024**2
NOTEBOOK_MEMORY_BYTES = 2048 * MIB  # a server with no size configured
NOTEBOOK_CORES = 1.0
HEAD_MEMORY_BYTES = 512 * MIB  # a Spark master or Flink JobManager (measured ~250-500 MB)
HEAD_CORES = 0.5
WORKER_DAEMON_MEMORY_BYTES = 320 * MIB  # a Spark worker daemon beside its executors (~240 MB)


def account_limits(
    notebook_memory_bytes: int | None,
    notebook_cores: float | None,
    clusters: Iterable[ComputeCluster],
) -> Limits:
    """The bound of a server (its size, or the defaults when unset/0) with its clusters."""
    memory_bytes = notebook_memory_bytes or NOTEBOOK_MEMORY_BYTES
    cores = notebook_cores or NOTEBOOK_CORES
    for cluster in clusters:
        spec = cluster.spec
        worker_bytes = spec.worker.memory_bytes + WORKER_DAEMON_MEMORY_BYTES
        memory_bytes += HEAD_MEMORY_BYTES + spec.max_workers * worker_bytes
        cores += HEAD_CORES + spec.max_workers * spec.worker.cores
    return Limits(memory_bytes=int(memory_bytes), cpu_cores=float(cores))
