"""What a waiting cell is told, from the cluster's status (the kernel side of CapacityLimited)."""

from __future__ import annotations

import pytest
import yaml

from autoscaler.controller.status import status_after
from autoscaler.policy.decision import Decision
from hubscale.kube_conf import short_status, short_status_changed
from spawner.kernel_notice import notice

NOW = 1_800_000_000.0


def status(target: int, cause: str, reason: str) -> dict:
    written = status_after(Decision(target, reason, cause), 0, NOW, "Idle", None)
    return written.model_dump(by_alias=True, mode="json")


def test_a_cluster_that_may_have_no_worker_says_the_work_cannot_start():
    told = notice(
        "spark", status(0, "bounds", "steady at 0: 1 apps waiting (capped at maxWorkers 0)")
    )
    assert told is not None and told.startswith(
        "hubscale: this work wants more workers than allowed"
    )
    assert "it cannot start: your Spark cluster may have no worker" in told
    assert "(steady at 0: 1 apps waiting (capped at maxWorkers 0))" in told


def test_a_cluster_at_its_limit_says_the_work_runs_more_slowly():
    told = notice("flink", status(2, "bounds", "16 tasks of batch jobs (capped at maxWorkers 2)"))
    assert told is not None and "runs on the 2 workers your Flink cluster may have" in told


@pytest.mark.parametrize("cause", ["backlog", "steady", "idle", "metrics-missing", "error"])
def test_nothing_is_said_while_the_cluster_is_within_its_limits(cause):
    assert notice("spark", status(3, cause, "3 executors needed")) is None


@pytest.mark.parametrize(
    "garbage",
    [None, "text", {"conditions": "x"}, {"conditions": [1, None]}, {"conditions": [{}]}],
)
def test_an_unreadable_status_says_nothing(garbage):
    assert notice("spark", garbage) is None


def test_the_condition_keeps_its_transition_time_while_the_limit_holds():
    first = status_after(Decision(0, "capped", "bounds"), 0, NOW, "Idle", None)
    later = status_after(Decision(0, "capped again", "bounds"), 0, NOW + 60, "Idle", first)
    limited = {c.type: c for c in later.conditions}["CapacityLimited"]
    assert (limited.status, limited.message) == ("True", "capped again")
    assert (
        limited.last_transition_time
        == {c.type: c for c in first.conditions}["CapacityLimited"].last_transition_time
    )
    freed = status_after(
        Decision(1, "1 executors needed", "backlog"), 0, NOW + 90, "Scaling", later
    )
    assert {c.type: c.status for c in freed.conditions} == {
        "Ready": "False",
        "CapacityLimited": "False",
    }


@pytest.mark.parametrize(
    ("target", "cause"), [(0, "bounds"), (2, "bounds"), (3, "backlog"), (1, "error")]
)
def test_the_short_status_on_kubernetes_tells_what_the_local_status_file_tells(target, cause):
    written = status_after(Decision(target, "capped at maxWorkers 2", cause), 0, NOW, "Idle", None)
    short = yaml.safe_load(short_status(written))
    full = written.model_dump(by_alias=True, mode="json")
    assert notice("flink", short) == notice("flink", full)


def test_the_short_status_changes_with_the_limit_or_the_desired_workers_not_the_reason():
    first = status_after(Decision(2, "4 apps waiting", "bounds"), 0, NOW, "Ready", None)
    recount = status_after(Decision(2, "5 apps waiting", "bounds"), 2, NOW + 1, "Ready", first)
    freed = status_after(Decision(2, "2 executors needed", "steady"), 2, NOW + 2, "Ready", first)
    grown = status_after(Decision(3, "6 apps waiting", "bounds"), 2, NOW + 3, "Ready", first)
    assert short_status_changed(None, first)
    assert not short_status_changed(first, recount)
    assert short_status_changed(first, freed) and short_status_changed(first, grown)


def test_the_status_keeps_the_reason_of_the_last_resize_until_the_next_one():
    """``lastScaleReason``: what moved desired (the usage service records it), kept while
    later loops' reasons change and desired does not."""
    grown = status_after(Decision(1, "1 apps waiting", "backlog"), 0, NOW, "Scaling", None)
    held = status_after(Decision(1, "keeping 1 warm", "anticipate"), 1, NOW + 5, "Ready", grown)
    shrunk = status_after(Decision(0, "idle for 600 s", "idle"), 1, NOW + 700, "Idle", held)
    assert [s.last_scale_reason for s in (grown, held, shrunk)] == [
        "1 apps waiting",
        "1 apps waiting",
        "idle for 600 s",
    ]
    assert held.reason == "keeping 1 warm"
