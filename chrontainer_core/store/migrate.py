"""Schema migrations (alembic), configured in code: users never see an alembic.ini.

These are synchronous entry points meant to run before the daemon's event loop starts
(``chrontainer migrate``, or ``serve`` before it starts serving). Each runs its own short-lived
event loop with the async driver, so one URL (sqlite+aiosqlite, postgresql+asyncpg) serves both
the daemon and its migrations. From inside a running loop, call them through
``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

__all__ = ["MIGRATIONS_DIR", "current", "downgrade", "head", "upgrade"]

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"

_T = TypeVar("_T")


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    # Option values go through ConfigParser interpolation: a "%" in the path must be doubled.
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return cfg


def _sqlite_transactional_ddl(engine: Any) -> None:
    """Make SQLite run each migration inside one real transaction, DDL included.

    The sqlite3 driver commits before DDL by itself, so a failing batch migration (create copy,
    copy rows, drop, rename) could stop halfway. Taking BEGIN/COMMIT over from the driver makes
    it all-or-nothing (the recipe from SQLAlchemy's SQLite dialect documentation).
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")


def _run(url: str, work: Callable[[Connection], _T]) -> _T:
    async def main() -> _T:
        # NullPool: nothing of this engine should outlive the call.
        engine = create_async_engine(url, poolclass=NullPool)
        if engine.dialect.name == "sqlite":
            _sqlite_transactional_ddl(engine.sync_engine)
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(work)
        finally:
            await engine.dispose()

    # A loop of our own that is never installed as the thread's current loop, so calling this
    # from a test or a CLI leaves the caller's event loop setup untouched.
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        return runner.run(main())


def _command(url: str, fn: Callable[[AlembicConfig, str], None], revision: str) -> None:
    cfg = _alembic_config()

    def work(conn: Connection) -> None:
        cfg.attributes["connection"] = conn
        fn(cfg, revision)

    _run(url, work)


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``.

    For SQLite, the database file's directory is created if missing.

    Args:
        url: SQLAlchemy URL with an async driver.
        revision: Target revision; ``"head"`` is the newest.
    """
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    _command(url, command.upgrade, revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``"base"`` drops everything).

    Args:
        url: SQLAlchemy URL with an async driver.
        revision: Target revision.
    """
    _command(url, command.downgrade, revision)


def current(url: str) -> str | None:
    """Return the database's current revision, or None for an unmigrated database.

    Args:
        url: SQLAlchemy URL with an async driver.
    """
    path = _sqlite_file(url)
    if path is not None and not path.exists():
        return None  # connecting would create an empty database file just to look

    def work(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    return _run(url, work)


def head() -> str:
    """Return the newest revision this version of Chrontainer ships."""
    revision = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if revision is None:  # only possible with an empty versions directory
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return revision
