"""Leader election over a coordination.k8s.io Lease, over HTTP against the API-server double.

The unmodified kubernetes_asyncio client talks to the double; the candidates' clocks are the
test's, so a Lease expires without waiting for it.
"""

from __future__ import annotations

import asyncio

from kubernetes_asyncio import client

from autoscaler.backends.kubernetes.leader import LeaderElection
from tests.kube.fixtures import FAST_RETRY, NAMESPACE, api_client, running_double


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def candidates(api, clock: Clock, *names: str) -> list[LeaderElection]:
    return [
        LeaderElection(api, NAMESPACE, "hubscale-autoscaler", name, 15, 5, FAST_RETRY, clock)
        for name in names
    ]


def test_one_leader_and_a_standby_that_takes_over_when_renewals_stop():
    async def scenario():
        with running_double() as double:
            async with api_client(double) as api:
                clock = Clock()
                a, b = candidates(api, clock, "a", "b")
                assert await a.campaign_once() and a.leading
                assert not await b.campaign_once() and not b.leading

                clock.now += 10  # a renews in time: b stays standby
                assert await a.campaign_once()
                assert not await b.campaign_once()

                clock.now += 16  # a stopped renewing (crashed): its Lease expired
                assert not a.leading  # a knows it may no longer act
                assert await b.campaign_once() and b.leading
                assert not await a.campaign_once() and not a.leading
                lease = await client.CoordinationV1Api(api).read_namespaced_lease(
                    "hubscale-autoscaler", NAMESPACE
                )  # the Lease records the holder and the handover
                assert lease.spec.holder_identity == "b"
                assert lease.spec.lease_transitions == 1

    asyncio.run(scenario())


def test_candidates_racing_for_an_expired_lease_elect_exactly_one():
    async def scenario():
        with running_double() as double:
            async with api_client(double) as api:
                clock = Clock()
                (old,) = candidates(api, clock, "old")
                assert await old.campaign_once()
                clock.now += 60
                racers = candidates(api, clock, "r1", "r2", "r3")
                won = await asyncio.gather(*(racer.campaign_once() for racer in racers))
                assert sum(won) == 1
                assert [r.leading for r in racers] == won

    asyncio.run(scenario())


def test_a_released_lease_is_taken_at_once():
    async def scenario():
        with running_double() as double:
            async with api_client(double) as api:
                clock = Clock()
                a, b = candidates(api, clock, "a", "b")
                assert await a.campaign_once()
                await a.release()
                assert not a.leading
                assert await b.campaign_once()  # no waiting for the Lease to expire

    asyncio.run(scenario())
