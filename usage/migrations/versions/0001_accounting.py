"""Daily usage rollups, each cluster's last sample, scaling decisions."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _names() -> list[sa.Column]:
    return [
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("server", sa.String(255), nullable=False),
        sa.Column("engine", sa.String(16), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "daily_usage",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("day", sa.Integer, nullable=False),
        sa.Column("cluster", sa.String(255), nullable=False),
        *_names(),
        sa.Column("held_core_s", sa.Float, nullable=False),
        sa.Column("used_core_s", sa.Float, nullable=False),
        sa.Column("unmeasured_core_s", sa.Float, nullable=False),
        sa.UniqueConstraint("day", "cluster", "owner", "server", name="uq_daily_usage"),
    )
    op.create_index("ix_daily_usage_day", "daily_usage", ["day"])
    op.create_index("ix_daily_usage_owner", "daily_usage", ["owner"])
    op.create_table(
        "last_sample",
        sa.Column("cluster", sa.String(255), primary_key=True),
        *_names(),
        sa.Column("time_s", sa.Float, nullable=False),
        sa.Column("workers", sa.Integer, nullable=False),
        sa.Column("desired", sa.Integer, nullable=False),
        sa.Column("cores_per_worker", sa.Integer, nullable=False),
        sa.Column("busy_cores", sa.Float, nullable=True),
    )
    op.create_table(
        "scaling_decision",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("time_s", sa.Float, nullable=False),
        sa.Column("cluster", sa.String(255), nullable=False),
        *_names(),
        sa.Column("from_workers", sa.Integer, nullable=False),
        sa.Column("to_workers", sa.Integer, nullable=False),
        sa.Column("cause", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(1024), nullable=False),
    )
    op.create_index("ix_scaling_decision_time_s", "scaling_decision", ["time_s"])
    op.create_index("ix_scaling_decision_owner", "scaling_decision", ["owner"])


def downgrade() -> None:
    op.drop_table("scaling_decision")
    op.drop_table("last_sample")
    op.drop_table("daily_usage")
