"""The scheduler loop: fires due schedules, exactly once each, surviving restarts.

Each pass (:meth:`Scheduler.tick`) reads the enabled schedules whose stored next due time has
come, and for each one, in this order:

1. decides what to run — an on-time due time (at most :data:`ON_TIME` late: the loop's own
   latency) always runs; an older one is a *misfire* (the server was down or asleep) and follows
   the schedule's policy (:func:`.policy.decide_misfire`: skip, or run once within the grace);
2. **claims** the run (a unique row per schedule, trigger and due time: a second scheduler on
   the same database, or this one after a crash, gets nothing);
3. stores the **next** due time, before anything runs, so a crash mid-run never repeats it;
4. hands the run to the :class:`~.runs.RunExecutor`, which acts in the background.

Between passes it sleeps until the earliest next due time (at most :data:`MAX_SLEEP`, which also
bounds how late a settings change is noticed) or until :meth:`Scheduler.wake` — every schedule
edit wakes it. While "pause all schedules" is on, due times pass without runs. On start, runs
a previous process left ``running`` are recorded as interrupted. Once a day it deletes run
history older than the retention setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Final

from ..actor import Actor, ActorKind
from ..store.tables import utc_now
from ..tasks import cancel_and_wait
from .cron import next_fire, parse_cron
from .jobs import MisfirePolicy, RunTrigger, Schedule, ScheduleRun, TriggerKind
from .policy import FireAfter, decide_misfire
from .runs import INTERRUPTED, RunExecutor, RunRequest
from .store import ScheduleStore

__all__ = ["MAX_SLEEP", "ON_TIME", "Scheduler", "fire_after", "request_for", "schedule_actor"]

log = logging.getLogger(__name__)

# A due time at most this late is "on time" (the loop was busy), never a misfire.
ON_TIME: Final = timedelta(seconds=60)
MAX_SLEEP: Final = 60.0
PRUNE_INTERVAL: Final = timedelta(days=1)
FIRST_PRUNE_DELAY: Final = timedelta(minutes=1)
STOP_GRACE: Final = 10.0

Sleep = Callable[[float], Awaitable[None]]


def fire_after(schedule: Schedule) -> FireAfter:
    """The schedule's trigger as a function: the first due time strictly after an instant."""
    trigger = schedule.trigger
    if trigger.kind is TriggerKind.ONCE:
        at = trigger.at

        def once(after: datetime) -> datetime | None:
            return at if at is not None and at > after else None
        return once
    expr = parse_cron(trigger.cron or "")
    zone = trigger.timezone

    def cron(after: datetime) -> datetime | None:
        return next_fire(expr, zone, after)
    return cron


def schedule_actor(schedule: Schedule) -> Actor:
    """Who a schedule's runs act as in the audit trail."""
    return Actor(kind=ActorKind.SCHEDULE, id=str(schedule.id), name=schedule.name)


def request_for(schedule: Schedule) -> RunRequest:
    """What a run of this schedule does, and under which rules."""
    return RunRequest(name=schedule.name, action=schedule.action, target=schedule.target,
                      actor=schedule_actor(schedule), timeout=schedule.timeout,
                      retry=schedule.retry, jitter=schedule.jitter)


class Scheduler:
    """Fires due schedules (see the module docstring).

    Args:
        store: Schedules and runs.
        executor: Runs claimed runs.
        clock: Current time (aware UTC).
        sleep: Injectable sleep.
        paused: Returns True while "pause all schedules" is on (a setting, read per pass).
        history_days: Returns the run-history retention in days (a setting, read per prune).
    """

    def __init__(self, store: ScheduleStore, executor: RunExecutor, *,
                 clock: Callable[[], datetime] = utc_now, sleep: Sleep = asyncio.sleep,
                 paused: Callable[[], bool] = lambda: False,
                 history_days: Callable[[], int] = lambda: 30) -> None:
        self._store = store
        self._executor = executor
        self._clock = clock
        self._sleep = sleep
        self._paused = paused
        self._history_days = history_days
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._next_prune: datetime | None = None
        self._was_paused = False

    @property
    def running(self) -> bool:
        """True while the loop runs."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the loop (no-op when running)."""
        if not self.running:
            self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop firing, then let running runs finish for ``grace`` seconds."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        await self._executor.drain(grace)

    def wake(self) -> None:
        """Look at the schedules again now (after an edit or a settings change)."""
        self._wake.set()

    async def recover(self) -> int:
        """Record runs left ``running`` by a stopped process as interrupted; returns how many."""
        count = await self._store.fail_unfinished(self._clock(), INTERRUPTED)
        if count:
            log.warning("scheduler: %d run(s) were interrupted by the last stop", count)
        return count

    async def tick(self) -> datetime | None:
        """One pass: fire what is due now. Returns the earliest next due time (None: none)."""
        now = self._clock()
        paused = self._paused()
        if paused != self._was_paused:
            self._was_paused = paused
            log.info("scheduler: all schedules %s", "paused" if paused else "resumed")
        for schedule in await self._store.due(now):
            try:
                await self._fire(schedule, now, paused)
            except Exception:  # one broken schedule must not stop the others
                log.exception("scheduler: schedule %d (%s) failed to fire; trying again in "
                              "%.0f s", schedule.id, schedule.name, MAX_SLEEP)
                # Still due, it would make every pass fire (and fail) again at once.
                with contextlib.suppress(Exception):
                    await self._store.set_next_run(schedule.id,
                                                   now + timedelta(seconds=MAX_SLEEP))
        await self._maybe_prune(now)
        return await self._store.next_due_time()

    async def _fire(self, schedule: Schedule, now: datetime, paused: bool) -> None:
        due = schedule.next_run_at
        assert due is not None  # store.due() only returns schedules with a due time
        if paused:
            policy, grace = MisfirePolicy.SKIP, schedule.grace
        elif now - due <= ON_TIME:
            policy, grace = MisfirePolicy.RUN_ONCE, max(schedule.grace, ON_TIME)
        else:
            policy, grace = schedule.misfire, schedule.grace
        decision = decide_misfire(due, now, policy, grace, fire_after(schedule))
        run: ScheduleRun | None = None
        if decision.run_at is not None:
            run = await self._store.claim(
                schedule.id, RunTrigger.SCHEDULE, decision.run_at, started_at=now,
                action=schedule.action, target=schedule.target.describe())
            if run is None:
                log.info("scheduler: schedule %d (%s) at %s was already claimed", schedule.id,
                         schedule.name, decision.run_at.isoformat())
        elif not paused:
            log.warning("scheduler: schedule %d (%s) missed %s; policy %s, not run",
                        schedule.id, schedule.name, due.isoformat(), schedule.misfire.value)
        await self._store.set_next_run(schedule.id, decision.next_due)
        if run is not None:
            self._executor.launch(run, request_for(schedule))

    async def _maybe_prune(self, now: datetime) -> None:
        if self._next_prune is None:
            self._next_prune = now + FIRST_PRUNE_DELAY
        if now < self._next_prune:
            return
        self._next_prune = now + PRUNE_INTERVAL
        days = self._history_days()
        deleted = await self._store.prune_runs(now - timedelta(days=days))
        if deleted:
            log.info("scheduler: deleted %d runs older than %d days", deleted, days)

    async def _loop(self) -> None:
        await self.recover()
        failures = 0
        while True:
            self._wake.clear()
            try:
                next_due = await self.tick()
                failures = 0
            except Exception:  # supervision: the database may be briefly unavailable
                failures += 1
                log.exception("scheduler: pass failed (%d in a row)", failures)
                next_due = None
            delay = MAX_SLEEP
            if next_due is not None:
                delay = min(MAX_SLEEP, max(0.0, (next_due - self._clock()).total_seconds()))
            if failures:
                delay = min(MAX_SLEEP, 2.0 ** failures)
            await self._pause(delay)

    async def _pause(self, seconds: float) -> None:
        """Sleep ``seconds`` or until woken, whichever comes first."""
        if self._wake.is_set():
            return
        waker = asyncio.ensure_future(self._wake.wait())
        timer = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait([waker, timer], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waker, timer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
