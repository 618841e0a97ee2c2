"""Start-latency profiles: how long a worker takes from being asked for to running tasks, and
how long a driver takes to launch an executor again on a worker whose executor it released.

Every figure is a measurement or a documented bound, with its source. The simulator draws a
cluster's k-th worker start from the samples in turn (deterministic, no random source).
"""

from __future__ import annotations

from dataclasses import dataclass

# README "Benchmarks", `python -m benchmarks.local_backend`, session 4, three runs on 2 cores
# with class-data sharing: Spark worker JVM start -> registered (median of 3 per run) ...
LOCAL_WORKER_JVM_S = (2.5, 3.9, 3.9)
# ... and scale from zero minus that JVM start: the executor JVM and the task's Python worker.
LOCAL_EXECUTOR_S = (2.5, 2.2, 1.8)
LOCAL_SOURCE = "README Benchmarks: python -m benchmarks.local_backend, session 4 (2 cores, CDS)"

# Kubernetes SIG Scalability SLO "pod startup latency": p99 <= 5 s from creation to running,
# for stateless pods with pre-pulled images on ready nodes (image pull and scheduling excluded).
# https://github.com/kubernetes/community/blob/master/sig-scalability/slos/pod_startup_latency.md
KUBERNETES_POD_START_S = 5.0
# A new node when the pool is full (autoscaler.sim.nodes): the cluster-autoscaler FAQ ("How fast
# is HPA when combined with CA?"): "on GCE it usually takes 3 to 4 minutes from CA request to
# when pods can be scheduled on newly created nodes"; the midpoint. Not measured here (no cloud).
# https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/FAQ.md
KUBERNETES_NODE_PROVISION_S = 210.0
# Estimate, not measured: the ~1.5 GB Spark worker image over ~40 MB/s, on a node's first worker.
KUBERNETES_IMAGE_PULL_S = 45.0


@dataclass(frozen=True)
class StartProfile:
    """One platform's start latencies, as samples drawn in turn."""

    name: str
    worker_start_s: tuple[float, ...]  # asked -> runs tasks (pod/process + JVM + executor)
    executor_start_s: tuple[float, ...]  # a released executor launched again on a live worker
    node_provision_s: float | None  # a new node when the pool is full (None: nodes at once)
    image_pull_s: float | None  # the worker image on a node's first worker (None: cached)
    source: str

    def describe(self) -> str:
        starts = "/".join(f"{s:g}" for s in self.worker_start_s)
        executors = "/".join(f"{s:g}" for s in self.executor_start_s)
        return f"{self.name} (worker start {starts} s, executor relaunch {executors} s)"


def _local() -> StartProfile:
    starts = tuple(jvm + ex for jvm, ex in zip(LOCAL_WORKER_JVM_S, LOCAL_EXECUTOR_S, strict=True))
    return StartProfile("local", starts, LOCAL_EXECUTOR_S, None, None, LOCAL_SOURCE)


def _kubernetes() -> StartProfile:
    """Pod start on a ready node with a cached image, then the same JVMs as locally."""
    starts = tuple(
        KUBERNETES_POD_START_S + jvm + ex
        for jvm, ex in zip(LOCAL_WORKER_JVM_S, LOCAL_EXECUTOR_S, strict=True)
    )
    source = f"SIG Scalability pod startup SLO + {LOCAL_SOURCE}"
    return StartProfile(
        "kubernetes",
        starts,
        LOCAL_EXECUTOR_S,
        KUBERNETES_NODE_PROVISION_S,
        KUBERNETES_IMAGE_PULL_S,
        source,
    )


PROFILES: dict[str, StartProfile] = {profile.name: profile for profile in (_local(), _kubernetes())}


def constant(start_s: float, executor_start_s: float = 0.0) -> StartProfile:
    """A fixed start time (the CLI's --worker-start-s, hand-computed tests)."""
    return StartProfile("constant", (start_s,), (executor_start_s,), None, None, "given")
