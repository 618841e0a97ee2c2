"""Sharding: several controllers, each handling the clusters whose name hashes to its share.

A replica started with ``--shard I/N`` lists, observes, ensures, scales and tears down only the
clusters whose name hashes (SHA-256) to ``I`` mod ``N``: a cluster belongs to exactly one shard,
and shards never touch each other's (a shard never sees another's clusters, so it never takes
them for deleted ones). Each shard elects its own leader through its own Lease.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Shard:
    """Share ``index`` of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"needs 0 <= I < N, got {self.index}/{self.count}")

    def owns(self, name: str) -> bool:
        """Whether the cluster named ``name`` is this shard's."""
        digest = hashlib.sha256(name.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard | None:
    """``I/N`` as a Shard; "" or "0/1": no sharding (None)."""
    if not text or text == "0/1":
        return None
    index, slash, count = text.partition("/")
    if not slash or not index.isdigit() or not count.isdigit():
        raise ValueError("must be I/N with whole numbers, e.g. 0/2")
    return Shard(int(index), int(count))
