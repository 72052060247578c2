"""Schedules and their run history.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    """Create the schedules and schedule_runs tables."""
    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("host", sa.String(63), nullable=False),
        sa.Column("target_key", sa.String(255), nullable=True),
        sa.Column("target_label", sa.String(255), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("trigger_kind", sa.String(8), nullable=False),
        sa.Column("cron", sa.String(100), nullable=True),
        _time("run_at", nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("misfire", sa.String(16), nullable=False),
        sa.Column("grace_seconds", sa.Integer(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("retry_backoff_seconds", sa.Integer(), nullable=False),
        sa.Column("jitter_seconds", sa.Integer(), nullable=False),
        _time("next_run_at", nullable=True),
        _time("created_at"),
        _time("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_schedules"),
        sa.CheckConstraint("target_kind IN ('container', 'label', 'host')",
                           name="ck_schedules_target_kind"),
        sa.CheckConstraint("trigger_kind IN ('cron', 'once')", name="ck_schedules_trigger_kind"),
        sa.CheckConstraint("misfire IN ('skip', 'run_once')", name="ck_schedules_misfire"),
    )
    op.create_index("ix_schedules_next_run_at", "schedules", ["next_run_at"])
    op.create_table(
        "schedule_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        _time("scheduled_for"),
        _time("started_at"),
        _time("finished_at", nullable=True),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schedule_runs"),
        sa.ForeignKeyConstraint(["schedule_id"], ["schedules.id"],
                                name="fk_schedule_runs_schedule_id_schedules",
                                ondelete="CASCADE"),
        # The claim: one run per schedule, trigger and due time, whichever scheduler got there
        # first (backs up the instance lock; two schedulers on one database never both run).
        sa.UniqueConstraint("schedule_id", "trigger", "scheduled_for",
                            name="uq_schedule_runs_schedule_id"),
        sa.CheckConstraint("result IN ('running', 'ok', 'error', 'skipped')",
                           name="ck_schedule_runs_result"),
    )
    op.create_index("ix_schedule_runs_started_at", "schedule_runs", ["started_at"])


def downgrade() -> None:
    """Drop the two tables."""
    op.drop_index("ix_schedule_runs_started_at", table_name="schedule_runs")
    op.drop_table("schedule_runs")
    op.drop_index("ix_schedules_next_run_at", table_name="schedules")
    op.drop_table("schedules")
