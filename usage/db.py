"""The accounting database: SQLite in the state directory by default, PostgreSQL by URL.

``AccountingDB`` is the one port to it: the sampler adds core-seconds and decisions, the service
reads totals and decisions back. The schema is created and upgraded by the Alembic migrations in
``usage/migrations`` when the database is opened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from usage.accounting import CoreSeconds, Sample
from usage.models import DailyUsage, LastSample, ScalingDecision, UsagePoint

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DB_FILE = "usage.sqlite"
MINUTE_S = 60
POINTS_KEPT_S = 2 * 86_400  # the chart shows a day; the per-minute points go after two


def default_url(state_dir: Path) -> str:
    """The embedded default: a SQLite file in the state directory."""
    return f"sqlite:///{state_dir / DB_FILE}"


@dataclass(frozen=True, slots=True)
class ClusterKey:
    """Whose cluster: the owner, their server and the engine, under the object's name."""

    cluster: str
    owner: str
    server: str
    engine: str


@dataclass(frozen=True, slots=True)
class Totals:
    """Core-seconds summed over some days."""

    held: float = 0.0
    used: float = 0.0
    unmeasured: float = 0.0

    @property
    def idle(self) -> float:
        """Held but measured not busy (unmeasured time is neither idle nor used)."""
        return self.held - self.used - self.unmeasured


@dataclass(frozen=True, slots=True)
class Point:
    """Cores held and used (None: no metric said) in the minute starting at ``time_s``."""

    time_s: float
    held: float
    used: float | None


@dataclass(frozen=True, slots=True)
class Latest:
    """A cluster's last sample, whose it is and what the controller wanted then."""

    key: ClusterKey
    sample: Sample
    desired: int


@dataclass(frozen=True, slots=True)
class Decision:
    """A recorded scaling decision."""

    time_s: float
    key: ClusterKey
    from_workers: int
    to_workers: int
    cause: str
    reason: str


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with the Alembic migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


class AccountingDB:
    """Daily core-second rollups, each cluster's last sample and the decisions, in one database."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, pool_pre_ping=True)
        upgrade(self.engine)
        self._session = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def last_sample(self, cluster: str) -> tuple[Sample, int] | None:
        """A cluster's last sample and the desired workers it saw, or None."""
        with self._session() as session:
            row = session.get(LastSample, cluster)
            if row is None:
                return None
            sample = Sample(row.time_s, row.workers, row.cores_per_worker, row.busy_cores)
            return sample, row.desired

    def record(
        self,
        key: ClusterKey,
        sample: Sample,
        desired: int,
        usage: Iterable[CoreSeconds] = (),
        decision: Decision | None = None,
    ) -> None:
        """One sample's outcome in one transaction: usage added, decision kept, sample saved."""
        with self._session.begin() as session:
            for part in usage:
                self._add_usage(session, key, part)
            if decision is not None:
                session.add(_decision_row(decision))
            session.merge(
                LastSample(
                    cluster=key.cluster,
                    owner=key.owner,
                    server=key.server,
                    engine=key.engine,
                    time_s=sample.time_s,
                    workers=sample.workers,
                    desired=desired,
                    cores_per_worker=sample.cores_per_worker,
                    busy_cores=sample.busy_cores,
                )
            )
            self._add_point(session, key, sample)

    @staticmethod
    def _add_point(session: Session, key: ClusterKey, sample: Sample) -> None:
        """The sample as its minute's point (the last sample of a minute wins); a cluster's
        points older than ``POINTS_KEPT_S`` go when it starts a new minute."""
        minute = int(sample.time_s // MINUTE_S)
        used = None if sample.busy_cores is None else sample.used_cores
        row = session.scalars(
            select(UsagePoint).where(UsagePoint.cluster == key.cluster, UsagePoint.minute == minute)
        ).one_or_none()
        if row is None:
            session.execute(
                delete(UsagePoint).where(
                    UsagePoint.cluster == key.cluster,
                    UsagePoint.minute < minute - POINTS_KEPT_S // MINUTE_S,
                )
            )
            row = UsagePoint(cluster=key.cluster, owner=key.owner, minute=minute)
            session.add(row)
        row.held_cores = float(sample.held_cores)
        row.used_cores = used

    @staticmethod
    def _add_usage(session: Session, key: ClusterKey, part: CoreSeconds) -> None:
        row = session.scalars(
            select(DailyUsage).where(
                DailyUsage.day == part.day,
                DailyUsage.cluster == key.cluster,
                DailyUsage.owner == key.owner,
                DailyUsage.server == key.server,
            )
        ).one_or_none()
        if row is None:
            row = DailyUsage(
                day=part.day,
                cluster=key.cluster,
                owner=key.owner,
                server=key.server,
                engine=key.engine,
                held_core_s=0.0,
                used_core_s=0.0,
                unmeasured_core_s=0.0,
            )
            session.add(row)
        row.held_core_s += part.held
        row.used_core_s += part.used
        row.unmeasured_core_s += part.unmeasured

    def totals(self, since_day: int, owner: str | None = None) -> dict[str, Totals]:
        """Core-seconds per owner from ``since_day`` on (one owner, or all when None)."""
        query = select(
            DailyUsage.owner,
            func.sum(DailyUsage.held_core_s),
            func.sum(DailyUsage.used_core_s),
            func.sum(DailyUsage.unmeasured_core_s),
        ).where(DailyUsage.day >= since_day)
        if owner is not None:
            query = query.where(DailyUsage.owner == owner)
        with self._session() as session:
            rows = session.execute(query.group_by(DailyUsage.owner)).all()
        return {name: Totals(held, used, unmeasured) for name, held, used, unmeasured in rows}

    def decisions(self, since_s: float, owner: str | None = None) -> Sequence[Decision]:
        """Decisions from ``since_s`` on, oldest first (one owner's, or all when None)."""
        query = select(ScalingDecision).where(ScalingDecision.time_s >= since_s)
        if owner is not None:
            query = query.where(ScalingDecision.owner == owner)
        with self._session() as session:
            rows = session.scalars(query.order_by(ScalingDecision.time_s)).all()
        return [_decision(row) for row in rows]

    def series(self, owner: str, since_s: float) -> list[Point]:
        """``owner``'s clusters together, minute by minute from ``since_s`` on (oldest first);
        used is None for a minute in which no cluster of theirs was measured."""
        query = (
            select(
                UsagePoint.minute,
                func.sum(UsagePoint.held_cores),
                func.sum(UsagePoint.used_cores),  # SQL's sum skips NULLs; all NULL gives NULL
            )
            .where(UsagePoint.owner == owner, UsagePoint.minute >= int(since_s // MINUTE_S))
            .group_by(UsagePoint.minute)
            .order_by(UsagePoint.minute)
        )
        with self._session() as session:
            rows = session.execute(query).all()
        return [Point(minute * MINUTE_S, held, used) for minute, held, used in rows]

    def latest(self) -> list[Latest]:
        """Every cluster's last sample, by cluster name."""
        with self._session() as session:
            rows = session.scalars(select(LastSample).order_by(LastSample.cluster)).all()
        return [
            Latest(
                ClusterKey(row.cluster, row.owner, row.server, row.engine),
                Sample(row.time_s, row.workers, row.cores_per_worker, row.busy_cores),
                row.desired,
            )
            for row in rows
        ]


def _decision_row(decision: Decision) -> ScalingDecision:
    return ScalingDecision(
        time_s=decision.time_s,
        cluster=decision.key.cluster,
        owner=decision.key.owner,
        server=decision.key.server,
        engine=decision.key.engine,
        from_workers=decision.from_workers,
        to_workers=decision.to_workers,
        cause=decision.cause,
        reason=decision.reason,
    )


def _decision(row: ScalingDecision) -> Decision:
    key = ClusterKey(row.cluster, row.owner, row.server, row.engine)
    return Decision(row.time_s, key, row.from_workers, row.to_workers, row.cause, row.reason)
