"""Long operations: work that outlives the request that started it (an image pull today;
updates, stack deploys and backups later).

:meth:`OperationManager.start` runs the work in its own task and hands back the RUNNING
:class:`~chrontainer_core.models.Operation` at once (the API answers 202 with it). The work reports
progress through its :class:`OperationHandle`; every change is published on the bus as
:class:`~chrontainer_core.bus.OperationChanged`, throttled to a few events a second per
operation because an engine pull reports every few kilobytes. The start and the end are always
published, so a listener never misses the outcome nor the last progress.

Operations live in memory only: a finished one is forgotten ``keep`` after it ended (pruned
lazily, on access). Their outcome is in the audit trail, written by the work itself.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Final

from .actor import Actor
from .audit import AuditTrail
from .bus import Bus, OperationChanged
from .errors import ChrontainerError, Conflict, NotFound
from .models import LayerProgress, Operation, OperationStatus

__all__ = [
    "CANCELLED_CODE",
    "PUBLISH_INTERVAL",
    "OperationHandle",
    "OperationManager",
    "Work",
]

log = logging.getLogger(__name__)

# At most this many OperationChanged events a second per operation (besides start and end):
# enough for a smooth progress bar, few enough for an SSE stream and a browser.
PUBLISH_INTERVAL: Final = 0.25
CANCELLED_CODE: Final = "cancelled"

Clock = Callable[[], datetime]
Work = Callable[["OperationHandle"], Awaitable[dict[str, str]]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class _Entry:
    """One operation's mutable bookkeeping: its latest snapshot, task and publish throttle."""

    __slots__ = ("done", "flush", "last_published", "op", "task")

    def __init__(self, op: Operation) -> None:
        self.op = op
        self.task: asyncio.Task[None] | None = None
        self.done = asyncio.Event()
        self.last_published = float("-inf")
        # A pending delayed publish of the latest progress (see OperationHandle.update).
        self.flush: asyncio.TimerHandle | None = None

    @property
    def running(self) -> bool:
        return self.op.status is OperationStatus.RUNNING


class OperationHandle:
    """What a running operation's work uses to report progress."""

    def __init__(self, manager: OperationManager, entry: _Entry) -> None:
        self._manager = manager
        self._entry = entry

    @property
    def id(self) -> str:
        """The operation's id."""
        return self._entry.op.id

    @property
    def operation(self) -> Operation:
        """The operation as it stands now."""
        return self._entry.op

    def update(
        self,
        *,
        message: str | None = None,
        layers: tuple[LayerProgress, ...] | None = None,
        percent: float | None = None,
    ) -> None:
        """Replace the operation's progress; a None argument keeps the current value.

        Publishes :class:`OperationChanged` at once unless one went out less than
        :data:`PUBLISH_INTERVAL` ago; then the latest state goes out when the interval is over
        (so the last progress is never lost). Does nothing once the operation has ended.
        """
        entry = self._entry
        if not entry.running:
            return
        changes: dict[str, object] = {}
        if message is not None:
            changes["message"] = message
        if layers is not None:
            changes["layers"] = layers
        if percent is not None:
            changes["percent"] = percent
        if changes:
            entry.op = dataclasses.replace(entry.op, **changes)  # type: ignore[arg-type]
            self._manager._publish_throttled(entry)


class OperationManager:
    """Starts, tracks, cancels and forgets long operations.

    Args:
        bus: Where :class:`OperationChanged` events go.
        keep: How long a finished operation stays listed.
        clock: Source of the operations' times (aware UTC).
        max_kept: At most this many finished operations are kept (oldest go first).
        audit: Where cancellations are recorded (the work audits its own outcome).
        monotonic: Source of the publish throttle's time, in seconds.
    """

    def __init__(
        self,
        bus: Bus,
        *,
        keep: timedelta = timedelta(hours=1),
        clock: Clock = _utcnow,
        max_kept: int = 200,
        audit: AuditTrail | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bus = bus
        self._keep = keep
        self._clock = clock
        self._max_kept = max_kept
        self._audit = audit
        self._monotonic = monotonic
        self._entries: dict[str, _Entry] = {}

    def start(self, *, kind: str, host: str, target: str, actor: Actor | None, work: Work,
              ) -> Operation:
        """Run ``work`` in its own task as a new operation; returns it RUNNING.

        The dict ``work`` returns becomes :attr:`Operation.result`. A :class:`ChrontainerError`
        ends the operation FAILED with its message and code; a cancellation ends it CANCELLED
        (code ``cancelled``); any other exception ends it FAILED with code ``error`` (logged).

        Args:
            kind: What it does, as ``noun.verb`` (``image.pull``).
            host: The host slug it acts on.
            target: What it acts on, for people (``nginx:latest``).
            actor: Who started it.
            work: The coroutine function doing the work.
        """
        self._prune()
        actor = actor or Actor.library()
        op = Operation(id=secrets.token_urlsafe(12), kind=kind, host=host, target=target,
                       actor=actor.label, status=OperationStatus.RUNNING,
                       started_at=self._clock())
        entry = _Entry(op)
        self._entries[op.id] = entry
        self._publish_now(entry)
        entry.task = asyncio.create_task(self._run(entry, work), name=f"operation {op.id}")
        return op

    def get(self, op_id: str) -> Operation:
        """The operation with this id.

        Raises:
            NotFound: Unknown id, or finished longer than ``keep`` ago.
        """
        self._prune()
        return self._entry(op_id).op

    def list(self, *, kind: str | None = None, host: str | None = None,
             status: OperationStatus | str | None = None) -> builtins.list[Operation]:
        """The kept operations, newest first, optionally of one kind, host or status."""
        self._prune()
        wanted = None if status is None else OperationStatus(status)
        return [e.op for e in reversed(self._entries.values())
                if (kind is None or e.op.kind == kind)
                and (host is None or e.op.host == host)
                and (wanted is None or e.op.status is wanted)]

    async def cancel(self, op_id: str, *, actor: Actor | None = None) -> Operation:
        """Cancel a running operation and wait until its work has ended.

        Raises:
            NotFound: Unknown id.
            Conflict: The operation has already ended.
        """
        entry = self._entry(op_id)
        op = entry.op
        if not entry.running or entry.task is None:
            raise Conflict(f"operation {op_id} already ended ({op.status.value})")
        task = entry.task
        actor = actor or Actor.library()
        if self._audit is None:
            await self._cancel_task(task)
        else:
            async with self._audit.track(actor, "operation.cancel", f"{op.host}/{op.target}"):
                await self._cancel_task(task)
        return entry.op

    @staticmethod
    async def _cancel_task(task: asyncio.Task[None]) -> None:
        task.cancel()
        # wait() neither raises the task's outcome nor passes our own cancellation to it.
        await asyncio.wait({task})

    async def wait(self, op_id: str, timeout: float) -> Operation:  # noqa: ASYNC109 - the API's ?wait=
        """The operation once it has ended, or as it stands after ``timeout`` seconds.

        Raises:
            NotFound: Unknown id.
        """
        entry = self._entry(op_id)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(timeout, 0)):
                await entry.done.wait()
        return entry.op

    async def stop(self) -> None:
        """Cancel every running operation and wait for their work to end."""
        tasks = [e.task for e in self._entries.values() if e.running and e.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    # -- internals --------------------------------------------------------------------------

    def _entry(self, op_id: str) -> _Entry:
        entry = self._entries.get(op_id)
        if entry is None:
            raise NotFound(f"operation {op_id[:64]!r} not found (finished operations are kept "
                           f"for {self._keep})")
        return entry

    async def _run(self, entry: _Entry, work: Work) -> None:
        handle = OperationHandle(self, entry)
        try:
            result = await work(handle)
        except asyncio.CancelledError:
            # Our own task: the cancellation came from cancel() or stop() and ends here.
            self._finish(entry, OperationStatus.CANCELLED, error="cancelled",
                         error_code=CANCELLED_CODE)
        except ChrontainerError as err:
            self._finish(entry, OperationStatus.FAILED, error=str(err), error_code=err.code)
        except Exception as err:
            log.exception("operation %s (%s on host %s, %s) failed", entry.op.id,
                          entry.op.kind, entry.op.host, entry.op.target)
            self._finish(entry, OperationStatus.FAILED, error=f"internal error: "
                         f"{type(err).__name__}", error_code="error")
        else:
            self._finish(entry, OperationStatus.SUCCEEDED, result=dict(result))

    def _finish(self, entry: _Entry, status: OperationStatus, *, error: str | None = None,
                error_code: str | None = None, result: dict[str, str] | None = None) -> None:
        entry.op = dataclasses.replace(
            entry.op, status=status, finished_at=self._clock(), error=error,
            error_code=error_code, result=result if result is not None else entry.op.result)
        self._publish_now(entry)
        entry.done.set()

    def _publish_throttled(self, entry: _Entry) -> None:
        if entry.flush is not None:
            return  # a delayed publish is due; it will carry this change too
        wait = entry.last_published + PUBLISH_INTERVAL - self._monotonic()
        if wait <= 0:
            self._publish_now(entry)
        else:
            entry.flush = asyncio.get_running_loop().call_later(wait, self._flush, entry)

    def _flush(self, entry: _Entry) -> None:
        entry.flush = None
        if entry.running:
            self._publish_now(entry)

    def _publish_now(self, entry: _Entry) -> None:
        if entry.flush is not None:
            entry.flush.cancel()
            entry.flush = None
        entry.last_published = self._monotonic()
        self._bus.publish(OperationChanged(operation=entry.op))

    def _prune(self) -> None:
        """Forget operations finished more than ``keep`` ago, and the oldest finished ones
        beyond ``max_kept``."""
        now = self._clock()
        finished = [e for e in self._entries.values() if not e.running]
        expired = {e.op.id for e in finished
                   if e.op.finished_at is not None and e.op.finished_at + self._keep <= now}
        surplus = len(finished) - len(expired) - self._max_kept
        if surplus > 0:
            # Insertion order is start order: the first ones left are the oldest.
            kept = [e for e in finished if e.op.id not in expired]
            expired.update(e.op.id for e in kept[:surplus])
        for op_id in expired:
            del self._entries[op_id]
