"""Notification channels, the routing matrix, durable deliveries with their attempts, and the
per-(event, subject) throttle.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the five notification tables."""
    op.create_table(
        "notification_channels",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),  # JSON of the non-secret fields
        sa.Column("secrets_encrypted", sa.Text(), nullable=True),  # Fernet of the secret ones
        _time("created_at"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_notification_channels"),
        sa.CheckConstraint("kind IN ('discord', 'ntfy', 'gotify', 'webhook', 'email')",
                           name="ck_notification_channels_kind"),
    )
    op.create_table(
        "notification_routes",
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("event", "channel_id", name="pk_notification_routes"),
        sa.ForeignKeyConstraint(["channel_id"], ["notification_channels.id"],
                                name="fk_notification_routes_channel_id_notification_channels",
                                ondelete="CASCADE"),
    )
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        _time("time"),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("next_attempt_at", nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _time("created_at"),
        _time("sent_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notification_deliveries"),
        sa.ForeignKeyConstraint(["channel_id"], ["notification_channels.id"],
                                name="fk_notification_deliveries_channel_id_notification_channels",
                                ondelete="CASCADE"),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')",
                           name="ck_notification_deliveries_status"),
    )
    op.create_index("ix_notification_deliveries_status", "notification_deliveries",
                    ["status", "next_attempt_at"])
    op.create_index("ix_notification_deliveries_created_at", "notification_deliveries",
                    ["created_at"])
    op.create_table(
        "notification_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        _time("at"),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notification_attempts"),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["notification_deliveries.id"],
            name="fk_notification_attempts_delivery_id_notification_deliveries",
            ondelete="CASCADE"),
    )
    op.create_index("ix_notification_attempts_delivery_id", "notification_attempts",
                    ["delivery_id"])
    op.create_table(
        "notification_throttle",
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(300), nullable=False),
        _time("last_sent_at"),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("event", "subject", name="pk_notification_throttle"),
    )


def downgrade() -> None:
    """Drop the five tables."""
    op.drop_table("notification_throttle")
    op.drop_index("ix_notification_attempts_delivery_id", table_name="notification_attempts")
    op.drop_table("notification_attempts")
    op.drop_index("ix_notification_deliveries_created_at", table_name="notification_deliveries")
    op.drop_index("ix_notification_deliveries_status", table_name="notification_deliveries")
    op.drop_table("notification_deliveries")
    op.drop_table("notification_routes")
    op.drop_table("notification_channels")
