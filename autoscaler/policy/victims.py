"""Which workers to remove when a cluster shrinks: idle ones first, never a busy one while an
idle one can go."""

from __future__ import annotations

import math
from collections.abc import Sequence

from autoscaler.policy.signals import WorkerLoad


def choose_victims(workers: Sequence[WorkerLoad], remove: int) -> tuple[str, ...]:
    """Pick ``remove`` workers: starting ones, then idle, then the least busy; unknown load last.

    A worker whose load is unknown (NaN) is treated as busy: it is never preferred to one known
    to be idle. Ties keep the given order reversed, so the newest worker goes first.
    """
    if remove <= 0:
        return ()

    def rank(indexed: tuple[int, WorkerLoad]) -> tuple[int, float, int]:
        index, worker = indexed
        if not worker.ready:
            return (0, 0.0, -index)
        if math.isnan(worker.busy):
            return (2, 0.0, -index)
        return (1, worker.busy, -index)

    ordered = sorted(enumerate(workers), key=rank)
    return tuple(worker.name for _, worker in ordered[:remove])
