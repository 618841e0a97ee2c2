"""Each sampling round: every cluster's sample, its core-seconds since the last, and decisions.

The round's arithmetic is ``usage.accounting``; what it remembers between rounds (each cluster's
last sample) lives in the database, so a restarted service carries on where it stopped.
"""

from __future__ import annotations

import logging
from typing import Protocol

from usage.accounting import Sample, between
from usage.busy import BusyCoresError
from usage.clusters import ClusterSource, ClusterView
from usage.db import AccountingDB, Decision

log = logging.getLogger(__name__)

MAX_GAP_S = 120.0  # longer without a sample: not counted (nobody saw what was held)


class BusyCores(Protocol):
    def busy_cores(self) -> dict[str, float]: ...


def cause_of(view: ClusterView) -> str:
    """Why the desired count moved, in one word: at a limit, or what the policy decided."""
    return "bounds" if view.at_limit else "policy"


def decision_between(view: ClusterView, before_desired: int, now_s: float) -> Decision | None:
    """The decision a changed desired count shows, or None if it did not change. Its reason is
    the one the controller gave when it moved desired (``lastScaleReason``), not the newest loop's:
    a round samples seconds after the decision, and by then the next loop may say something else."""
    if view.desired == before_desired:
        return None
    status = view.status
    reason = (status.last_scale_reason or status.reason) if status is not None else ""
    return Decision(now_s, view.key, before_desired, view.desired, cause_of(view), reason)


class Sampler:
    """Rolls each cluster's held and used cores into the database, round after round."""

    def __init__(
        self,
        source: ClusterSource,
        busy: BusyCores,
        db: AccountingDB,
        max_gap_s: float = MAX_GAP_S,
    ) -> None:
        self.source = source
        self.busy = busy
        self.db = db
        self.max_gap_s = max_gap_s

    def sample(self, now_s: float) -> int:
        """One round at ``now_s`` (epoch seconds); how many clusters it saw."""
        try:
            busy: dict[str, float] | None = self.busy.busy_cores()
        except BusyCoresError as error:
            log.warning("busy-cores-unknown error=%s", error)
            busy = None
        views = self.source.clusters()
        for view in views:
            self._sample_one(view, busy, now_s)
        return len(views)

    def _sample_one(self, view: ClusterView, busy: dict[str, float] | None, now_s: float) -> None:
        busy_cores = None if busy is None else busy.get(view.key.cluster, 0.0)
        sample = Sample(now_s, view.workers, view.cores_per_worker, busy_cores)
        last = self.db.last_sample(view.key.cluster)
        if last is None:
            before_desired = 0
            usage = []
        else:
            before, before_desired = last
            usage = between(before, sample, self.max_gap_s)
        decision = decision_between(view, before_desired, now_s)
        self.db.record(view.key, sample, view.desired, usage, decision)
        if decision is not None:
            log.info(
                "decision cluster=%s from=%d to=%d cause=%s",
                view.key.cluster,
                decision.from_workers,
                decision.to_workers,
                decision.cause,
            )
