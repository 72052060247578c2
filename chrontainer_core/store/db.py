"""The database handle: one SQLAlchemy async engine and its sessions.

Also holds the change counters, the cheap cross-process signal that a table changed: a writer
bumps ``change_counters[name]`` in the same transaction as its change, and a running server polls
the value (one primary-key read) to notice hosts, users or keys changed by the CLI.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from chrontainer_core.store.tables import ChangeCounterRow

__all__ = ["Database", "bump_change_counter", "read_change_counter"]

# Applied to every new SQLite connection. WAL lets the server read while the CLI writes;
# busy_timeout makes a writer wait for the other process's lock instead of failing at once;
# synchronous=NORMAL is durable enough in WAL mode and much faster; SQLite leaves foreign keys
# off unless asked, per connection.
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    "PRAGMA synchronous=NORMAL",
)


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


class Database:
    """An async engine plus a session factory; one per process.

    Creating it does not connect; the first session does.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        """Create the engine for ``url`` (``sqlite+aiosqlite://...`` or ``postgresql+asyncpg``).

        Args:
            url: An SQLAlchemy URL with an async driver.
            echo: Log every SQL statement (debugging only).
        """
        self.engine: AsyncEngine = create_async_engine(url, echo=echo)
        if self.engine.dialect.name == "sqlite":
            # Pool events fire on the sync engine underneath the async one.
            event.listen(self.engine.sync_engine, "connect", _set_sqlite_pragmas)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect_name(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """Open a session that commits when the block succeeds and rolls back when it raises.

        Yields:
            The session; do not commit or close it yourself.
        """
        async with self._sessions() as session:
            try:
                yield session
            except BaseException:
                # Also on cancellation: never leave a half-written transaction to the pool.
                await session.rollback()
                raise
            await session.commit()

    async def close(self) -> None:
        """Close every pooled connection; the handle cannot be used afterwards."""
        await self.engine.dispose()


async def bump_change_counter(session: AsyncSession, name: str) -> None:
    """Increment ``change_counters[name]`` inside the caller's transaction.

    One atomic upsert, so two processes bumping at once both count.

    Args:
        session: The session whose transaction carries the change being signalled.
        name: The counter, e.g. ``"hosts"``.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(ChangeCounterRow).values(name=name, value=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[ChangeCounterRow.name], set_={"value": ChangeCounterRow.value + 1}
    )
    await session.execute(stmt)


async def read_change_counter(session: AsyncSession, name: str) -> int:
    """Return ``change_counters[name]``, 0 when nothing was ever bumped.

    Args:
        session: Any session.
        name: The counter, e.g. ``"hosts"``.
    """
    value = await session.scalar(
        select(ChangeCounterRow.value).where(ChangeCounterRow.name == name)
    )
    return int(value or 0)
