"""Nodes under the workers: a shared pool that a cluster-autoscaler grows and shrinks.

Every worker of every user is a pod of ``worker_cores`` on a node of ``node_cores``. Placement
bin-packs (the fullest node that fits, ready nodes first: the scheduler's ``MostAllocated``
scoring); a worker that fits nowhere makes the cluster-autoscaler add a node, ready a scan
interval plus the profile's provisioning delay later, and the first worker on a fresh node pulls
the image. A node is removed once it has been empty for ``scale-down-unneeded-time``, never
within ``scale-down-delay-after-add`` of the last scale-up, at the autoscaler's next scan.

Only empty nodes go: workers keep shuffle and spill files in an emptyDir, and with its default
``skip-nodes-with-local-storage=true`` the cluster-autoscaler never drains a node with such pods.
Nodes are accounted lazily: a node's removal is settled when the pool is next used or at the end.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from itertools import count

# https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/FAQ.md
# ("What are the parameters to CA?"): scan-interval 10 s, scale-down-unneeded-time 10 min,
# scale-down-delay-after-add 10 min, skip-nodes-with-local-storage true.
CLUSTER_AUTOSCALER_FAQ = (
    "https://github.com/kubernetes/autoscaler/blob/master/cluster-autoscaler/FAQ.md"
)
SCAN_INTERVAL_S = 10.0
SCALE_DOWN_UNNEEDED_S = 600.0
SCALE_DOWN_DELAY_AFTER_ADD_S = 600.0


@dataclass(frozen=True)
class NodePoolSettings:
    """The node pool and its autoscaler; delays of None mean nodes appear at once (local)."""

    node_cores: int = 8
    provision_s: float | None = None  # cluster-autoscaler request -> pods schedulable
    image_pull_s: float = 0.0  # the worker image on a node that never ran it
    scan_interval_s: float = SCAN_INTERVAL_S
    scale_down_unneeded_s: float = SCALE_DOWN_UNNEEDED_S
    scale_down_delay_after_add_s: float = SCALE_DOWN_DELAY_AFTER_ADD_S

    def describe(self) -> str:
        delay = "at once" if self.provision_s is None else f"{self.provision_s:g} s to provision"
        return (
            f"nodes of {self.node_cores} cores ({delay}, image pull {self.image_pull_s:g} s),"
            f" cluster-autoscaler scan {self.scan_interval_s:g} s, scale-down-unneeded-time"
            f" {self.scale_down_unneeded_s:g} s, scale-down-delay-after-add"
            f" {self.scale_down_delay_after_add_s:g} s"
        )


@dataclass(slots=True, eq=False)
class SimNode:
    name: int
    asked_at: float
    ready_at: float
    used: int = 0
    empty_since: float = 0.0
    image_at: float | None = None  # when the worker image is on the node (None: never asked)


@dataclass
class NodePool:
    """All nodes of the platform and the node-seconds they were held."""

    settings: NodePoolSettings = field(default_factory=NodePoolSettings)
    nodes: list[SimNode] = field(default_factory=list)
    held_node_s: float = 0.0
    added: int = 0
    _adds: list[float] = field(default_factory=list)  # when each scale-up was asked (sorted)
    _names: count = field(default_factory=count)

    def place(self, cores: int, now: float, warm: bool = False) -> tuple[SimNode, float]:
        """A node for a worker of ``cores`` asked for at ``now``, and when the worker can start
        there (the node ready, the image pulled)."""
        if cores > self.settings.node_cores:
            raise ValueError(
                f"a worker of {cores} cores fits no node of {self.settings.node_cores}"
            )
        self._settle(now)
        fits = [node for node in self.nodes if node.used + cores <= self.settings.node_cores]
        if fits:
            node = min(fits, key=lambda n: (n.ready_at > now, -n.used, n.ready_at, n.name))
        else:
            node = self._add(now, warm)
        node.used += cores
        if node.image_at is None:  # the first worker pulls the image; the others wait for it
            node.image_at = max(now, node.ready_at) + (0.0 if warm else self.settings.image_pull_s)
        return node, max(now, node.image_at)

    def free(self, node: SimNode, cores: int, at: float) -> None:
        """A worker left ``node`` at ``at``."""
        node.used -= cores
        if node.used == 0:
            node.empty_since = max(at, node.ready_at)

    def finish(self, end: float) -> None:
        """Settle every node at the end of the run: removed on schedule, or held until ``end``."""
        self._settle(end)
        for node in self.nodes:
            self.held_node_s += end - node.asked_at
        self.nodes = []

    def _add(self, now: float, warm: bool) -> SimNode:
        settings = self.settings
        if warm or settings.provision_s is None:
            ready_at = now
        else:  # a pending pod is seen at the autoscaler's next scan
            scan = math.floor(now / settings.scan_interval_s + 1) * settings.scan_interval_s
            ready_at = scan + settings.provision_s
        node = SimNode(next(self._names), now, ready_at, empty_since=ready_at)
        self.nodes.append(node)
        self._adds.append(now)
        self.added += 1
        return node

    def removal_at(self, node: SimNode) -> float:
        """When the autoscaler removes ``node`` if nothing lands on it: empty for the unneeded
        time, outside every delay-after-add window, at a scan."""
        settings = self.settings
        delay = settings.scale_down_delay_after_add_s
        at = node.empty_since + settings.scale_down_unneeded_s
        index = bisect.bisect_right(self._adds, at - delay)  # the first add whose window holds at
        while index < len(self._adds) and self._adds[index] <= at:
            at = self._adds[index] + delay
            index = bisect.bisect_right(self._adds, at - delay)
        return math.ceil(at / settings.scan_interval_s) * settings.scan_interval_s

    def _settle(self, now: float) -> None:
        keep = []
        for node in self.nodes:
            removed_at = self.removal_at(node) if node.used == 0 else math.inf
            if removed_at <= now:
                self.held_node_s += removed_at - node.asked_at
            else:
                keep.append(node)
        self.nodes = keep
