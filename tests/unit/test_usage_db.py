"""The accounting database on SQLite and PostgreSQL, and the sampler filling it (fake sources)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from hubscale.spec import ComputeClusterStatus, Condition
from tests.postgres_server import fresh_database, postgres_server
from usage.accounting import DAY_S, CoreSeconds, Sample
from usage.busy import BusyCoresError
from usage.clusters import ClusterView
from usage.db import (
    AccountingDB,
    ClusterKey,
    Decision,
    Latest,
    Point,
    Totals,
    default_url,
    upgrade,
)
from usage.sampler import Sampler

ALICE = ClusterKey("alice-spark", "alice", "", "spark")
BOB = ClusterKey("bob-flink", "bob", "", "flink")
T0 = 100 * DAY_S


def status(workers: int, desired: int, reason: str = "", limited: bool = False):
    condition = Condition(
        type="CapacityLimited",
        status="True" if limited else "False",
        last_transition_time="2026-01-01T00:00:00Z",
    )
    return ComputeClusterStatus(
        workers=workers, desired=desired, phase="Ready", reason=reason, conditions=[condition]
    )


@dataclass
class FakeClusters:
    views: list[ClusterView] = field(default_factory=list)

    def set(self, key: ClusterKey, workers: int, desired: int, reason: str = "", **kw) -> None:
        view = ClusterView(key, 2, 8, status(workers, desired, reason, **kw))
        self.views = [v for v in self.views if v.key != key] + [view]

    def clusters(self) -> list[ClusterView]:
        return list(self.views)


@dataclass
class FakeBusy:
    cores: dict[str, float] | None = field(default_factory=dict)

    def busy_cores(self) -> dict[str, float]:
        if self.cores is None:
            raise BusyCoresError("prometheus down")
        return dict(self.cores)


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    yield from postgres_server()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each database test runs on SQLite (the default) and on a real PostgreSQL."""
    if request.param == "sqlite":
        return default_url(tmp_path)
    return fresh_database(request.getfixturevalue("postgres"))


def test_opening_creates_the_schema_and_opening_again_keeps_the_data(url):
    db = AccountingDB(url)
    db.record(ALICE, Sample(T0, 1, 2, 1), 1, [CoreSeconds(100, 20, 10)])
    db.close()

    again = AccountingDB(url)

    tables = set(inspect(again.engine).get_table_names())
    assert {"daily_usage", "last_sample", "scaling_decision", "alembic_version"} <= tables
    assert again.totals(since_day=100)["alice"].held == 20
    assert again.last_sample("alice-spark") == (Sample(T0, 1, 2, 1), 1)


def test_totals_add_up_per_owner_from_the_day_asked(url):
    db = AccountingDB(url)
    db.record(ALICE, Sample(T0, 1, 2, 1), 1, [CoreSeconds(99, 50, 5), CoreSeconds(100, 20, 10)])
    db.record(ALICE, Sample(T0 + 1, 1, 2, 1), 1, [CoreSeconds(100, 20, 10, unmeasured=4)])
    db.record(BOB, Sample(T0, 1, 1, 0), 1, [CoreSeconds(100, 7, 0)])

    today = db.totals(since_day=100)

    assert (today["alice"].held, today["alice"].used) == (40, 20)
    assert (today["alice"].unmeasured, today["alice"].idle) == (4, 16)
    assert db.totals(since_day=99, owner="alice")["alice"].held == 90
    assert set(db.totals(since_day=100, owner="bob")) == {"bob"}


def test_decisions_come_back_oldest_first_for_their_owner_only(url):
    db = AccountingDB(url)
    for when, key in ((T0 + 5, ALICE), (T0, ALICE), (T0 + 1, BOB)):
        decision = Decision(when, key, 0, 2, "policy", "backlog")
        db.record(key, Sample(when, 0, 2, 0), 2, decision=decision)

    assert [d.time_s for d in db.decisions(since_s=T0, owner="alice")] == [T0, T0 + 5]
    assert [d.key for d in db.decisions(since_s=T0 + 1)] == [BOB, ALICE]


def test_the_sampler_accounts_held_and_used_cores_and_records_each_scaling(url):
    clusters, busy, db = FakeClusters(), FakeBusy({"alice-spark": 1.0}), AccountingDB(url)
    sampler = Sampler(clusters, busy, db)

    clusters.set(ALICE, workers=0, desired=2, reason="2 apps waiting")
    sampler.sample(T0)
    clusters.set(ALICE, workers=2, desired=2)
    sampler.sample(T0 + 10)  # 0 workers held for 10 s
    clusters.set(ALICE, workers=2, desired=0, reason="idle for 600 s", limited=False)
    sampler.sample(T0 + 70)  # 2 workers × 2 cores for 60 s, 1 core busy

    totals = db.totals(since_day=100)["alice"]
    assert (totals.held, totals.used) == (240, 60)
    decisions = db.decisions(since_s=0)
    assert [(d.from_workers, d.to_workers, d.reason) for d in decisions] == [
        (0, 2, "2 apps waiting"),
        (2, 0, "idle for 600 s"),
    ]


def test_a_cluster_at_its_limit_gives_the_cause_bounds(url):
    clusters, db = FakeClusters(), AccountingDB(url)
    clusters.set(ALICE, workers=0, desired=8, reason="at maxWorkers 8", limited=True)

    Sampler(clusters, FakeBusy(), db).sample(T0)

    assert [d.cause for d in db.decisions(since_s=0)] == ["bounds"]


def test_a_restarted_sampler_carries_on_from_the_stored_sample(url):
    clusters = FakeClusters()
    clusters.set(ALICE, workers=1, desired=1)
    Sampler(clusters, FakeBusy(), AccountingDB(url)).sample(T0)

    restarted = AccountingDB(url)
    Sampler(clusters, FakeBusy(), restarted).sample(T0 + 30)
    Sampler(clusters, FakeBusy(), restarted, max_gap_s=60).sample(T0 + 1000)

    assert restarted.totals(since_day=100)["alice"].held == 2 * 30  # the 970 s gap: not counted
    assert [d.to_workers for d in restarted.decisions(since_s=0)] == [1]


def test_without_prometheus_held_cores_count_as_unmeasured_not_idle(url):
    clusters, busy, db = FakeClusters(), FakeBusy(None), AccountingDB(url)
    sampler = Sampler(clusters, busy, db)
    clusters.set(ALICE, workers=1, desired=1)

    sampler.sample(T0)
    sampler.sample(T0 + 10)

    totals = db.totals(since_day=100)["alice"]
    assert (totals.held, totals.used, totals.unmeasured, totals.idle) == (20, 0, 20, 0)


def test_the_series_sums_an_owners_clusters_per_minute_and_keeps_no_metric_apart(url):
    db = AccountingDB(url)
    other = ClusterKey("alice-flink", "alice", "", "flink")
    db.record(ALICE, Sample(T0 + 10, 2, 2, 1.0), 2)
    db.record(other, Sample(T0 + 10, 1, 1, None), 1)
    db.record(ALICE, Sample(T0 + 50, 3, 2, 5.0), 3)  # the minute's last sample wins
    db.record(ALICE, Sample(T0 + 70, 1, 2, None), 1)
    db.record(BOB, Sample(T0 + 70, 1, 1, 1.0), 1)

    series = db.series("alice", since_s=T0)

    assert series == [Point(T0, 6 + 1, 5.0), Point(T0 + 60, 2, None)]
    assert db.series("alice", since_s=T0 + 60) == [Point(T0 + 60, 2, None)]


def test_points_older_than_two_days_go_when_a_new_minute_starts(url):
    db = AccountingDB(url)
    db.record(ALICE, Sample(T0, 1, 1, 0.0), 1)
    db.record(ALICE, Sample(T0 + 3 * DAY_S, 1, 1, 0.0), 1)

    assert [p.time_s for p in db.series("alice", since_s=0)] == [T0 + 3 * DAY_S]


def test_latest_gives_every_clusters_last_sample(url):
    db = AccountingDB(url)
    db.record(ALICE, Sample(T0, 1, 2, 0.5), 1)
    db.record(ALICE, Sample(T0 + 5, 2, 2, 1.5), 3)
    db.record(BOB, Sample(T0, 1, 1, None), 1)

    assert db.latest() == [
        Latest(ALICE, Sample(T0 + 5, 2, 2, 1.5), 3),
        Latest(BOB, Sample(T0, 1, 1, None), 1),
    ]


def test_a_database_of_the_first_schema_upgrades_with_its_data_kept(url):
    engine = create_engine(url)
    upgrade(engine, "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO daily_usage (day, cluster, owner, server, engine, held_core_s,"
                " used_core_s, unmeasured_core_s) VALUES (100, 'alice-spark', 'alice', '',"
                " 'spark', 40, 10, 0)"
            )
        )
    engine.dispose()

    db = AccountingDB(url)  # opening upgrades to the newest revision
    db.record(ALICE, Sample(T0, 1, 2, 1.0), 1, [CoreSeconds(100, 2, 1)])

    assert "usage_point" in inspect(db.engine).get_table_names()
    assert db.totals(since_day=100)["alice"] == Totals(42, 11, 0)
    assert db.series("alice", since_s=T0) == [Point(T0, 2, 1.0)]


def test_a_scaling_keeps_the_reason_that_moved_desired_not_the_newest_loops(url):
    """A round samples seconds after a decision; by then the controller's next loop has a new
    reason ("nothing running for 1 s ...") while ``lastScaleReason`` still says why it grew."""
    clusters, db = FakeClusters(), AccountingDB(url)
    later = status(0, 1, reason="nothing running for 1 s; keeping 1 warm for 30 s")
    grew = later.model_copy(update={"last_scale_reason": "0 executors needed, 1 apps waiting"})
    clusters.views = [ClusterView(ALICE, 2, 8, grew)]

    Sampler(clusters, FakeBusy(), db).sample(T0)

    assert [d.reason for d in db.decisions(since_s=0)] == ["0 executors needed, 1 apps waiting"]
