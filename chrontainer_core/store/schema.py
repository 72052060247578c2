"""Is the database schema current? Answered without importing alembic.

The daemon asks this at every start; only when the answer is no does it pay for a migration
run (in a child process, so alembic never stays in the daemon's memory).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from .migrations import HEAD


async def schema_is_current(url: str) -> bool:
    """True when the database's alembic revision is :data:`HEAD`."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
    except DBAPIError:  # no such table (new database) or no such file yet
        return False
    finally:
        await engine.dispose()
    return row is not None and row[0] == HEAD
