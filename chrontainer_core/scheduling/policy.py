"""The pure decisions of the scheduler: missed runs, retry delays, jitter.

Kept apart from the loop so each rule is one small function tested with hand-made times: the
scheduler only supplies the clock, the random source and the schedule's next-fire function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from .jobs import MisfirePolicy, RetryPolicy

__all__ = ["MAX_GRACE", "Misfire", "decide_misfire", "jittered", "retry_delay"]

# A longer grace would let a restart fire a run a day late, which nobody expects of a nightly
# job; it also bounds the walk over missed fire times below.
MAX_GRACE: Final = timedelta(days=1)
_TICK: Final = timedelta(microseconds=1)

FireAfter = Callable[[datetime], datetime | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Misfire:
    """What to do after a pause in which due times may have passed.

    Attributes:
        run_at: The missed due time to run once now, or None (nothing missed, the policy is
            skip, or the latest missed time is older than the grace period).
        next_due: The first due time after ``now`` (None when the trigger never fires again,
            e.g. a one-time schedule).
    """

    run_at: datetime | None
    next_due: datetime | None


def decide_misfire(
    next_due: datetime | None,
    now: datetime,
    policy: MisfirePolicy,
    grace: timedelta,
    fire_after: FireAfter,
) -> Misfire:
    """Decide about the runs that fell due while the scheduler was not running.

    At most ONE late run ever happens, however many were missed: a restart after a week away
    must not restart a container 2000 times.

    Args:
        next_due: The stored next due time of the schedule (None: it has none).
        now: The current time.
        policy: The schedule's misfire policy.
        grace: How late a missed run may still be run (capped at :data:`MAX_GRACE`).
        fire_after: The schedule's trigger: the first due time strictly after an instant, or
            None when there is none (one-time triggers after their instant).
    """
    if next_due is None or next_due > now:
        return Misfire(run_at=None, next_due=next_due)
    window_start = now - min(grace, MAX_GRACE)
    cursor: datetime | None = next_due
    if next_due < window_start:
        # Skip straight to the window: older missed times can never be run.
        cursor = fire_after(window_start - _TICK)
    latest: datetime | None = None
    while cursor is not None and cursor <= now:
        latest = cursor
        cursor = fire_after(cursor)
    run_at = latest if policy is MisfirePolicy.RUN_ONCE else None
    return Misfire(run_at=run_at, next_due=cursor)


def retry_delay(policy: RetryPolicy, attempt: int) -> float | None:
    """Seconds to wait before ``attempt`` (the first attempt is 1); None when none is left.

    The first retry waits ``policy.backoff`` seconds, each next one twice as long, never more
    than ``policy.max_backoff``.
    """
    if attempt < 2 or attempt > policy.retries + 1:
        return None
    return float(min(policy.backoff * 2 ** (attempt - 2), policy.max_backoff))


def jittered(due: datetime, jitter: timedelta, random: Callable[[], float]) -> datetime:
    """``due`` plus a random delay of 0 to ``jitter``; ``random()`` returns a float in [0, 1).

    Jitter only ever delays: running before the time a user asked for would surprise them.
    """
    if jitter <= timedelta(0):
        return due
    fraction = min(max(random(), 0.0), 1.0)
    return due + jitter * fraction
