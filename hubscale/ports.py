"""Free TCP ports on 127.0.0.1 for local mode's processes (clusters, the hub's stack)."""

from __future__ import annotations

import contextlib
import random
import socket

EPHEMERAL_FLOOR = 20000  # below Linux's ephemeral range start (32768) and above well-known ports
EPHEMERAL_CEILING = 32000


def free_port() -> int:
    """A port nothing uses now, below the kernel's ephemeral range: a head on demand binds its
    ports minutes after they were chosen, and an ephemeral port (the kernel's own pick) may by
    then be the local end of some outgoing connection."""
    return free_port_range(1)


def free_port_range(count: int, attempts: int = 200) -> int:
    """The first of ``count`` consecutive free ports (Spark's UI takes ports one after another)."""
    for _ in range(attempts):
        first = random.randrange(EPHEMERAL_FLOOR, EPHEMERAL_CEILING - count)
        if all(_is_free(first + offset) for offset in range(count)):
            return first
    raise OSError(f"no {count} consecutive free ports in {EPHEMERAL_FLOOR}..{EPHEMERAL_CEILING}")


def _is_free(port: int) -> bool:
    """Free on every address: some processes (Flink's metric reporters) bind 0.0.0.0."""
    with socket.socket() as probe, contextlib.suppress(OSError):
        probe.bind(("0.0.0.0", port))
        return True
    return False
