"""Image registries: URL, canonical host (unique), login and the encrypted password.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the registries table."""
    op.create_table(
        "registries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("url", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),  # canonical
        sa.Column("username", sa.String(255), nullable=True),
        sa.Column("password_encrypted", sa.Text(), nullable=True),  # Fernet, never in clear
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registries"),
        sa.UniqueConstraint("host", name="uq_registries_host"),
        sa.CheckConstraint("kind IN ('dockerhub', 'ghcr', 'quay', 'harbor', 'generic')",
                           name="ck_registries_kind"),
    )


def downgrade() -> None:
    """Drop the registries table (stored credentials go with it)."""
    op.drop_table("registries")
