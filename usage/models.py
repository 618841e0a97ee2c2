"""The accounting database's tables (SQLAlchemy 2); ``usage/migrations`` creates them."""

from __future__ import annotations

from sqlalchemy import Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAME_LENGTH = 255  # hub user and server names; cluster names are DNS labels (63)


class Base(DeclarativeBase):
    pass


class DailyUsage(Base):
    """Core-seconds one cluster held and used on one UTC day: the rollup kept for months."""

    __tablename__ = "daily_usage"
    __table_args__ = (UniqueConstraint("day", "cluster", "owner", "server", name="uq_daily_usage"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[int] = mapped_column(Integer, index=True)  # UTC days since 1970-01-01
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH), index=True)
    server: Mapped[str] = mapped_column(String(NAME_LENGTH))
    cluster: Mapped[str] = mapped_column(String(NAME_LENGTH))
    engine: Mapped[str] = mapped_column(String(16))
    held_core_s: Mapped[float] = mapped_column(Float, default=0.0)
    used_core_s: Mapped[float] = mapped_column(Float, default=0.0)
    unmeasured_core_s: Mapped[float] = mapped_column(Float, default=0.0)


class LastSample(Base):
    """The latest sample of each cluster, so that a restarted service carries on from it."""

    __tablename__ = "last_sample"

    cluster: Mapped[str] = mapped_column(String(NAME_LENGTH), primary_key=True)
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH))
    server: Mapped[str] = mapped_column(String(NAME_LENGTH))
    engine: Mapped[str] = mapped_column(String(16))
    time_s: Mapped[float] = mapped_column(Float)
    workers: Mapped[int] = mapped_column(Integer)
    desired: Mapped[int] = mapped_column(Integer)
    cores_per_worker: Mapped[int] = mapped_column(Integer)
    busy_cores: Mapped[float | None] = mapped_column(Float, nullable=True)


class ScalingDecision(Base):
    """A change of a cluster's desired workers, with the controller's reason."""

    __tablename__ = "scaling_decision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    time_s: Mapped[float] = mapped_column(Float, index=True)
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH), index=True)
    server: Mapped[str] = mapped_column(String(NAME_LENGTH))
    cluster: Mapped[str] = mapped_column(String(NAME_LENGTH))
    engine: Mapped[str] = mapped_column(String(16))
    from_workers: Mapped[int] = mapped_column(Integer)
    to_workers: Mapped[int] = mapped_column(Integer)
    cause: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(1024))


class UsagePoint(Base):
    """One cluster's held and used cores in one minute (its last sample in that minute): the
    series the page's chart draws. Kept for ``usage.db.POINTS_KEPT_S``, not for months."""

    __tablename__ = "usage_point"
    __table_args__ = (UniqueConstraint("cluster", "minute", name="uq_usage_point"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cluster: Mapped[str] = mapped_column(String(NAME_LENGTH))
    owner: Mapped[str] = mapped_column(String(NAME_LENGTH), index=True)
    minute: Mapped[int] = mapped_column(Integer, index=True)  # epoch minutes (UTC)
    held_cores: Mapped[float] = mapped_column(Float)
    used_cores: Mapped[float | None] = mapped_column(Float, nullable=True)  # None: unmeasured
