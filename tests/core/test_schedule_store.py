"""Schedules and runs in a real SQLite database: round trips, due times, the run claim shared
by two schedulers on one file, history paging and pruning."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chrontainer_core.errors import NotFound
from chrontainer_core.scheduling.jobs import (
    MisfirePolicy,
    RetryPolicy,
    RunResult,
    RunTrigger,
    Schedule,
    ScheduleAction,
    Target,
    TargetKind,
    Trigger,
    TriggerKind,
)
from chrontainer_core.scheduling.store import ScheduleStore
from chrontainer_core.store.db import Database

from ..dbtemplate import migrated
from .test_store import sqlite_url

T0 = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def nightly(**changes: object) -> Schedule:
    fields: dict[str, object] = {
        "id": 0, "name": "restart web nightly", "enabled": True,
        "target": Target(kind=TargetKind.CONTAINER, host="nas", key="web"),
        "action": ScheduleAction.RESTART,
        "trigger": Trigger(kind=TriggerKind.CRON, cron="0 3 * * *", timezone="Europe/Berlin"),
        "misfire": MisfirePolicy.RUN_ONCE, "grace": timedelta(minutes=15),
        "timeout": timedelta(seconds=90), "retry": RetryPolicy(retries=2, backoff=20),
        "jitter": timedelta(seconds=30), "next_run_at": T0,
    }
    fields.update(changes)
    return Schedule(**fields)  # type: ignore[arg-type]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = sqlite_url(tmp_path / "chrontainer.db")
    migrated(url)
    return url


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[ScheduleStore]:
    db = Database(db_url)
    yield ScheduleStore(db)
    await db.close()


async def test_a_schedule_round_trips_every_field(store: ScheduleStore) -> None:
    added = await store.add(nightly())
    assert added.id > 0
    assert added == nightly(id=added.id)
    once = await store.add(nightly(
        name="prune", target=Target(kind=TargetKind.HOST, host="nas"),
        action=ScheduleAction.PRUNE_IMAGES,
        trigger=Trigger(kind=TriggerKind.ONCE, at=T0 + timedelta(days=1)),
        misfire=MisfirePolicy.SKIP, next_run_at=T0 + timedelta(days=1)))
    label = await store.add(nightly(
        name="stop media", target=Target(kind=TargetKind.LABEL, host="nas", label="app=media"),
        action=ScheduleAction.STOP, next_run_at=None, enabled=False))
    assert await store.all() == [added, once, label]
    assert await store.get(once.id) == once
    assert (await store.get(once.id)).trigger.at == T0 + timedelta(days=1)


async def test_save_delete_and_unknown_ids(store: ScheduleStore) -> None:
    s = await store.add(nightly())
    changed = nightly(id=s.id, name="renamed", enabled=False, next_run_at=None)
    assert await store.save(changed) == changed
    assert await store.get(s.id) == changed
    await store.delete(s.id)
    for call in (store.get(s.id), store.delete(s.id), store.save(changed)):
        with pytest.raises(NotFound):
            await call


async def test_due_lists_enabled_schedules_at_or_before_now(store: ScheduleStore) -> None:
    early = await store.add(nightly(name="early", next_run_at=T0 - timedelta(minutes=1)))
    now_due = await store.add(nightly(name="now", next_run_at=T0))
    await store.add(nightly(name="later", next_run_at=T0 + timedelta(seconds=1)))
    await store.add(nightly(name="off", enabled=False, next_run_at=T0 - timedelta(hours=1)))
    await store.add(nightly(name="spent", next_run_at=None))
    assert [s.name for s in await store.due(T0)] == [early.name, now_due.name]
    assert await store.next_due_time() == T0 - timedelta(minutes=1)
    await store.set_next_run(early.id, T0 + timedelta(hours=2))
    await store.set_next_run(now_due.id, None)
    assert await store.due(T0) == []
    assert await store.next_due_time() == T0 + timedelta(seconds=1)


async def test_a_run_is_claimed_once_even_by_two_schedulers(db_url: str) -> None:
    # Two schedulers, two connections pools, one SQLite file: each due time runs once.
    first, second = Database(db_url), Database(db_url)
    try:
        a, b = ScheduleStore(first), ScheduleStore(second)
        s = await a.add(nightly())
        claims = await asyncio.gather(*(
            store.claim(s.id, RunTrigger.SCHEDULE, T0, started_at=T0)
            for store in (a, b, a, b)))
        won = [c for c in claims if c is not None]
        assert len(won) == 1 and won[0].result is RunResult.RUNNING
        # Another due time, or another trigger at the same instant, is another run.
        assert await b.claim(s.id, RunTrigger.SCHEDULE, T0 + timedelta(days=1),
                             started_at=T0) is not None
        assert await b.claim(s.id, RunTrigger.RUN_NOW, T0, started_at=T0) is not None
        assert (await a.runs(s.id))[1] == 3
    finally:
        await first.close()
        await second.close()


async def test_finish_history_paging_pruning_and_cascade(store: ScheduleStore) -> None:
    s = await store.add(nightly())
    other = await store.add(nightly(name="other"))
    ids = []
    for day in range(5):
        at = T0 + timedelta(days=day)
        run = await store.claim(s.id, RunTrigger.SCHEDULE, at, started_at=at)
        assert run is not None
        ids.append(run.id)
        if day < 4:
            await store.finish(run.id, RunResult.OK if day % 2 else RunResult.ERROR,
                               finished_at=at + timedelta(seconds=3),
                               error=None if day % 2 else "boom", attempt=3)
    await store.claim(other.id, RunTrigger.WEBHOOK, T0, started_at=T0)

    page, total = await store.runs(s.id, limit=2, offset=1)
    assert total == 5 and [r.id for r in page] == [ids[3], ids[2]]  # newest first
    assert page[1].result is RunResult.ERROR and page[1].error == "boom"
    assert page[1].attempt == 3 and page[1].finished_at == T0 + timedelta(days=2, seconds=3)
    assert (await store.runs())[1] == 6
    with pytest.raises(NotFound):
        await store.finish(999_999, RunResult.OK, finished_at=T0)

    # Finished runs older than the cut go; a run still running is never pruned.
    assert await store.prune_runs(T0 + timedelta(days=4, seconds=1)) == 4
    left, _ = await store.runs(s.id)
    assert [r.id for r in left] == [ids[4]] and left[0].result is RunResult.RUNNING

    await store.delete(s.id)
    assert (await store.runs(s.id))[1] == 0
    assert (await store.runs(other.id))[1] == 1
