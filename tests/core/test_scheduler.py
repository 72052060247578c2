"""The scheduler on a real SQLite database with a virtual clock: time zones and DST, misfire
policies, no overlap on a target, timeouts, retries, jitter, pause-all, restart persistence and
two schedulers sharing one database.

The action runner is a recorder (the Docker side is tested live in test_scheduler_live.py):
what is under test here is when and how often the scheduler acts, and what it records.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chrontainer_core.actor import Actor, ActorKind
from chrontainer_core.audit import LogAuditTrail
from chrontainer_core.errors import ChrontainerError, InvalidInput, NotFound
from chrontainer_core.scheduling.jobs import (
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
from chrontainer_core.scheduling.runs import INTERRUPTED, RunExecutor
from chrontainer_core.scheduling.scheduler import Scheduler
from chrontainer_core.scheduling.service import ScheduleService
from chrontainer_core.scheduling.store import ScheduleStore
from chrontainer_core.store.db import Database

from ..dbtemplate import migrated
from ..vclock import VirtualClock, eventually
from .test_store import sqlite_url

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WEB = Target(kind=TargetKind.CONTAINER, host="nas", key="web")


@dataclass
class Recorder:
    """Stands in for the Docker side: records each action; optionally blocks or fails."""

    calls: list[tuple[ScheduleAction, Target, Actor]] = field(default_factory=list)
    failures: list[ChrontainerError] = field(default_factory=list)  # raised by the next calls
    gate: asyncio.Event | None = None  # when set, each call waits for it

    async def run(self, action: ScheduleAction, target: Target, actor: Actor) -> str:
        self.calls.append((action, target, actor))
        if self.gate is not None:
            await self.gate.wait()
        if self.failures:
            raise self.failures.pop(0)
        return f"{action.value} {target.key}"


@dataclass
class Rig:
    """One scheduler process: database, store, executor, scheduler, service, all on one clock."""

    db: Database
    store: ScheduleStore
    executor: RunExecutor
    scheduler: Scheduler
    service: ScheduleService
    recorder: Recorder
    audit: LogAuditTrail


def make_rig(db_url: str, clock: VirtualClock, *, paused: Callable[[], bool] = lambda: False,
             random: Callable[[], float] = lambda: 0.0) -> Rig:
    db = Database(db_url)
    store = ScheduleStore(db)
    recorder = Recorder()
    audit = LogAuditTrail(clock=clock)
    executor = RunExecutor(store, recorder, clock=clock, sleep=clock.sleep, random=random)
    scheduler = Scheduler(store, executor, clock=clock, sleep=clock.sleep, paused=paused)
    service = ScheduleService(store, scheduler, executor, audit=audit, hosts={"nas"},
                              clock=clock)
    return Rig(db, store, executor, scheduler, service, recorder, audit)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = sqlite_url(tmp_path / "chrontainer.db")
    migrated(url)
    return url


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


@pytest.fixture
async def rig(db_url: str, clock: VirtualClock) -> AsyncIterator[Rig]:
    r = make_rig(db_url, clock)
    yield r
    await r.scheduler.stop(grace=0)
    await r.db.close()


def draft(cron: str | None = "0 3 * * *", *, tz: str = "UTC", at: datetime | None = None,
          **changes: object) -> Schedule:
    trigger = (Trigger(kind=TriggerKind.ONCE, at=at, timezone=tz) if at is not None
               else Trigger(kind=TriggerKind.CRON, cron=cron, timezone=tz))
    fields: dict[str, object] = {
        "id": 0, "name": "nightly restart", "enabled": True, "target": WEB,
        "action": ScheduleAction.RESTART, "trigger": trigger,
    }
    fields.update(changes)
    return Schedule(**fields)  # type: ignore[arg-type]


async def settle(r: Rig) -> None:
    """Wait until no run is in progress (each records its end before leaving)."""
    await eventually(lambda: r.executor.running == 0, "every run finished")


async def runs_of(r: Rig, schedule_id: int) -> list[ScheduleRun]:
    items, _ = await r.store.runs(schedule_id, limit=1000)
    return sorted(items, key=lambda run: run.scheduled_for)


async def fire_until(r: Rig, clock: VirtualClock, schedule_id: int, until: datetime) -> None:
    """Jump from one due time to the next, ticking at each, until ``until``."""
    while True:
        due = (await r.store.get(schedule_id)).next_run_at
        if due is None or due > until:
            return
        await clock.set(due)
        await r.scheduler.tick()
        await settle(r)


# -- firing on time, in a zone ------------------------------------------------------------------


async def test_a_schedule_fires_at_its_wall_clock_time_as_the_schedule(rig: Rig,
                                                                      clock: VirtualClock) -> None:
    s = await rig.service.create(draft("0 3 * * *", tz="Europe/Berlin"))
    assert s.next_run_at == datetime(2026, 11, 26, 2, 0, tzinfo=UTC)  # 03:00 CET

    await clock.set(s.next_run_at - timedelta(seconds=1))
    await rig.scheduler.tick()
    await settle(rig)
    assert rig.recorder.calls == []

    await clock.set(s.next_run_at)
    next_due = await rig.scheduler.tick()
    await settle(rig)
    [(action, target, actor)] = rig.recorder.calls
    assert (action, target) == (ScheduleAction.RESTART, WEB)
    assert (actor.kind, actor.id, actor.name) == (ActorKind.SCHEDULE, str(s.id), s.name)
    [run] = await runs_of(rig, s.id)
    assert (run.trigger, run.result, run.scheduled_for) == (RunTrigger.SCHEDULE, RunResult.OK,
                                                            s.next_run_at)
    assert run.detail == "restart web" and run.attempt == 1 and run.finished_at is not None
    assert run.target == "container web on nas" and run.action is ScheduleAction.RESTART
    # The next due time was stored: tomorrow, 03:00 Berlin.
    assert next_due == datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    assert (await rig.store.get(s.id)).next_run_at == next_due


async def test_clocks_going_back_fire_a_fixed_time_job_once(rig: Rig, clock: VirtualClock) -> None:
    # Europe/Berlin, 2026-10-25: 03:00 CEST -> 02:00 CET; 02:30 happens twice on the wall clock.
    clock.now = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)  # start earlier than T0
    s = await rig.service.create(draft("30 2 * * *", tz="Europe/Berlin"))
    await fire_until(rig, clock, s.id, datetime(2026, 10, 26, 12, 0, tzinfo=UTC))
    assert [r.scheduled_for for r in await runs_of(rig, s.id)] == [
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 CEST, the first pass only
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),  # 02:30 CET
    ]
    assert len(rig.recorder.calls) == 2


async def test_clocks_going_forward_never_skip_a_fixed_time_job(rig: Rig,
                                                              clock: VirtualClock) -> None:
    # Europe/Berlin, 2026-03-29: 02:00 CET -> 03:00 CEST; 02:30 does not exist that day.
    clock.now = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)  # start earlier than T0
    s = await rig.service.create(draft("30 2 * * *", tz="Europe/Berlin"))
    await fire_until(rig, clock, s.id, datetime(2026, 3, 30, 12, 0, tzinfo=UTC))
    assert [r.scheduled_for for r in await runs_of(rig, s.id)] == [
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # 03:00 CEST, the first instant after the gap
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),  # 02:30 CEST
    ]


async def test_a_one_time_schedule_fires_once_and_then_has_no_due_time(rig: Rig,
                                                                       clock: VirtualClock) -> None:
    at = T0 + timedelta(hours=1)
    s = await rig.service.create(draft(at=at))
    assert s.next_run_at == at
    await clock.set(at)
    await rig.scheduler.tick()
    await settle(rig)
    assert (await rig.store.get(s.id)).next_run_at is None
    await clock.advance(86400)
    await rig.scheduler.tick()
    await settle(rig)
    assert len(rig.recorder.calls) == 1


# -- misfires -------------------------------------------------------------------------------------


async def late_by(rig: Rig, clock: VirtualClock, s: Schedule, late: timedelta) -> None:
    assert s.next_run_at is not None
    await clock.set(s.next_run_at + late)
    await rig.scheduler.tick()
    await settle(rig)


async def test_misfire_skip_does_not_run_late_and_moves_on(rig: Rig, clock: VirtualClock) -> None:
    s = await rig.service.create(draft(misfire=MisfirePolicy.SKIP))
    await late_by(rig, clock, s, timedelta(minutes=5))
    assert rig.recorder.calls == []
    assert await runs_of(rig, s.id) == []
    assert (await rig.store.get(s.id)).next_run_at == datetime(2026, 11, 27, 3, 0, tzinfo=UTC)


async def test_a_due_time_up_to_a_minute_late_is_on_time_whatever_the_policy(
        rig: Rig, clock: VirtualClock) -> None:
    s = await rig.service.create(draft(misfire=MisfirePolicy.SKIP))
    await late_by(rig, clock, s, timedelta(seconds=40))
    assert len(rig.recorder.calls) == 1


async def test_misfire_run_once_runs_late_within_the_grace(rig: Rig, clock: VirtualClock) -> None:
    s = await rig.service.create(draft(misfire=MisfirePolicy.RUN_ONCE,
                                       grace=timedelta(minutes=10)))
    await late_by(rig, clock, s, timedelta(minutes=5))
    [run] = await runs_of(rig, s.id)
    assert run.scheduled_for == s.next_run_at and run.result is RunResult.OK


async def test_misfire_run_once_does_not_run_beyond_the_grace(rig: Rig,
                                                              clock: VirtualClock) -> None:
    s = await rig.service.create(draft(misfire=MisfirePolicy.RUN_ONCE,
                                       grace=timedelta(minutes=10)))
    await late_by(rig, clock, s, timedelta(minutes=30))
    assert rig.recorder.calls == []


async def test_many_missed_runs_make_at_most_one_late_run(rig: Rig, clock: VirtualClock) -> None:
    s = await rig.service.create(draft("* * * * *", misfire=MisfirePolicy.RUN_ONCE,
                                       grace=timedelta(minutes=10)))
    await late_by(rig, clock, s, timedelta(hours=1, seconds=30))
    [run] = await runs_of(rig, s.id)
    assert run.scheduled_for == s.next_run_at + timedelta(hours=1)  # the latest missed minute
    assert (await rig.store.get(s.id)).next_run_at == run.scheduled_for + timedelta(minutes=1)


# -- overlap, timeout, retries, jitter ----------------------------------------------------------


async def test_a_run_waits_for_the_targets_lock_then_skips_as_busy(rig: Rig,
                                                                   clock: VirtualClock) -> None:
    rig.recorder.gate = asyncio.Event()
    first = await rig.service.create(draft(name="first", timeout=timedelta(minutes=10)))
    second = await rig.service.create(draft(name="second", timeout=timedelta(seconds=30)))
    await clock.set(first.next_run_at)  # type: ignore[arg-type]
    await rig.scheduler.tick()
    # Both started; the first holds the container, the second waits for it.
    await clock.wait_until(lambda: len(rig.recorder.calls) == 1 and clock.sleeping >= 2,
                           "the first acts, the second waits")
    await clock.advance(30)
    await clock.wait_until(lambda: rig.executor.running == 1, "the second gave up")
    [skipped] = await runs_of(rig, second.id)
    assert skipped.result is RunResult.SKIPPED
    assert skipped.error == "busy: container web on nas stayed locked for 30 s"
    rig.recorder.gate.set()
    await settle(rig)
    [done] = await runs_of(rig, first.id)
    assert done.result is RunResult.OK
    assert len(rig.recorder.calls) == 1  # the busy run never acted


async def test_a_waiting_run_acts_once_the_target_is_free(rig: Rig, clock: VirtualClock) -> None:
    rig.recorder.gate = asyncio.Event()
    a = await rig.service.create(draft(name="a"))
    b = await rig.service.create(draft(name="b"))
    await clock.set(a.next_run_at)  # type: ignore[arg-type]
    await rig.scheduler.tick()
    await clock.wait_until(lambda: len(rig.recorder.calls) == 1 and clock.sleeping >= 2,
                           "a acts, b waits")
    rig.recorder.gate.set()
    await settle(rig)
    assert len(rig.recorder.calls) == 2
    assert [r.result for r in await runs_of(rig, a.id) + await runs_of(rig, b.id)] == [
        RunResult.OK, RunResult.OK]


async def test_runs_on_different_targets_do_not_wait_for_each_other(rig: Rig,
                                                                    clock: VirtualClock) -> None:
    rig.recorder.gate = asyncio.Event()
    other = Target(kind=TargetKind.CONTAINER, host="nas", key="db")
    a = await rig.service.create(draft(name="a"))
    await rig.service.create(draft(name="b", target=other))
    await clock.set(a.next_run_at)  # type: ignore[arg-type]
    await rig.scheduler.tick()
    await clock.wait_until(lambda: len(rig.recorder.calls) == 2, "both act at once")
    rig.recorder.gate.set()
    await settle(rig)


async def test_an_action_running_past_the_timeout_is_cancelled_as_an_error(
        rig: Rig, clock: VirtualClock) -> None:
    rig.recorder.gate = asyncio.Event()  # never set: the action hangs
    s = await rig.service.create(draft(timeout=timedelta(seconds=45)))
    await clock.set(s.next_run_at)  # type: ignore[arg-type]
    await rig.scheduler.tick()
    await clock.wait_until(lambda: len(rig.recorder.calls) == 1, "the action started")
    await clock.advance(45)
    await settle(rig)
    [run] = await runs_of(rig, s.id)
    assert (run.result, run.error) == (RunResult.ERROR, "timed out after 45 s")


async def test_failed_attempts_are_retried_with_growing_delays(rig: Rig,
                                                               clock: VirtualClock) -> None:
    rig.recorder.failures = [ChrontainerError("engine down"), ChrontainerError("engine down")]
    s = await rig.service.create(draft(retry=RetryPolicy(retries=3, backoff=30)))
    await clock.set(s.next_run_at)  # type: ignore[arg-type]
    await rig.scheduler.tick()
    for attempt, delay in ((1, 30), (2, 60)):
        def failed(n: int = attempt, wait: float = delay) -> bool:
            return len(rig.recorder.calls) == n and wait in clock.sleeps
        await clock.wait_until(failed, f"attempt {attempt} failed")
        await clock.advance(delay)
    await settle(rig)
    [run] = await runs_of(rig, s.id)
    assert (run.result, run.attempt, run.error) == (RunResult.OK, 3, None)
    assert len(rig.recorder.calls) == 3


async def test_a_run_out_of_retries_records_the_last_error(rig: Rig, clock: VirtualClock) -> None:
    rig.recorder.failures = [ChrontainerError("first"), ChrontainerError("second")]
    s = await rig.service.create(draft(retry=RetryPolicy(retries=1, backoff=10)))
    await clock.set(s.next_run_at)  # type: ignore[arg-type]
    await rig.scheduler.tick()
    await clock.wait_until(lambda: 10 in clock.sleeps, "the first attempt failed")
    await clock.advance(10)
    await settle(rig)
    [run] = await runs_of(rig, s.id)
    assert (run.result, run.attempt, run.error) == (RunResult.ERROR, 2, "second")


@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.999])
async def test_jitter_delays_the_start_by_up_to_the_jitter(db_url: str, clock: VirtualClock,
                                                          fraction: float) -> None:
    r = make_rig(db_url, clock, random=lambda: fraction)
    try:
        s = await r.service.create(draft(jitter=timedelta(seconds=120)))
        due = s.next_run_at
        assert due is not None
        await clock.set(due)
        await r.scheduler.tick()
        delay = 120 * fraction
        if delay:
            await clock.wait_until(lambda: delay in clock.sleeps, "the jitter wait began")
            assert r.recorder.calls == []  # not before due + jitter
            await clock.advance(delay)
        await settle(r)
        [run] = await runs_of(r, s.id)
        assert run.result is RunResult.OK and run.scheduled_for == due
        assert 0 <= delay < 120
    finally:
        await r.db.close()


# -- pause, restart, two schedulers --------------------------------------------------------------


async def test_pause_all_lets_due_times_pass_without_runs(db_url: str,
                                                          clock: VirtualClock) -> None:
    paused = True
    r = make_rig(db_url, clock, paused=lambda: paused)
    try:
        s = await r.service.create(draft())
        assert s.next_run_at is not None
        await clock.set(s.next_run_at)
        await r.scheduler.tick()
        await settle(r)
        assert r.recorder.calls == [] and await runs_of(r, s.id) == []
        tomorrow = (await r.store.get(s.id)).next_run_at
        assert tomorrow == s.next_run_at + timedelta(days=1)
        paused = False
        await clock.set(tomorrow)
        await r.scheduler.tick()
        await settle(r)
        assert len(r.recorder.calls) == 1
    finally:
        await r.db.close()


async def test_a_restart_neither_repeats_nor_loses_a_run(db_url: str,
                                                         clock: VirtualClock) -> None:
    first = make_rig(db_url, clock)
    s = await first.service.create(draft())
    due = s.next_run_at
    assert due is not None
    await clock.set(due)
    await first.scheduler.tick()
    await settle(first)
    await first.db.close()

    second = make_rig(db_url, clock)  # a new process on the same database
    try:
        assert await second.scheduler.recover() == 0
        await second.scheduler.tick()
        await settle(second)
        assert second.recorder.calls == []  # the run of `due` is not repeated
        tomorrow = due + timedelta(days=1)
        assert (await second.store.get(s.id)).next_run_at == tomorrow
        await clock.set(tomorrow)
        await second.scheduler.tick()
        await settle(second)
        assert len(second.recorder.calls) == 1  # nor is the next one lost
        assert len(await runs_of(second, s.id)) == 2
    finally:
        await second.db.close()


async def test_a_crash_after_the_claim_records_the_run_as_interrupted_and_moves_on(
        rig: Rig, clock: VirtualClock) -> None:
    s = await rig.service.create(draft())
    due = s.next_run_at
    assert due is not None
    # The previous process claimed the run and died before storing the next due time.
    claimed = await rig.store.claim(s.id, RunTrigger.SCHEDULE, due, started_at=due)
    assert claimed is not None
    await clock.set(due + timedelta(seconds=5))
    assert await rig.scheduler.recover() == 1
    await rig.scheduler.tick()
    await settle(rig)
    assert rig.recorder.calls == []
    [run] = await runs_of(rig, s.id)
    assert (run.result, run.error) == (RunResult.ERROR, INTERRUPTED)
    assert (await rig.store.get(s.id)).next_run_at == due + timedelta(days=1)


async def test_two_schedulers_on_one_database_run_each_due_time_once(
        db_url: str, clock: VirtualClock) -> None:
    a, b = make_rig(db_url, clock), make_rig(db_url, clock)
    try:
        ids = [(await a.service.create(draft(name=f"s{i}", target=Target(
            kind=TargetKind.CONTAINER, host="nas", key=f"c{i}")))).id for i in range(20)]
        await clock.set(datetime(2026, 11, 26, 3, 0, tzinfo=UTC))
        await asyncio.gather(a.scheduler.tick(), b.scheduler.tick())
        await settle(a)
        await settle(b)
        assert len(a.recorder.calls) + len(b.recorder.calls) == 20
        for schedule_id in ids:
            assert len(await runs_of(a, schedule_id)) == 1
    finally:
        await a.db.close()
        await b.db.close()


async def test_stopping_interrupts_runs_that_outlive_the_grace(rig: Rig,
                                                              clock: VirtualClock) -> None:
    rig.recorder.gate = asyncio.Event()
    s = await rig.service.create(draft())
    await clock.set(s.next_run_at)  # type: ignore[arg-type]
    await rig.scheduler.tick()
    await clock.wait_until(lambda: len(rig.recorder.calls) == 1, "the action started")
    await rig.scheduler.stop(grace=0.01)
    [run] = await runs_of(rig, s.id)
    assert (run.result, run.error) == (RunResult.ERROR, INTERRUPTED)


# -- the loop itself ------------------------------------------------------------------------------


async def test_the_loop_sleeps_until_the_next_due_time_and_wakes_on_edits(
        rig: Rig, clock: VirtualClock) -> None:
    rig.scheduler.start()
    await clock.wait_until(lambda: clock.sleeping == 1 and clock.sleeps == [60.0],
                           "the idle loop sleeps at most a minute")
    at = T0 + timedelta(seconds=10)
    await rig.service.create(draft(at=at))  # wakes the loop, which now sleeps 10 s
    await clock.wait_until(lambda: clock.sleeps[-1] == 10.0 and clock.sleeping == 1,
                           "the loop re-planned for the new schedule")
    await clock.set(at)
    await clock.wait_until(lambda: len(rig.recorder.calls) == 1, "the loop fired it")


async def test_old_run_history_is_pruned_by_the_loop(rig: Rig, clock: VirtualClock) -> None:
    s = await rig.service.create(draft())
    for age in (40, 10):
        run = await rig.store.claim(s.id, RunTrigger.RUN_NOW, T0 - timedelta(days=age),
                                    started_at=T0 - timedelta(days=age))
        assert run is not None
        await rig.store.finish(run.id, RunResult.OK, finished_at=run.started_at)
    await rig.scheduler.tick()  # plans the first prune a minute after start
    assert len(await runs_of(rig, s.id)) == 2
    await clock.advance(61)
    await rig.scheduler.tick()
    [kept] = await runs_of(rig, s.id)
    assert kept.started_at == T0 - timedelta(days=10)


# -- the service -------------------------------------------------------------------------------


async def test_run_now_acts_as_the_schedule_and_audits_who_asked(rig: Rig) -> None:
    s = await rig.service.create(draft(enabled=False))
    user = Actor(kind=ActorKind.USER, id="1", name="alice")
    run = await rig.service.run_now(s.id, actor=user)
    assert run.trigger is RunTrigger.RUN_NOW and run.result is RunResult.RUNNING
    finished = await rig.service.wait_run(run.id, 5)
    assert finished.result is RunResult.OK
    assert rig.recorder.calls[0][2].kind is ActorKind.SCHEDULE
    entries, _ = await rig.audit.list(action="schedule.run_now")
    assert [(e.actor.name, e.target) for e in entries] == [("alice", f"schedule/{s.id}")]


async def test_disabling_clears_the_due_time_and_enabling_plans_from_now(
        rig: Rig, clock: VirtualClock) -> None:
    s = await rig.service.create(draft("0 * * * *"))
    off = await rig.service.set_enabled(s.id, False)
    assert off.next_run_at is None and not off.enabled
    await clock.advance(3 * 3600 + 60)  # 15:01: three hourly runs passed while disabled
    on = await rig.service.set_enabled(s.id, True)
    assert on.next_run_at == datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
    await rig.scheduler.tick()
    await settle(rig)
    assert rig.recorder.calls == []  # no burst of missed runs after enabling


@pytest.mark.parametrize(("changes", "field_name"), [
    ({"name": "  "}, "name"),
    ({"name": "x" * 101}, "name"),
    ({"target": Target(kind=TargetKind.CONTAINER, host="nowhere", key="web")}, "target.host"),
    ({"target": Target(kind=TargetKind.HOST, host="nas")}, "action"),
    ({"action": ScheduleAction.PRUNE_IMAGES}, "action"),
    ({"trigger": Trigger(kind=TriggerKind.CRON, cron="61 * * * *")}, "trigger.cron"),
    ({"trigger": Trigger(kind=TriggerKind.CRON, cron="0 3 * * *", timezone="Mars/Base")},
     "trigger.timezone"),
    ({"trigger": Trigger(kind=TriggerKind.ONCE, at=T0 - timedelta(minutes=1))}, "trigger.at"),
    ({"timeout": timedelta(0)}, "timeout"),
    ({"grace": timedelta(days=2)}, "grace"),
    ({"jitter": timedelta(hours=2)}, "jitter"),
    ({"target": Target(kind=TargetKind.IMAGE, host="nas", image="Not A Ref"),
      "action": ScheduleAction.PULL}, "target.image"),
    ({"target": Target(kind=TargetKind.IMAGE, host="nas", image="nginx:bad tag"),
      "action": ScheduleAction.PULL}, "target.image"),
    ({"target": Target(kind=TargetKind.IMAGE, host="nas", image="nginx"),
      "action": ScheduleAction.RESTART}, "action"),
    ({"action": ScheduleAction.PULL}, "action"),
])
async def test_invalid_schedules_are_refused_and_nothing_is_stored(
        rig: Rig, changes: dict[str, object], field_name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        await rig.service.create(draft(**changes))
    assert caught.value.field == field_name
    assert await rig.service.list() == []


async def test_updating_a_deleted_schedule_is_not_found(rig: Rig) -> None:
    s = await rig.service.create(draft())
    await rig.service.delete(s.id)
    with pytest.raises(NotFound):
        await rig.service.update(s)
    with pytest.raises(NotFound):
        await rig.service.run_now(s.id)


async def test_a_passed_one_time_schedule_can_still_be_renamed_but_not_moved_to_the_past(
        rig: Rig, clock: VirtualClock) -> None:
    at = T0 + timedelta(minutes=5)
    s = await rig.service.create(draft(at=at))
    await clock.set(at + timedelta(hours=1))
    renamed = await rig.service.update(replace(s, name="renamed"))
    assert renamed.name == "renamed" and renamed.next_run_at is None  # it will not fire again
    with pytest.raises(InvalidInput) as caught:
        await rig.service.update(replace(s, trigger=Trigger(
            kind=TriggerKind.ONCE, at=at + timedelta(minutes=1))))
    assert caught.value.field == "trigger.at"
