"""Persisted Docker events, container tags and web-UI links.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the docker_events, tags, container_tags and container_links tables."""
    op.create_table(
        "docker_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("host", sa.String(63), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("object_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("attributes", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_docker_events"),
    )
    op.create_index("ix_docker_events_time", "docker_events", ["time"])
    op.create_index("ix_docker_events_host", "docker_events", ["host"])
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("colour", sa.String(7), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tags"),
        sa.UniqueConstraint("name", name="uq_tags_name"),
    )
    op.create_table(
        "container_tags",
        sa.Column("host", sa.String(63), nullable=False),
        sa.Column("container_key", sa.String(255), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("host", "container_key", "tag_id", name="pk_container_tags"),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name="fk_container_tags_tag_id_tags",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_container_tags_tag_id", "container_tags", ["tag_id"])
    op.create_table(
        "container_links",
        sa.Column("host", sa.String(63), nullable=False),
        sa.Column("container_key", sa.String(255), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("host", "container_key", name="pk_container_links"),
    )


def downgrade() -> None:
    """Drop the four tables."""
    op.drop_table("container_links")
    op.drop_index("ix_container_tags_tag_id", table_name="container_tags")
    op.drop_table("container_tags")
    op.drop_table("tags")
    op.drop_index("ix_docker_events_host", table_name="docker_events")
    op.drop_index("ix_docker_events_time", table_name="docker_events")
    op.drop_table("docker_events")
