"""API keys: 256-bit random keys, shown once, stored as SHA-256 and looked up by hash.

A key acts for its owner with ``effective role = min(ceiling, owner's current role)``: demoting
the owner demotes their keys at once; disabling or deleting the owner ends them. A key may
expire, be revoked, and be scoped to hosts (slugs) and containers (``host/key``).
``last_used_at`` is written at most once per :data:`TOUCH_INTERVAL`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import select

from chrontainer_core.errors import NotFound
from chrontainer_core.store.db import Database
from chrontainer_core.store.tables import ApiKeyRow, UserRow, utc_now

from .roles import Role
from .sessions import TOUCH_INTERVAL
from .tokens import new_token, token_hash

__all__ = ["KEY_PREFIX", "ApiKey", "ApiKeyStore", "KeyScope", "ResolvedKey"]

KEY_PREFIX: Final = "chr_"
# What a listing shows of a key: enough to recognise it, far too little to use it.
DISPLAY_CHARS: Final = 12


@dataclass(frozen=True, slots=True)
class KeyScope:
    """What a scoped key may reach: whole hosts, and single containers (``host/key``)."""

    hosts: tuple[str, ...] = ()
    containers: tuple[str, ...] = ()

    def allows_host(self, host: str) -> bool:
        """The key may address this host at all (the host, or one of its containers)."""
        return host in self.hosts or any(c.split("/", 1)[0] == host for c in self.containers)

    def allows_whole_host(self, host: str) -> bool:
        """The key may reach every container of this host."""
        return host in self.hosts

    def allows_container(self, host: str, key: str) -> bool:
        """The key may reach the container with stable ``key`` on ``host``."""
        return host in self.hosts or f"{host}/{key}" in self.containers

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps({"hosts": list(self.hosts), "containers": list(self.containers)})

    @classmethod
    def from_json(cls, text: str | None) -> KeyScope | None:
        """The stored form back; None (unscoped) for NULL."""
        if text is None:
            return None
        data: dict[str, Any] = json.loads(text)
        return cls(hosts=tuple(data.get("hosts", ())),
                   containers=tuple(data.get("containers", ())))


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiKey:
    """An API key as listed (never its secret)."""

    id: int
    user_id: int
    name: str
    prefix: str
    role_ceiling: Role
    scope: KeyScope | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedKey:
    """A usable key with its owner, as a request authenticates."""

    key: ApiKey
    username: str
    role: Role  # min(ceiling, owner's current role)


def _key(row: ApiKeyRow) -> ApiKey:
    return ApiKey(id=row.id, user_id=row.user_id, name=row.name, prefix=row.prefix,
                  role_ceiling=Role(row.role_ceiling), scope=KeyScope.from_json(row.scope),
                  created_at=row.created_at, expires_at=row.expires_at,
                  last_used_at=row.last_used_at, revoked_at=row.revoked_at)


class ApiKeyStore:
    """Creates, resolves, lists and revokes API keys.

    Args:
        db: The database.
        clock: Current time (aware UTC); injected so tests can expire keys.
    """

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self._clock = clock

    async def create(self, user_id: int, *, name: str, role_ceiling: Role,
                     expires_in: timedelta | None = None,
                     scope: KeyScope | None = None) -> tuple[str, ApiKey]:
        """Create a key; returns its secret (shown once, never stored) and the key.

        Args:
            user_id: The owner.
            name: A label.
            role_ceiling: The highest role the key can act with.
            expires_in: Lifetime from now; None for a key that does not expire.
            scope: Hosts and containers the key is limited to; None for all.
        """
        secret = new_token(KEY_PREFIX)
        now = self._clock()
        expires_at = now + expires_in if expires_in is not None else None
        row = ApiKeyRow(user_id=user_id, name=name, key_hash=token_hash(secret),
                        prefix=secret[:DISPLAY_CHARS], role_ceiling=role_ceiling.value,
                        scope=scope.to_json() if scope is not None else None,
                        created_at=now, expires_at=expires_at)
        async with self._db.session() as session:
            session.add(row)
        return secret, _key(row)

    async def resolve(self, secret: str) -> ResolvedKey | None:
        """The usable key behind ``secret``, or None (unknown, revoked, expired, owner off)."""
        now = self._clock()
        async with self._db.session() as session:
            found = (await session.execute(
                select(ApiKeyRow, UserRow).join(UserRow, UserRow.id == ApiKeyRow.user_id)
                .where(ApiKeyRow.key_hash == token_hash(secret))
            )).first()
            if found is None:
                return None
            row, owner = found
            if (row.revoked_at is not None or owner.disabled
                    or (row.expires_at is not None and row.expires_at <= now)):
                return None
            if row.last_used_at is None or now - row.last_used_at >= TOUCH_INTERVAL:
                row.last_used_at = now
            return ResolvedKey(key=_key(row), username=owner.username,
                               role=Role.lowest(Role(row.role_ceiling), Role(owner.role)))

    async def list(self, user_id: int) -> list[ApiKey]:
        """A user's keys (revoked ones too, with ``revoked_at``), newest first."""
        async with self._db.session() as session:
            rows = await session.scalars(
                select(ApiKeyRow).where(ApiKeyRow.user_id == user_id)
                .order_by(ApiKeyRow.id.desc()))
            return [_key(r) for r in rows]

    async def revoke(self, user_id: int, key_id: int) -> ApiKey:
        """Revoke one of a user's keys (NotFound if it has none with that id)."""
        async with self._db.session() as session:
            row = await session.get(ApiKeyRow, key_id)
            if row is None or row.user_id != user_id:
                raise NotFound(f"no API key with id {key_id}", details={"id": key_id})
            if row.revoked_at is None:
                row.revoked_at = self._clock()
            return _key(row)


def parse_scope(hosts: Iterable[str] | None, containers: Iterable[str] | None) -> KeyScope | None:
    """A scope from API/CLI input; None (unscoped) when neither list is given."""
    if hosts is None and containers is None:
        return None
    return KeyScope(hosts=tuple(dict.fromkeys(hosts or ())),
                    containers=tuple(dict.fromkeys(containers or ())))
