"""Audit retention: a daily job deleting audit entries older than the retention setting.

The daemon runs one :class:`AuditRetention` (started by ``Chrontainer.start``, stopped before the
database closes). It prunes once shortly after start, so a server that restarts more often than
daily still prunes, then once every :data:`PRUNE_INTERVAL`. The retention is read from the
settings at each run, so a changed ``audit_retention_days`` applies at the next run.

Clock and sleep are injected (DESIGN §3 "Time"): tests drive the loop without waiting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Final

from .audit import AuditTrail
from .store.tables import utc_now
from .tasks import cancel_and_wait

__all__ = ["FIRST_RUN_DELAY", "PRUNE_INTERVAL", "AuditRetention"]

log = logging.getLogger(__name__)

# After start-up settles (hosts connecting, first metrics), not during it.
FIRST_RUN_DELAY: Final = 60.0
PRUNE_INTERVAL: Final = 24 * 3600.0

Sleep = Callable[[float], Awaitable[None]]


class AuditRetention:
    """Deletes old audit entries once after start and then daily.

    Args:
        audit: The trail to prune.
        retention_days: Returns the current retention in days (a setting, read per run).
        clock: Current time (aware UTC).
        sleep: Injectable sleep, defaults to ``asyncio.sleep``.
        first_delay: Seconds from :meth:`start` to the first run.
        interval: Seconds between runs.
    """

    def __init__(self, audit: AuditTrail, retention_days: Callable[[], int], *,
                 clock: Callable[[], datetime] = utc_now, sleep: Sleep = asyncio.sleep,
                 first_delay: float = FIRST_RUN_DELAY,
                 interval: float = PRUNE_INTERVAL) -> None:
        self._audit = audit
        self._retention_days = retention_days
        self._clock = clock
        self._sleep = sleep
        self.first_delay = first_delay
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """True while the loop runs."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop (no-op when running)."""
        if not self.running:
            self._task = asyncio.create_task(self._loop(), name="audit:retention")

    async def stop(self) -> None:
        """Stop the loop and wait for it to end."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def run_once(self) -> int:
        """Delete entries older than the retention now; returns how many went."""
        days = self._retention_days()
        cutoff = self._clock() - timedelta(days=days)
        deleted = await self._audit.prune(cutoff)
        if deleted:
            log.info("audit retention: deleted %d entries older than %d days", deleted, days)
        return deleted

    async def _loop(self) -> None:
        await self._sleep(self.first_delay)
        while True:
            try:
                await self.run_once()
            except Exception:  # supervision: a failed run (database busy) is retried tomorrow
                log.exception("audit retention: pruning failed")
            await self._sleep(self.interval)
