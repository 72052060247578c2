"""Webhooks, and runs that a webhook (not a schedule) started.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create ``webhooks``; let a run belong to a schedule or to a webhook, naming what it did."""
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        # The bound action and target of a locked webhook (NULL for an unlocked one).
        sa.Column("action", sa.String(32), nullable=True),
        sa.Column("target_kind", sa.String(16), nullable=True),
        sa.Column("host", sa.String(63), nullable=True),
        sa.Column("target_key", sa.String(255), nullable=True),
        sa.Column("target_label", sa.String(255), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("token_prefix", sa.String(16), nullable=False),
        sa.Column("allow_get", sa.Boolean(), nullable=False),
        sa.Column("allowed_cidrs", sa.Text(), nullable=False),  # JSON list; [] allows any
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=False),
        _time("last_triggered_at", nullable=True),
        sa.Column("trigger_count", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_webhooks"),
        sa.UniqueConstraint("token_hash", name="uq_webhooks_token_hash"),
        sa.CheckConstraint("locked = false OR (action IS NOT NULL AND target_kind IS NOT NULL)",
                           name="ck_webhooks_locked_target"),
    )
    with op.batch_alter_table("schedule_runs", recreate="always") as batch:
        batch.alter_column("schedule_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("webhook_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("action", sa.String(32), nullable=True))
        batch.add_column(sa.Column("target", sa.String(300), nullable=True))
        batch.add_column(sa.Column("detail", sa.String(500), nullable=True))
        batch.create_foreign_key("fk_schedule_runs_webhook_id_webhooks", "webhooks",
                                 ["webhook_id"], ["id"], ondelete="CASCADE")
        batch.create_check_constraint(
            "ck_schedule_runs_owner", "schedule_id IS NOT NULL OR webhook_id IS NOT NULL")
        batch.create_index("ix_schedule_runs_webhook_id", ["webhook_id"])


def downgrade() -> None:
    """Drop webhook runs and the webhooks table; runs belong to schedules again."""
    op.execute("DELETE FROM schedule_runs WHERE schedule_id IS NULL")
    with op.batch_alter_table("schedule_runs", recreate="always") as batch:
        batch.drop_index("ix_schedule_runs_webhook_id")
        batch.drop_constraint("ck_schedule_runs_owner", type_="check")
        batch.drop_constraint("fk_schedule_runs_webhook_id_webhooks", type_="foreignkey")
        batch.drop_column("detail")
        batch.drop_column("target")
        batch.drop_column("action")
        batch.drop_column("webhook_id")
        batch.alter_column("schedule_id", existing_type=sa.Integer(), nullable=False)
    op.drop_table("webhooks")
