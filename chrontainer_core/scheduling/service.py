"""Schedules as users manage them: validated create/edit/delete, enable, run now, history,
and the "next runs" preview with its English description.

Every change is audited (``schedule.create|update|delete|enable|disable|run_now``, target
``schedule/<id>``), stores the next due time computed from now (None while disabled or once a
one-time schedule has passed), and wakes the scheduler so an edit applies at once.
"""

from __future__ import annotations

import builtins
import logging
import re
import unicodedata
from collections.abc import Callable, Container
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from ..actor import Actor
from ..audit import AuditTrail
from ..bus import Bus, ContainerRenamed, ScheduleChanged
from ..errors import Conflict, InvalidInput
from ..registries.reference import ImageReference
from ..store.tables import utc_now
from .actions import check_action
from .cron import load_zone, next_runs, parse_cron
from .cron_text import describe
from .jobs import RunTrigger, Schedule, ScheduleRun, Target, TargetKind, Trigger, TriggerKind
from .policy import MAX_GRACE
from .runs import RunExecutor
from .scheduler import Scheduler, fire_after, request_for
from .store import ScheduleStore

__all__ = [
    "MAX_JITTER",
    "MAX_TIMEOUT",
    "PREVIEW_COUNT",
    "SchedulePreview",
    "ScheduleService",
    "check_target",
]

log = logging.getLogger(__name__)

PREVIEW_COUNT: Final = 5
MAX_TIMEOUT: Final = timedelta(hours=6)
MAX_JITTER: Final = timedelta(hours=1)
MAX_NAME: Final = 100
_LABEL: Final = re.compile(r"^[^=\s][^=]*(=.*)?$")


@dataclass(frozen=True, slots=True, kw_only=True)
class SchedulePreview:
    """What a trigger means: a sentence and its next due times (aware UTC)."""

    description: str
    timezone: str
    next_runs: tuple[datetime, ...]


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", field=field)


def check_name(name: str) -> str:
    """A schedule's or webhook's name: 1-100 printable characters, trimmed."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise _invalid("name", f"give 1 to {MAX_NAME} characters")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise _invalid("name", "must not contain control characters")
    return name


def check_target(target: Target, hosts: Container[str]) -> None:
    """The host must exist; a key, label or image reference must be a plausible one.

    Raises:
        InvalidInput: ``field`` names ``target.host``, ``target.key``, ``target.label`` or
            ``target.image``.
    """
    if target.host not in hosts:
        raise _invalid("target.host", f"no host '{target.host}'")
    if target.key is not None and (len(target.key) > 255 or not target.key.strip()):
        raise _invalid("target.key", "give a container key of 1 to 255 characters")
    if target.label is not None and (len(target.label) > 255 or not _LABEL.match(target.label)):
        raise _invalid("target.label", "give a label as key or key=value (up to 255 characters)")
    if target.image is not None:
        ImageReference.parse(target.image, field="target.image")


def _check_duration(field: str, value: timedelta, low: timedelta, high: timedelta) -> None:
    if not low <= value <= high:
        raise _invalid(field, f"must be {int(low.total_seconds())} to "
                              f"{int(high.total_seconds())} seconds")


class ScheduleService:
    """Manage schedules (see the module docstring).

    Args:
        store: Schedules and runs.
        scheduler: Woken after each change.
        executor: Runs "run now" requests.
        audit: Where changes are recorded.
        hosts: The known host slugs (a target's host must be one of them).
        default_timezone: The zone of a new schedule that names none (a setting).
        clock: Current time (aware UTC).
        bus: Where :class:`ScheduleChanged` goes after each change (None: nowhere).
    """

    def __init__(self, store: ScheduleStore, scheduler: Scheduler, executor: RunExecutor, *,
                 audit: AuditTrail, hosts: Container[str],
                 default_timezone: Callable[[], str] = lambda: "UTC",
                 clock: Callable[[], datetime] = utc_now, bus: Bus | None = None) -> None:
        self._bus = bus
        self._store = store
        self._scheduler = scheduler
        self._executor = executor
        self._audit = audit
        self._hosts = hosts
        self._default_timezone = default_timezone
        self._clock = clock

    @property
    def default_timezone(self) -> str:
        """The zone new schedules get unless they name one."""
        return self._default_timezone()

    # -- reading --------------------------------------------------------------------------------

    async def list(self) -> builtins.list[Schedule]:
        """Every schedule, by id."""
        return await self._store.all()

    async def get(self, schedule_id: int) -> Schedule:
        """One schedule; NotFound when there is none."""
        return await self._store.get(schedule_id)

    async def last_runs(self) -> dict[int, ScheduleRun]:
        """The newest run of each schedule that has run, by schedule id."""
        return await self._store.last_runs()

    async def runs(self, schedule_id: int | None = None, *, limit: int = 50,
                   offset: int = 0) -> tuple[builtins.list[ScheduleRun], int]:
        """Run history (of one schedule, or of all), newest first, and the total.

        Raises:
            NotFound: ``schedule_id`` names no schedule.
        """
        if schedule_id is not None:
            await self._store.get(schedule_id)
        return await self._store.runs(schedule_id, limit=limit, offset=offset)

    async def get_run(self, run_id: int) -> ScheduleRun:
        """One run; NotFound when there is none."""
        return await self._store.get_run(run_id)

    async def wait_run(self, run_id: int, seconds: float) -> ScheduleRun:
        """The run once it ended, or as it stands after ``seconds``."""
        return await self._executor.wait(run_id, seconds)

    def preview(self, trigger: Trigger, *, count: int = PREVIEW_COUNT,
                after: datetime | None = None) -> SchedulePreview:
        """Describe a trigger and list its next ``count`` due times after ``after`` (now).

        Raises:
            InvalidInput: A bad cron expression or time zone (``field`` says which).
        """
        after = after or self._clock()
        description = self.describe(trigger)
        if trigger.kind is TriggerKind.ONCE:
            assert trigger.at is not None  # Trigger.__post_init__ guarantees it
            upcoming = (trigger.at,) if trigger.at > after else ()
            return SchedulePreview(description=description, timezone=trigger.timezone,
                                   next_runs=upcoming)
        expr = parse_cron(trigger.cron or "")
        return SchedulePreview(description=description, timezone=trigger.timezone,
                               next_runs=tuple(next_runs(expr, trigger.timezone, after, count)))

    def describe(self, trigger: Trigger) -> str:
        """A trigger in English ("At 03:00 on Monday", "Once, on Friday 27 November 2026 at
        03:00"), without computing due times (cheap enough for long lists).

        Raises:
            InvalidInput: A bad cron expression or time zone (``field`` says which).
        """
        self._check_trigger(trigger, self._clock(), allow_past=True)
        if trigger.kind is TriggerKind.ONCE:
            assert trigger.at is not None  # Trigger.__post_init__ guarantees it
            local = trigger.at.astimezone(load_zone(trigger.timezone))
            return f"Once, on {local:%A %d %B %Y} at {local:%H:%M}"
        return describe(parse_cron(trigger.cron or ""))

    # -- changing -------------------------------------------------------------------------------

    async def create(self, draft: Schedule, *, actor: Actor | None = None) -> Schedule:
        """Validate and store a new schedule (``draft.id`` and ``next_run_at`` are ignored).

        Raises:
            InvalidInput: A bad field (``details.field`` names it).
        """
        actor = actor or Actor.library()
        async with self._audit.track(actor, "schedule.create", "schedule") as scope:
            schedule = self._prepared(draft)
            stored = await self._store.add(schedule)
            scope.target = f"schedule/{stored.id}"
        self._scheduler.wake()
        self._changed(stored.id, stored)
        return stored

    async def update(self, draft: Schedule, *, actor: Actor | None = None) -> Schedule:
        """Replace schedule ``draft.id`` with ``draft``; the next due time restarts from now.

        Raises:
            NotFound: No such schedule.
            InvalidInput: A bad field.
        """
        actor = actor or Actor.library()
        async with self._audit.track(actor, "schedule.update", f"schedule/{draft.id}"):
            current = await self._store.get(draft.id)
            # A one-time schedule whose instant passed can still be renamed or retargeted;
            # only a *new* instant must lie ahead.
            past_ok = draft.trigger == current.trigger
            stored = await self._store.save(self._prepared(draft, allow_past=past_ok))
        self._scheduler.wake()
        self._changed(stored.id, stored)
        return stored

    async def set_enabled(self, schedule_id: int, enabled: bool, *,
                          actor: Actor | None = None) -> Schedule:
        """Enable (due times restart from now) or disable a schedule.

        Raises:
            NotFound: No such schedule.
        """
        actor = actor or Actor.library()
        verb = "enable" if enabled else "disable"
        async with self._audit.track(actor, f"schedule.{verb}", f"schedule/{schedule_id}"):
            current = await self._store.get(schedule_id)
            if current.enabled == enabled:
                return current
            changed = replace(current, enabled=enabled)
            stored = await self._store.save(replace(changed, next_run_at=self._next(changed)))
        self._scheduler.wake()
        self._changed(stored.id, stored)
        return stored

    async def delete(self, schedule_id: int, *, actor: Actor | None = None) -> None:
        """Delete a schedule and its run history.

        Raises:
            NotFound: No such schedule.
        """
        actor = actor or Actor.library()
        async with self._audit.track(actor, "schedule.delete", f"schedule/{schedule_id}"):
            await self._store.delete(schedule_id)
        self._scheduler.wake()
        self._changed(schedule_id, None)

    async def run_now(self, schedule_id: int, *, actor: Actor | None = None) -> ScheduleRun:
        """Start a run of the schedule now (enabled or not, paused or not); returns it running.

        The run acts as the schedule (``Actor(schedule)``); who pressed "run now" is audited
        as ``schedule.run_now``.

        Raises:
            NotFound: No such schedule.
        """
        actor = actor or Actor.library()
        async with self._audit.track(actor, "schedule.run_now", f"schedule/{schedule_id}"):
            schedule = await self._store.get(schedule_id)
            now = self._clock()
            run = await self._store.claim(schedule.id, RunTrigger.RUN_NOW, now, started_at=now,
                                          action=schedule.action,
                                          target=schedule.target.describe())
            if run is None:
                raise Conflict("this schedule was started at this very instant already")
        self._executor.launch(run, request_for(schedule))
        return run

    def _changed(self, schedule_id: int, schedule: Schedule | None) -> None:
        if self._bus is not None:
            self._bus.publish(ScheduleChanged(schedule_id=schedule_id, schedule=schedule))

    async def move_key(self, event: ContainerRenamed) -> None:
        """A container was renamed: its schedules follow it to its new key (audited as the
        system when there were any, like the tags' move)."""
        if not any(s.target.kind is TargetKind.CONTAINER and s.target.host == event.host
                   and s.target.key == event.old_key for s in await self._store.all()):
            return  # most renames concern no schedule: no audit noise for them
        target = f"{event.host}/{event.new_key}"
        async with self._audit.track(Actor.system(), "schedule.move_target", target):
            moved = await self._store.move_container_key(event.host, event.old_key,
                                                         event.new_key)
        log.info("host %s: %d schedule(s) of %s moved to %s", event.host, moved,
                 event.old_key, event.new_key)

    # -- validation -----------------------------------------------------------------------------

    def _prepared(self, draft: Schedule, *, allow_past: bool = False) -> Schedule:
        """The draft validated, with its name trimmed and its next due time from now."""
        schedule = replace(draft, name=check_name(draft.name))
        check_target(schedule.target, self._hosts)
        check_action(schedule.action, schedule.target)
        self._check_trigger(schedule.trigger, self._clock(), allow_past=allow_past)
        _check_duration("grace", schedule.grace, timedelta(0), MAX_GRACE)
        _check_duration("timeout", schedule.timeout, timedelta(seconds=1), MAX_TIMEOUT)
        _check_duration("jitter", schedule.jitter, timedelta(0), MAX_JITTER)
        return replace(schedule, next_run_at=self._next(schedule))

    def _next(self, schedule: Schedule) -> datetime | None:
        return fire_after(schedule)(self._clock()) if schedule.enabled else None

    @staticmethod
    def _check_trigger(trigger: Trigger, now: datetime, *, allow_past: bool) -> None:
        try:
            load_zone(trigger.timezone)
        except InvalidInput as err:
            raise InvalidInput(f"trigger.{err.message}", field="trigger.timezone") from None
        if trigger.kind is TriggerKind.CRON:
            try:
                parse_cron(trigger.cron or "")
            except InvalidInput as err:
                raise InvalidInput(err.message, field="trigger.cron",
                                   details=err.details) from None
        elif not allow_past and trigger.at is not None and trigger.at <= now:
            raise _invalid("trigger.at", "must be in the future")


def new_target(kind: TargetKind | str, host: str, *, key: str | None = None,
               label: str | None = None, image: str | None = None) -> Target:
    """A target from loose input (the API's and CLI's), validated by :class:`Target`."""
    try:
        target_kind = TargetKind(kind)
    except ValueError:
        raise _invalid("target.kind", "must be container, label, host or image") from None
    return Target(kind=target_kind, host=host, key=key, label=label, image=image)
