"""Alembic environment of Chrontainer.

There is no alembic.ini: :mod:`chrontainer_core.store.migrate` configures alembic in code and
hands over an open connection in ``config.attributes["connection"]``, so the same async driver
URL the daemon uses (sqlite+aiosqlite, postgresql+asyncpg) works for migrations too.
"""

from __future__ import annotations

from alembic import context

from chrontainer_core.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Chrontainer migrations run through chrontainer_core.store.migrate "
        "(`chrontainer migrate`), not the alembic command line"
    )

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    # SQLite cannot ALTER most things: batch mode recreates the table, copying the rows.
    render_as_batch=True,
    compare_type=True,
    # migrate.py runs everything in one transaction, on SQLite too (it takes BEGIN over from
    # the driver), so DDL is transactional on both backends.
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
