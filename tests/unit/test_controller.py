"""The controller loop's decisions around failures, with an in-memory backend.

The backend here is a test double (the real local backend runs JVMs and is covered by
tests/integration/test_controller_spark.py); Prometheus answers through httpx's MockTransport so
each test can make it answer garbage or nothing at all. The store is the real one, on tmp_path.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx
import pytest

from autoscaler.backends.base import Observation
from autoscaler.controller import dry_run
from autoscaler.controller.loop import Controller, LoopResult
from autoscaler.controller.shard import Shard, parse_shard
from autoscaler.controller.status import REASON_REFRESH_S, worth_writing
from autoscaler.policy.decision import Decision
from autoscaler.readers.flink_rest import FlinkRest
from autoscaler.readers.prometheus import PrometheusClient
from hubscale.spec import DRY_RUN, ComputeCluster, ComputeClusterStatus, parse_cluster
from hubscale.state_dir import clusters_dir
from hubscale.store import LocalClusterStore

NOW = 1_800_000_000.0


class MemoryBackend:
    """Clusters as lists of worker names; records every scale call."""

    def __init__(self) -> None:
        self.workers: dict[str, list[str]] = {}
        self.engines: dict[str, str] = {}
        self.scaled: list[tuple[str, int, tuple[str, ...]]] = []
        self.deleted: list[str] = []
        self.heads: dict[str, bool] = {}  # head running, per cluster

    async def ensure(self, cluster: ComputeCluster, head: bool = True) -> Observation:
        name = cluster.metadata.name
        self.workers.setdefault(name, [])
        self.engines[name] = cluster.spec.engine
        self.heads[name] = head or bool(self.workers[name])  # never stopped under workers
        return self._observation(name)

    async def scale(self, cluster: ComputeCluster, workers: int, victims: Sequence[str]) -> None:
        name = cluster.metadata.name
        self.scaled.append((name, workers, tuple(victims)))
        current = self.workers[name]
        while len(current) < workers:
            current.append(f"w{len(current)}")
        del current[workers:]

    async def delete(self, name: str) -> None:
        self.deleted.append(name)
        self.workers.pop(name, None)

    async def observe(self) -> dict[str, Observation]:
        return {name: self._observation(name) for name in self.workers}

    def _observation(self, name: str) -> Observation:
        engine = self.engines.get(name, "spark")
        endpoints = {"rest_url": f"http://{name}.jobmanager.test"}
        head = self.heads.get(name, False)
        return Observation(name, engine, head, tuple(self.workers[name]), (), endpoints)


def vector(results: list[tuple[dict[str, str], float]]) -> dict:
    return {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [{"metric": labels, "value": [NOW, str(value)]} for labels, value in results],
        },
    }


def prometheus_answering(answers: dict[str, list[tuple[dict[str, str], float]]]):
    """A MockTransport answering each query by the first key found in it."""

    def handle(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        for needle, results in answers.items():
            if needle in query:
                return httpx.Response(200, json=vector(results))
        return httpx.Response(200, json=vector([]))

    return httpx.MockTransport(handle)


def apply(store: LocalClusterStore, name: str, **spec) -> None:
    document = {"metadata": {"name": name}, "spec": {"owner": "alice", "engine": "spark", **spec}}
    store.apply(parse_cluster(document))


def controller(tmp_path: Path, transport: httpx.MockTransport, backend=None) -> Controller:
    prometheus = PrometheusClient("http://prometheus.test", transport=transport)
    return Controller(
        LocalClusterStore(tmp_path), backend or MemoryBackend(), prometheus, clock=lambda: NOW
    )


def demand(cluster: str, executors: float) -> dict:
    return {
        "numberMaxNeededExecutors": [({"cluster": cluster}, executors)],
        "waitingApps": [({"cluster": cluster}, 0)],
    }


def test_an_invalid_object_gets_phase_error_while_the_others_scale(tmp_path: Path):
    loop = controller(tmp_path, prometheus_answering(demand("good", 3)))
    apply(loop.objects, "good", maxWorkers=4)
    (clusters_dir(tmp_path) / "broken.yaml").write_text(
        "apiVersion: hubscale.io/v1alpha1\nkind: ComputeCluster\nmetadata: {name: broken}\n"
        "spec: {owner: bob, engine: spark, maxWorkers: lots}\n"
    )

    result = asyncio.run(loop.reconcile_once())

    assert result.decisions["good"].target == 3
    assert loop.backend.scaled == [("good", 3, ())]
    broken = loop.objects.get("broken").status
    assert broken.phase == "Error"
    assert "spec.maxWorkers" in broken.reason and "lots" in broken.reason
    assert "broken" not in loop.backend.workers  # nothing started for it


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (httpx.Response(200, text="<html>login</html>"), "bad response"),
        (httpx.Response(503, text="down"), "unavailable"),
        (httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix"}}), "bad"),
    ],
)
def test_garbage_from_prometheus_holds_every_cluster_and_backs_off(
    tmp_path: Path, response: httpx.Response, kind: str
):
    loop = controller(tmp_path, prometheus_answering(demand("busy", 2)))
    apply(loop.objects, "busy", maxWorkers=4, idleTimeoutSeconds=0)
    asyncio.run(loop.reconcile_once())
    assert loop.backend.workers["busy"] == ["w0", "w1"]
    loop.prometheus = PrometheusClient(
        "http://prometheus.test", transport=httpx.MockTransport(lambda request: response)
    )

    for _ in range(3):
        result = asyncio.run(loop.reconcile_once())

    assert result.metrics_error is not None and kind in result.metrics_error
    assert result.decisions["busy"].target == 2
    assert loop.backend.workers["busy"] == ["w0", "w1"]  # never shrunk without metrics
    status = loop.objects.get("busy").status
    assert "no scale-down without metrics" in status.reason and status.desired == 2
    assert loop.delay_s() == loop.interval_s * 8  # doubled per failed loop


def test_prometheus_unreachable_still_restores_a_dead_worker(tmp_path: Path):
    backend = MemoryBackend()
    loop = controller(tmp_path, prometheus_answering(demand("c", 2)), backend)
    apply(loop.objects, "c", maxWorkers=4)
    asyncio.run(loop.reconcile_once())

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    loop.prometheus = PrometheusClient(
        "http://prometheus.test", transport=httpx.MockTransport(refuse)
    )
    backend.workers["c"].pop()  # a worker process died

    result = asyncio.run(loop.reconcile_once())

    assert "unavailable" in result.metrics_error
    assert backend.workers["c"] == ["w0", "w1"]
    assert backend.scaled[-1] == ("c", 2, ())


def test_a_deleted_object_tears_its_cluster_down_and_drops_its_status(tmp_path: Path):
    loop = controller(tmp_path, prometheus_answering(demand("gone", 1)))
    apply(loop.objects, "gone")
    asyncio.run(loop.reconcile_once())
    assert loop.objects.get("gone").status is not None

    loop.objects.delete("gone")
    asyncio.run(loop.reconcile_once())

    assert loop.backend.deleted == ["gone"]
    assert loop.objects.orphaned_statuses() == []
    assert not any(path.name.startswith("gone") for path in clusters_dir(tmp_path).iterdir())


def test_metrics_and_health_report_the_loop(tmp_path: Path):
    loop = controller(tmp_path, prometheus_answering(demand("m", 1)))
    apply(loop.objects, "m")
    assert loop.health() == (True, "starting")
    asyncio.run(loop.reconcile_once())

    ok, why = loop.health()
    assert ok, why
    registry = loop.metrics.registry
    labels = {"cluster": "m", "user": "alice", "engine": "spark"}
    assert registry.get_sample_value("hubscale_cluster_desired_workers", labels) == 1
    assert (
        registry.get_sample_value(
            "hubscale_controller_decisions_total", {"engine": "spark", "cause": "backlog"}
        )
        == 1
    )
    loop.clock = lambda: NOW + 3600
    ok, why = loop.health()
    assert not ok and "last loop finished 3600 s ago" in why


def test_a_global_budget_is_shared_fairly_between_users(tmp_path: Path):
    answers = {
        "numberMaxNeededExecutors": [({"cluster": "a"}, 6), ({"cluster": "b"}, 1)],
        "waitingApps": [({"cluster": "a"}, 0), ({"cluster": "b"}, 0)],
    }
    loop = controller(tmp_path, prometheus_answering(answers))
    loop.budget_cores = 4
    apply(loop.objects, "a", maxWorkers=8)
    document = {"metadata": {"name": "b"}, "spec": {"owner": "bob", "engine": "spark"}}
    loop.objects.apply(parse_cluster(document))

    result = asyncio.run(loop.reconcile_once())

    assert (result.decisions["a"].target, result.decisions["b"].target) == (3, 1)
    assert "budget of 4 cores" in loop.objects.get("a").status.reason
    assert loop.backend.workers["a"] == ["w0", "w1", "w2"]


def test_a_users_budget_caps_their_clusters_across_servers_and_says_so(tmp_path: Path):
    answers = {
        "numberMaxNeededExecutors": [({"cluster": "a"}, 6), ({"cluster": "a-big"}, 6)],
        "waitingApps": [({"cluster": "a"}, 0), ({"cluster": "a-big"}, 0)],
    }
    loop = controller(tmp_path, prometheus_answering(answers))
    apply(loop.objects, "a", maxWorkers=8, userBudgetCores=4)
    apply(loop.objects, "a-big", server="big", maxWorkers=8, userBudgetCores=4)

    result = asyncio.run(loop.reconcile_once())

    assert (result.decisions["a"].target, result.decisions["a-big"].target) == (2, 2)
    status = loop.objects.get("a").status
    assert "(capped at 2: at your budget of 4 cores)" in status.reason
    assert [c.status for c in status.conditions if c.type == "CapacityLimited"] == ["True"]
    assert loop.backend.workers["a-big"] == ["w0", "w1"]


def test_an_unchanged_status_is_not_rewritten(tmp_path: Path):
    loop = controller(tmp_path, prometheus_answering(demand("s", 0)))
    apply(loop.objects, "s")
    status_file = clusters_dir(tmp_path) / "s.status.yaml"
    asyncio.run(loop.reconcile_once())
    written = status_file.stat().st_mtime_ns
    inode = status_file.stat().st_ino

    asyncio.run(loop.reconcile_once())

    assert status_file.stat().st_ino == inode and status_file.stat().st_mtime_ns == written


def flink_jobmanager(handle: Callable[[httpx.Request], httpx.Response]):
    """The controller's JobManager clients, all answered by ``handle`` (a MockTransport)."""
    return lambda url, tls=None: FlinkRest(url, transport=httpx.MockTransport(handle))


ONE_JOB = {  # Prometheus: the JobManager has one job with a JobMaster, running
    "numRestarts": [({"cluster": "f"}, 1)],
    "numRunningJobs": [({"cluster": "f"}, 1)],
}
JOB_ID = "de66a99123f27d7a8c82fe918712971f"


def overview(scheduler: str, **tasks: int) -> dict:
    job = {"jid": JOB_ID, "name": "q", "state": "RUNNING", "schedulerType": scheduler}
    return {"jobs": [{**job, "tasks": tasks}]}


def batch_job_waiting(request: httpx.Request) -> httpx.Response:
    """A JobManager whose AdaptiveBatch job waits for 2 slots and which has no TaskManager."""
    if request.url.path == "/jobs/overview":
        return httpx.Response(200, json=overview("AdaptiveBatch", scheduled=2))
    if request.url.path == "/taskmanagers":
        return httpx.Response(200, json={"taskmanagers": []})
    return httpx.Response(500, json={"errors": ["UnsupportedOperationException: no"]})


def test_a_batch_job_waiting_at_zero_grows_the_flink_cluster(tmp_path: Path):
    """Issue 12: AdaptiveBatch answers /resource-requirements with a 500; before the fix the
    cluster held at 0 ("no scale-down without metrics") and the query never ran."""

    loop = controller(tmp_path, prometheus_answering(ONE_JOB))
    loop.flink_rest = flink_jobmanager(batch_job_waiting)
    apply(loop.objects, "f", engine="flink", maxWorkers=4)

    result = asyncio.run(loop.reconcile_once())

    assert result.decisions["f"].target == 2
    assert loop.backend.workers["f"] == ["w0", "w1"]
    assert "2 tasks of batch jobs running or waiting for a slot" in result.decisions["f"].reason


def test_a_jobmanager_that_cannot_say_what_a_job_needs_still_gets_it_a_worker(tmp_path: Path):
    """Hold on failing metrics protects against shrinking, never keeps a waiting job at zero;
    the status says why in words, without Flink's stack trace."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jobs/overview":
            return httpx.Response(200, json=overview("Adaptive"))
        if request.url.path == "/taskmanagers":
            return httpx.Response(200, json={"taskmanagers": []})
        trace = "java.lang.IllegalStateException: broken\n\tat org.apache.flink.Foo(Foo.java:1)"
        return httpx.Response(500, json={"errors": ["Internal server error.", trace]})

    loop = controller(tmp_path, prometheus_answering(ONE_JOB))
    loop.flink_rest = flink_jobmanager(handle)
    apply(loop.objects, "f", engine="flink", maxWorkers=4)

    for _ in range(3):
        asyncio.run(loop.reconcile_once())

    assert loop.backend.scaled == [("f", 1, ())]  # one worker, then held there
    status = loop.objects.get("f").status
    assert status.reason.startswith("the Flink JobManager did not say what your jobs need")
    assert "HTTP 500" in status.reason and "IllegalStateException: broken" in status.reason
    assert "Foo.java" not in status.reason


def flink_beside_spark(tmp_path: Path, handle) -> Controller:
    """Flink cluster "f" with a job, its JobManager answered by ``handle``, beside Spark cluster
    "s" whose work wants 2 workers: what one JobManager does must not touch "s"."""
    loop = controller(tmp_path, prometheus_answering({**ONE_JOB, **demand("s", 2)}))
    loop.flink_rest = flink_jobmanager(handle)
    apply(loop.objects, "f", engine="flink", maxWorkers=4)
    apply(loop.objects, "s", maxWorkers=4)
    return loop


def test_garbage_from_one_jobmanager_holds_only_its_own_cluster(tmp_path: Path):
    """A job id that is not Flink's (issue 14, finding 7) used to escape the loop as ValueError."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "f.jobmanager.test" and request.url.path == "/jobs/overview":
            return httpx.Response(
                200, json={"jobs": [{"jid": "../x", "state": "RUNNING", "name": "q"}]}
            )
        return httpx.Response(200, json={"taskmanagers": []})

    loop = flink_beside_spark(tmp_path, handle)

    result = asyncio.run(loop.reconcile_once())

    assert result.decisions["s"].target == 2
    assert "unexpected answer" in loop.objects.get("f").status.reason


def test_a_jobmanager_that_never_finishes_answering_holds_only_its_own_cluster(tmp_path: Path):
    """Issue 14, finding 7: each request has a timeout, but a JobManager that keeps the answer
    coming (here: never) stalled the whole loop; now its read has a deadline."""

    async def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "f.jobmanager.test":
            await asyncio.Event().wait()  # never answers; a MockTransport has no timeouts
        return httpx.Response(200, json={"taskmanagers": []})

    loop = flink_beside_spark(tmp_path, handle)
    loop.flink_read_deadline_s = 0.2

    result = asyncio.run(asyncio.wait_for(loop.reconcile_once(), timeout=60))

    assert result.decisions["s"].target == 2 and loop.backend.workers["s"] == ["w0", "w1"]
    assert "no whole answer within 0.2 s" in loop.objects.get("f").status.reason


def test_an_unforeseen_error_reading_one_jobmanager_holds_only_its_own_cluster(tmp_path: Path):
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "f.jobmanager.test":
            raise RuntimeError("a bug met by this answer")
        return httpx.Response(200, json={"taskmanagers": []})

    loop = flink_beside_spark(tmp_path, handle)

    result = asyncio.run(loop.reconcile_once())

    assert result.decisions["s"].target == 2
    reason = loop.objects.get("f").status.reason
    assert reason.startswith(
        "the controller could not read what your Flink jobs need"
        " (RuntimeError: a bug met by this answer)"
    )


# Dry run (autoscaler.controller.dry_run): decide, report, resize nothing.


def conditions(status: ComputeClusterStatus) -> dict[str, str]:
    return {c.type: c.status for c in status.conditions}


def test_a_dry_run_decides_reports_and_scales_nothing(tmp_path: Path):
    loop = controller(tmp_path, prometheus_answering(demand("s", 3)))
    loop.dry_run = True
    apply(loop.objects, "s", maxWorkers=8)

    result = asyncio.run(loop.reconcile_once())

    status = loop.objects.get("s").status
    assert loop.backend.scaled == [] and loop.backend.workers["s"] == []
    assert result.decisions["s"].target == 3
    assert (status.workers, status.desired, status.phase) == (0, 3, "Idle")  # as it runs
    assert status.reason.startswith("dry run: would scale to 3 (running 0): ")
    assert conditions(status)[DRY_RUN] == "True"
    registry = loop.metrics.registry
    labels = {"cluster": "s", "user": "alice", "engine": "spark"}
    assert registry.get_sample_value("hubscale_cluster_desired_workers", labels) == 3
    assert registry.get_sample_value("hubscale_cluster_workers", labels) == 0


def test_leaving_dry_run_scales_and_drops_the_condition(tmp_path: Path):
    loop = controller(tmp_path, prometheus_answering(demand("s", 2)))
    loop.dry_run = True
    apply(loop.objects, "s", maxWorkers=8)
    asyncio.run(loop.reconcile_once())

    loop.dry_run = False
    asyncio.run(loop.reconcile_once())

    status = loop.objects.get("s").status
    assert loop.backend.workers["s"] == ["w0", "w1"]
    assert DRY_RUN not in conditions(status) and "dry run" not in status.reason


def test_the_dry_run_metric_says_which_mode_runs(tmp_path: Path):
    normal = controller(tmp_path, prometheus_answering({}))
    dry = Controller(normal.objects, normal.backend, normal.prometheus, dry_run=True)

    assert normal.metrics.registry.get_sample_value("hubscale_controller_dry_run") == 0
    assert dry.metrics.registry.get_sample_value("hubscale_controller_dry_run") == 1


def test_a_steady_dry_run_says_so_without_would_scale():
    decision = dry_run.would_scale(Decision(2, "steady at 2", "steady"), serving=2)

    assert decision.reason == "dry run: steady at 2" and decision.target == 2


class HangingEnsure(MemoryBackend):
    """``ensure`` of cluster ``hung`` blocks its thread until released, as the local backend's
    would on a process or disk that never answers; counts the calls per cluster."""

    def __init__(self, hung: str) -> None:
        super().__init__()
        self.hung = hung
        self.release = threading.Event()
        self.calls: Counter[str] = Counter()

    async def ensure(self, cluster: ComputeCluster, head: bool = True) -> Observation:
        self.calls[cluster.metadata.name] += 1
        if cluster.metadata.name == self.hung:
            await asyncio.to_thread(self.release.wait, 20)
        return await super().ensure(cluster, head)


def test_a_hung_ensure_holds_only_its_own_cluster_and_is_not_asked_again_meanwhile(
    tmp_path: Path,
):
    """Issue 14, finding 7: one cluster's backend call that never returned stalled the loop for
    every cluster; now each ensure has a deadline, past which only that cluster is in Error."""
    backend = HangingEnsure("stuck")
    loop = controller(tmp_path, prometheus_answering(demand("s", 2)), backend)
    loop.ensure_deadline_s = 0.2
    apply(loop.objects, "stuck", maxWorkers=4)
    apply(loop.objects, "s", maxWorkers=4)

    async def three_loops() -> list[LoopResult]:
        first = await loop.reconcile_once()
        second = await loop.reconcile_once()  # the first ensure of "stuck" still hangs
        backend.release.set()
        await asyncio.sleep(0.1)  # its thread returns; that stale answer is not used
        return [first, second, await loop.reconcile_once()]

    try:
        first, second, third = asyncio.run(asyncio.wait_for(three_loops(), timeout=10))
    finally:
        backend.release.set()

    assert first.decisions["s"].target == 2 and backend.workers["s"] == ["w0", "w1"]
    assert "stuck" not in first.decisions and "stuck" not in second.decisions
    status = loop.objects.get("stuck").status
    assert backend.calls["stuck"] == 2  # not again while the first hung; afresh once it ended
    assert "stuck" in third.decisions and status.phase != "Error"


def test_a_cluster_whose_ensure_misses_its_deadline_says_why(tmp_path: Path):
    backend = HangingEnsure("stuck")
    loop = controller(tmp_path, prometheus_answering({}), backend)
    loop.ensure_deadline_s = 0.2
    apply(loop.objects, "stuck", maxWorkers=4)

    try:
        asyncio.run(asyncio.wait_for(loop.reconcile_once(), timeout=10))
    finally:
        backend.release.set()

    status = loop.objects.get("stuck").status
    assert status.phase == "Error"
    assert "not finished within 0.2 s" in status.reason


class WatchingBackend(MemoryBackend):
    """A backend that says which clusters' objects changed (as the Kubernetes backend's watches
    do); records which clusters each loop ensured."""

    def __init__(self) -> None:
        super().__init__()
        self.moved: set[str] | None = None  # None: cannot tell yet (not synced)
        self.ensured: list[str] = []

    def changed(self) -> set[str] | None:
        moved, self.moved = self.moved, set()
        return moved

    async def ensure(self, cluster: ComputeCluster, head: bool = True) -> Observation:
        self.ensured.append(cluster.metadata.name)
        return await super().ensure(cluster, head)


def loop_ensures(loop: Controller) -> list[str]:
    loop.backend.ensured = []
    asyncio.run(loop.reconcile_once())
    return sorted(loop.backend.ensured)


def test_only_clusters_whose_objects_or_spec_changed_are_ensured(tmp_path: Path):
    """Issue 17: a steady loop ensures nothing; a cluster is ensured again when its running
    objects or its spec change; a backend that cannot tell gets every cluster ensured."""
    loop = controller(tmp_path, prometheus_answering({}), WatchingBackend())
    loop.resync_s = 1e9  # no periodic resync in this test
    for name in ("a", "b", "c"):
        apply(loop.objects, name, maxWorkers=4)

    assert loop_ensures(loop) == ["a", "b", "c"]  # the caches have not listed: everything
    assert loop_ensures(loop) == []
    loop.backend.moved = {"b"}
    assert loop_ensures(loop) == ["b"]
    apply(loop.objects, "c", maxWorkers=6)
    assert loop_ensures(loop) == ["c"]
    loop.backend.moved = None
    assert loop_ensures(loop) == ["a", "b", "c"]


class SlowEnsure(MemoryBackend):
    """Each ensure waits a moment (API calls); records how many ran at once."""

    ensures_at_once = 4

    def __init__(self) -> None:
        super().__init__()
        self.running = self.peak = 0

    async def ensure(self, cluster: ComputeCluster, head: bool = True) -> Observation:
        self.running += 1
        self.peak = max(self.peak, self.running)
        await asyncio.sleep(0.01)
        self.running -= 1
        return await super().ensure(cluster, head)


def test_clusters_are_ensured_as_many_at_once_as_the_backend_allows(tmp_path: Path):
    """Issue 17: one ensure at a time, 10,000 clusters coming up through the API-server double
    had not finished their first loop after 17 minutes."""
    loop = controller(tmp_path, prometheus_answering({}), SlowEnsure())
    for index in range(10):
        apply(loop.objects, f"c{index}", maxWorkers=4)

    result = asyncio.run(loop.reconcile_once())

    assert loop.backend.peak == 4
    assert list(result.decisions) == [f"c{index}" for index in range(10)]  # in the objects' order
    loop.backend.ensures_at_once = 1
    loop.backend.peak, loop._ensured = 0, {}  # every cluster ensured again
    asyncio.run(loop.reconcile_once())
    assert loop.backend.peak == 1


def test_a_shard_handles_its_own_clusters_and_never_tears_down_another_shards(tmp_path: Path):
    """Issue 17, sharding: each cluster belongs to one shard; a shard does not see the others'
    clusters, so it never takes one for deleted (its object is not in the shard's list)."""
    names = [f"c{index}" for index in range(12)]
    shards = [Shard(index, 3) for index in range(3)]
    assert all(sum(shard.owns(name) for shard in shards) == 1 for name in names)
    backend = MemoryBackend()
    handled = []
    for shard in shards:
        loop = controller(tmp_path, prometheus_answering({}), backend)
        loop.shard = shard
        for name in names:
            apply(loop.objects, name, minWorkers=1, maxWorkers=2)
        result = asyncio.run(loop.reconcile_once())
        handled.append(set(result.decisions))
        assert handled[-1] == {name for name in names if shard.owns(name)}
    assert backend.deleted == []
    assert set().union(*handled) == set(names)


def test_a_shard_is_written_i_slash_n():
    assert parse_shard("1/3") == Shard(1, 3) and str(Shard(1, 3)) == "1/3"
    assert parse_shard("") is None and parse_shard("0/1") is None
    for bad in ("3/3", "1", "a/2", "-1/2"):
        with pytest.raises(ValueError):
            parse_shard(bad)


def test_the_slow_full_resync_ensures_every_cluster_a_slice_per_loop(tmp_path: Path):
    loop = controller(tmp_path, prometheus_answering({}), WatchingBackend())
    for name in ("a", "b", "c", "d"):
        apply(loop.objects, name, maxWorkers=4)
    loop_ensures(loop)
    loop.resync_s = loop.interval_s * 2  # every cluster once per two loops

    slices = [loop_ensures(loop) for _ in range(4)]

    assert [len(ensured) for ensured in slices] == [2, 2, 2, 2]
    assert sorted(slices[0] + slices[1]) == ["a", "b", "c", "d"]


class CountingStore(LocalClusterStore):
    def __init__(self, state_dir: Path) -> None:
        super().__init__(state_dir)
        self.writes: list[str] = []

    def write_status(self, name, status) -> bool:
        self.writes.append(name)
        return super().write_status(name, status)


def test_a_steady_busy_cluster_writes_its_status_when_it_changes_not_every_loop(tmp_path: Path):
    """Issue 17: the policy's lastActive moves every loop while work runs; it is persisted at
    most every MEMO_REFRESH_S, and a restarted controller decides the same from what was kept."""
    now = [NOW]
    prometheus = PrometheusClient(
        "http://prometheus.test", transport=prometheus_answering(demand("s", 2))
    )
    store = CountingStore(tmp_path)
    loop = Controller(store, MemoryBackend(), prometheus, clock=lambda: now[0])
    apply(store, "s", maxWorkers=4)

    for _ in range(14):  # 28 s of loops at one demand
        asyncio.run(loop.reconcile_once())
        now[0] += 2.0
    assert store.writes == ["s", "s"]  # the scale-up (Scaling), then Ready once the workers ran
    written = store.get("s").status.policy_state["lastActive"]
    now[0] += 4.0
    asyncio.run(loop.reconcile_once())
    assert store.writes == ["s", "s", "s"]  # lastActive 30 s old: persisted
    assert store.get("s").status.policy_state["lastActive"] > written

    restarted = Controller(store, loop.backend, prometheus, clock=lambda: now[0])
    result = asyncio.run(restarted.reconcile_once())
    assert result.decisions["s"].target == 2
    assert len(store.writes) == 3  # nothing a reader uses changed


def test_a_reason_whose_figures_alone_move_is_rewritten_at_most_every_refresh():
    old = ComputeClusterStatus(
        desired=0, phase="Idle", reason="idle for 400 s: scaling to minWorkers 0"
    )
    newer = old.model_copy(update={"reason": "idle for 402 s: scaling to minWorkers 0"})
    other = old.model_copy(update={"reason": "nothing running for 4 s; keeping 0 warm"})
    assert not worth_writing(old, newer, NOW, NOW + 2)
    assert worth_writing(old, newer, NOW, NOW + REASON_REFRESH_S)
    assert worth_writing(old, newer, None, NOW)  # never written by this process
    assert worth_writing(old, other, NOW, NOW + 2)  # another kind of reason
    assert worth_writing(old, old.model_copy(update={"desired": 1}), NOW, NOW + 2)


def test_a_flink_jobmanager_is_asked_through_one_kept_client_loop_after_loop(tmp_path: Path):
    """Issue 17: building a client (and its TLS context) per loop cost tens of milliseconds per
    streaming cluster; the client is kept while the cluster has jobs."""

    built = []
    answering = flink_jobmanager(batch_job_waiting)
    loop = controller(tmp_path, prometheus_answering(ONE_JOB))
    loop.flink_rest = lambda url, tls=None: built.append(url) or answering(url, tls)
    apply(loop.objects, "f", engine="flink", maxWorkers=4)

    async def loops() -> None:
        for _ in range(3):
            await loop.reconcile_once()

    asyncio.run(loops())
    assert built == ["http://f.jobmanager.test"]
    assert loop.backend.workers["f"] == ["w0", "w1"]


def kernels(count: int, user: str = "alice", engine: str = "spark") -> dict:
    """Prometheus's answers for a notebook server with ``count`` kernels of ``engine``."""
    labels = {"user": user, "server": "", "engine": engine}
    return {
        "hubscale_notebook_kernels_busy": [(labels, 0)],
        "last_activity": [(labels, NOW - 5)],
        "hubscale_notebook_kernels{": [(labels, count)],
    }


def test_a_head_on_demand_starts_with_a_kernel_and_stops_after_the_idle_window(tmp_path: Path):
    answers: dict = kernels(0)
    now = [NOW]
    prometheus = PrometheusClient("http://prometheus.test", transport=prometheus_answering(answers))
    loop = Controller(
        LocalClusterStore(tmp_path), MemoryBackend(), prometheus, clock=lambda: now[0]
    )
    apply(loop.objects, "s", headOnDemand=True, idleTimeoutSeconds=60)

    asyncio.run(loop.reconcile_once())  # a server without a kernel: no master
    status = loop.objects.get("s").status
    head = next(c for c in status.conditions if c.type == "HeadRunning")
    assert loop.backend.heads["s"] is False
    assert (status.phase, head.status) == ("Idle", "False")
    assert "no Spark kernel" in head.message

    answers.update(kernels(1))
    now[0] += 5
    asyncio.run(loop.reconcile_once())  # a Spark kernel opens: the master starts
    assert loop.backend.heads["s"] is True
    asyncio.run(loop.reconcile_once())
    head = next(c for c in loop.objects.get("s").status.conditions if c.type == "HeadRunning")
    assert (head.status, head.message) == ("True", "Spark master runs: 1 Spark kernels are open")

    answers.update(kernels(0))
    now[0] += 30  # kernel closed, inside the idle window: kept
    asyncio.run(loop.reconcile_once())
    assert loop.backend.heads["s"] is True
    now[0] += 60  # past the window (60 s + a quarter of it): stopped
    asyncio.run(loop.reconcile_once())
    assert loop.backend.heads["s"] is False
    assert loop.objects.get("s").status.phase == "Idle"


def test_a_head_on_demand_holds_while_the_server_has_no_reading(tmp_path: Path):
    loop = controller(tmp_path, prometheus_answering({}))
    apply(loop.objects, "s", headOnDemand=True)
    loop.backend.heads["s"] = True
    loop.backend.workers["s"] = []
    loop.backend.engines["s"] = "spark"

    asyncio.run(loop.reconcile_once())

    assert loop.backend.heads["s"] is True  # no reading: neither started nor stopped
    head = next(c for c in loop.objects.get("s").status.conditions if c.type == "HeadRunning")
    assert "no activity reading" in head.message
    assert "headUnreadSince" in loop.objects.get("s").status.policy_state

    loop.prometheus = PrometheusClient(
        "http://prometheus.test", transport=prometheus_answering(kernels(1))
    )
    asyncio.run(loop.reconcile_once())  # a reading: the wait for one is forgotten
    assert "headUnreadSince" not in loop.objects.get("s").status.policy_state


def test_a_head_on_demand_never_stops_under_workers(tmp_path: Path):
    answers = {**kernels(0), **demand("s", 2)}
    loop = controller(tmp_path, prometheus_answering(answers))
    apply(loop.objects, "s", headOnDemand=True, maxWorkers=4)
    loop.backend.heads["s"], loop.backend.engines["s"] = True, "spark"
    loop.backend.workers["s"] = ["w0", "w1"]

    result = asyncio.run(loop.reconcile_once())

    assert loop.backend.heads["s"] is True
    assert result.decisions["s"].target == 2


def test_without_heads_on_demand_no_activity_is_asked_and_heads_run(tmp_path: Path):
    asked: list[str] = []
    inner = prometheus_answering(demand("s", 0))

    def handle(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["query"])
        return inner.handle_request(request)

    loop = controller(tmp_path, httpx.MockTransport(handle))
    apply(loop.objects, "s")

    asyncio.run(loop.reconcile_once())

    assert loop.backend.heads["s"] is True
    assert not [query for query in asked if "hubscale_notebook" in query]
    conditions = loop.objects.get("s").status.conditions
    assert "HeadRunning" not in [c.type for c in conditions]
