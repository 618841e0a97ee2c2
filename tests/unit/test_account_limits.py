"""A system account's cgroup bound: the notebook server's size plus its clusters at their most."""

from __future__ import annotations

from hubscale.cgroups import Limits
from spawner.account_limits import (
    HEAD_CORES,
    HEAD_MEMORY_BYTES,
    NOTEBOOK_CORES,
    NOTEBOOK_MEMORY_BYTES,
    WORKER_DAEMON_MEMORY_BYTES,
    account_limits,
)
from tests.builders import cluster

GIB = 1024**3


def test_the_bound_is_the_server_plus_each_clusters_head_and_max_workers():
    spark = cluster("a-spark", maxWorkers=4, worker={"cores": 1, "memory": "2Gi"})
    flink = cluster("a-flink", engine="flink", maxWorkers=2, worker={"cores": 2, "memory": "1Gi"})
    limits = account_limits(8 * GIB, 2.0, [spark, flink])
    assert limits == Limits(
        memory_bytes=8 * GIB
        + 2 * HEAD_MEMORY_BYTES
        + 4 * (2 * GIB + WORKER_DAEMON_MEMORY_BYTES)
        + 2 * (GIB + WORKER_DAEMON_MEMORY_BYTES),
        cpu_cores=2.0 + 2 * HEAD_CORES + 4 * 1 + 2 * 2,
    )


def test_a_server_without_a_size_counts_the_default_one():
    assert account_limits(0, None, []) == Limits(NOTEBOOK_MEMORY_BYTES, NOTEBOOK_CORES)
