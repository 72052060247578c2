"""Where update checks and the update journal live: the database in daemon mode, memory in
library mode (a script has no database, and no crash recovery either).

Check results are kept by host + container key (DESIGN §3a), so a recreated container keeps
its status. The journal is written before each step of an update (see :mod:`.apply`): after a
crash, :meth:`UpdateJournal.unfinished` names every update that must be finished or undone.
"""

from __future__ import annotations

import builtins
import dataclasses
import itertools
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select

from ..store.db import Database
from ..store.tables import UpdateCheckRow, UpdateJournalRow, utc_now
from .models import JournalEntry, JournalStatus, UpdateCheck, UpdateState, UpdateStep

__all__ = ["CheckStore", "UpdateJournal"]


def _check(row: UpdateCheckRow) -> UpdateCheck:
    return UpdateCheck(host=row.host, key=row.container_key, image=row.image,
                       state=UpdateState(row.state), checked_at=row.checked_at,
                       local_digest=row.local_digest, remote_digest=row.remote_digest,
                       error=row.error, error_code=row.error_code)


class CheckStore:
    """The last check per container key, and the registry digest last announced for it."""

    def __init__(self, db: Database | None) -> None:
        self._db = db
        self._memory: dict[tuple[str, str], tuple[UpdateCheck, str | None]] = {}

    async def load(self) -> builtins.list[tuple[UpdateCheck, str | None]]:
        """Every stored check with its announced digest."""
        if self._db is None:
            return list(self._memory.values())
        async with self._db.session() as session:
            rows = await session.scalars(select(UpdateCheckRow))
            return [(_check(r), r.notified_digest) for r in rows]

    async def save(self, checks: Sequence[tuple[UpdateCheck, str | None]]) -> None:
        """Insert or replace the checks (each with its announced digest), in one transaction:
        a pass over 200 containers is one commit, not 200."""
        if self._db is None:
            for check, notified in checks:
                self._memory[(check.host, check.key)] = (check, notified)
            return
        if not checks:
            return
        async with self._db.session() as session:
            hosts = {check.host for check, _ in checks}
            rows = {(r.host, r.container_key): r for r in await session.scalars(
                select(UpdateCheckRow).where(UpdateCheckRow.host.in_(hosts)))}
            for check, notified in checks:
                row = rows.get((check.host, check.key))
                if row is None:
                    row = rows[(check.host, check.key)] = UpdateCheckRow(
                        host=check.host, container_key=check.key)
                    session.add(row)
                row.image = check.image
                row.state = check.state.value
                row.local_digest = check.local_digest
                row.remote_digest = check.remote_digest
                row.error = check.error
                row.error_code = check.error_code
                row.checked_at = check.checked_at
                row.notified_digest = notified


    async def forget(self, gone: Sequence[tuple[str, str]]) -> None:
        """Drop the checks of these (host, key) pairs (their containers are gone)."""
        if self._db is None:
            for pair in gone:
                self._memory.pop(pair, None)
            return
        if not gone:
            return
        async with self._db.session() as session:
            for host, key in gone:
                await session.execute(delete(UpdateCheckRow).where(
                    UpdateCheckRow.host == host, UpdateCheckRow.container_key == key))


_JOURNAL_FIELDS = ("host", "name", "image", "old_id", "old_image_id", "new_id", "new_image_id",
                   "temp_name", "backup_name", "was_running", "error", "actor", "started_at",
                   "updated_at")


def _entry(row: UpdateJournalRow) -> JournalEntry:
    return JournalEntry(id=row.id, key=row.container_key, step=UpdateStep(row.step),
                        status=JournalStatus(row.status),
                        **{f: getattr(row, f) for f in _JOURNAL_FIELDS})


class UpdateJournal:
    """One row per update; :meth:`record` is called before each step is taken."""

    def __init__(self, db: Database | None) -> None:
        self._db = db
        self._memory: dict[int, JournalEntry] = {}
        self._ids = itertools.count(1)

    async def begin(self, entry: JournalEntry) -> JournalEntry:
        """Store a new update (its ``id`` is ignored); returns it with its id."""
        if self._db is None:
            stored = dataclasses.replace(entry, id=next(self._ids))
            self._memory[stored.id] = stored
            return stored
        row = UpdateJournalRow(container_key=entry.key, step=entry.step.value,
                               status=entry.status.value,
                               **{f: getattr(entry, f) for f in _JOURNAL_FIELDS})
        async with self._db.session() as session:
            session.add(row)
            await session.flush()
            return _entry(row)

    async def record(self, entry: JournalEntry, *, step: UpdateStep | None = None,
                     status: JournalStatus | None = None, **changes: object) -> JournalEntry:
        """Write the entry's next step (and/or status, new_id, error...) and return it.

        The row is committed before this returns: the step it names is taken only after.
        """
        now: datetime = utc_now()
        updated = dataclasses.replace(
            entry, step=step or entry.step, status=status or entry.status, updated_at=now,
            **changes)  # type: ignore[arg-type]
        if self._db is None:
            self._memory[updated.id] = updated
            return updated
        async with self._db.session() as session:
            row = await session.get(UpdateJournalRow, entry.id)
            if row is None:  # pruned by hand meanwhile: keep going from memory
                return updated
            row.step = updated.step.value
            row.status = updated.status.value
            for name in ("new_id", "new_image_id", "error"):
                setattr(row, name, getattr(updated, name))
            row.updated_at = now
        return updated

    async def unfinished(self) -> builtins.list[JournalEntry]:
        """Updates still ``running``: a crash (or kill) interrupted them."""
        if self._db is None:
            return [e for e in self._memory.values() if e.status is JournalStatus.RUNNING]
        async with self._db.session() as session:
            rows = await session.scalars(select(UpdateJournalRow).where(
                UpdateJournalRow.status == JournalStatus.RUNNING.value)
                .order_by(UpdateJournalRow.id))
            return [_entry(r) for r in rows]

    async def page(self, *, host: str | None = None, limit: int = 50,
                   offset: int = 0) -> tuple[builtins.list[JournalEntry], int]:
        """Updates, newest first, and how many there are."""
        if self._db is None:
            items = sorted((e for e in self._memory.values()
                            if host is None or e.host == host), key=lambda e: -e.id)
            return items[offset:offset + limit], len(items)
        query = select(UpdateJournalRow)
        count = select(func.count()).select_from(UpdateJournalRow)
        if host is not None:
            query = query.where(UpdateJournalRow.host == host)
            count = count.where(UpdateJournalRow.host == host)
        async with self._db.session() as session:
            total = int(await session.scalar(count) or 0)
            rows = await session.scalars(query.order_by(UpdateJournalRow.id.desc())
                                         .limit(limit).offset(offset))
            return [_entry(r) for r in rows], total
