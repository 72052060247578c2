"""Container updates: the last check per container key, and the update journal.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create update_checks and update_journal."""
    op.create_table(
        "update_checks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("host", sa.String(63), nullable=False),
        sa.Column("container_key", sa.String(255), nullable=False),
        sa.Column("image", sa.String(512), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("local_digest", sa.String(128), nullable=True),
        sa.Column("remote_digest", sa.String(128), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("notified_digest", sa.String(128), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_update_checks"),
        sa.UniqueConstraint("host", "container_key", name="uq_update_checks_host_key"),
        sa.CheckConstraint("state IN ('up_to_date', 'available', 'pinned', 'local', 'error')",
                           name="ck_update_checks_state"),
    )
    op.create_table(
        "update_journal",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("host", sa.String(63), nullable=False),
        sa.Column("container_key", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("image", sa.String(512), nullable=False),
        sa.Column("old_id", sa.String(64), nullable=False),
        sa.Column("old_image_id", sa.String(128), nullable=False),
        sa.Column("new_id", sa.String(64), nullable=True),
        sa.Column("new_image_id", sa.String(128), nullable=True),
        sa.Column("temp_name", sa.String(255), nullable=False),
        sa.Column("backup_name", sa.String(255), nullable=False),
        sa.Column("was_running", sa.Boolean(), nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_update_journal"),
        sa.CheckConstraint("status IN ('running', 'done', 'rolled_back', 'failed')",
                           name="ck_update_journal_status"),
    )
    op.create_index("ix_update_journal_status", "update_journal", ["status"])


def downgrade() -> None:
    """Drop both tables (check results and the update history go with them)."""
    op.drop_index("ix_update_journal_status", table_name="update_journal")
    op.drop_table("update_journal")
    op.drop_table("update_checks")
