"""The durable delivery queue's worker: sends pending deliveries, retries with backoff, and
records every attempt.

Emitting a notification only writes ``pending`` rows and wakes the worker, so nothing that
emits (an action, a schedule, the event watcher) ever waits for a channel. The worker wakes on
that signal, at the next due retry, and at least every :data:`MAX_IDLE` seconds; it takes the
due deliveries and sends each in its own task, at most :data:`PER_CHANNEL` at a time per channel
and :data:`OVERALL` in all, so a channel that hangs until its timeout only ever holds its own
slots: other channels keep going.

A failed attempt is retried after ``backoff`` seconds, doubling per attempt up to
``max_backoff``, until ``max_attempts``: then the delivery is ``failed``. A delivery to a
disabled channel fails at once. Pending rows survive a restart: the next worker on the same
database sends them (a send cut short by shutdown is simply tried again, so a receiver may, in
that rare case, see a notification twice).

Once a day the worker also deletes sent and failed deliveries older than
:data:`RETENTION_DAYS`. Clock and sleep are injected (DESIGN §3 "Time").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Final, Protocol

import aiohttp

from ..errors import NotFound
from ..store.tables import utc_now
from ..tasks import cancel_and_wait
from .channel import send as channel_send
from .models import ChannelConfig, Delivery, DeliveryStatus, Notification, SendResult
from .store import NotificationStore, notification_of

__all__ = [
    "MAX_IDLE",
    "OVERALL",
    "PER_CHANNEL",
    "RETENTION_DAYS",
    "DeliveryWorker",
    "Send",
    "backoff_delay",
    "send_safely",
]

log = logging.getLogger(__name__)

PER_CHANNEL: Final = 4
OVERALL: Final = 16
MAX_IDLE: Final = 60.0
RETENTION_DAYS: Final = 30
PRUNE_INTERVAL: Final = timedelta(days=1)
# A send gets its own timeout; this guard only catches a send that ignores it.
_GUARD: Final = 5.0

Sleep = Callable[[float], Awaitable[None]]


class Send(Protocol):
    """The shape of :func:`chrontainer_core.notify.channel.send`."""

    def __call__(self, config: ChannelConfig, n: Notification, *,
                 http: aiohttp.ClientSession, timeout: float = 15.0) -> Awaitable[SendResult]:
        ...


def backoff_delay(attempts: int, backoff: float, max_backoff: float) -> float:
    """Seconds before the retry that follows attempt number ``attempts`` (1-based): ``backoff``,
    then doubling, never more than ``max_backoff``."""
    return min(backoff * 2.0 ** max(attempts - 1, 0), max_backoff)


async def send_safely(send: Send, config: ChannelConfig, n: Notification, *,
                      http: aiohttp.ClientSession,
                      timeout: float) -> SendResult:  # noqa: ASYNC109 - a per-send budget
    """Send, turning whatever goes wrong into a failed :class:`SendResult`.

    ``send`` already reports refusals and timeouts as results; this also bounds a send that
    would hang past its own timeout and catches a bug, without letting the exception text
    (which may quote a URL holding a token) reach the log or the delivery log.
    """
    try:
        async with asyncio.timeout(timeout + _GUARD):
            return await send(config, n, http=http, timeout=timeout)
    except TimeoutError:
        return SendResult(ok=False, detail=f"timed out after {timeout:g} s")
    except Exception as err:
        log.error("notification send failed unexpectedly: %s", type(err).__name__)
        return SendResult(ok=False, detail=f"unexpected error ({type(err).__name__})")


class DeliveryWorker:
    """Sends queued deliveries (see the module docstring).

    Args:
        store: The notification tables.
        http: The HTTP session channels send with.
        clock: Current time (aware UTC).
        sleep: Injectable sleep, defaults to ``asyncio.sleep``.
        send: How one notification is sent to one channel.
        send_timeout: Seconds one send may take.
        max_attempts: Attempts before a delivery is ``failed``.
        backoff: Seconds before the first retry (doubling afterwards).
        max_backoff: The longest wait between two attempts.
    """

    def __init__(self, store: NotificationStore, http: aiohttp.ClientSession, *,
                 clock: Callable[[], datetime] = utc_now, sleep: Sleep = asyncio.sleep,
                 send: Send = channel_send, send_timeout: float = 15.0, max_attempts: int = 8,
                 backoff: float = 30.0, max_backoff: float = 3600.0) -> None:
        self.store = store
        self.http = http
        self._clock = clock
        self._sleep = sleep
        self.send = send
        self.send_timeout = send_timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Deliveries being sent: id -> (channel id, task).
        self._sending: dict[int, tuple[int, asyncio.Task[None]]] = {}
        self._last_prune: datetime | None = None
        self._waiting = False

    @property
    def running(self) -> bool:
        """True while the loop runs."""
        return self._task is not None and not self._task.done()

    @property
    def sending(self) -> int:
        """How many deliveries are being sent right now."""
        return len(self._sending)

    @property
    def idle(self) -> bool:
        """True when nothing is being sent and the loop waits for a wake-up or its next due
        time (tests wait for this state instead of waiting for time to pass)."""
        return self._waiting and not self._sending and not self._wakeup.is_set()

    def start(self) -> None:
        """Start the loop (no-op when running); it sends what is pending at once."""
        if not self.running:
            self._wakeup.set()
            self._task = asyncio.create_task(self._loop(), name="notify:delivery")

    async def stop(self) -> None:
        """Stop the loop and cut the sends short; their deliveries stay pending."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        sends = [send for _, send in self._sending.values()]
        for send in sends:
            send.cancel()
        for send in sends:
            with contextlib.suppress(asyncio.CancelledError):
                await send
        self._sending.clear()

    def wake(self) -> None:
        """Look for due deliveries now (called after new ones were queued)."""
        self._wakeup.set()

    # -- the loop --------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                await self._prune_daily()
                delay = await self._pass()
            except Exception:  # supervision: a database hiccup is retried at the next pass
                log.exception("notification delivery: pass failed")
                delay = MAX_IDLE
            await self._wait(delay)

    async def _pass(self) -> float:
        """Start the sends that are due and fit; return how long to wait for the next pass."""
        now = self._clock()
        while len(self._sending) < OVERALL:
            due = await self.store.due(now, limit=OVERALL - len(self._sending),
                                       skip_ids=set(self._sending),
                                       skip_channels=self._full_channels())
            skipped = False
            for delivery in due:
                if len(self._sending) >= OVERALL:
                    break
                if self._load(delivery.channel_id) < PER_CHANNEL:
                    self._start_send(delivery)
                else:
                    skipped = True
            if not skipped:
                break
            # Rows of a channel that just filled up: ask again without that channel's rows.
        if len(self._sending) >= OVERALL:
            return MAX_IDLE  # a finishing send wakes the loop
        upcoming = await self.store.next_due_at(skip_ids=set(self._sending),
                                                skip_channels=self._full_channels())
        if upcoming is None:
            return MAX_IDLE
        return min(max((upcoming - self._clock()).total_seconds(), 0.0), MAX_IDLE)

    def _load(self, channel_id: int) -> int:
        return sum(1 for ch, _ in self._sending.values() if ch == channel_id)

    def _full_channels(self) -> set[int]:
        counts: dict[int, int] = {}
        for channel_id, _ in self._sending.values():
            counts[channel_id] = counts.get(channel_id, 0) + 1
        return {ch for ch, count in counts.items() if count >= PER_CHANNEL}

    async def _wait(self, delay: float) -> None:
        if self._wakeup.is_set():
            return
        sleeper = asyncio.ensure_future(self._sleep(delay))
        waker = asyncio.ensure_future(self._wakeup.wait())
        self._waiting = True
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._waiting = False
            await cancel_and_wait(sleeper)
            await cancel_and_wait(waker)

    async def _prune_daily(self) -> None:
        now = self._clock()
        if self._last_prune is not None and now - self._last_prune < PRUNE_INTERVAL:
            return
        self._last_prune = now
        deleted = await self.store.prune(now - timedelta(days=RETENTION_DAYS))
        if deleted:
            log.info("notification delivery: deleted %d deliveries older than %d days",
                     deleted, RETENTION_DAYS)

    # -- one delivery ----------------------------------------------------------------------------

    def _start_send(self, delivery: Delivery) -> None:
        task = asyncio.create_task(self._deliver(delivery), name=f"notify:send:{delivery.id}")
        self._sending[delivery.id] = (delivery.channel_id, task)

    async def _deliver(self, delivery: Delivery) -> None:
        try:
            await self._attempt(delivery)
        except Exception:
            log.exception("notification delivery %d: could not record the attempt", delivery.id)
        finally:
            self._sending.pop(delivery.id, None)
            self._wakeup.set()  # a slot is free, and a retry may be due earlier than planned

    async def _attempt(self, delivery: Delivery) -> None:
        at = self._clock()
        started = time.monotonic()
        try:
            channel = await self.store.channel(delivery.channel_id)
        except NotFound:
            return  # deleted with its channel since the pass read it
        final = False
        if not channel.enabled:
            result, final = SendResult(ok=False, detail="the channel is disabled"), True
        elif channel.secrets_error is not None:
            result = SendResult(ok=False, detail=channel.secrets_error)
        else:
            result = await send_safely(self.send, channel.config, notification_of(delivery),
                                       http=self.http, timeout=self.send_timeout)
        duration_ms = round((time.monotonic() - started) * 1000)
        attempts = delivery.attempts + 1
        next_at: datetime | None = None
        if result.ok:
            status = DeliveryStatus.SENT
        elif final or attempts >= self.max_attempts:
            status = DeliveryStatus.FAILED
        else:
            status = DeliveryStatus.PENDING
            next_at = self._clock() + timedelta(
                seconds=backoff_delay(attempts, self.backoff, self.max_backoff))
        recorded = await self.store.record(delivery.id, at=at, result=result,
                                           duration_ms=duration_ms, status=status,
                                           next_attempt_at=next_at)
        if not recorded:
            return  # the channel was deleted while sending
        if result.ok:
            log.debug("notification %d (%s about %s) sent to channel %s", delivery.id,
                      delivery.event.value, delivery.subject, channel.name)
        else:
            log.warning("notification %d (%s about %s) to channel %s: attempt %d failed: %s%s",
                        delivery.id, delivery.event.value, delivery.subject, channel.name,
                        attempts, result.detail,
                        "; giving up" if status is DeliveryStatus.FAILED else "")
