"""Schedule models and the scheduler's pure decisions: targets, triggers, misfires, retries,
jitter."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from chrontainer_core.errors import InvalidInput
from chrontainer_core.scheduling.jobs import (
    ACTIONS_BY_TARGET,
    MisfirePolicy,
    RetryPolicy,
    ScheduleAction,
    Target,
    TargetKind,
    Trigger,
    TriggerKind,
)
from chrontainer_core.scheduling.policy import MAX_GRACE, decide_misfire, jittered, retry_delay

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def hourly(after: datetime) -> datetime:
    """Every hour on the hour: the first one strictly after ``after``."""
    top = after.replace(minute=0, second=0, microsecond=0)
    return top + HOUR


def once_at(at: datetime):  # type: ignore[no-untyped-def]
    return lambda after: at if at > after else None


# -- targets and triggers ---------------------------------------------------------------------


def test_targets_need_exactly_their_own_fields() -> None:
    assert Target(kind=TargetKind.CONTAINER, host="nas", key="web").describe() == (
        "container web on nas")
    assert Target(kind=TargetKind.LABEL, host="nas", label="app=media").describe() == (
        "containers labelled app=media on nas")
    assert Target(kind=TargetKind.HOST, host="nas").describe() == "host nas"
    cases = [
        ({"kind": TargetKind.CONTAINER, "host": "nas"}, "target.key"),
        ({"kind": TargetKind.CONTAINER, "host": "nas", "key": ""}, "target.key"),
        ({"kind": TargetKind.LABEL, "host": "nas"}, "target.label"),
        ({"kind": TargetKind.HOST, "host": "nas", "key": "web"}, "target.key"),
        ({"kind": TargetKind.CONTAINER, "host": "nas", "key": "w", "label": "a"}, "target.label"),
    ]
    for kwargs, field in cases:
        with pytest.raises(InvalidInput) as err:
            Target(**kwargs)  # type: ignore[arg-type]
        assert err.value.field == field, kwargs


def test_actions_fit_their_targets() -> None:
    assert ScheduleAction.PRUNE_IMAGES not in ACTIONS_BY_TARGET[TargetKind.CONTAINER]
    assert ACTIONS_BY_TARGET[TargetKind.HOST] == {ScheduleAction.PRUNE_IMAGES}
    assert ACTIONS_BY_TARGET[TargetKind.LABEL] == ACTIONS_BY_TARGET[TargetKind.CONTAINER]
    assert ScheduleAction.RESTART in ACTIONS_BY_TARGET[TargetKind.CONTAINER]


def test_triggers_need_their_time() -> None:
    Trigger(kind=TriggerKind.CRON, cron="0 3 * * *", timezone="Europe/Berlin")
    Trigger(kind=TriggerKind.ONCE, at=T0)
    for kwargs, field in (({"kind": TriggerKind.CRON}, "trigger.cron"),
                          ({"kind": TriggerKind.ONCE}, "trigger.at"),
                          ({"kind": TriggerKind.ONCE, "at": T0.replace(tzinfo=None)},
                           "trigger.at")):
        with pytest.raises(InvalidInput) as err:
            Trigger(**kwargs)  # type: ignore[arg-type]
        assert err.value.field == field


# -- misfires -----------------------------------------------------------------------------------


def test_nothing_missed_changes_nothing() -> None:
    for policy in MisfirePolicy:
        decision = decide_misfire(T0 + HOUR, T0, policy, HOUR, hourly)
        assert (decision.run_at, decision.next_due) == (None, T0 + HOUR)
    assert decide_misfire(None, T0, MisfirePolicy.RUN_ONCE, HOUR, hourly).next_due is None


def test_skip_never_runs_late_and_moves_to_the_next_due_time() -> None:
    # Down from 09:30 to 12:20: 10:00, 11:00 and 12:00 were missed.
    now = T0 + timedelta(minutes=20)
    decision = decide_misfire(T0 - 2 * HOUR, now, MisfirePolicy.SKIP, HOUR, hourly)
    assert decision.run_at is None
    assert decision.next_due == T0 + HOUR


def test_run_once_runs_only_the_latest_missed_time_within_grace() -> None:
    now = T0 + timedelta(minutes=20)
    decision = decide_misfire(T0 - 2 * HOUR, now, MisfirePolicy.RUN_ONCE,
                              timedelta(minutes=30), hourly)
    assert decision.run_at == T0  # one run, for 12:00; not three
    assert decision.next_due == T0 + HOUR


def test_run_once_outside_grace_runs_nothing() -> None:
    now = T0 + timedelta(minutes=50)
    decision = decide_misfire(T0 - 2 * HOUR, now, MisfirePolicy.RUN_ONCE,
                              timedelta(minutes=30), hourly)
    assert decision.run_at is None
    assert decision.next_due == T0 + HOUR


def test_a_due_time_exactly_now_is_due() -> None:
    decision = decide_misfire(T0, T0, MisfirePolicy.RUN_ONCE, timedelta(0), hourly)
    assert decision.run_at == T0 and decision.next_due == T0 + HOUR


def test_a_week_away_walks_only_the_grace_window() -> None:
    calls: list[datetime] = []

    def counting(after: datetime) -> datetime:
        calls.append(after)
        return after + timedelta(minutes=1) - timedelta(microseconds=after.microsecond)

    now = T0 + timedelta(days=7)
    decision = decide_misfire(T0, now, MisfirePolicy.RUN_ONCE, timedelta(days=30), counting)
    assert decision.run_at is not None and now - decision.run_at < timedelta(minutes=1)
    # Grace is capped at a day: about 1440 steps, not 10080.
    assert len(calls) <= MAX_GRACE / timedelta(minutes=1) + 2


def test_a_missed_one_time_schedule_runs_once_or_never_again() -> None:
    at = T0 - timedelta(minutes=5)
    ran = decide_misfire(at, T0, MisfirePolicy.RUN_ONCE, timedelta(minutes=10), once_at(at))
    assert (ran.run_at, ran.next_due) == (at, None)
    skipped = decide_misfire(at, T0, MisfirePolicy.SKIP, timedelta(minutes=10), once_at(at))
    assert (skipped.run_at, skipped.next_due) == (None, None)


# -- retries and jitter -------------------------------------------------------------------------


def test_retry_delays_double_up_to_the_maximum() -> None:
    policy = RetryPolicy(retries=4, backoff=30, max_backoff=100)
    assert [retry_delay(policy, n) for n in range(1, 7)] == [None, 30, 60, 100, 100, None]
    assert retry_delay(RetryPolicy(), 2) is None  # no retries by default


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"retries": -1}, "retries"), ({"retries": 11}, "retries"),
    ({"backoff": 0}, "retry_backoff"), ({"backoff": 700, "max_backoff": 600}, "retry_backoff"),
])
def test_bad_retry_policies_are_refused(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_jitter_only_delays_and_stays_within_bounds() -> None:
    jitter = timedelta(seconds=90)
    rng = random.Random(7)
    seen = [jittered(T0, jitter, rng.random) for _ in range(2000)]
    assert all(T0 <= t < T0 + jitter for t in seen)
    assert max(seen) - min(seen) > timedelta(seconds=80)  # the whole window is used
    assert jittered(T0, jitter, lambda: 0.0) == T0
    assert jittered(T0, timedelta(0), lambda: 0.9) == T0
    assert jittered(T0, jitter, lambda: 5.0) == T0 + jitter  # a bad source cannot go further


# -- image targets (the "pull" action) ------------------------------------------------------------


def test_an_image_target_needs_an_image_and_nothing_else() -> None:
    from chrontainer_core.errors import InvalidInput
    from chrontainer_core.scheduling.jobs import (
        ACTIONS_BY_TARGET,
        ScheduleAction,
        Target,
        TargetKind,
    )
    from chrontainer_core.scheduling.service import new_target

    target = new_target("image", "nas", image="ghcr.io/o/app:2")
    assert target == Target(kind=TargetKind.IMAGE, host="nas", image="ghcr.io/o/app:2")
    assert target.describe() == "image ghcr.io/o/app:2 on nas"
    assert ACTIONS_BY_TARGET[TargetKind.IMAGE] == {ScheduleAction.PULL}
    with pytest.raises(InvalidInput) as missing:
        new_target("image", "nas")
    assert missing.value.field == "target.image"
    with pytest.raises(InvalidInput) as stray:
        new_target("container", "nas", key="web", image="nginx")
    assert stray.value.field == "target.image"
    with pytest.raises(InvalidInput) as kind:
        new_target("volume", "nas")
    assert kind.value.field == "target.kind"
