"""Dry-run mode: the controller decides and says "would scale to N" in the status, its Events and
metrics, and resizes nothing (the in-memory backend records every scale call)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from autoscaler.backends.kubernetes.events import decision_event
from autoscaler.controller import dry_run
from autoscaler.controller.loop import Controller
from autoscaler.policy.decision import Decision
from hubscale.spec import DRY_RUN, ComputeClusterStatus
from tests.kube.schemas import assert_valid
from tests.unit.test_controller import (
    apply,
    controller,
    demand,
    prometheus_answering,
)


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


def test_events_of_a_dry_run_say_would_scale():
    obj = {"metadata": {"name": "alice-spark", "namespace": "hub", "uid": "u-1"}}
    before = ComputeClusterStatus(desired=0, phase="Ready", reason="")
    after = dry_run.mark(
        ComputeClusterStatus(desired=3, phase="Ready", reason="dry run: would scale to 3"),
        True,
        1_800_000_000.0,
    )

    event = decision_event(obj, before, after, "2027-01-15T08:00:00Z", "autoscaler-0")
    down = decision_event(obj, after, after.model_copy(update={"desired": 1}), "t", "a")

    assert (event["reason"], event["type"]) == ("WouldScaleUp", "Normal")
    assert event["message"] == "0 -> 3 workers: dry run: would scale to 3"
    assert down["reason"] == "WouldScaleDown"
    assert_valid(event)
