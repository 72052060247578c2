"""Image targets: a schedule or a locked webhook may pull an image reference on a host.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS_BEFORE = "target_kind IN ('container', 'label', 'host')"
_KINDS_AFTER = "target_kind IN ('container', 'label', 'host', 'image')"


def upgrade() -> None:
    """Add ``target_image`` to schedules and webhooks; allow the ``image`` target kind."""
    # SQLite cannot alter a CHECK constraint: batch mode recreates the table (a copy in one
    # transaction), other databases alter in place.
    with op.batch_alter_table("schedules") as batch:
        batch.add_column(sa.Column("target_image", sa.String(255), nullable=True))
        batch.drop_constraint("ck_schedules_target_kind", type_="check")
        batch.create_check_constraint("ck_schedules_target_kind", _KINDS_AFTER)
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("target_image", sa.String(255), nullable=True))


def downgrade() -> None:
    """Drop image targets (schedules and webhooks pulling images go with them)."""
    op.execute("DELETE FROM schedules WHERE target_kind = 'image'")
    op.execute("DELETE FROM webhooks WHERE target_kind = 'image'")
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_column("target_image")
    with op.batch_alter_table("schedules") as batch:
        batch.drop_constraint("ck_schedules_target_kind", type_="check")
        batch.create_check_constraint("ck_schedules_target_kind", _KINDS_BEFORE)
        batch.drop_column("target_image")
