"""Schedules and their runs in the database: the models of :mod:`.jobs` in, and out.

The scheduler never trusts memory alone: the next due time of every schedule is stored, so a
restart neither loses nor repeats a run, and every run starts by *claiming* its (schedule,
trigger, due time) row. The claim is a unique key, so when two schedulers share one database
(the instance lock failed, or a second process was started by hand) exactly one of them gets
each run; the other sees :meth:`ScheduleStore.claim` return None and moves on.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import NotFound
from ..store.db import Database
from ..store.tables import ScheduleRow, ScheduleRunRow, utc_now
from .jobs import (
    MisfirePolicy,
    RetryPolicy,
    RunResult,
    RunTrigger,
    Schedule,
    ScheduleAction,
    ScheduleRun,
    Target,
    TargetKind,
    Trigger,
    TriggerKind,
)

__all__ = ["ScheduleStore"]


def _seconds(value: timedelta) -> int:
    return int(value.total_seconds())


def _fill(row: ScheduleRow, s: Schedule) -> None:
    """Copy a schedule's fields (not its id) onto a row."""
    row.name = s.name
    row.enabled = s.enabled
    row.target_kind = s.target.kind.value
    row.host = s.target.host
    row.target_key = s.target.key
    row.target_label = s.target.label
    row.target_image = s.target.image
    row.action = s.action.value
    row.trigger_kind = s.trigger.kind.value
    row.cron = s.trigger.cron
    row.run_at = s.trigger.at
    row.timezone = s.trigger.timezone
    row.misfire = s.misfire.value
    row.grace_seconds = _seconds(s.grace)
    row.timeout_seconds = _seconds(s.timeout)
    row.retries = s.retry.retries
    row.retry_backoff_seconds = int(s.retry.backoff)
    row.jitter_seconds = _seconds(s.jitter)
    row.next_run_at = s.next_run_at


def _schedule(row: ScheduleRow) -> Schedule:
    return Schedule(
        id=row.id,
        name=row.name,
        enabled=row.enabled,
        target=Target(kind=TargetKind(row.target_kind), host=row.host, key=row.target_key,
                      label=row.target_label, image=row.target_image),
        action=ScheduleAction(row.action),
        trigger=Trigger(kind=TriggerKind(row.trigger_kind), cron=row.cron, at=row.run_at,
                        timezone=row.timezone),
        misfire=MisfirePolicy(row.misfire),
        grace=timedelta(seconds=row.grace_seconds),
        timeout=timedelta(seconds=row.timeout_seconds),
        # The maximum backoff is not a per-schedule setting: the default cap, or the first
        # delay itself when a schedule asks for a longer one.
        retry=RetryPolicy(retries=row.retries, backoff=row.retry_backoff_seconds,
                          max_backoff=max(RetryPolicy().max_backoff, row.retry_backoff_seconds)),
        jitter=timedelta(seconds=row.jitter_seconds),
        next_run_at=row.next_run_at,
    )


def _run(row: ScheduleRunRow) -> ScheduleRun:
    return ScheduleRun(
        id=row.id, schedule_id=row.schedule_id, trigger=RunTrigger(row.trigger),
        scheduled_for=row.scheduled_for, started_at=row.started_at,
        finished_at=row.finished_at, result=RunResult(row.result), error=row.error,
        attempt=row.attempt, webhook_id=row.webhook_id,
        action=ScheduleAction(row.action) if row.action else None, target=row.target,
        detail=row.detail,
    )


class ScheduleStore:
    """Reads and writes schedules and runs; each method is one transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- schedules ------------------------------------------------------------------------------

    async def add(self, schedule: Schedule) -> Schedule:
        """Store a new schedule (its ``id`` is ignored) and return it with its id."""
        now = utc_now()
        row = ScheduleRow(created_at=now, updated_at=now)
        _fill(row, schedule)
        async with self._db.session() as session:
            session.add(row)
            await session.flush()
            return _schedule(row)

    async def get(self, schedule_id: int) -> Schedule:
        """One schedule; NotFound when there is none with this id."""
        async with self._db.session() as session:
            row = await session.get(ScheduleRow, schedule_id)
            if row is None:
                raise NotFound(f"no schedule {schedule_id}", details={"id": schedule_id})
            return _schedule(row)

    async def all(self) -> list[Schedule]:
        """Every schedule, by id."""
        async with self._db.session() as session:
            rows = await session.scalars(select(ScheduleRow).order_by(ScheduleRow.id))
            return [_schedule(r) for r in rows]

    async def save(self, schedule: Schedule) -> Schedule:
        """Replace a stored schedule's fields; NotFound when it was deleted meanwhile."""
        async with self._db.session() as session:
            row = await session.get(ScheduleRow, schedule.id)
            if row is None:
                raise NotFound(f"no schedule {schedule.id}", details={"id": schedule.id})
            _fill(row, schedule)
            row.updated_at = utc_now()
            return _schedule(row)

    async def delete(self, schedule_id: int) -> None:
        """Delete a schedule and (cascade) its runs; NotFound when there is none."""
        async with self._db.session() as session:
            result = await session.execute(
                delete(ScheduleRow).where(ScheduleRow.id == schedule_id))
            if not getattr(result, "rowcount", 0):
                raise NotFound(f"no schedule {schedule_id}", details={"id": schedule_id})

    async def move_container_key(self, host: str, old_key: str, new_key: str) -> int:
        """Point the schedules of container ``old_key`` on ``host`` at ``new_key`` (a rename);
        returns how many moved."""
        async with self._db.session() as session:
            result = await session.execute(
                update(ScheduleRow)
                .where(ScheduleRow.target_kind == TargetKind.CONTAINER.value,
                       ScheduleRow.host == host, ScheduleRow.target_key == old_key)
                .values(target_key=new_key, updated_at=utc_now()))
            return int(getattr(result, "rowcount", 0) or 0)

    async def set_next_run(self, schedule_id: int, at: datetime | None) -> None:
        """Store the next due time (None: the schedule will not fire again)."""
        async with self._db.session() as session:
            await session.execute(update(ScheduleRow).where(ScheduleRow.id == schedule_id)
                                  .values(next_run_at=at))

    async def due(self, now: datetime) -> list[Schedule]:
        """Enabled schedules whose next due time is at or before ``now``, earliest first."""
        async with self._db.session() as session:
            rows = await session.scalars(
                select(ScheduleRow)
                .where(ScheduleRow.enabled.is_(True), ScheduleRow.next_run_at.is_not(None),
                       ScheduleRow.next_run_at <= now)
                .order_by(ScheduleRow.next_run_at, ScheduleRow.id))
            return [_schedule(r) for r in rows]

    async def next_due_time(self) -> datetime | None:
        """The earliest next due time of any enabled schedule (the loop sleeps until then)."""
        async with self._db.session() as session:
            return await session.scalar(
                select(func.min(ScheduleRow.next_run_at)).where(ScheduleRow.enabled.is_(True)))

    # -- runs -----------------------------------------------------------------------------------

    async def claim(self, schedule_id: int | None, trigger: RunTrigger, scheduled_for: datetime,
                    *, started_at: datetime, attempt: int = 1, webhook_id: int | None = None,
                    action: ScheduleAction | None = None,
                    target: str | None = None) -> ScheduleRun | None:
        """Record a run as started; None when that (schedule, trigger, due time) is already
        claimed — by this scheduler before a restart, or by another one on the same database.

        A webhook's run passes ``webhook_id`` and no schedule; ``action`` and ``target`` (a
        description) say what the run does, so its history reads well after edits.
        """
        row = ScheduleRunRow(schedule_id=schedule_id, webhook_id=webhook_id,
                             trigger=trigger.value, scheduled_for=scheduled_for,
                             started_at=started_at, result=RunResult.RUNNING.value,
                             attempt=attempt, action=action.value if action else None,
                             target=target)
        try:
            async with self._db.session() as session:
                session.add(row)
                await session.flush()
                return _run(row)
        except IntegrityError:
            return None

    async def get_run(self, run_id: int) -> ScheduleRun:
        """One run; NotFound when there is none (or it was pruned)."""
        async with self._db.session() as session:
            row = await session.get(ScheduleRunRow, run_id)
            if row is None:
                raise NotFound(f"no run {run_id}", details={"id": run_id})
            return _run(row)

    async def last_runs(self) -> dict[int, ScheduleRun]:
        """The newest run of every schedule that has one, by schedule id (for lists)."""
        newest = (select(func.max(ScheduleRunRow.id))
                  .where(ScheduleRunRow.schedule_id.is_not(None))
                  .group_by(ScheduleRunRow.schedule_id))
        async with self._db.session() as session:
            rows = await session.scalars(
                select(ScheduleRunRow).where(ScheduleRunRow.id.in_(newest)))
            return {r.schedule_id: _run(r) for r in rows if r.schedule_id is not None}

    async def fail_unfinished(self, finished_at: datetime, error: str) -> int:
        """Mark runs still ``running`` as failed (the process that ran them is gone)."""
        async with self._db.session() as session:
            result = await session.execute(
                update(ScheduleRunRow)
                .where(ScheduleRunRow.result == RunResult.RUNNING.value)
                .values(result=RunResult.ERROR.value, finished_at=finished_at, error=error))
            return int(getattr(result, "rowcount", 0) or 0)

    async def finish(self, run_id: int, result: RunResult, *, finished_at: datetime,
                     error: str | None = None, detail: str | None = None,
                     attempt: int | None = None) -> ScheduleRun:
        """Record how a run ended (and on which attempt, after retries)."""
        async with self._db.session() as session:
            row = await session.get(ScheduleRunRow, run_id)
            if row is None:
                raise NotFound(f"no run {run_id}", details={"id": run_id})
            row.result = result.value
            row.finished_at = finished_at
            row.error = error
            row.detail = detail[:500] if detail else None
            if attempt is not None:
                row.attempt = attempt
            return _run(row)

    async def runs(self, schedule_id: int | None = None, *, webhook_id: int | None = None,
                   limit: int = 50, offset: int = 0) -> tuple[list[ScheduleRun], int]:
        """Run history, newest first, with the total count (of one schedule or webhook, or of
        all)."""
        where = []
        if schedule_id is not None:
            where.append(ScheduleRunRow.schedule_id == schedule_id)
        if webhook_id is not None:
            where.append(ScheduleRunRow.webhook_id == webhook_id)
        async with self._db.session() as session:
            total = await session.scalar(
                select(func.count()).select_from(ScheduleRunRow).where(*where)) or 0
            rows = await session.scalars(
                select(ScheduleRunRow).where(*where)
                .order_by(ScheduleRunRow.started_at.desc(), ScheduleRunRow.id.desc())
                .limit(limit).offset(offset))
            return [_run(r) for r in rows], int(total)

    async def prune_runs(self, before: datetime) -> int:
        """Delete finished runs that started before ``before``; returns how many went."""
        async with self._db.session() as session:
            result = await session.execute(
                delete(ScheduleRunRow).where(ScheduleRunRow.started_at < before,
                                             ScheduleRunRow.result != RunResult.RUNNING.value))
            return int(getattr(result, "rowcount", 0) or 0)
