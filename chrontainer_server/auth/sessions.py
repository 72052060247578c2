"""Server-side login sessions.

The browser holds a 256-bit random token in an HttpOnly, SameSite=Lax cookie (Secure behind
TLS); the ``sessions`` table holds only its SHA-256, so a database leak reveals no usable
session. A session ends when revoked, when its user is deleted or disabled, or after
``idle_timeout`` without a request. ``last_seen_at`` is written at most once per
:data:`TOUCH_INTERVAL`, not on every request.

A login of an account with two-factor authentication first opens a *pending* session
(``second_factor_pending``): it proves the password only, may do nothing but finish or abandon
the login (the auth middleware enforces that), and lapses after :data:`PENDING_TIMEOUT`.
Finishing the login replaces it with a new full session (a new token), so a token seen before
the second factor is worth nothing after it.

A session's public id (what the API lists and revokes) is the first 16 hex characters of the
stored hash: stable, and useless for authenticating.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import delete, select

from chrontainer_core.errors import NotFound
from chrontainer_core.store.db import Database
from chrontainer_core.store.tables import SessionRow, utc_now

from .tokens import new_token, token_hash

__all__ = ["COOKIE_NAME", "DEFAULT_IDLE_TIMEOUT", "PENDING_TIMEOUT", "TOUCH_INTERVAL", "Session",
           "SessionStore"]

COOKIE_NAME: Final = "chrontainer_session"
DEFAULT_IDLE_TIMEOUT: Final = timedelta(hours=12)
TOUCH_INTERVAL: Final = timedelta(minutes=1)
# Time to type the second factor: long enough to find the phone, short enough that an
# abandoned half-login is not a lasting foothold.
PENDING_TIMEOUT: Final = timedelta(minutes=5)
PUBLIC_ID_LENGTH: Final = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """A live session (its token is never kept, only the hash)."""

    key: str  # the stored SHA-256; internal, never sent to clients
    user_id: int
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    ip: str | None
    user_agent: str | None
    second_factor_pending: bool = False

    @property
    def id(self) -> str:
        """The public id: a prefix of the stored hash."""
        return self.key[:PUBLIC_ID_LENGTH]


def _session(row: SessionRow) -> Session:
    return Session(key=row.id, user_id=row.user_id, csrf_token=row.csrf_token,
                   created_at=row.created_at, last_seen_at=row.last_seen_at, ip=row.ip,
                   user_agent=row.user_agent, second_factor_pending=row.second_factor_pending)


class SessionStore:
    """Creates, resolves and revokes sessions.

    Args:
        db: The database.
        clock: Current time (aware UTC); injected so tests can age sessions.
        idle_timeout: Returns the current idle timeout, read at each lookup so a changed
            setting applies at once.
    """

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utc_now,
                 idle_timeout: Callable[[], timedelta] = lambda: DEFAULT_IDLE_TIMEOUT) -> None:
        self._db = db
        self._clock = clock
        self.idle_timeout = idle_timeout

    async def create(self, user_id: int, *, ip: str | None = None,
                     user_agent: str | None = None,
                     second_factor_pending: bool = False) -> tuple[str, Session]:
        """Open a session; returns the token (for the cookie, never stored) and the session.

        ``second_factor_pending`` opens a half-done login that still owes its second factor.
        """
        token = new_token()
        now = self._clock()
        row = SessionRow(id=token_hash(token), user_id=user_id,
                         csrf_token=secrets.token_urlsafe(32), created_at=now,
                         last_seen_at=now, ip=ip, user_agent=(user_agent or "")[:256] or None,
                         second_factor_pending=second_factor_pending)
        async with self._db.session() as session:
            session.add(row)
        return token, _session(row)

    async def resolve(self, token: str) -> Session | None:
        """The live session of a cookie token, or None (unknown, idle too long, lapsed).

        A pending session (second factor owed) is returned with ``second_factor_pending`` set;
        callers must not treat it as logged in.
        """
        now = self._clock()
        async with self._db.session() as session:
            row = await session.get(SessionRow, token_hash(token))
            if row is None:
                return None
            if row.second_factor_pending and now - row.created_at > PENDING_TIMEOUT:
                await session.delete(row)
                return None
            if now - row.last_seen_at > self.idle_timeout():
                await session.delete(row)
                return None
            if now - row.last_seen_at >= TOUCH_INTERVAL:
                row.last_seen_at = now
            return _session(row)

    async def list(self, user_id: int) -> list[Session]:
        """A user's live sessions, most recently used first."""
        cutoff = self._clock() - self.idle_timeout()
        async with self._db.session() as session:
            rows = await session.scalars(
                select(SessionRow).where(SessionRow.user_id == user_id,
                                         SessionRow.last_seen_at >= cutoff,
                                         SessionRow.second_factor_pending.is_(False))
                .order_by(SessionRow.last_seen_at.desc()))
            return [_session(r) for r in rows]

    async def revoke(self, user_id: int, public_id: str) -> None:
        """End one of a user's sessions by public id (NotFound if it has none such)."""
        async with self._db.session() as session:
            rows = await session.scalars(
                select(SessionRow).where(SessionRow.user_id == user_id,
                                         SessionRow.id.startswith(public_id, autoescape=True)))
            found = [r for r in rows if r.id[:PUBLIC_ID_LENGTH] == public_id]
            if not found:
                raise NotFound(f"no session '{public_id}'", details={"id": public_id})
            for row in found:
                await session.delete(row)

    async def revoke_key(self, key: str) -> None:
        """End the session stored under ``key`` (logout)."""
        async with self._db.session() as session:
            await session.execute(delete(SessionRow).where(SessionRow.id == key))

    async def revoke_all(self, user_id: int, *, keep: str | None = None) -> int:
        """End every session of a user except ``keep`` (a stored key); returns how many."""
        stmt = delete(SessionRow).where(SessionRow.user_id == user_id)
        if keep is not None:
            stmt = stmt.where(SessionRow.id != keep)
        async with self._db.session() as session:
            result = await session.execute(stmt)
            return int(getattr(result, "rowcount", 0) or 0)

    async def prune(self) -> None:
        """Delete sessions idle for longer than the timeout (called at each login)."""
        cutoff = self._clock() - self.idle_timeout()
        async with self._db.session() as session:
            await session.execute(delete(SessionRow).where(SessionRow.last_seen_at < cutoff))
