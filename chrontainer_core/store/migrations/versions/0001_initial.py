"""Initial schema: hosts, audit_log, change_counters.

Revision ID: 0001
Revises:
Create Date: 2024-01-01

The schema is spelled out here rather than imported from tables.py, so this revision keeps
creating exactly this schema however the models evolve.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the three tables."""
    op.create_table(
        "hosts",
        sa.Column("slug", sa.String(63), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("url", sa.String(1024), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_hosts")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(20), nullable=False),
        sa.Column("actor_id", sa.String(255), nullable=False),
        sa.Column("actor_name", sa.String(255), nullable=False),
        sa.Column("source_ip", sa.String(45), nullable=True),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target", sa.String(512), nullable=False),
        sa.Column("result", sa.String(10), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("result IN ('ok', 'error')", name=op.f("ck_audit_log_result")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_time"), "audit_log", ["time"])
    op.create_table(
        "change_counters",
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_change_counters")),
    )


def downgrade() -> None:
    """Drop the three tables."""
    op.drop_table("change_counters")
    op.drop_index(op.f("ix_audit_log_time"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("hosts")
