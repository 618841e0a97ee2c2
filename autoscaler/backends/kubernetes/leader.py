"""One active controller at a time on Kubernetes: a ``coordination.k8s.io/v1`` Lease.

The holder renews the Lease every ``renew_every_s``; a standby takes it over once the holder
has not renewed for ``lease_duration_s``. Every write is a replace conditional on the
resourceVersion read just before, so two candidates racing for the same Lease cannot both win
(the loser gets 409 and stays standby). A leader that cannot renew steps down on its own before
its Lease expires, so two leaders never act at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from kubernetes_asyncio import client

from hubscale.kube_api import KubeError, Retry, call

log = logging.getLogger(__name__)

CONFLICT = 409
NOT_FOUND = 404


class LeaderElection:
    """Campaign for the Lease ``name`` in ``namespace`` as ``identity``."""

    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        name: str,
        identity: str,
        lease_duration_s: float = 15.0,
        renew_every_s: float = 5.0,
        retry: Retry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.leases = client.CoordinationV1Api(api)
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.lease_duration_s = lease_duration_s
        self.renew_every_s = renew_every_s
        self.retry = retry or Retry(attempts=2, timeout_s=renew_every_s)
        self.clock = clock
        self._renewed_at: float | None = None  # when we last held a renewed Lease

    @property
    def leading(self) -> bool:
        """True while our last successful renewal is recent enough to act on."""
        if self._renewed_at is None:
            return False
        # Step down a little before the Lease expires for the others.
        return self.clock() - self._renewed_at < self.lease_duration_s - self.renew_every_s / 2

    async def campaign_once(self) -> bool:
        """Acquire or renew the Lease if we may; True when we hold it afterwards."""
        now = self.clock()
        try:
            lease = await call(
                "read lease", self.leases.read_namespaced_lease, self.name, self.namespace,
                retry=self.retry,
            )  # fmt: skip
        except KubeError as error:
            if error.status != NOT_FOUND:
                return self._lost(f"cannot read the Lease: {error}")
            return await self._write(None, now)
        spec = lease.spec
        holder = spec.holder_identity if spec else None
        if holder not in (None, "", self.identity) and not self._expired(spec, now):
            return self._step_down(f"{holder} holds the Lease")
        return await self._write(lease, now)

    async def run(self, stop: asyncio.Event) -> None:
        """Campaign every ``renew_every_s`` until ``stop``; then give the Lease up."""
        while not stop.is_set():
            await self.campaign_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.renew_every_s)
        await self.release()

    async def release(self) -> None:
        """Hand the Lease over at once (clear the holder) if we hold it."""
        if self._renewed_at is None:
            return
        self._renewed_at = None
        with contextlib.suppress(KubeError):
            lease = await call(
                "read lease", self.leases.read_namespaced_lease, self.name, self.namespace,
                retry=self.retry,
            )  # fmt: skip
            if lease.spec and lease.spec.holder_identity == self.identity:
                lease.spec.holder_identity = None
                await call(
                    "release lease", self.leases.replace_namespaced_lease, self.name,
                    self.namespace, lease, retry=self.retry,
                )  # fmt: skip
                log.info("leader-released identity=%s", self.identity)

    def _expired(self, spec: client.V1LeaseSpec, now: float) -> bool:
        renewed = spec.renew_time or spec.acquire_time
        if renewed is None:
            return True
        duration = spec.lease_duration_seconds or self.lease_duration_s
        return _epoch(renewed) + duration < now

    async def _write(self, lease: client.V1Lease | None, now: float) -> bool:
        """Take or renew the Lease with a write conditional on what we read."""
        stamp = datetime.fromtimestamp(now, tz=UTC)
        taking_over = (
            lease is None or lease.spec is None or (lease.spec.holder_identity != self.identity)
        )
        spec = client.V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=int(self.lease_duration_s),
            renew_time=stamp,
            acquire_time=stamp if taking_over else lease.spec.acquire_time,
            lease_transitions=_transitions(lease) + (1 if taking_over and lease else 0),
        )
        try:
            if lease is None:
                body = client.V1Lease(
                    metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace),
                    spec=spec,
                )
                await call(
                    "create lease", self.leases.create_namespaced_lease, self.namespace, body,
                    retry=self.retry,
                )  # fmt: skip
            else:
                lease.spec = spec
                await call(
                    "renew lease", self.leases.replace_namespaced_lease, self.name,
                    self.namespace, lease, retry=self.retry,
                )  # fmt: skip
        except KubeError as error:
            if error.status == CONFLICT:
                return self._step_down("another candidate wrote the Lease first")
            return self._lost(f"cannot write the Lease: {error}")
        if taking_over:
            log.info("leader-acquired identity=%s lease=%s/%s", self.identity, self.namespace,
                     self.name)  # fmt: skip
        self._renewed_at = now
        return True

    def _lost(self, why: str) -> bool:
        """The API could not be asked: a leader keeps acting until its renewal is too old."""
        log.warning("leader-campaign-failed identity=%s why=%r", self.identity, why)
        return self.leading

    def _step_down(self, why: str) -> bool:
        """Someone else holds the Lease: stop acting at once."""
        if self._renewed_at is not None:
            log.warning("leader-lost identity=%s why=%r", self.identity, why)
        self._renewed_at = None
        return False


def _transitions(lease: client.V1Lease | None) -> int:
    if lease is None or lease.spec is None:
        return 0
    return lease.spec.lease_transitions or 0


def _epoch(value: datetime | str) -> float:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()
