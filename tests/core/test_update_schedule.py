"""The system schedule of update checks (virtual clock: no real waiting)."""

from __future__ import annotations

from datetime import UTC, datetime

from chrontainer_core.updates.schedule import SystemCheckSchedule

from ..vclock import VirtualClock


class Setting:
    """The two settings the schedule reads, changed by the tests."""

    def __init__(self, cron: str, zone: str = "UTC") -> None:
        self.cron, self.zone = cron, zone

    def __call__(self) -> tuple[str, str]:
        return self.cron, self.zone


def make(clock: VirtualClock, setting: Setting) -> tuple[SystemCheckSchedule, list[datetime]]:
    runs: list[datetime] = []

    async def run() -> None:
        runs.append(clock())

    return SystemCheckSchedule(run, setting, clock=clock, sleep=clock.sleep), runs


async def test_daily_at_four_fires_once_a_day_at_four() -> None:
    clock = VirtualClock(datetime(2026, 11, 26, 3, 0, tzinfo=UTC))
    schedule, runs = make(clock, Setting("0 4 * * *"))
    schedule.start()
    try:
        assert schedule.next_due == datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
        await clock.wait_until(lambda: clock.sleeping == 1, "the schedule to sleep")
        await clock.advance(3599)
        assert runs == []
        await clock.advance(1)
        await clock.wait_until(lambda: len(runs) == 1, "the 04:00 check")
        assert runs == [datetime(2026, 11, 26, 4, 0, tzinfo=UTC)]
        assert schedule.next_due == datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
        await clock.advance(24 * 3600)
        await clock.wait_until(lambda: len(runs) == 2, "the next day's check")
        assert runs[1] == datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
    finally:
        await schedule.stop()


async def test_time_zone_and_a_changed_setting_apply_at_once() -> None:
    clock = VirtualClock(datetime(2026, 11, 26, 1, 0, tzinfo=UTC))
    setting = Setting("0 4 * * *", "Europe/Berlin")  # 04:00 in Berlin is 03:00 UTC in winter
    schedule, runs = make(clock, setting)
    schedule.start()
    try:
        assert schedule.next_due == datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
        await clock.wait_until(lambda: clock.sleeping == 1, "the schedule to sleep")
        setting.cron = ""  # never
        schedule.wake()
        await clock.wait_until(lambda: schedule.next_due is None, "the new plan")
        await clock.advance(3 * 24 * 3600)
        assert runs == []
        setting.cron, setting.zone = "30 * * * *", "UTC"
        schedule.wake()
        await clock.wait_until(lambda: schedule.next_due is not None, "the new plan")
        assert schedule.next_due == datetime(2026, 11, 29, 1, 30, tzinfo=UTC)
        await clock.wait_until(lambda: clock.sleeping == 1, "the schedule to sleep")
        await clock.advance(30 * 60)
        await clock.wait_until(lambda: len(runs) == 1, "the half-past check")
    finally:
        await schedule.stop()
