"""Per-minute held and used cores of each cluster: the series behind the page's chart."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_point",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("cluster", sa.String(255), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("minute", sa.Integer, nullable=False),
        sa.Column("held_cores", sa.Float, nullable=False),
        sa.Column("used_cores", sa.Float, nullable=True),
        sa.UniqueConstraint("cluster", "minute", name="uq_usage_point"),
    )
    op.create_index("ix_usage_point_owner", "usage_point", ["owner"])
    op.create_index("ix_usage_point_minute", "usage_point", ["minute"])


def downgrade() -> None:
    op.drop_table("usage_point")
