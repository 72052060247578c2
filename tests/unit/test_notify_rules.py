"""The pure decisions behind notifications, fed hand-made event sequences on a virtual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chrontainer_core.models import HostStatus
from chrontainer_core.notify.models import NotificationEvent
from chrontainer_core.notify.rules import (
    Change,
    DeathWitness,
    StartCounter,
    Transitions,
    exit_code,
    health_of,
    host_event,
    run_event,
)
from chrontainer_core.scheduling.jobs import RunResult

from ..vclock import VirtualClock

T0 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)
WEB = ("nas", "0bec0552520b")
DB = ("nas", "786c1d11f6fb")
WEB_ELSEWHERE = ("pi", "0bec0552520b")  # the same id on another engine is another container


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


@pytest.fixture
def witness(clock: VirtualClock) -> DeathWitness[str]:
    return DeathWitness(clock=clock, window=timedelta(seconds=30), grace=timedelta(seconds=2))


async def test_an_unexplained_death_is_due_once_after_the_grace_period(
        clock: VirtualClock, witness: DeathWitness[str]) -> None:
    witness.started(WEB)
    assert witness.died(WEB, 3, "web died")
    assert witness.next_due() == T0 + timedelta(seconds=2)
    await clock.advance(1.9)
    assert witness.due() == []
    await clock.advance(0.1)
    assert witness.due() == ["web died"]
    assert witness.due() == []
    assert witness.next_due() is None


@pytest.mark.parametrize("code", [0, None])
def test_a_clean_exit_or_one_without_a_code_is_no_death(
        witness: DeathWitness[str], code: int | None) -> None:
    assert not witness.died(WEB, code, "web")
    assert witness.next_due() is None


async def test_a_kill_or_stop_within_the_window_explains_the_death(
        clock: VirtualClock, witness: DeathWitness[str]) -> None:
    witness.requested(WEB)  # docker stop/kill/restart/rm -f all report a kill first
    await clock.advance(29)
    assert not witness.died(WEB, 137, "web")
    await clock.advance(5)
    assert witness.due() == []


async def test_a_request_older_than_the_window_explains_nothing(
        clock: VirtualClock, witness: DeathWitness[str]) -> None:
    witness.requested(WEB)
    await clock.advance(31)
    assert witness.died(WEB, 143, "web")


async def test_a_request_explains_only_its_own_container_on_its_own_host(
        witness: DeathWitness[str]) -> None:
    witness.requested(DB)
    witness.requested(WEB_ELSEWHERE)
    assert witness.died(WEB, 1, "web")


async def test_a_request_before_a_start_does_not_explain_the_next_life(
        clock: VirtualClock, witness: DeathWitness[str]) -> None:
    witness.requested(WEB)  # docker restart: kill, die, stop, start
    assert not witness.died(WEB, 137, "restart")
    witness.started(WEB)
    await clock.advance(5)
    assert witness.died(WEB, 3, "crash after the restart")


@pytest.mark.parametrize("follower", ["destroy", "oom", "stop"])
async def test_what_follows_within_the_grace_period_explains_a_death(
        clock: VirtualClock, witness: DeathWitness[str], follower: str) -> None:
    assert witness.died(WEB, 3, "web")  # --rm: die, then destroy ~0.1 s later
    await clock.advance(1)
    {"destroy": witness.destroyed, "oom": witness.oom, "stop": witness.requested}[follower](WEB)
    await clock.advance(5)
    assert witness.due() == []


async def test_an_oom_kill_is_reported_once_and_its_die_is_no_other_death(
        clock: VirtualClock, witness: DeathWitness[str]) -> None:
    witness.started(WEB)
    assert witness.oom(WEB)
    assert not witness.oom(WEB)  # the kernel may report several processes of one cgroup
    assert not witness.died(WEB, 137, "web")
    await clock.advance(60)
    assert witness.due() == []
    witness.started(WEB)  # a new life may be OOM-killed again, and may die otherwise
    assert witness.oom(WEB)
    witness.started(WEB)
    assert witness.died(WEB, 1, "web")


async def test_each_death_of_a_restart_loop_is_its_own(
        clock: VirtualClock, witness: DeathWitness[str]) -> None:
    assert witness.died(WEB, 1, "first")
    await clock.advance(0.1)
    witness.started(WEB)  # restarted by its policy: not being removed, so due at once
    assert witness.next_due() == clock.now
    assert witness.due() == ["first"]
    assert witness.died(WEB, 1, "second")
    await clock.advance(0.2)
    witness.started(WEB)
    await clock.advance(0.4)
    assert witness.died(WEB, 1, "third")
    witness.destroyed(WEB)  # docker rm -f of the looping container: its last death goes
    assert witness.due() == ["second"]
    await clock.advance(5)
    assert witness.due() == []


async def test_a_second_die_without_a_start_keeps_the_first(
        witness: DeathWitness[str]) -> None:
    assert witness.died(WEB, 1, "first")
    assert witness.died(WEB, 2, "second")
    assert witness.due() == ["first"]
    assert witness.flush() == ["second"]


async def test_deaths_fall_due_each_at_its_own_time(
        clock: VirtualClock, witness: DeathWitness[str]) -> None:
    assert witness.died(WEB, 1, "web")
    await clock.advance(1)
    assert witness.died(DB, 2, "db")
    assert witness.next_due() == T0 + timedelta(seconds=2)
    await clock.advance(1)
    assert witness.due() == ["web"]
    assert witness.next_due() == T0 + timedelta(seconds=3)
    await clock.advance(1)
    assert witness.due() == ["db"]


async def test_flush_hands_out_every_waiting_death(witness: DeathWitness[str]) -> None:
    witness.died(WEB, 1, "web")
    witness.started(WEB)
    witness.died(WEB, 1, "web again")
    witness.died(DB, 2, "db")
    assert witness.flush() == ["web", "web again", "db"]
    assert witness.due() == [] and witness.next_due() is None


async def test_expired_requests_are_pruned(clock: VirtualClock,
                                           witness: DeathWitness[str]) -> None:
    for n in range(100):
        witness.requested(("nas", f"c{n}"))
    await clock.advance(31)
    witness.requested(WEB)
    assert len(witness._requests) == 1


# --- restart loops -----------------------------------------------------------------------------


async def test_a_restart_loop_is_reported_once_while_it_lasts(clock: VirtualClock) -> None:
    counter = StartCounter(clock=clock)
    window = timedelta(minutes=10)
    seen = []
    for _ in range(12):  # a start every 10 s: 12 starts in 2 minutes
        seen.append(counter.started(WEB, count=5, window=window))
        await clock.advance(10)
    assert seen == [None, None, None, None, 5] + [None] * 7


async def test_starts_spread_wider_than_the_window_are_no_loop(clock: VirtualClock) -> None:
    counter = StartCounter(clock=clock)
    for _ in range(10):
        assert counter.started(WEB, count=3, window=timedelta(minutes=1)) is None
        await clock.advance(31)  # never 3 starts within one minute


async def test_a_loop_is_reported_again_after_it_calmed_down(clock: VirtualClock) -> None:
    counter = StartCounter(clock=clock)
    window = timedelta(minutes=1)
    assert [counter.started(WEB, count=3, window=window) for _ in range(4)] == [
        None, None, 3, None]
    await clock.advance(120)
    assert counter.started(WEB, count=3, window=window) is None  # fewer than 3: calmed down
    assert counter.started(WEB, count=3, window=window) is None
    assert counter.started(WEB, count=3, window=window) == 3


async def test_the_threshold_is_read_per_start(clock: VirtualClock) -> None:
    counter = StartCounter(clock=clock)
    window = timedelta(minutes=10)
    assert counter.started(WEB, count=5, window=window) is None
    assert counter.started(WEB, count=5, window=window) is None
    assert counter.started(WEB, count=2, window=window) == 2  # the setting was lowered


async def test_containers_are_counted_apart_and_forgotten(clock: VirtualClock) -> None:
    counter = StartCounter(clock=clock)
    window = timedelta(minutes=10)
    assert counter.started(WEB, count=2, window=window) is None
    assert counter.started(DB, count=2, window=window) is None
    assert counter.started(WEB_ELSEWHERE, count=2, window=window) is None
    counter.forget(WEB)
    assert counter.started(WEB, count=2, window=window) is None
    assert counter.started(DB, count=2, window=window) == 2


async def test_a_counter_keeps_no_more_starts_than_it_needs(clock: VirtualClock) -> None:
    counter = StartCounter(clock=clock)
    for _ in range(1000):
        counter.started(WEB, count=5, window=timedelta(days=1))
    assert len(counter._starts[WEB]) == 5


# --- transitions -------------------------------------------------------------------------------


def test_transitions_tell_changes_from_repeats() -> None:
    health: Transitions[tuple[str, str], str] = Transitions()
    assert health.change(WEB, "unhealthy") == Change(None, "unhealthy")
    assert health.change(WEB, "unhealthy") is None
    assert health.change(WEB, "healthy") == Change("unhealthy", "healthy")
    assert health.change(WEB, "unhealthy") == Change("healthy", "unhealthy")
    assert health.change(DB, "unhealthy") == Change(None, "unhealthy")
    health.forget(WEB)
    assert health.change(WEB, "unhealthy") == Change(None, "unhealthy")


def test_a_seeded_state_is_no_change() -> None:
    hosts: Transitions[str, HostStatus] = Transitions()
    hosts.seed("nas", HostStatus.ONLINE)
    assert hosts.change("nas", HostStatus.ONLINE) is None
    assert hosts.change("nas", HostStatus.OFFLINE) == Change(HostStatus.ONLINE,
                                                             HostStatus.OFFLINE)


@pytest.mark.parametrize(("before", "after", "event"), [
    (HostStatus.ONLINE, HostStatus.OFFLINE, NotificationEvent.HOST_OFFLINE),
    (HostStatus.OFFLINE, HostStatus.ONLINE, NotificationEvent.HOST_ONLINE),
    (None, HostStatus.ONLINE, None),  # the first connect
    (HostStatus.UNKNOWN, HostStatus.ONLINE, None),
    (None, HostStatus.OFFLINE, None),  # absent at start: never was online
    (HostStatus.UNKNOWN, HostStatus.OFFLINE, None),
])
def test_host_events(before: HostStatus | None, after: HostStatus,
                     event: NotificationEvent | None) -> None:
    assert host_event(before, after) is event


@pytest.mark.parametrize(("result", "event"), [
    (RunResult.ERROR, NotificationEvent.SCHEDULE_FAILED),
    (RunResult.SKIPPED, NotificationEvent.SCHEDULE_SKIPPED),
    (RunResult.OK, None),
    (RunResult.RUNNING, None),
])
def test_run_events(result: RunResult, event: NotificationEvent | None) -> None:
    assert run_event(result) is event


@pytest.mark.parametrize(("attributes", "code"), [
    ({"exitCode": "3"}, 3), ({"exitCode": "0"}, 0), ({"exitCode": "137"}, 137),
    ({}, None), ({"exitCode": "three"}, None), ({"signal": "9"}, None),
])
def test_exit_code(attributes: dict[str, str], code: int | None) -> None:
    assert exit_code(attributes) == code


@pytest.mark.parametrize(("action", "health"), [
    ("health_status: unhealthy", "unhealthy"), ("health_status: healthy", "healthy"),
    ("health_status:unhealthy", "unhealthy"), ("health_status: ", None),
    ("die", None), ("exec_die", None),
])
def test_health_of(action: str, health: str | None) -> None:
    assert health_of(action) == health
