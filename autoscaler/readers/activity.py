"""The notebook servers' activity (kernels per engine) from Prometheus: one query per signal.

Each notebook server publishes per engine its running and busy kernels and their last activity
(``hubscale_nb.activity``); its scrape target carries the labels ``user`` and ``server`` (written by
the spawner, not by the server: a server cannot speak for another), the series ``engine``.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from dataclasses import dataclass

from autoscaler.policy.heads import Activity
from autoscaler.readers.prometheus import PrometheusClient, Series

GROUP = "user, server, engine"
KERNELS = f'max by ({GROUP}) (hubscale_notebook_kernels{{role="notebook"}})'
BUSY = f'max by ({GROUP}) (hubscale_notebook_kernels_busy{{role="notebook"}})'
LAST_ACTIVITY = (
    f"max by ({GROUP}) "
    '(hubscale_notebook_kernel_last_activity_timestamp_seconds{role="notebook"})'
)

Key = tuple[str, str, str]  # (user, server, engine)


@dataclass(frozen=True, slots=True)
class ActivityReadings:
    """Every server's activity per engine, from one loop's queries."""

    by_server: Mapping[Key, Activity]

    def get(self, user: str, server: str, engine: str) -> Activity | None:
        """The activity of one server's kernels of one engine; None: no reading."""
        return self.by_server.get((user, server, engine))


async def read_activity(prometheus: PrometheusClient, at: float) -> ActivityReadings:
    """Three queries, whatever the number of servers."""
    kernels, busy, last = await asyncio.gather(
        prometheus.vector(KERNELS, at=at),
        prometheus.vector(BUSY, at=at),
        prometheus.vector(LAST_ACTIVITY, at=at),
    )
    busy_by, last_by = _by_key(busy), _by_key(last)
    found = {}
    for key, count in _by_key(kernels).items():
        if math.isnan(count):
            continue
        busy_count = busy_by.get(key, 0.0)
        latest = last_by.get(key)
        found[key] = Activity(
            kernels=max(0, int(count)),
            busy=0 if math.isnan(busy_count) else max(0, int(busy_count)),
            last_activity=latest if latest is not None and latest > 0 else None,
        )
    return ActivityReadings(found)


def _by_key(series: list[Series]) -> dict[Key, float]:
    return {
        (s.labels["user"], s.labels.get("server", ""), s.labels["engine"]): s.value
        for s in series
        if "user" in s.labels and "engine" in s.labels
    }
