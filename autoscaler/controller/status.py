"""A ComputeCluster's status after a decision, and the policy's state rebuilt from a status.

The controller keeps nothing in memory it cannot rebuild: what the policy remembers between loops
(``ClusterState``) lives in the object's status, written by ``status_after`` and read back by
``state_from_status``, the same for the local store and Kubernetes.

``worth_writing`` says when a new status must reach the object: at once when a field a reader
acts on moved (phase, workers, desired, conditions, the kind of reason, the policy's memory
beyond its clock); a reason whose only change is a live figure ("idle for 312 s") and the
policy's ``lastActive`` ticking forward while work runs are written at most every
``REASON_REFRESH_S`` / ``MEMO_REFRESH_S``, so a steady cluster costs no write per loop. The price:
after a restart ``lastActive`` may be up to ``MEMO_REFRESH_S`` old (idle time read that much long).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from autoscaler.policy.decision import ClusterState, Decision
from hubscale.spec import (
    CAPACITY_LIMITED,
    HEAD_RUNNING,
    ComputeClusterStatus,
    Condition,
    Phase,
)

READY = "Ready"
HEAD = HEAD_RUNNING  # clusters whose head runs on demand: is the master/JobManager up, and why
READY_PHASES = ("Ready", "Idle")
MEMO_REFRESH_S = 30.0  # the policy's lastActive, persisted at least this often while work runs
REASON_REFRESH_S = 300.0  # a reason whose figures alone moved, rewritten at most this often
VOLATILE_MEMO = "lastActive"  # moves every loop while work runs
_FIGURE = re.compile(r"\d+(?:\.\d+)?")


def state_from_status(status: ComputeClusterStatus | None) -> ClusterState:
    """What the policy knows of a cluster, rebuilt from its status (a fresh cluster without one)."""
    if status is None:
        return ClusterState(workers=0, desired=0)
    return ClusterState(
        workers=status.workers,
        desired=status.desired,
        last_scale_time=_epoch(status.last_scale_time),
        memo=dict(status.policy_state),
    )


def status_after(
    decision: Decision,
    workers: int,
    now: float,
    phase: Phase,
    previous: ComputeClusterStatus | None,
) -> ComputeClusterStatus:
    """The status to write after a decision; times move only when what they date changed."""
    desired_before = previous.desired if previous is not None else 0
    last_scale_time = previous.last_scale_time if previous is not None else None
    last_scale_reason = previous.last_scale_reason if previous is not None else ""
    if decision.target != desired_before:
        last_scale_time = _rfc3339(now)
        last_scale_reason = decision.reason
    ready = "True" if phase in READY_PHASES else "False"
    conditions = previous.conditions if previous is not None else []
    before = next((c for c in conditions if c.type == READY), None)
    transition = before.last_transition_time if before and before.status == ready else _rfc3339(now)
    others = [c for c in conditions if c.type not in (READY, CAPACITY_LIMITED)]
    condition = Condition(
        type=READY,
        status=ready,
        reason=phase,
        message=decision.reason,
        last_transition_time=transition,
    )
    return ComputeClusterStatus(
        workers=workers,
        desired=decision.target,
        phase=phase,
        last_scale_time=last_scale_time,
        last_scale_reason=last_scale_reason,
        reason=decision.reason,
        conditions=[condition, _capacity_limited(decision, conditions, now), *others],
        policy_state=dict(decision.memo),
    )


def head_condition(
    status: ComputeClusterStatus, running: bool, reason: str, now: float
) -> ComputeClusterStatus:
    """The status with its ``HeadRunning`` condition: whether the head runs and why."""
    value = "True" if running else "False"
    before = next((c for c in status.conditions if c.type == HEAD), None)
    same = before is not None and before.status == value
    condition = Condition(
        type=HEAD,
        status=value,
        reason="Running" if running else "Stopped",
        message=reason,
        last_transition_time=before.last_transition_time if same else _rfc3339(now),
    )
    others = [c for c in status.conditions if c.type != HEAD]
    return status.model_copy(update={"conditions": [*others, condition]})


def _capacity_limited(decision: Decision, conditions: list[Condition], now: float) -> Condition:
    """True while the work wants more workers than the cluster's bounds or budget allow: what a
    user's kernel relays while a cell waits (spawner.kernel_notice)."""
    limited = "True" if decision.cause == "bounds" else "False"
    before = next((c for c in conditions if c.type == CAPACITY_LIMITED), None)
    same = before is not None and before.status == limited
    return Condition(
        type=CAPACITY_LIMITED,
        status=limited,
        reason="AtLimit" if limited == "True" else "WithinLimit",
        message=decision.reason if limited == "True" else "",
        last_transition_time=before.last_transition_time if same else _rfc3339(now),
    )


def _rfc3339(epoch_s: float) -> str:
    """Epoch seconds as RFC 3339 UTC, e.g. 2024-05-01T12:00:00Z (microseconds when present)."""
    return datetime.fromtimestamp(epoch_s, tz=UTC).isoformat().replace("+00:00", "Z")


def _epoch(text: str | None) -> float | None:
    """An RFC 3339 time (as the model validated it) as epoch seconds."""
    return None if text is None else datetime.fromisoformat(text.upper()).timestamp()


def worth_writing(
    written: ComputeClusterStatus | None,
    new: ComputeClusterStatus,
    written_at: float | None,
    now: float,
) -> bool:
    """Whether ``new`` must replace the ``written`` status (persisted at ``written_at``, None:
    unknown, e.g. after a restart) now; see the module's docstring."""
    if written is None:
        return True
    if (written.workers, written.desired, written.phase, written.last_scale_time) != (
        new.workers,
        new.desired,
        new.phase,
        new.last_scale_time,
    ):
        return True
    if _condition_states(written) != _condition_states(new):
        return True
    if _shape(written.reason) != _shape(new.reason) or _memo_moved(written, new):
        return True
    age_s = now - written_at if written_at is not None else None
    if written.policy_state != new.policy_state and (age_s is None or age_s >= MEMO_REFRESH_S):
        return True
    return written.reason != new.reason and (age_s is None or age_s >= REASON_REFRESH_S)


def _condition_states(status: ComputeClusterStatus) -> list[tuple[str, str, str | None]]:
    return [(c.type, c.status, c.reason) for c in status.conditions]


def _shape(reason: str) -> str:
    """A reason without its figures: what changes when the cause or the kind of decision does."""
    return _FIGURE.sub("#", reason)


def _memo_moved(written: ComputeClusterStatus, new: ComputeClusterStatus) -> bool:
    """The policy's memory changed in more than its clock (``lastActive``)."""
    before, after = written.policy_state, new.policy_state
    if before.keys() != after.keys():
        return True
    return any(before[key] != after[key] for key in before if key != VOLATILE_MEMO)
