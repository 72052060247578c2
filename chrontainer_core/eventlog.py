"""The events log: engine events of every host, persisted for the events page (daemon only).

The watchers publish each container, image, volume and network event as ``DockerEventSeen``;
:class:`EventLog` subscribes to them and writes them to ``docker_events`` in batches (when
:data:`BATCH_SIZE` are buffered or :data:`FLUSH_INTERVAL` passed since the first of them), one
transaction per batch, so a crash mid-write leaves whole batches or nothing. It keeps only the
newest ``events_keep`` rows (a setting, read at each prune): after a flush, at most every
:data:`PRUNE_INTERVAL`, one DELETE below an id threshold. Stopping flushes what is buffered, so a
clean shutdown loses nothing.

The loop supervises itself: a failed write is logged once (until writes work again), its batch
kept for the next try, and the loop goes on. A burst larger than the subscription's queue
yields a ``Lagged`` marker: those events are missing from the log (logged once) and it goes on.

Reading: :meth:`EventLog.list` filters in SQL and pages, newest first.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, delete, func, insert, or_, select

from .bus import Bus, DockerEventSeen, Event, Lagged, Subscription
from .errors import InvalidInput
from .models import DockerEvent, DockerObjectType
from .store.db import Database
from .store.tables import DockerEventRow
from .tasks import cancel_and_wait

__all__ = [
    "BATCH_SIZE",
    "FLUSH_INTERVAL",
    "PRUNE_INTERVAL",
    "EventFilter",
    "EventLog",
]

log = logging.getLogger(__name__)

BATCH_SIZE: Final = 200
FLUSH_INTERVAL: Final = 1.0
PRUNE_INTERVAL: Final = 5.0
# Bus queue of the log: a burst (a compose stack coming up on a slow disk) fits easily.
QUEUE_SIZE: Final = 5000
# While the database refuses writes, at most this many events wait; the oldest go first.
MAX_BUFFER: Final = 20_000
RETRY_DELAY: Final = 1.0
# An object filter of 12+ hex characters also matches ids it prefixes (short ids, §3a).
_ID_PREFIX: Final = re.compile(r"[0-9a-f]{12,64}")

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    """Which events :meth:`EventLog.list` returns; every field is optional.

    Attributes:
        host: Only this host's events.
        type: Only events of this kind of object.
        action: Only this exact action (``start``, ``destroy``, ``health_status: healthy``).
        name: Case-insensitive substring of the object's name.
        object_id: The object's full id (or volume name); 12+ hex characters also match the
            ids they prefix.
        hosts: Only events of these hosts (an API key's scope); None means any host.
    """

    host: str | None = None
    type: DockerObjectType | None = None
    action: str | None = None
    name: str | None = None
    object_id: str | None = None
    hosts: tuple[str, ...] | None = None


class EventLog:
    """Persists the engine events seen on the bus and lists them.

    Args:
        db: The database holding ``docker_events``.
        bus: Where the watchers publish ``DockerEventSeen``.
        keep: Returns how many events to keep (the ``events_keep`` setting, read per prune).
        batch_size: Events buffered before a write, at most.
        flush_interval: Seconds an event may wait in the buffer.
        prune_interval: Seconds between two prunes, at least.
        clock: Monotonic clock deciding when to prune (injectable for tests).
        sleep: Injectable sleep, used before retrying a failed write.
    """

    def __init__(
        self,
        db: Database,
        bus: Bus,
        keep: Callable[[], int],
        *,
        batch_size: int = BATCH_SIZE,
        flush_interval: float = FLUSH_INTERVAL,
        prune_interval: float = PRUNE_INTERVAL,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._db = db
        self._bus = bus
        self._keep = keep
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.prune_interval = prune_interval
        self._clock = clock
        self._sleep = sleep
        self._buffer: list[DockerEvent] = []
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_prune: float | None = None
        self._failing = False
        self._lag_logged = False

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the writing loop runs."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Subscribe to the bus and start writing (no-op when running)."""
        if self.running:
            return
        if self._sub is None:
            # Subscribed here, not in the task: nothing published after start() is missed.
            self._sub = self._bus.subscribe([DockerEventSeen.topic], maxsize=QUEUE_SIZE)
        self._task = asyncio.create_task(self._run(), name="events:log")

    async def stop(self) -> None:
        """Stop the loop, then write whatever is buffered or queued, and prune once."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        sub, self._sub = self._sub, None
        if sub is None:
            return
        sub.close()
        for event in await _queued(sub):
            self._take(event)
        try:
            while self._buffer:
                await self._flush()
            await self._prune()
        except Exception:  # a shutdown must go on; the database said why
            log.exception("events log: could not write %d events at shutdown",
                          len(self._buffer))
        self._buffer.clear()

    # -- writing --------------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._sub is not None
        sub = self._sub
        while True:
            try:
                await self._collect(sub)
                await self._flush()
                if self._failing:
                    log.info("events log: writing works again")
                    self._failing = False
                await self._maybe_prune()
            except Exception:  # supervision: log once per outage, keep the batch, go on
                if not self._failing:
                    log.exception("events log: writing events failed (will retry)")
                self._failing = True
                self._trim()
                await self._sleep(RETRY_DELAY)

    async def _collect(self, sub: Subscription) -> None:
        """Fill the buffer until a batch is full or the first event waited long enough."""
        if not self._buffer:
            self._take(await sub.get())
        try:
            async with asyncio.timeout(self.flush_interval):
                while len(self._buffer) < self.batch_size:
                    self._take(await sub.get())
        except TimeoutError:
            pass

    def _take(self, event: object) -> None:
        if isinstance(event, DockerEventSeen):
            self._buffer.append(event.event)
        elif isinstance(event, Lagged) and not self._lag_logged:
            # Logged once: a host flooding events would otherwise flood the log too.
            log.warning("events log: fell behind, %d events were not recorded", event.dropped)
            self._lag_logged = True

    def _trim(self) -> None:
        if len(self._buffer) > MAX_BUFFER:
            del self._buffer[: len(self._buffer) - MAX_BUFFER]

    async def _flush(self) -> None:
        """Write up to one batch in one transaction; written events leave the buffer."""
        batch = self._buffer[: self.batch_size]
        if not batch:
            return
        async with self._db.session() as session:
            await session.execute(insert(DockerEventRow), [_row(e) for e in batch])
        del self._buffer[: len(batch)]

    async def _maybe_prune(self) -> None:
        now = self._clock()
        if self._last_prune is not None and now - self._last_prune < self.prune_interval:
            return
        self._last_prune = now
        await self._prune()

    async def _prune(self) -> int:
        """Delete all but the newest ``keep`` events; returns how many went."""
        keep = max(1, self._keep())
        async with self._db.session() as session:
            # The id of the oldest row to keep, found on the primary key index.
            threshold = await session.scalar(
                select(DockerEventRow.id)
                .order_by(DockerEventRow.id.desc())
                .limit(1)
                .offset(keep - 1)
            )
            if threshold is None:
                return 0
            result = await session.execute(
                delete(DockerEventRow).where(DockerEventRow.id < threshold)
            )
            # rowcount lives on CursorResult; the generic Result type does not declare it.
            deleted = int(getattr(result, "rowcount", 0) or 0)
        if deleted:
            log.debug("events log: pruned %d events (keeping %d)", deleted, keep)
        return deleted

    # -- reading --------------------------------------------------------------------------------

    async def list(
        self, flt: EventFilter = EventFilter(), *, limit: int = 100, offset: int = 0
    ) -> tuple[builtins.list[DockerEvent], int]:
        """A page of stored events matching ``flt``, newest first, and how many match in all.

        Args:
            flt: Which events.
            limit: Page size.
            offset: Matching events to skip.

        Raises:
            InvalidInput: ``limit`` or ``offset`` is negative.
        """
        if limit < 0:
            raise InvalidInput("limit must be 0 or more", field="limit")
        if offset < 0:
            raise InvalidInput("offset must be 0 or more", field="offset")
        conditions = _conditions(flt)
        # The total rides on every row of the page (a window count, taken before LIMIT): two
        # separate SELECTs would see different tables while the watchers write (SQLite starts
        # no transaction for reads), and a page could hold more events than its total.
        page = (
            select(DockerEventRow, func.count().over().label("total"))
            .where(*conditions)
            # id breaks ties between events of the same microsecond (and keeps arrival order).
            .order_by(DockerEventRow.time.desc(), DockerEventRow.id.desc())
            .limit(limit)
            .offset(offset)
        )
        count = select(func.count()).select_from(DockerEventRow).where(*conditions)
        async with self._db.session() as session:
            rows = (await session.execute(page)).all()
            # An empty page (limit 0, or an offset past the end) carries no total.
            total = rows[0].total if rows else await session.scalar(count) or 0
        return [_event(row[0]) for row in rows], total


async def _queued(sub: Subscription) -> builtins.list[Event]:
    """The events waiting in ``sub``, without waiting for more."""
    events: builtins.list[Event] = []
    # A deadline already passed fires at the first real wait, i.e. once the queue is empty:
    # Queue.get returns without suspending while items are there.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(0):
            while True:
                events.append(await sub.get())
    return events


def _conditions(flt: EventFilter) -> builtins.list[ColumnElement[bool]]:
    conditions: builtins.list[ColumnElement[bool]] = []
    if flt.host is not None:
        conditions.append(DockerEventRow.host == flt.host)
    if flt.hosts is not None:
        conditions.append(DockerEventRow.host.in_(flt.hosts))
    if flt.type is not None:
        conditions.append(DockerEventRow.type == flt.type.value)
    if flt.action is not None:
        conditions.append(DockerEventRow.action == flt.action)
    if flt.name is not None:
        conditions.append(DockerEventRow.name.icontains(flt.name, autoescape=True))
    if flt.object_id is not None:
        wanted = flt.object_id
        if _ID_PREFIX.fullmatch(wanted):
            # Hex only, so the pattern holds no LIKE wildcard.
            conditions.append(or_(DockerEventRow.object_id == wanted,
                                  DockerEventRow.object_id.startswith(wanted)))
        else:
            conditions.append(DockerEventRow.object_id == wanted)
    return conditions


def _row(event: DockerEvent) -> dict[str, Any]:
    return {
        "time": event.time,
        "host": event.host,
        "type": event.type.value,
        "action": event.action,
        "object_id": event.object_id,
        "name": event.name,
        "attributes": json.dumps(event.attributes, separators=(",", ":")),
    }


def _event(row: DockerEventRow) -> DockerEvent:
    try:
        attributes = json.loads(row.attributes)
    except ValueError:
        attributes = {}
    return DockerEvent(
        id=row.id,
        time=row.time,
        host=row.host,
        type=DockerObjectType(row.type),
        action=row.action,
        object_id=row.object_id,
        name=row.name,
        attributes={str(k): str(v) for k, v in _items(attributes)},
    )


def _items(value: object) -> Iterable[tuple[object, object]]:
    return value.items() if isinstance(value, dict) else ()
