"""The system schedule that checks every container for updates (daemon mode).

Its cron expression is the ``update_check_cron`` setting (daily at 04:00 by default, "" for
never), in the ``default_timezone`` setting; a change of either applies at once
(:meth:`SystemCheckSchedule.wake`). Like the user's schedules it fires at most once per due
time and never catches up on missed ones: a check after downtime is simply the next one.
Clock and sleep are injectable (DESIGN §3 "Time").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Final

from ..errors import ChrontainerError
from ..scheduling.cron import next_fire, parse_cron
from ..store.tables import utc_now
from ..tasks import cancel_and_wait

__all__ = ["MAX_SLEEP", "SystemCheckSchedule"]

log = logging.getLogger(__name__)

# The longest single sleep: a suspended machine or a changed wall clock is noticed this soon.
MAX_SLEEP: Final = 60.0


class SystemCheckSchedule:
    """Calls ``run`` whenever the cron expression ``cron()`` falls due.

    Args:
        run: The check of every container; its failures are logged, never fatal.
        cron: Returns ``(expression or "", IANA time zone)``, read at each planning.
        clock: Aware UTC now.
        sleep: Injectable sleep.
    """

    def __init__(self, run: Callable[[], Awaitable[None]],
                 cron: Callable[[], tuple[str, str]], *,
                 clock: Callable[[], datetime] = utc_now,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._run = run
        self._cron = cron
        self._clock = clock
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.next_due: datetime | None = None

    def start(self) -> None:
        """Plan the first check and start waiting for it (no-op when running)."""
        if self._task is None or self._task.done():
            self.next_due = self._plan(self._clock())
            self._task = asyncio.create_task(self._loop(), name="updates:schedule")

    async def stop(self) -> None:
        """Stop; a check in progress is cancelled."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def wake(self) -> None:
        """The setting changed: plan again from now."""
        self._wake.set()

    def _plan(self, after: datetime) -> datetime | None:
        expression, zone = self._cron()
        if not expression:
            return None
        try:
            return next_fire(parse_cron(expression), zone, after)
        except ChrontainerError as err:  # a file setting the validator has not seen
            log.error("update check schedule %r: %s; no scheduled checks", expression,
                      err.message)
            return None

    async def _loop(self) -> None:
        while True:
            due = self.next_due
            if due is not None and self._clock() >= due:
                try:
                    await self._run()
                except ChrontainerError as err:
                    log.warning("scheduled update check failed: %s", err.message)
                # From the due time, not from now: a long check never skips the next one.
                self.next_due = self._plan(max(due, self._clock()))
                continue
            await self._wait(None if due is None
                             else min(MAX_SLEEP, (due - self._clock()).total_seconds()))
            if self._wake.is_set():
                self._wake.clear()
                self.next_due = self._plan(self._clock())

    async def _wait(self, seconds: float | None) -> None:
        """Sleep ``seconds`` (None: until woken), or less when woken."""
        waker: asyncio.Future[object] = asyncio.ensure_future(self._wake.wait())
        pending = {waker}
        if seconds is not None:
            pending.add(asyncio.ensure_future(_awaited(self._sleep(seconds))))
        try:
            await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pending:
                task.cancel()
            # gather, not a suppressed await per task: a cancellation of this task arriving
            # here must propagate (suppressing it would keep the loop alive, and stop() hang).
            await asyncio.gather(*pending, return_exceptions=True)


async def _awaited(awaitable: Awaitable[None]) -> object:
    await awaitable
    return None
