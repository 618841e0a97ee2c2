"""Heads on demand: whether a cluster's master / JobManager should run, from the user's activity.

Pure, like the scaling policy. A cluster whose spec says ``headOnDemand`` keeps its head while
its notebook server has a kernel of the cluster's engine, while workers run (a job, or workers
kept through the idle window) or while ``minWorkers`` asks for workers; after that, for
``idleTimeoutSeconds``; then it stops. Without an activity reading (the server not scraped yet,
Prometheus down) the head stays as it is, never stopped on a missing metric; a reading missing
for ``UNREAD_GRACE_S`` (a server that does not publish) starts it, as without heads on demand.
A cluster without ``headOnDemand`` always runs its head, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from autoscaler.policy.decision import Memo
from hubscale.spec import ComputeClusterSpec

NEEDED_AT = "headNeededAt"  # memo key: when the head was last needed (epoch s)
UNREAD_SINCE = "headUnreadSince"  # memo key: since when no activity reading came (epoch s)
UNREAD_GRACE_S = 60.0
MEMO_KEYS = (NEEDED_AT, UNREAD_SINCE)  # the head's own: a decision's memo carries them from here
# headNeededAt moves at most this often while in use (a quarter of the idle window if shorter),
# so a status is not rewritten every loop for it; the window counts from it plus one step.
NEEDED_AT_STEP_S = 30.0
ENGINE_NAMES = {"spark": ("Spark", "master"), "flink": ("Flink", "JobManager")}


@dataclass(frozen=True, slots=True)
class Activity:
    """What a notebook server's kernels of one engine are doing (its activity metrics)."""

    kernels: int  # running kernels of the engine
    busy: int = 0  # of them, executing now
    last_activity: float | None = None  # newest kernel activity (epoch s), None: never


@dataclass(frozen=True, slots=True)
class HeadDecision:
    """Run the head or not, why, and what to remember (only the head's own memo keys)."""

    run: bool
    reason: str
    memo: Memo


def decide_head(
    spec: ComputeClusterSpec,
    activity: Activity | None,
    workers: int,
    head_running: bool,
    memo: Memo,
    now: float,
) -> HeadDecision:
    """Whether the head runs, from the activity, the workers and when it was last needed."""
    engine, head = ENGINE_NAMES.get(spec.engine, (spec.engine, "head"))
    if not spec.head_on_demand:
        return HeadDecision(True, "", {})
    last_needed, unread_since = _number(memo, NEEDED_AT), _number(memo, UNREAD_SINCE)
    kept: Memo = {} if last_needed is None else {NEEDED_AT: last_needed}
    step_s = min(NEEDED_AT_STEP_S, spec.idle_timeout_seconds / 4)
    needed: Memo = (
        kept if last_needed is not None and now - last_needed < step_s else {NEEDED_AT: now}
    )
    if workers > 0 or spec.min_workers > 0:
        why = f"{workers} workers run" if workers else f"minWorkers is {spec.min_workers}"
        return HeadDecision(True, f"{engine} {head} runs: {why}", needed)
    if activity is None:
        since = now if unread_since is None else unread_since
        unread: Memo = {**kept, UNREAD_SINCE: since}
        if now - since >= UNREAD_GRACE_S:
            return HeadDecision(
                True,
                f"{engine} {head} runs: no activity reading from the notebook server for"
                f" {UNREAD_GRACE_S:g} s (as without heads on demand)",
                unread,
            )
        state = "running" if head_running else "stopped"
        return HeadDecision(
            head_running,
            f"{engine} {head} {state}: no activity reading from the notebook server yet",
            unread,
        )
    if activity.kernels > 0:
        return HeadDecision(
            True,
            f"{engine} {head} runs: {activity.kernels} {engine} kernels are open",
            needed,
        )
    if last_needed is not None and now - last_needed < spec.idle_timeout_seconds + step_s:
        return HeadDecision(  # run, not "as it is": a restarted controller sees no head yet
            True,
            f"{engine} {head} kept: no {engine} kernel; stops {spec.idle_timeout_seconds} s"
            " after the last one unless one starts",
            kept,
        )
    return HeadDecision(
        False, f"{engine} {head} stopped: no {engine} kernel, no workers; starts with one", kept
    )


def _number(memo: Memo, key: str) -> float | None:
    value = memo.get(key)
    return float(value) if isinstance(value, int | float) else None
