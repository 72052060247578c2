"""Docker hosts as stored in the database (the CLI, the API and the config file write here)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chrontainer_core.errors import Conflict, NotFound, SecretUnavailable
from chrontainer_core.models import UNCHANGED, HostSpec, HostTLS, Unchanged
from chrontainer_core.secrets import SecretBox
from chrontainer_core.store.db import Database, bump_change_counter, read_change_counter
from chrontainer_core.store.tables import HostRow, utc_now

__all__ = ["HOSTS_COUNTER", "TLS_KEY_UNREADABLE", "HostRepository"]

HOSTS_COUNTER = "hosts"
# The error a host shows when its stored TLS key cannot be decrypted.
TLS_KEY_UNREADABLE: Final = (
    "cannot decrypt the TLS key: re-enter it (the secret key is not the one it was stored "
    "with)"
)


class HostRepository:
    """CRUD on the ``hosts`` table.

    Values are expected to be validated already (``chrontainer_core.validate``) by the edge that
    received them. Every change bumps the ``hosts`` change counter in the same transaction, so a
    server polling :meth:`version` sees a host the CLI added in another process.

    TLS client keys are encrypted with the injected :class:`SecretBox` on the way in and
    decrypted on the way out. A key that cannot be decrypted never fails a read: the host comes
    back with ``tls.key_error`` set (:data:`TLS_KEY_UNREADABLE`), so it can be shown offline
    with that error and repaired by storing new material.
    """

    def __init__(
        self,
        db: Database,
        *,
        secrets: SecretBox | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """Bind the repository to a database.

        Args:
            db: The database.
            secrets: Encrypts TLS keys; without it, hosts with TLS can be neither stored nor
                used (they read back with ``tls.key_error`` set).
            clock: Source of ``created_at``/``updated_at`` (aware UTC).
        """
        self._db = db
        self._secrets = secrets
        self._clock = clock

    def _spec(self, row: HostRow) -> HostSpec:
        return HostSpec(slug=row.slug, name=row.name, url=row.url, tls=self._tls(row))

    def _tls(self, row: HostRow) -> HostTLS | None:
        if row.tls_ca is None or row.tls_cert is None or row.tls_key_encrypted is None:
            return None
        try:
            if self._secrets is None:
                raise SecretUnavailable("no secret key configured")
            key = self._secrets.decrypt(row.tls_key_encrypted)
        except SecretUnavailable:
            return HostTLS(ca_cert=row.tls_ca, client_cert=row.tls_cert, client_key="",
                           key_error=TLS_KEY_UNREADABLE)
        return HostTLS(ca_cert=row.tls_ca, client_cert=row.tls_cert, client_key=key)

    def _set_tls(self, row: HostRow, tls: HostTLS | None) -> None:
        if tls is None:
            row.tls_ca = row.tls_cert = row.tls_key_encrypted = None
            return
        if tls.key_error is not None:  # material read back without its key: nothing to store
            raise SecretUnavailable(tls.key_error)
        if self._secrets is None:
            raise RuntimeError("HostRepository needs a SecretBox to store TLS keys")
        row.tls_ca = tls.ca_cert
        row.tls_cert = tls.client_cert
        row.tls_key_encrypted = self._secrets.encrypt(tls.client_key)

    async def list(self) -> list[HostSpec]:
        """Return every host, ordered by slug."""
        async with self._db.session() as session:
            rows = await session.scalars(select(HostRow).order_by(HostRow.slug))
            return [self._spec(row) for row in rows]

    async def get(self, slug: str) -> HostSpec:
        """Return one host.

        Raises:
            NotFound: No host has this slug.
        """
        async with self._db.session() as session:
            return self._spec(await self._row(session, slug))

    async def add(self, spec: HostSpec) -> None:
        """Add a new host.

        Raises:
            Conflict: A host with this slug exists.
        """
        async with self._db.session() as session:
            if await session.get(HostRow, spec.slug) is not None:
                raise Conflict(f"host '{spec.slug}' already exists", details={"host": spec.slug})
            session.add(self._new_row(spec))
            try:
                await session.flush()
            except IntegrityError as err:  # another process added it between get and flush
                raise Conflict(
                    f"host '{spec.slug}' already exists", details={"host": spec.slug}
                ) from err
            await bump_change_counter(session, HOSTS_COUNTER)

    async def update(
        self,
        slug: str,
        *,
        name: str | None = None,
        url: str | None = None,
        tls: HostTLS | Unchanged | None = UNCHANGED,
    ) -> HostSpec:
        """Change a host's display name, engine URL and/or TLS; the slug never changes.

        Args:
            slug: The host.
            name: New display name, or None to keep it.
            url: New engine URL, or None to keep it.
            tls: New TLS material (its key is stored encrypted), None to remove TLS, or
                UNCHANGED to keep what is stored, even a key that can no longer be decrypted.

        Returns:
            The host after the update.

        Raises:
            NotFound: No host has this slug.
        """
        async with self._db.session() as session:
            row = await self._row(session, slug)
            changed = self._apply(row, name=name, url=url)
            if not isinstance(tls, Unchanged):
                # Always a change: the same material re-entered still gets a fresh encryption.
                self._set_tls(row, tls)
                row.updated_at = self._clock()
                changed = True
            if changed:
                await bump_change_counter(session, HOSTS_COUNTER)
            return self._spec(row)

    async def upsert(self, spec: HostSpec) -> bool:
        """Add the host or bring its name and URL in line with ``spec`` (config-file hosts).

        Stored TLS material is left alone: the config file cannot carry TLS yet.

        Returns:
            Whether anything changed.
        """
        async with self._db.session() as session:
            row = await session.get(HostRow, spec.slug)
            if row is None:
                session.add(self._new_row(spec))
                changed = True
            else:
                changed = self._apply(row, name=spec.name, url=spec.url)
            if changed:
                await bump_change_counter(session, HOSTS_COUNTER)
            return changed

    async def remove(self, slug: str) -> None:
        """Delete a host.

        Raises:
            NotFound: No host has this slug.
        """
        async with self._db.session() as session:
            await session.delete(await self._row(session, slug))
            await bump_change_counter(session, HOSTS_COUNTER)

    async def version(self) -> int:
        """Return the hosts change counter; it grows with every change, from any process."""
        async with self._db.session() as session:
            return await read_change_counter(session, HOSTS_COUNTER)

    @staticmethod
    async def _row(session: AsyncSession, slug: str) -> HostRow:
        row = await session.get(HostRow, slug)
        if row is None:
            raise NotFound(f"host '{slug}' not found", details={"host": slug})
        return row

    def _new_row(self, spec: HostSpec) -> HostRow:
        now = self._clock()
        row = HostRow(
            slug=spec.slug, name=spec.name, url=spec.url, created_at=now, updated_at=now
        )
        self._set_tls(row, spec.tls)
        return row

    def _apply(self, row: HostRow, *, name: str | None, url: str | None) -> bool:
        changed = False
        if name is not None and name != row.name:
            row.name = name
            changed = True
        if url is not None and url != row.url:
            row.url = url
            changed = True
        if changed:
            row.updated_at = self._clock()
        return changed
