"""Schedules acting on real containers when a (virtual) clock reaches their due time.

The daemon's own scheduler runs too, on the real clock, over the same database: the due times
here lie a day ahead of real time, so only the virtual-clock scheduler may fire them, and the
run claim keeps the two from ever both acting.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from chrontainer_core import Chrontainer
from chrontainer_core.actor import ActorKind
from chrontainer_core.scheduling.actions import CoreActions
from chrontainer_core.scheduling.jobs import (
    RunResult,
    Schedule,
    ScheduleAction,
    ScheduleRun,
    Target,
    TargetKind,
    Trigger,
    TriggerKind,
)
from chrontainer_core.scheduling.runs import RunExecutor
from chrontainer_core.scheduling.scheduler import Scheduler
from chrontainer_core.scheduling.service import ScheduleService
from chrontainer_core.scheduling.store import ScheduleStore

from ..live import TEST_LABEL, Engine, docker, run_container, unique, wait_for
from ..live import test_image as image_ref
from ..registry import TestRegistry
from ..vclock import VirtualClock, eventually


@dataclass
class Rig:
    ch: Chrontainer
    clock: VirtualClock
    executor: RunExecutor
    scheduler: Scheduler
    service: ScheduleService


@pytest.fixture
async def rig(daemon: Chrontainer) -> AsyncIterator[Rig]:
    assert daemon.db is not None
    clock = VirtualClock(datetime.now(UTC))
    store = ScheduleStore(daemon.db)
    actions = CoreActions(daemon.containers, daemon.images, daemon.audit, pulls=daemon.pulls)
    executor = RunExecutor(store, actions, bus=daemon.bus, clock=clock, sleep=clock.sleep)
    scheduler = Scheduler(store, executor, clock=clock, sleep=clock.sleep)
    service = ScheduleService(store, scheduler, executor, audit=daemon.audit,
                              hosts=daemon.hosts, clock=clock)
    yield Rig(daemon, clock, executor, scheduler, service)
    await scheduler.stop(grace=5)


async def fire_at_due(rig: Rig, schedule: Schedule) -> ScheduleRun:
    """Tick one second before the due time (nothing happens), then at it; return the run."""
    due = schedule.next_run_at
    assert due is not None
    await rig.clock.set(due - timedelta(seconds=1))
    await rig.scheduler.tick()
    assert rig.executor.running == 0
    await rig.clock.set(due)
    await rig.scheduler.tick()
    # Generous: busybox ignores SIGTERM, so a stop takes the engine's 10 s grace period.
    await eventually(lambda: rig.executor.running == 0, "the run ended", timeout=60)
    runs, _ = await rig.service.runs(schedule.id)
    [run] = runs
    return run


def once_tomorrow(rig: Rig, name: str, target: Target, action: ScheduleAction) -> Schedule:
    at = rig.clock.now + timedelta(days=1)
    return Schedule(id=0, name=name, enabled=True, target=target, action=action,
                    trigger=Trigger(kind=TriggerKind.ONCE, at=at))


async def state_of(engine: Engine, name: str) -> str:
    return await docker(engine, "inspect", "-f", "{{.State.Status}}", name)


async def test_a_due_schedule_stops_a_real_container_as_the_schedule(
        rig: Rig, local_engine: Engine) -> None:
    _, name = await run_container(local_engine)
    await wait_for(lambda: any(c.name == name for c in rig.ch.hosts.get("local").containers()),
                   what="the container is in the cache")
    target = Target(kind=TargetKind.CONTAINER, host=local_engine.slug, key=name)
    schedule = await rig.service.create(once_tomorrow(rig, "stop it", target,
                                                      ScheduleAction.STOP))
    assert await state_of(local_engine, name) == "running"
    run = await fire_at_due(rig, schedule)
    assert (run.result, run.detail) == (RunResult.OK, f"stopped {name}")
    assert await state_of(local_engine, name) == "exited"
    entries, _ = await rig.ch.audit.list(actor_kind=ActorKind.SCHEDULE, action="container.stop")
    assert [(e.actor.name, e.target, e.result) for e in entries] == [
        ("stop it", f"{local_engine.slug}/{name}", "ok")]


async def test_a_recreated_container_keeps_its_schedule(rig: Rig, local_engine: Engine) -> None:
    _, name = await run_container(local_engine)
    target = Target(kind=TargetKind.CONTAINER, host=local_engine.slug, key=name)
    schedule = await rig.service.create(once_tomorrow(rig, "restart it", target,
                                                      ScheduleAction.RESTART))
    await docker(local_engine, "rm", "-f", name)
    new_id, _ = await run_container(local_engine, name=name)  # same name: same key
    await wait_for(lambda: any(c.id == new_id for c in rig.ch.hosts.get("local").containers()),
                   what="the new container is in the cache")
    before = await docker(local_engine, "inspect", "-f", "{{.State.StartedAt}}", name)
    run = await fire_at_due(rig, schedule)
    assert run.result is RunResult.OK
    assert await docker(local_engine, "inspect", "-f", "{{.State.StartedAt}}", name) != before


async def test_a_label_target_acts_on_every_container_carrying_it(
        rig: Rig, remote_engine: Engine) -> None:
    label = f"chrontainer.group={unique('g')}"
    names = [(await run_container(remote_engine, options=("--label", label)))[1]
             for _ in range(2)]
    _, outsider = await run_container(remote_engine)
    await wait_for(lambda: {c.name for c in rig.ch.hosts.get(remote_engine.slug).containers()}
                   >= {*names, outsider}, what="all three cached")
    target = Target(kind=TargetKind.LABEL, host=remote_engine.slug, label=label)
    schedule = await rig.service.create(once_tomorrow(rig, "pause group", target,
                                                      ScheduleAction.PAUSE))
    run = await fire_at_due(rig, schedule)
    assert (run.result, run.detail) == (RunResult.OK, "paused 2 containers")
    assert [await state_of(remote_engine, n) for n in names] == ["paused", "paused"]
    assert await state_of(remote_engine, outsider) == "running"
    for n in names:
        await docker(remote_engine, "unpause", n)


async def test_a_missing_container_makes_a_clear_error(rig: Rig, local_engine: Engine) -> None:
    target = Target(kind=TargetKind.CONTAINER, host=local_engine.slug, key=unique("gone"))
    schedule = await rig.service.create(once_tomorrow(rig, "start ghost", target,
                                                      ScheduleAction.START))
    run = await fire_at_due(rig, schedule)
    assert run.result is RunResult.ERROR
    assert run.error == f"no container with key '{target.key}' on host '{local_engine.slug}'"
    # The activity page (the audit trail's container actions) shows it too.
    entries, _ = await rig.ch.audit.list(actor_kind=ActorKind.SCHEDULE, action="container.start")
    assert [(e.target, e.result, e.error) for e in entries] == [
        (f"{local_engine.slug}/{target.key}", "error", run.error)]


async def test_a_host_schedule_prunes_unused_images(rig: Rig, local_engine: Engine) -> None:
    # A stopped container keeps the test image in use: only the committed copy is unused.
    _, keeper = await run_container(local_engine, start=False)
    ref = f"chrontainer-test/prune-me:{unique('t')}"
    await docker(local_engine, "commit", "--change", f"LABEL {TEST_LABEL}=1", keeper, ref)
    target = Target(kind=TargetKind.HOST, host=local_engine.slug)
    schedule = await rig.service.create(once_tomorrow(rig, "prune", target,
                                                      ScheduleAction.PRUNE_IMAGES))
    run = await fire_at_due(rig, schedule)
    assert run.result is RunResult.OK
    # At least the committed copy (other unused images of the shared engine go too, e.g. the
    # volume helper image that Chrontainer imports again when it needs it).
    assert run.detail is not None and re.match(r"removed [1-9][0-9]* tags? and ", run.detail)
    assert await docker(local_engine, "images", "-q", ref) == ""
    images = json.loads(await docker(local_engine, "image", "inspect", image_ref()))
    assert images, "the image a container uses is kept"
    entries, _ = await rig.ch.audit.list(action="host.prune_images")
    assert [(e.actor.kind, e.target, e.result) for e in entries] == [
        (ActorKind.SCHEDULE, local_engine.slug, "ok")]


async def test_an_image_schedule_pulls_the_reference_on_its_host(
        rig: Rig, local_engine: Engine, remote_engine: Engine, plain_registry: TestRegistry,
) -> None:
    # Pushed from the local engine, pulled by the remote one, which never had it.
    repo = f"sched/{unique('pull')}"
    reference = await plain_registry.push(local_engine, image_ref(), repo, "v1")
    target = Target(kind=TargetKind.IMAGE, host=remote_engine.slug, image=reference)
    try:
        schedule = await rig.service.create(once_tomorrow(rig, "pull", target,
                                                          ScheduleAction.PULL))
        run = await fire_at_due(rig, schedule)
        assert run.result is RunResult.OK, run.error
        assert run.detail is not None and run.detail.startswith(f"pulled a newer {reference}")
        assert json.loads(await docker(remote_engine, "image", "inspect", reference))
        entries, _ = await rig.ch.audit.list(action="image.pull")
        assert [(e.actor.kind, e.target, e.result) for e in entries] == [
            (ActorKind.SCHEDULE, f"{remote_engine.slug}/{reference}", "ok")]
        # The next pull finds the host has it already.
        again = await fire_at_due(rig, await rig.service.create(
            once_tomorrow(rig, "pull again", target, ScheduleAction.PULL)))
        assert again.result is RunResult.OK, again.error
        assert again.detail is not None and again.detail.startswith(f"{reference} is up to date")
        # A tag the registry lacks fails the run with the registry's answer, nothing else.
        missing = await rig.service.create(once_tomorrow(
            rig, "pull missing",
            Target(kind=TargetKind.IMAGE, host=remote_engine.slug,
                   image=plain_registry.ref(repo, "nope")), ScheduleAction.PULL))
        failed = await fire_at_due(rig, missing)
        assert failed.result is RunResult.ERROR
        assert failed.error is not None and "not found" in failed.error.lower()
    finally:
        await docker(remote_engine, "rmi", "-f", reference, check=False)


async def test_a_renamed_container_takes_its_schedules_and_webhooks_along(
        daemon: Chrontainer, local_engine: Engine) -> None:
    schedules, webhooks = daemon.schedules, daemon.webhooks
    assert schedules is not None and webhooks is not None
    _, name = await run_container(local_engine)
    target = Target(kind=TargetKind.CONTAINER, host=local_engine.slug, key=name)
    at = datetime.now(UTC) + timedelta(days=1)
    schedule = await schedules.create(Schedule(
        id=0, name="follow me", enabled=True, target=target, action=ScheduleAction.RESTART,
        trigger=Trigger(kind=TriggerKind.ONCE, at=at)))
    hook, _ = await webhooks.create("deploy", action=ScheduleAction.RESTART, target=target)
    new_name = unique("renamed")
    await docker(local_engine, "rename", name, new_name)  # behind Chrontainer's back

    async def moved() -> bool:
        hook_target = (await webhooks.get(hook.id)).target
        return ((await schedules.get(schedule.id)).target.key == new_name
                and hook_target is not None and hook_target.key == new_name)
    await wait_for(moved, what="the schedule and the webhook follow the rename")
    entries, _ = await daemon.audit.list(actor_kind=ActorKind.SYSTEM)
    assert {e.action for e in entries if e.target == f"{local_engine.slug}/{new_name}"} >= {
        "schedule.move_target", "webhook.move_target"}
