"""Run a policy over a trace: every cluster of every user, the policy asked each interval.

Each tick decides as the controller's loop does, with the same pure code: ``decide_or_hold``
(the hold rule) for each cluster, then each user's budget (``cap_user_decisions``) and
``cap_decisions`` (the global core budget) over them all.

Deterministic: the same trace and settings give the same result. A cluster with no work and no
workers sleeps until its next job arrives (policies do not scale a workless cluster at zero up),
which keeps a day of hundreds of users fast to simulate.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from autoscaler.policy.budget import cap_decisions
from autoscaler.policy.decision import ClusterState, Decision, Policy
from autoscaler.policy.hold import decide_or_hold
from autoscaler.policy.signals import Signal, WorkerLoad
from autoscaler.policy.user_budget import cap_user_decisions
from autoscaler.sim.clusters import FlinkClusterSim, SparkClusterSim
from autoscaler.sim.nodes import NodePool, NodePoolSettings
from autoscaler.sim.profiles import PROFILES, StartProfile
from autoscaler.sim.trace import Event, FlinkJob, SparkJob
from hubscale.spec import ComputeClusterSpec

# Policies that read metrics through Prometheus see them half a scrape interval old on average;
# the others run inside the driver, the Dask scheduler or the Flink operator and see them fresh.
PROMETHEUS_READERS = frozenset({"hubscale", "keda-hpa"})
# Policies whose workers are all up before the day starts.
ALWAYS_ON = frozenset({"static"})


@dataclass(frozen=True)
class SimConfig:
    """The simulated platform; defaults are documented in the bench output."""

    profile: str = "local"  # start latencies (autoscaler.sim.profiles): local | kubernetes
    worker_start_s: float | None = None  # a fixed worker start instead of the profile's
    executor_idle_timeout_s: float = 60.0  # the drivers' spark.dynamicAllocation default
    flink_rescale_s: float = 10.0  # a Flink job restarting at a new parallelism (measured 7-16 s)
    scrape_interval_s: float = 5.0
    lag_sample_s: float = 5.0
    max_workers: int = 8
    min_workers: int = 0
    worker_cores: int = 1
    idle_timeout_s: int = 600
    budget_cores: int | None = None  # total cores for all users; None = no global budget
    user_budget_cores: int | None = None  # each user's cores across engines; None = none
    drain_limit_s: float = 86_400.0  # after the day, how long work may run on before it is cut
    node_cores: int = 8  # cores per node of the node pool (autoscaler.sim.nodes)

    def __post_init__(self) -> None:
        if self.worker_cores < 1 or self.node_cores < self.worker_cores:
            raise ValueError(
                f"node_cores ({self.node_cores}) must hold a worker of worker_cores"
                f" ({self.worker_cores} >= 1)"
            )

    def start_profile(self) -> StartProfile:
        """The profile's start latencies, with a fixed worker start if one is given."""
        profile = PROFILES[self.profile]
        if self.worker_start_s is None:
            return profile
        return replace(profile, worker_start_s=(self.worker_start_s,))

    def node_pool(self) -> NodePoolSettings:
        """The node pool under the workers: the profile's provisioning delay (none locally)."""
        profile = self.start_profile()
        return NodePoolSettings(
            node_cores=self.node_cores,
            provision_s=profile.node_provision_s,
            image_pull_s=profile.image_pull_s or 0.0,
        )

    def spec(self, user: str, engine: str) -> ComputeClusterSpec:
        return ComputeClusterSpec(
            owner=user,
            engine=engine,
            minWorkers=self.min_workers,
            maxWorkers=self.max_workers,
            worker={"cores": self.worker_cores, "memory": "2Gi"},
            idleTimeoutSeconds=self.idle_timeout_s,
            userBudgetCores=self.user_budget_cores,
        )


@dataclass
class RunResult:
    """What one policy did over the trace."""

    policy: str
    horizon_s: float
    clusters: int
    held_core_s: dict[str, float] = field(default_factory=dict)  # by engine
    busy_core_s: float = 0.0
    completions: dict[tuple[str, str], float] = field(default_factory=dict)  # (user, job) -> s
    lags: list[float] = field(default_factory=list)
    arrived_jobs: int = 0
    cold_jobs: int = 0  # jobs that arrived to no warm capacity (no free core or slot ready)
    held_node_s: float = 0.0  # node-seconds the node pool held (autoscaler.sim.nodes)
    nodes_added: int | None = 0
    scale_ups: int | None = 0
    scale_downs: int | None = 0
    decisions: int = 0


Cluster = SparkClusterSim | FlinkClusterSim


def build_clusters(
    events: list[Event], config: SimConfig, warm: bool = False, nodes: NodePool | None = None
) -> dict[tuple[str, str], Cluster]:
    """One cluster per (user, engine) that has jobs in the trace, their workers on ``nodes``;
    ``warm`` clusters (always on) keep their executors."""
    profile = config.start_profile()
    spark: dict[str, list[SparkJob]] = {}
    flink: dict[str, list[FlinkJob]] = {}
    for event in events:
        if isinstance(event, SparkJob):
            spark.setdefault(event.user, []).append(event)
        elif isinstance(event, FlinkJob):
            flink.setdefault(event.user, []).append(event)
    clusters: dict[tuple[str, str], Cluster] = {}
    for user, jobs in spark.items():
        clusters[(user, "spark")] = SparkClusterSim(
            jobs,
            config.worker_cores,
            profile.worker_start_s,
            profile.executor_start_s,
            math.inf if warm else config.executor_idle_timeout_s,
            nodes,
        )
    for user, jobs in flink.items():
        clusters[(user, "flink")] = FlinkClusterSim(
            jobs,
            config.worker_cores,
            profile.worker_start_s,
            config.flink_rescale_s,
            config.lag_sample_s,
            nodes,
        )
    return clusters


def horizon_of(events: list[Event]) -> float:
    """The end of the day: the last event, or the end of the last stream."""
    ends = [event.end if isinstance(event, FlinkJob) else event.t for event in events]
    return max(ends, default=0.0)


def simulate(policy: Policy, events: list[Event], config: SimConfig | None = None) -> RunResult:
    """Ask ``policy`` about every awake cluster each interval of its engine; apply the targets."""
    config = config or SimConfig()
    warm = policy.name in ALWAYS_ON
    nodes = NodePool(config.node_pool())
    clusters = build_clusters(events, config, warm, nodes)
    specs = {key: config.spec(*key) for key in clusters}
    states = {key: ClusterState(workers=0, desired=0) for key in clusters}
    metrics_lag_s = config.scrape_interval_s / 2 if policy.name in PROMETHEUS_READERS else 0.0
    intervals = {engine: interval_of(policy, engine) for engine in ("spark", "flink")}
    step_s = min(intervals.values())
    every = {engine: max(1, round(interval / step_s)) for engine, interval in intervals.items()}
    horizon = horizon_of(events)
    result = RunResult(policy.name, horizon, len(clusters))
    if warm:  # up before the day starts, so a job at t=0 finds them too
        for key, cluster in clusters.items():
            target = policy.decide(specs[key], cluster.signal(), states[key], 0.0).target
            cluster.scale_to(target, (), warm)
            states[key] = ClusterState(cluster.pool.size, cluster.pool.size)

    awake = set(clusters)
    sleeping: list[tuple[float, tuple[str, str]]] = []
    tick = 0
    now = 0.0
    while now <= horizon or _work_left(clusters, awake, sleeping, now, horizon, config):
        while sleeping and sleeping[0][0] <= now:
            awake.add(heapq.heappop(sleeping)[1])
        decisions: dict[tuple[str, str], Decision] = {}
        for key in sorted(awake):
            if tick % every[key[1]]:
                continue
            cluster = clusters[key]
            signal = _observe(cluster, now, metrics_lag_s)
            state = states[key]
            states[key] = state = ClusterState(
                cluster.pool.size, state.desired, state.last_scale_time, state.memo
            )
            decisions[key] = decide_or_hold(policy, specs[key], signal, state, now)
        result.decisions += len(decisions)
        serving = _serving_at(clusters, now)
        within_users = cap_user_decisions(decisions, specs, serving)
        capped = cap_decisions(within_users, specs, config.budget_cores, serving)
        for key, decision in capped.items():
            cluster = clusters[key]
            state = states[key]
            target = decision.target
            changed = target != state.workers
            if changed:
                cluster.scale_to(target, decision.victims, warm)
            states[key] = ClusterState(
                cluster.pool.size,
                target,
                now if changed else state.last_scale_time,
                decision.memo,
            )
            if cluster.idle and target == 0 and cluster.next_arrival < math.inf:
                awake.discard(key)
                interval = intervals[key[1]]
                wake = math.ceil(cluster.next_arrival / interval) * interval
                heapq.heappush(sleeping, (wake, key))
            elif cluster.idle and target == 0:
                awake.discard(key)
        tick += 1
        now = tick * step_s

    end = max(horizon, max((c.now for c in clusters.values()), default=0.0))
    result.horizon_s = end
    for (user, engine), cluster in clusters.items():
        cluster.advance(end)
        cluster.pool.release_all(end)
        result.held_core_s[engine] = result.held_core_s.get(engine, 0.0) + cluster.pool.held_core_s
        result.scale_ups += cluster.pool.ups
        result.scale_downs += cluster.pool.downs
        result.arrived_jobs += cluster.arrived_jobs
        result.cold_jobs += cluster.cold_jobs
        if isinstance(cluster, SparkClusterSim):
            result.busy_core_s += cluster.busy_core_s
            result.completions.update({(user, job): s for job, s in cluster.finished.items()})
        else:
            result.lags.extend(cluster.lags)
    nodes.finish(end)
    result.held_node_s = nodes.held_node_s
    result.nodes_added = nodes.added
    return result


def _work_left(
    clusters: dict[tuple[str, str], Cluster],
    awake: set[tuple[str, str]],
    sleeping: list[tuple[float, tuple[str, str]]],
    now: float,
    horizon: float,
    config: SimConfig,
) -> bool:
    """Whether a job runs, waits or is still to arrive (so the run must go on past the day),
    within the drain limit that ends a run whose policy never serves a job."""
    if now > horizon + config.drain_limit_s:
        return False
    return bool(sleeping) or any(clusters[key].runs or clusters[key].arrivals for key in awake)


def interval_of(policy: Policy, engine: str) -> float:
    """How often the policy decides for a cluster of ``engine`` (``interval_for`` if it has one:
    a policy that hands one engine to another system runs at that system's pace)."""
    interval_for = getattr(policy, "interval_for", None)
    return interval_for(engine) if interval_for else policy.interval_s


def _serving_at(
    clusters: dict[tuple[str, str], Cluster], now: float
) -> Callable[[tuple[str, str]], tuple[WorkerLoad, ...]]:
    """Each cluster's workers at ``now``, with their loads: victims for a budget cap."""
    return lambda key: clusters[key].pool.loads(now)


def _observe(cluster: Cluster, now: float, metrics_lag_s: float) -> Signal:
    """Advance the cluster to ``now``; the signal as the policy sees it (maybe a scrape old)."""
    if metrics_lag_s and now - metrics_lag_s >= cluster.now:
        cluster.advance(now - metrics_lag_s)
        signal = cluster.signal()
        cluster.advance(now)
        return signal
    cluster.advance(now)
    return cluster.signal()


def oracle(events: list[Event], config: SimConfig, reference: RunResult) -> RunResult:
    """The lower bound: perfect foresight, workers start at once, nothing held idle.

    It holds exactly the cores running tasks use (Spark: each job's core-seconds of work, on
    the same schedule as the always-on ``reference`` run) and the slots each stream needs at
    its input rate (min(max_parallelism, ceil(rate / records_per_slot_second)), whole
    workers), never lagging. Its cores fill nodes exactly: node-seconds = core-seconds / node
    cores (no empty room, no node waiting to be removed).
    """
    result = RunResult("oracle", reference.horizon_s, reference.clusters)
    result.scale_ups = result.scale_downs = result.nodes_added = None
    spark_s = sum(event.work_s for event in events if isinstance(event, SparkJob))
    flink_s = sum(_stream_core_s(e, config) for e in events if isinstance(e, FlinkJob))
    result.held_core_s = {"spark": spark_s, "flink": flink_s}
    result.busy_core_s = spark_s
    result.held_node_s = (spark_s + flink_s) / config.node_cores  # perfectly packed, never empty
    result.completions = dict(reference.completions)
    result.lags = [0.0]
    result.arrived_jobs = reference.arrived_jobs  # and none cold: its workers start at once
    return result


def _stream_core_s(job: FlinkJob, config: SimConfig, step_s: float = 1.0) -> float:
    """Integral of the whole workers' cores a stream needs at its input rate (1 s midpoints)."""
    cores = config.worker_cores
    slots_cap = min(job.max_parallelism, config.max_workers * cores)
    total = 0.0
    steps = math.ceil((job.end - job.t) / step_s)
    for i in range(steps):
        at = job.t + (i + 0.5) * step_s
        slots = min(slots_cap, math.ceil(job.rate_at(at) / job.records_per_slot_second - 1e-9))
        total += math.ceil(slots / cores) * cores * min(step_s, job.end - (job.t + i * step_s))
    return total
