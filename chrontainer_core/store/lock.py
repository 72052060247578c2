"""The instance lock: one ``chrontainer serve`` per database (DESIGN §1).

SQLite: an exclusive ``flock`` on ``<data_dir>/chrontainer.lock``. flock locks belong to the open
file, not the process, so a second acquisition in the same process also fails, and the kernel
drops the lock when the holder dies (no stale lock after a crash or ``kill -9``).

PostgreSQL: a session-level advisory lock on a connection kept open for the life of the lock;
the server releases it when that connection closes, including when the process dies.
"""

from __future__ import annotations

import abc
import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Self

from sqlalchemy.engine import make_url

from chrontainer_core.errors import InstanceLocked

if TYPE_CHECKING:
    from chrontainer_core.config import Config

__all__ = ["LOCK_FILE", "FileInstanceLock", "InstanceLock", "PostgresInstanceLock"]

LOCK_FILE: Final = "chrontainer.lock"
# Fixed 64-bit key of the advisory lock; any constant works as long as it never changes.
_PG_LOCK_KEY: Final = 0x6368726F6E746E72  # "chrontnr" in ASCII


class InstanceLock(abc.ABC):
    """Exclusive right to run the daemon on one database; also an async context manager."""

    @classmethod
    def for_config(cls, config: Config) -> InstanceLock:
        """Return the right lock for the configured database (not acquired yet).

        Args:
            config: The bootstrap configuration.
        """
        if config.is_sqlite:
            return FileInstanceLock(config.data_dir)
        return PostgresInstanceLock(config.database_url)

    @property
    @abc.abstractmethod
    def held(self) -> bool:
        """Whether this object currently holds the lock."""

    @abc.abstractmethod
    async def acquire(self) -> None:
        """Take the lock without waiting.

        Raises:
            InstanceLocked: Another daemon holds it; the message says which and how to proceed.
        """

    @abc.abstractmethod
    async def release(self) -> None:
        """Give the lock up; does nothing when it is not held."""

    async def __aenter__(self) -> Self:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()


class FileInstanceLock(InstanceLock):
    """flock on ``<data_dir>/chrontainer.lock``, which also records the holder's pid.

    The file operations are on a tiny local file and the flock is non-blocking, so they run on
    the event loop directly rather than through a thread.
    """

    def __init__(self, data_dir: Path) -> None:
        """Prepare a lock for ``data_dir`` (created on acquire if missing)."""
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object currently holds the lock."""
        return self._fd is not None

    async def acquire(self) -> None:
        """Take the lock without waiting.

        Raises:
            InstanceLocked: Another process, or another lock object in this process, holds it.
        """
        if self._fd is not None:
            raise InstanceLocked(f"the instance lock on {self.data_dir} is already held")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # O_CREAT without O_TRUNC: the holder's pid must survive our failed attempt.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise InstanceLocked(
                f"another Chrontainer (pid {holder}) is already using the data directory "
                f"{self.data_dir}; stop it first, or give this one another data directory",
                details={"data_dir": str(self.data_dir), "pid": holder},
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd

    async def release(self) -> None:
        """Give the lock up; does nothing when it is not held."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        # Clear the pid while still holding the lock. The file itself stays: unlinking it
        # would let a waiter lock the old inode while a newcomer locks a new file.
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class PostgresInstanceLock(InstanceLock):
    """``pg_try_advisory_lock`` held on a dedicated asyncpg connection."""

    def __init__(self, database_url: str) -> None:
        """Prepare a lock for the database at ``database_url`` (an SQLAlchemy URL)."""
        url = make_url(database_url)
        self._where = url.render_as_string(hide_password=True)
        # asyncpg wants a plain libpq DSN, not SQLAlchemy's "postgresql+asyncpg".
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._conn: Any = None

    @property
    def held(self) -> bool:
        """Whether this object currently holds the lock."""
        return self._conn is not None

    async def acquire(self) -> None:
        """Take the advisory lock without waiting.

        Raises:
            InstanceLocked: Another session holds it.
        """
        if self._conn is not None:
            raise InstanceLocked(f"the instance lock on {self._where} is already held")
        import asyncpg  # optional extra [postgres]; only needed here

        conn = await asyncpg.connect(
            self._dsn, server_settings={"application_name": "chrontainer-instance-lock"}
        )
        try:
            locked = await conn.fetchval("SELECT pg_try_advisory_lock($1)", _PG_LOCK_KEY)
        except BaseException:
            await conn.close()
            raise
        if not locked:
            await conn.close()
            raise InstanceLocked(
                f"another Chrontainer is already using the database {self._where} "
                "(see pg_stat_activity, application_name 'chrontainer-instance-lock'); "
                "stop it first",
                details={"database": self._where},
            )
        self._conn = conn

    async def release(self) -> None:
        """Give the lock up; does nothing when it is not held."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.execute("SELECT pg_advisory_unlock($1)", _PG_LOCK_KEY)
        finally:
            # Closing the session would release the lock anyway; unlock first to be explicit.
            await conn.close()
