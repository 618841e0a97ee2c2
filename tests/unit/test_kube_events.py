"""Events for the controller's decisions: what kubectl describe shows, valid for Kubernetes."""

from __future__ import annotations

from autoscaler.backends.kubernetes.events import decision_event, decision_reason
from autoscaler.controller import dry_run
from hubscale.spec import ComputeClusterStatus
from tests.kube.schemas import assert_valid

OBJ = {"metadata": {"name": "alice-spark", "namespace": "hub", "uid": "u-1"}}
NOW = "2024-05-01T12:00:00Z"


def status(desired: int, phase: str = "Ready", reason: str = "r") -> ComputeClusterStatus:
    return ComputeClusterStatus(desired=desired, phase=phase, reason=reason)


def test_scaling_up_and_down_are_normal_events_with_the_decision_reason():
    up = decision_event(OBJ, status(1), status(3, reason="backlog"), NOW, "autoscaler-0")
    assert (up["reason"], up["type"], up["message"]) == (
        "ScaledUp",
        "Normal",
        "1 -> 3 workers: backlog",
    )
    assert_valid(up)
    down = decision_event(OBJ, status(3), status(0, "Idle"), NOW, "autoscaler-0")
    assert down["reason"] == "ScaledDown"


def test_an_error_is_a_warning_once_until_its_reason_changes():
    error = status(2, "Error", "invalid object: spec.maxWorkers: must be at least 5")
    event = decision_event(OBJ, status(2), error, NOW, "autoscaler-0")
    assert (event["type"], event["reason"], event["message"]) == ("Warning", "Failed", error.reason)
    assert_valid(event)
    assert decision_reason(error, error) is None
    assert decision_reason(error, status(2, "Error", "backend: down")) == "Failed"


def test_no_event_when_the_desired_size_holds():
    assert decision_event(OBJ, status(2), status(2, "Scaling"), NOW, "autoscaler-0") is None
    assert decision_event(OBJ, None, status(0, "Idle"), NOW, "autoscaler-0") is None


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
