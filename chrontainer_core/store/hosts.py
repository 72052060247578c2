"""Docker hosts as stored in the database (the CLI, the API and the config file write here)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chrontainer_core.errors import Conflict, NotFound
from chrontainer_core.models import HostSpec
from chrontainer_core.store.db import Database, bump_change_counter, read_change_counter
from chrontainer_core.store.tables import HostRow, utc_now

__all__ = ["HOSTS_COUNTER", "HostRepository"]

HOSTS_COUNTER = "hosts"


def _spec(row: HostRow) -> HostSpec:
    return HostSpec(slug=row.slug, name=row.name, url=row.url)


class HostRepository:
    """CRUD on the ``hosts`` table.

    Values are expected to be validated already (``chrontainer_core.validate``) by the edge that
    received them. Every change bumps the ``hosts`` change counter in the same transaction, so a
    server polling :meth:`version` sees a host the CLI added in another process.
    """

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utc_now) -> None:
        """Bind the repository to a database.

        Args:
            db: The database.
            clock: Source of ``created_at``/``updated_at`` (aware UTC).
        """
        self._db = db
        self._clock = clock

    async def list(self) -> list[HostSpec]:
        """Return every host, ordered by slug."""
        async with self._db.session() as session:
            rows = await session.scalars(select(HostRow).order_by(HostRow.slug))
            return [_spec(row) for row in rows]

    async def get(self, slug: str) -> HostSpec:
        """Return one host.

        Raises:
            NotFound: No host has this slug.
        """
        async with self._db.session() as session:
            return _spec(await self._row(session, slug))

    async def add(self, spec: HostSpec) -> None:
        """Add a new host.

        Raises:
            Conflict: A host with this slug exists.
        """
        async with self._db.session() as session:
            if await session.get(HostRow, spec.slug) is not None:
                raise Conflict(f"host '{spec.slug}' already exists", details={"host": spec.slug})
            now = self._clock()
            session.add(
                HostRow(
                    slug=spec.slug, name=spec.name, url=spec.url, created_at=now, updated_at=now
                )
            )
            try:
                await session.flush()
            except IntegrityError as err:  # another process added it between get and flush
                raise Conflict(
                    f"host '{spec.slug}' already exists", details={"host": spec.slug}
                ) from err
            await bump_change_counter(session, HOSTS_COUNTER)

    async def update(
        self, slug: str, *, name: str | None = None, url: str | None = None
    ) -> HostSpec:
        """Change a host's display name and/or engine URL; the slug never changes.

        Returns:
            The host after the update.

        Raises:
            NotFound: No host has this slug.
        """
        async with self._db.session() as session:
            row = await self._row(session, slug)
            if self._apply(row, name=name, url=url):
                await bump_change_counter(session, HOSTS_COUNTER)
            return _spec(row)

    async def upsert(self, spec: HostSpec) -> bool:
        """Add the host or bring its name and URL in line with ``spec`` (config-file hosts).

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
        return HostRow(slug=spec.slug, name=spec.name, url=spec.url, created_at=now, updated_at=now)

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
