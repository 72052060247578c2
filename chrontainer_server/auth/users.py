"""Accounts: a repository over the ``users`` table.

Usernames are stored lowercased. The last enabled admin can never be removed, demoted or
disabled (Conflict), so an installation cannot lock itself out of administration.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chrontainer_core.errors import Conflict, InvalidInput, NotFound
from chrontainer_core.store.db import Database
from chrontainer_core.store.tables import UserRow, utc_now

from .passwords import Passwords, check_password_policy
from .roles import Role

__all__ = ["USERNAME_PATTERN", "User", "UserRepository", "normalize_username"]

USERNAME_PATTERN: Final = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_USERNAME: Final = re.compile(USERNAME_PATTERN)


def normalize_username(name: str, *, field: str = "username") -> str:
    """Lowercase and validate a username (letters, digits, ``.``, ``_``, ``-``; 1-64)."""
    lowered = name.strip().lower() if isinstance(name, str) else ""
    if not _USERNAME.match(lowered):
        raise InvalidInput(
            "a username has 1 to 64 letters, digits, '.', '_' or '-' and starts with a "
            "letter or digit", field=field,
        )
    return lowered


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """An account as the API shows it (never its password hash)."""

    id: int
    username: str
    role: Role
    disabled: bool
    created_at: datetime
    updated_at: datetime
    password_changed_at: datetime
    totp_enabled: bool = False


def _user(row: UserRow) -> User:
    return User(id=row.id, username=row.username, role=Role(row.role), disabled=row.disabled,
                created_at=row.created_at, updated_at=row.updated_at,
                password_changed_at=row.password_changed_at, totp_enabled=row.totp_enabled)


class UserRepository:
    """CRUD on accounts.

    Args:
        db: The database.
        passwords: The password hasher.
        clock: Source of timestamps (aware UTC).
    """

    def __init__(self, db: Database, passwords: Passwords, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self.passwords = passwords
        self._clock = clock
        # "Is there another enabled admin?" and the write that depends on the answer must not
        # interleave with a second such change, or two concurrent demotions could both see the
        # other admin and leave none. One daemon owns the database (instance lock), so an
        # in-process lock covers every request.
        self._admin_changes = asyncio.Lock()

    async def count(self) -> int:
        """How many accounts exist (the first-start setup runs while there are none)."""
        async with self._db.session() as session:
            return int(await session.scalar(select(func.count()).select_from(UserRow)) or 0)

    async def create(self, username: str, password: str, role: Role) -> User:
        """Create an account.

        Raises:
            InvalidInput: Bad username or password.
            Conflict: The username is taken.
        """
        name = normalize_username(username)
        password_hash = await self.passwords.hash(check_password_policy(password))
        now = self._clock()
        row = UserRow(username=name, password_hash=password_hash, role=role.value,
                      disabled=False, totp_enabled=False, created_at=now, updated_at=now,
                      password_changed_at=now)
        try:
            async with self._db.session() as session:
                session.add(row)
        except IntegrityError as err:
            raise Conflict(f"user '{name}' already exists", details={"field": "username"}) \
                from err
        return _user(row)

    async def get(self, user_id: int) -> User:
        """One account by id (NotFound if absent)."""
        async with self._db.session() as session:
            return _user(await self._row(session, user_id))

    async def find(self, username: str) -> tuple[User, str] | None:
        """The account and its password hash by (any-case) username, or None."""
        async with self._db.session() as session:
            row = await session.scalar(
                select(UserRow).where(UserRow.username == username.strip().lower())
            )
            return None if row is None else (_user(row), row.password_hash)

    async def list(self) -> list[User]:
        """Every account, by username."""
        async with self._db.session() as session:
            return [_user(r) for r in await session.scalars(
                select(UserRow).order_by(UserRow.username))]

    async def update(self, user_id: int, *, role: Role | None = None,
                     disabled: bool | None = None) -> User:
        """Change an account's role and/or disabled flag.

        Raises:
            NotFound: No such account.
            Conflict: The change would leave no enabled admin.
        """
        async with self._admin_changes, self._db.session() as session:
            row = await self._row(session, user_id)
            new_role = role.value if role is not None else row.role
            new_disabled = disabled if disabled is not None else row.disabled
            if row.role == Role.ADMIN and not row.disabled and (
                    new_role != Role.ADMIN or new_disabled):
                await self._keep_an_admin(session, row.id)
            row.role, row.disabled, row.updated_at = new_role, new_disabled, self._clock()
            return _user(row)

    async def set_password(self, user_id: int, password: str) -> User:
        """Store a new password for an account (checks the policy, hashes it)."""
        password_hash = await self.passwords.hash(check_password_policy(password))
        return await self.store_hash(user_id, password_hash, changed=True)

    async def store_hash(self, user_id: int, password_hash: str, *, changed: bool) -> User:
        """Store a password hash; ``changed`` False for a rehash of the same password."""
        async with self._db.session() as session:
            row = await self._row(session, user_id)
            row.password_hash = password_hash
            if changed:
                row.password_changed_at = row.updated_at = self._clock()
            return _user(row)

    async def delete(self, user_id: int) -> User:
        """Delete an account with its sessions and API keys (cascade).

        Raises:
            NotFound: No such account.
            Conflict: It is the last enabled admin.
        """
        async with self._admin_changes, self._db.session() as session:
            row = await self._row(session, user_id)
            if row.role == Role.ADMIN and not row.disabled:
                await self._keep_an_admin(session, row.id)
            user = _user(row)
            await session.delete(row)
            return user

    @staticmethod
    async def _row(session: AsyncSession, user_id: int) -> UserRow:
        row = await session.get(UserRow, user_id)
        if row is None:
            raise NotFound(f"no user with id {user_id}", details={"id": user_id})
        return row

    @staticmethod
    async def _keep_an_admin(session: AsyncSession, user_id: int) -> None:
        others = await session.scalar(
            select(func.count()).select_from(UserRow).where(
                UserRow.role == Role.ADMIN.value, UserRow.disabled.is_(False),
                UserRow.id != user_id,
            )
        )
        if not others:
            raise Conflict("this is the last enabled admin: make another user admin first",
                           details={"id": user_id})
