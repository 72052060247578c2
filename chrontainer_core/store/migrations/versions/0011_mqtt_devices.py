"""The MQTT bridge's published Home Assistant devices.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create mqtt_devices."""
    op.create_table(
        "mqtt_devices",
        sa.Column("device_id", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("host", sa.String(63), nullable=True),
        sa.Column("ref", sa.String(255), nullable=False),
        sa.Column("config_topics", sa.Text(), nullable=False),
        sa.Column("components", sa.Text(), nullable=False),
        sa.Column("gone_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("device_id", name="pk_mqtt_devices"),
    )


def downgrade() -> None:
    """Drop mqtt_devices."""
    op.drop_table("mqtt_devices")
