"""Running one claimed run: jitter, the target's lock, the timeout, retries, the result.

Schedules (on time or "run now") and webhooks all end up here, so each rule exists once:

* **No overlap on a target.** Runs on the same target (container key, label or host) take one
  lock; a run waits for it at most its timeout and then records ``skipped`` with a "busy"
  error. A user's own action holding the container (the core's per-container lock answers
  :class:`~chrontainer_core.errors.Busy`) is waited out the same way, polling.
* **Timeout** per attempt, counting the wait for the lock: the attempt is cancelled and the run
  records ``error: timed out``.
* **Retries** of an ``error`` (not of ``skipped``), waiting the policy's growing delays.
* **Jitter** delays the start by a random part of the schedule's jitter (never earlier).

Every duration goes through the injected ``sleep`` and ``clock`` (DESIGN §3 "Time"), so tests
drive timeouts, retries and jitter with a virtual clock. The run's row is finished whatever
happens, a server stop included (``error``: interrupted), and a :class:`~chrontainer_core.bus.
RunChanged` event goes out when it starts and when it ends.
"""

from __future__ import annotations

import asyncio
import logging
import random as _random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, TypeVar

from ..actor import Actor
from ..bus import Bus, RunChanged
from ..errors import Busy, ChrontainerError
from ..store.tables import utc_now
from .actions import ActionRunner
from .jobs import RetryPolicy, RunResult, ScheduleAction, ScheduleRun, Target
from .policy import jittered, retry_delay
from .store import ScheduleStore

__all__ = ["INTERRUPTED", "RunExecutor", "RunRequest"]

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

# How often a run waiting for a container a user's action holds looks again.
BUSY_POLL: Final = 1.0
INTERRUPTED: Final = "interrupted: the server stopped during this run"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRequest:
    """What a claimed run does and under which rules."""

    name: str  # the schedule's or webhook's name (events, logs)
    action: ScheduleAction
    target: Target
    actor: Actor
    timeout: timedelta
    retry: RetryPolicy
    jitter: timedelta = timedelta(0)


@dataclass(frozen=True, slots=True)
class _Outcome:
    result: RunResult
    error: str | None = None
    detail: str | None = None  # what an ok run did ("restarted web")


def _lock_key(target: Target) -> tuple[str, str, str]:
    return (target.host, target.kind.value, target.key or target.label or "")


class RunExecutor:
    """Executes claimed runs as background tasks and remembers them until they end.

    Args:
        store: Where runs are finished.
        actions: Performs the action (the registry of :mod:`.actions`).
        bus: Where :class:`RunChanged` goes (None: nowhere).
        clock: Current time (aware UTC).
        sleep: Injectable sleep; every wait of a run goes through it.
        random: Source of jitter, a float in [0, 1).
    """

    def __init__(self, store: ScheduleStore, actions: ActionRunner, *, bus: Bus | None = None,
                 clock: Callable[[], datetime] = utc_now, sleep: Sleep = asyncio.sleep,
                 random: Callable[[], float] = _random.random) -> None:
        self._store = store
        self._actions = actions
        self._bus = bus
        self._clock = clock
        self._sleep = sleep
        self._random = random
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self._tasks: dict[int, asyncio.Task[ScheduleRun]] = {}

    @property
    def running(self) -> int:
        """How many runs are in progress."""
        return len(self._tasks)

    def launch(self, run: ScheduleRun, request: RunRequest) -> None:
        """Execute a claimed run in the background (see :meth:`execute`)."""
        task = asyncio.create_task(self.execute(run, request), name=f"run:{run.id}")
        self._tasks[run.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(run.id, None))

    async def wait(self, run_id: int, seconds: float) -> ScheduleRun:
        """The run after it ended, or as it stands after ``seconds`` (still ``running``).

        Raises:
            NotFound: No such run.
        """
        task = self._tasks.get(run_id)
        if task is not None and seconds > 0:
            await self._within(asyncio.shield(task), seconds)
        return await self._store.get_run(run_id)

    async def drain(self, grace: float) -> None:
        """At shutdown: let running runs finish for ``grace`` seconds, then cancel them (each
        records itself as interrupted)."""
        tasks = list(self._tasks.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def execute(self, run: ScheduleRun, request: RunRequest) -> ScheduleRun:
        """Run it to the end and record how it ended; returns the finished run."""
        self._publish(run, request)
        attempt = 1
        outcome = _Outcome(RunResult.ERROR, INTERRUPTED)
        try:
            delay = (jittered(run.scheduled_for, request.jitter, self._random)
                     - run.scheduled_for).total_seconds()
            if delay > 0:
                await self._sleep(delay)
            while True:
                outcome = await self._attempt(request)
                wait = retry_delay(request.retry, attempt + 1)
                if outcome.result is not RunResult.ERROR or wait is None:
                    break
                log.info("run %d (%s): attempt %d failed (%s); retrying in %.0f s",
                         run.id, request.name, attempt, outcome.error, wait)
                attempt += 1
                await self._sleep(wait)
        except asyncio.CancelledError:
            outcome = _Outcome(RunResult.ERROR, INTERRUPTED)
            raise
        finally:
            finished = await self._finish(run, request, outcome, attempt)
        return finished

    async def _finish(self, run: ScheduleRun, request: RunRequest, outcome: _Outcome,
                      attempt: int) -> ScheduleRun:
        try:
            finished = await self._store.finish(run.id, outcome.result,
                                                finished_at=self._clock(), error=outcome.error,
                                                detail=outcome.detail, attempt=attempt)
        except ChrontainerError:
            # Deleted meanwhile (its schedule went, cascading): nothing left to record.
            return run
        level = logging.INFO if outcome.result is RunResult.OK else logging.WARNING
        log.log(level, "run %d (%s): %s %s on %s: %s%s", run.id, request.name,
                request.action.value, outcome.result.value, request.target.describe(),
                outcome.error or outcome.detail, f" (attempt {attempt})" if attempt > 1 else "")
        self._publish(finished, request)
        return finished

    async def _attempt(self, request: RunRequest) -> _Outcome:
        budget = request.timeout.total_seconds()
        deadline = self._clock() + request.timeout
        busy = _Outcome(RunResult.SKIPPED,
                        f"busy: {request.target.describe()} stayed locked for {budget:g} s")
        lock = self._locks.setdefault(_lock_key(request.target), asyncio.Lock())
        acquired, _ = await self._within(lock.acquire(), budget)
        if not acquired:
            return busy
        try:
            while True:
                remaining = (deadline - self._clock()).total_seconds()
                try:
                    done, summary = await self._within(
                        self._actions.run(request.action, request.target, request.actor),
                        remaining)
                except Busy:
                    remaining = (deadline - self._clock()).total_seconds()
                    if remaining <= 0:
                        return busy
                    await self._sleep(min(BUSY_POLL, remaining))
                    continue
                except ChrontainerError as err:
                    return _Outcome(RunResult.ERROR, err.message)
                except Exception as err:  # a bug must not kill the scheduler; record it
                    log.exception("run of %s failed unexpectedly", request.name)
                    return _Outcome(RunResult.ERROR, f"internal error: {err!r}")
                if not done:
                    return _Outcome(RunResult.ERROR, f"timed out after {budget:g} s")
                return _Outcome(RunResult.OK, detail=summary)
        finally:
            lock.release()

    async def _within(self, work: Awaitable[T], seconds: float) -> tuple[bool, T | None]:
        """Await ``work`` for at most ``seconds`` of the injected clock.

        Returns (True, result) when it finished (re-raising its error), or (False, None) after
        cancelling it.
        """
        if seconds <= 0:
            if isinstance(work, Coroutine):
                work.close()
            elif isinstance(work, asyncio.Future):
                work.cancel()
            return False, None
        job: asyncio.Future[T] = asyncio.ensure_future(work)
        timer: asyncio.Future[None] = asyncio.ensure_future(self._sleep(seconds))
        try:
            racers: list[asyncio.Future[object]] = [job, timer]  # type: ignore[list-item]
            await asyncio.wait(racers, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            if not job.done():
                job.cancel()
                await asyncio.gather(job, return_exceptions=True)
        if job.cancelled():
            return False, None
        return True, job.result()

    def _publish(self, run: ScheduleRun, request: RunRequest) -> None:
        if self._bus is not None:
            self._bus.publish(RunChanged(run=run, name=request.name))
