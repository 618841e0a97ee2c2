"""The values every scaling policy takes and returns, and the interface they share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol, get_args

if TYPE_CHECKING:
    from autoscaler.policy.signals import Signal
    from hubscale.spec import ComputeClusterSpec

# Policy memory persisted between calls (status.policyState): numbers or tuples of numbers.
Memo = Mapping[str, float | tuple[float, ...]]

# Why a decision was made, in few words: a metric label, and "bounds" sets CapacityLimited.
Cause = Literal[
    "backlog",  # demand above what the cluster has: scale up
    "anticipate",  # no demand yet, but work is expected: keep or add workers
    "stabilizing",  # demand lower, waiting for the stabilization window
    "shrink",  # demand stayed lower for the window: scale down
    "idle",  # nothing running for idleTimeoutSeconds: scale to minWorkers
    "steady",  # demand matches the cluster
    "bounds",  # the spec's bounds or a budget moved the target (the work wants more)
    "metrics-missing",  # no usable metric: hold
    "metrics-stale",  # newest sample too old: hold
    "error",  # the object is invalid or its backend failed: hold, phase Error
]
CAUSES: tuple[Cause, ...] = get_args(Cause)


@dataclass(frozen=True, slots=True)
class ClusterState:
    """What the controller knows of a cluster besides metrics; rebuilt from status on restart."""

    workers: int  # workers the backend holds now (starting or ready)
    desired: int  # the last target written to status
    last_scale_time: float | None = None
    memo: Memo = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    """A policy's answer: how many workers, why, which to remove, and what to remember."""

    target: int
    reason: str
    cause: Cause
    victims: tuple[str, ...] = ()
    memo: Memo = field(default_factory=dict)

    @classmethod
    def no_change(cls, state: ClusterState, reason: str, cause: Cause, memo: Memo | None = None):
        """Hold at the current target (never shrink): used for missing or stale metrics."""
        return cls(
            target=state.desired,
            reason=reason,
            cause=cause,
            memo=state.memo if memo is None else memo,
        )


def within_bounds(workers: int, spec: ComputeClusterSpec) -> int:
    """``workers`` moved into the spec's bounds, minWorkers..maxWorkers."""
    return max(spec.min_workers, min(spec.max_workers, workers))


class Policy(Protocol):
    """A scaling policy: pure, so the simulator and the controller call it the same way."""

    name: str
    interval_s: float  # how often the caller asks

    def decide(
        self, spec: ComputeClusterSpec, signal: Signal, state: ClusterState, now: float
    ) -> Decision: ...
