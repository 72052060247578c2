"""TLS material of hosts: CA and client certificate (PEM), client key encrypted.

Revision ID: 0002
Revises: 0001
Create Date: 2024-06-01

Three nullable columns, so existing hosts stay plain-TCP/unix hosts. Batch mode: SQLite cannot
add and later drop columns in place on every version, so alembic recreates the table there.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("tls_ca", "tls_cert", "tls_key_encrypted")


def upgrade() -> None:
    """Add the three TLS columns to ``hosts``."""
    with op.batch_alter_table("hosts") as batch:
        for name in _COLUMNS:
            batch.add_column(sa.Column(name, sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop the TLS columns (TLS hosts become plain hosts that will fail to connect)."""
    with op.batch_alter_table("hosts") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
