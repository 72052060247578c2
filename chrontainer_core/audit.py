"""The one audit trail (DESIGN §3 "Actor and audit").

Every mutating core call records who did what to which target, and whether it worked::

    async with audit.track(actor, "container.restart", "local/web"):
        await do_the_restart()

The daemon writes to the database (:class:`DbAuditTrail`); library mode has no database and
logs instead (:class:`LogAuditTrail`), keeping recent entries in memory for scripts and tests.
The audit page, the activity page and notifications are all views of this trail.
"""

from __future__ import annotations

import abc
import asyncio
import builtins
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import delete, func, select

from chrontainer_core.actor import Actor, ActorKind
from chrontainer_core.errors import InvalidInput
from chrontainer_core.models import AuditEntry
from chrontainer_core.store.db import Database
from chrontainer_core.store.tables import AuditRow, utc_now

__all__ = ["RESULT_ERROR", "RESULT_OK", "AuditTrail", "DbAuditTrail", "LogAuditTrail"]

_log = logging.getLogger(__name__)

RESULT_OK: Final = "ok"
RESULT_ERROR: Final = "error"
# Engine errors can carry whole build logs; the audit row needs the gist, not megabytes.
_MAX_ERROR_CHARS: Final = 2000

Clock = Callable[[], datetime]


def _error_text(error: BaseException | str | None) -> str | None:
    if error is None:
        return None
    if isinstance(error, asyncio.CancelledError):
        text = "cancelled"
    elif isinstance(error, BaseException):
        text = str(error) or type(error).__name__
    else:
        text = error
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"


def _check_page(limit: int, offset: int) -> None:
    if limit < 0:
        raise InvalidInput("limit must be 0 or more", field="limit")
    if offset < 0:
        raise InvalidInput("offset must be 0 or more", field="offset")


@dataclass(slots=True)
class AuditScope:
    """What :meth:`AuditTrail.track` will record; mutable so the block can refine it."""

    target: str


FailureListener = Callable[[Actor, str, str, str], None]


class AuditTrail(abc.ABC):
    """Where mutating core calls are recorded."""

    def __init__(self) -> None:
        self._failure_listeners: builtins.list[FailureListener] = []

    def on_failure(self, listener: FailureListener) -> None:
        """Call ``listener(actor, action, target, error)`` after each failed call is recorded
        (notifications of failed actions listen here: every mutating call passes by)."""
        self._failure_listeners.append(listener)

    async def record(
        self,
        actor: Actor,
        action: str,
        target: str,
        *,
        error: BaseException | str | None = None,
    ) -> None:
        """Record one call.

        Args:
            actor: Who asked.
            action: What, as ``noun.verb`` (``container.restart``).
            target: On what (``local/web``, a host slug, ...).
            error: Why it failed; None records result ``ok``.
        """
        text = _error_text(error)
        await self._write(actor, action, target, text)
        if text is not None:
            for listener in self._failure_listeners:
                try:
                    listener(actor, action, target, text)
                except Exception:  # a listener's bug must not turn into the caller's error
                    _log.exception("audit failure listener failed for %s", action)

    @abc.abstractmethod
    async def _write(self, actor: Actor, action: str, target: str, error: str | None) -> None:
        """Store one call (``error`` None: it succeeded)."""

    @abc.abstractmethod
    async def list(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        action: str | None = None,
        actor_kind: ActorKind | str | None = None,
        target: str | None = None,
        action_prefix: str | None = None,
        target_prefix: str | None = None,
        result: str | None = None,
    ) -> tuple[builtins.list[AuditEntry], int]:
        """Return a page of entries, newest first, and the total matching the filters.

        Args:
            limit: Page size.
            offset: Entries to skip.
            action: Only this exact action.
            actor_kind: Only this kind of actor.
            target: Only this exact target.
            action_prefix: Only actions starting with this (``container.``: container actions).
            target_prefix: Only targets starting with this (``local/``: one host's containers).
            result: Only this result (``ok`` or ``error``).

        Raises:
            InvalidInput: ``limit`` or ``offset`` is negative.
        """

    @abc.abstractmethod
    async def prune(self, before: datetime) -> int:
        """Delete the entries older than ``before``; returns how many were deleted.

        Args:
            before: Entries with an earlier time go (aware UTC).
        """

    @asynccontextmanager
    async def track(self, actor: Actor, action: str, target: str) -> AsyncIterator[AuditScope]:
        """Record the block as ``ok`` when it succeeds, or ``error`` when it raises.

        The block may refine ``scope.target`` once it knows more (a container ref resolved
        to its stable key), so the row names what was really acted on.

        The block's exception (cancellation included) is re-raised unchanged. A failure to write
        the audit entry is logged, never raised: it must not turn a done action into an error,
        nor hide the action's own error.

        Args:
            actor: Who asked.
            action: What, as ``noun.verb``.
            target: On what.
        """
        scope = AuditScope(target=target)
        try:
            yield scope
        except (Exception, asyncio.CancelledError) as err:
            await self._record_safely(actor, action, scope.target, err)
            raise
        await self._record_safely(actor, action, scope.target, None)

    async def _record_safely(
        self, actor: Actor, action: str, target: str, error: BaseException | None
    ) -> None:
        try:
            await self.record(actor, action, target, error=error)
        except Exception:
            _log.exception("could not write audit entry %s %s %s", actor.label, action, target)


@dataclass(frozen=True, slots=True)
class _Filter:
    """The filters of :meth:`AuditTrail.list`, for the in-memory trail."""

    action: str | None = None
    actor_kind: str | None = None
    target: str | None = None
    action_prefix: str | None = None
    target_prefix: str | None = None
    result: str | None = None

    def matches(self, entry: AuditEntry) -> bool:
        return (
            (self.action is None or entry.action == self.action)
            and (self.actor_kind is None or entry.actor.kind == self.actor_kind)
            and (self.target is None or entry.target == self.target)
            and (self.action_prefix is None or entry.action.startswith(self.action_prefix))
            and (self.target_prefix is None or entry.target.startswith(self.target_prefix))
            and (self.result is None or entry.result == self.result)
        )


class LogAuditTrail(AuditTrail):
    """Library-mode trail: one INFO log line per call, plus the last entries in memory."""

    def __init__(self, *, keep: int = 1000, clock: Clock = utc_now) -> None:
        """Create an empty trail.

        Args:
            keep: How many recent entries to keep for :meth:`list`.
            clock: Source of entry times (aware UTC).
        """
        super().__init__()
        self._entries: deque[AuditEntry] = deque(maxlen=keep)
        self._ids = itertools.count(1)
        self._clock = clock

    async def _write(self, actor: Actor, action: str, target: str, error: str | None) -> None:
        """Log the call and keep it in memory (see :meth:`AuditTrail.record`)."""
        text = error
        result = RESULT_OK if text is None else RESULT_ERROR
        self._entries.append(
            AuditEntry(
                id=next(self._ids),
                time=self._clock(),
                actor=actor,
                action=action,
                target=target,
                result=result,
                error=text,
            )
        )
        if text is None:
            _log.info("audit: %s %s %s: ok", actor.label, action, target)
        else:
            _log.info("audit: %s %s %s: error: %s", actor.label, action, target, text)

    async def list(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        action: str | None = None,
        actor_kind: ActorKind | str | None = None,
        target: str | None = None,
        action_prefix: str | None = None,
        target_prefix: str | None = None,
        result: str | None = None,
    ) -> tuple[builtins.list[AuditEntry], int]:
        """Return kept entries, newest first (see :meth:`AuditTrail.list`)."""
        _check_page(limit, offset)
        wanted = _Filter(action, None if actor_kind is None else str(actor_kind), target,
                         action_prefix, target_prefix, result)
        matching = [entry for entry in reversed(self._entries) if wanted.matches(entry)]
        return matching[offset : offset + limit], len(matching)


    async def prune(self, before: datetime) -> int:
        """Forget kept entries older than ``before`` (see :meth:`AuditTrail.prune`)."""
        kept = [entry for entry in self._entries if entry.time >= before]
        deleted = len(self._entries) - len(kept)
        self._entries.clear()
        self._entries.extend(kept)
        return deleted


class DbAuditTrail(AuditTrail):
    """Daemon trail: one ``audit_log`` row per call, in its own transaction."""

    def __init__(self, db: Database, *, clock: Clock = utc_now) -> None:
        """Bind the trail to a database.

        Args:
            db: The database.
            clock: Source of entry times (aware UTC).
        """
        super().__init__()
        self._db = db
        self._clock = clock

    async def _write(self, actor: Actor, action: str, target: str, error: str | None) -> None:
        """Insert one row (see :meth:`AuditTrail.record`)."""
        text = error
        async with self._db.session() as session:
            session.add(
                AuditRow(
                    time=self._clock(),
                    actor_kind=actor.kind.value,
                    actor_id=actor.id,
                    actor_name=actor.name,
                    source_ip=actor.source_ip,
                    action=action,
                    target=target,
                    result=RESULT_OK if text is None else RESULT_ERROR,
                    error=text,
                )
            )

    async def list(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        action: str | None = None,
        actor_kind: ActorKind | str | None = None,
        target: str | None = None,
        action_prefix: str | None = None,
        target_prefix: str | None = None,
        result: str | None = None,
    ) -> tuple[builtins.list[AuditEntry], int]:
        """Return rows newest first with the filtered total (see :meth:`AuditTrail.list`)."""
        _check_page(limit, offset)
        conditions = []
        if action is not None:
            conditions.append(AuditRow.action == action)
        if actor_kind is not None:
            conditions.append(AuditRow.actor_kind == str(actor_kind))
        if target is not None:
            conditions.append(AuditRow.target == target)
        # autoescape: a "%" or "_" in a prefix is that character, not a LIKE wildcard.
        if action_prefix is not None:
            conditions.append(AuditRow.action.startswith(action_prefix, autoescape=True))
        if target_prefix is not None:
            conditions.append(AuditRow.target.startswith(target_prefix, autoescape=True))
        if result is not None:
            conditions.append(AuditRow.result == result)
        page = (
            select(AuditRow)
            .where(*conditions)
            # id breaks ties between rows written within one clock tick.
            .order_by(AuditRow.time.desc(), AuditRow.id.desc())
            .limit(limit)
            .offset(offset)
        )
        count = select(func.count()).select_from(AuditRow).where(*conditions)
        async with self._db.session() as session:
            total = await session.scalar(count) or 0
            rows = await session.scalars(page)
            return _entries(rows), total


    async def prune(self, before: datetime) -> int:
        """Delete rows older than ``before`` in one statement (see :meth:`AuditTrail.prune`)."""
        async with self._db.session() as session:
            result = await session.execute(delete(AuditRow).where(AuditRow.time < before))
            # rowcount lives on CursorResult; the generic Result type does not declare it.
            return int(getattr(result, "rowcount", 0) or 0)


def _entries(rows: Iterable[AuditRow]) -> list[AuditEntry]:
    return [
        AuditEntry(
            id=row.id,
            time=row.time,
            actor=Actor(
                kind=ActorKind(row.actor_kind),
                id=row.actor_id,
                name=row.actor_name,
                source_ip=row.source_ip,
            ),
            action=row.action,
            target=row.target,
            result=row.result,
            error=row.error,
        )
        for row in rows
    ]
