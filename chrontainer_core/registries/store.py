"""Registries in the database: one row per canonical host, the password Fernet-encrypted with
the installation's :class:`~chrontainer_core.secrets.SecretBox` and decrypted only when a
client needs it (never for listing)."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..errors import Conflict, NotFound, SecretUnavailable
from ..secrets import SecretBox
from ..store.db import Database
from ..store.tables import RegistryRow, utc_now
from .models import Registry, RegistryKind
from .reference import DOCKER_HUB

__all__ = ["RegistryDraft", "RegistryStore"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryDraft:
    """A validated registry to store; ``password`` None stores none."""

    name: str
    kind: RegistryKind
    url: str
    registry: str
    username: str | None
    password: str | None = field(default=None, repr=False)


def _model(row: RegistryRow) -> Registry:
    return Registry(id=row.id, name=row.name, kind=RegistryKind(row.kind), url=row.url,
                    registry=row.host, username=row.username,
                    has_password=row.password_encrypted is not None,
                    created_at=row.created_at, updated_at=row.updated_at)


def _taken(registry: str) -> Conflict:
    hub = (" (docker.io, index.docker.io and registry-1.docker.io are one registry)"
           if registry == DOCKER_HUB else "")
    return Conflict(f"url: {registry} is already configured{hub}",
                    details={"field": "url", "registry": registry})


class RegistryStore:
    """CRUD of the ``registries`` table.

    Args:
        db: The database.
        secrets: Encrypts passwords; None refuses to store one.
        clock: Current time (aware UTC).
    """

    def __init__(self, db: Database, secrets: SecretBox | None, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self._secrets = secrets
        self._clock = clock

    def _encrypt(self, password: str | None) -> str | None:
        if not password:
            return None
        if self._secrets is None:
            raise SecretUnavailable("this runtime has no secret key to store a password with")
        return self._secrets.encrypt(password)

    async def list(self) -> builtins.list[Registry]:
        """Every registry, by name."""
        async with self._db.session() as s:
            rows = (await s.scalars(select(RegistryRow).order_by(RegistryRow.name,
                                                                 RegistryRow.id))).all()
            return [_model(r) for r in rows]

    async def get(self, registry_id: int) -> Registry:
        """One registry.

        Raises:
            NotFound: No registry has this id.
        """
        async with self._db.session() as s:
            row = await s.get(RegistryRow, registry_id)
            if row is None:
                raise NotFound(f"no registry with id {registry_id}")
            return _model(row)

    async def find(self, registry: str) -> Registry | None:
        """The registry stored for a canonical host, if any."""
        async with self._db.session() as s:
            row = await s.scalar(select(RegistryRow).where(RegistryRow.host == registry))
            return None if row is None else _model(row)

    async def password(self, registry_id: int) -> str | None:
        """The decrypted password of a registry (None when none is stored).

        Raises:
            NotFound: No registry has this id.
            SecretUnavailable: It cannot be decrypted (the secret key changed).
        """
        async with self._db.session() as s:
            row = await s.get(RegistryRow, registry_id)
            if row is None:
                raise NotFound(f"no registry with id {registry_id}")
            encrypted = row.password_encrypted
        if encrypted is None:
            return None
        if self._secrets is None:
            raise SecretUnavailable("this runtime has no secret key to read passwords with")
        try:
            return self._secrets.decrypt(encrypted)
        except SecretUnavailable as err:
            raise SecretUnavailable(
                "cannot decrypt this registry's password: enter it again (the secret key is "
                "not the one it was stored with)") from err

    async def add(self, draft: RegistryDraft) -> Registry:
        """Store a new registry.

        Raises:
            Conflict: Its canonical host is already configured.
        """
        now = self._clock()
        encrypted = self._encrypt(draft.password)
        try:
            async with self._db.session() as s:
                if await s.scalar(select(RegistryRow.id).where(
                        RegistryRow.host == draft.registry)) is not None:
                    raise _taken(draft.registry)
                row = RegistryRow(name=draft.name, kind=draft.kind.value, url=draft.url,
                                  host=draft.registry, username=draft.username,
                                  password_encrypted=encrypted, created_at=now,
                                  updated_at=now)
                s.add(row)
                await s.flush()
                return _model(row)
        except IntegrityError as err:  # a concurrent add of the same host won the race
            raise _taken(draft.registry) from err

    async def replace(self, registry_id: int, draft: RegistryDraft, *,
                      keep_password: bool) -> Registry:
        """Overwrite a registry with ``draft``; ``keep_password`` keeps the stored password
        instead of ``draft.password``.

        Raises:
            NotFound: No registry has this id.
            Conflict: The new canonical host belongs to another registry.
        """
        encrypted = None if keep_password else self._encrypt(draft.password)
        try:
            async with self._db.session() as s:
                row = await s.get(RegistryRow, registry_id)
                if row is None:
                    raise NotFound(f"no registry with id {registry_id}")
                if draft.registry != row.host and await s.scalar(
                        select(RegistryRow.id).where(
                            RegistryRow.host == draft.registry)) is not None:
                    raise _taken(draft.registry)
                row.name, row.kind, row.url = draft.name, draft.kind.value, draft.url
                row.host, row.username = draft.registry, draft.username
                if not keep_password:
                    row.password_encrypted = encrypted
                row.updated_at = self._clock()
                await s.flush()
                return _model(row)
        except IntegrityError as err:
            raise _taken(draft.registry) from err

    async def delete(self, registry_id: int) -> None:
        """Delete a registry and its credentials.

        Raises:
            NotFound: No registry has this id.
        """
        async with self._db.session() as s:
            row = await s.get(RegistryRow, registry_id)
            if row is None:
                raise NotFound(f"no registry with id {registry_id}")
            await s.delete(row)
