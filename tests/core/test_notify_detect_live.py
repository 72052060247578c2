"""The event detector on real engines: which real deaths, OOM kills, healthchecks, restart
loops, failed actions, failed runs and host outages become notifications.

The detector is the thing under test; a recorder stands in for the notification service's
``emit`` (delivery is tested on its own). Absence is proven without waiting out a duration: a
marker container then crashes on the same engine, and once its "died" arrived, every engine
event reported before it has been examined and every earlier death's grace period is over.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from chrontainer_core import Chrontainer, HostSpec
from chrontainer_core.errors import Conflict, InvalidInput, NotFound
from chrontainer_core.notify.detect import EventDetector
from chrontainer_core.notify.models import Notification, NotificationEvent, Severity
from chrontainer_core.scheduling.jobs import (
    Schedule,
    ScheduleAction,
    Target,
    TargetKind,
    Trigger,
    TriggerKind,
)
from chrontainer_core.settings import Settings

from ..live import TEST_LABEL, Engine, TcpProxy, docker, run_container, unique, wait_for

pytestmark = pytest.mark.live

DIED = NotificationEvent.CONTAINER_DIED
TIMEOUT = 30.0


@dataclass
class Recorder:
    """Stands in for NotificationService.emit: keeps what it was given."""

    seen: list[tuple[Notification, Mapping[str, str] | None]] = field(default_factory=list)

    async def emit(self, n: Notification, labels: Mapping[str, str] | None) -> int:
        self.seen.append((n, labels))
        return 1

    def about(self, event: NotificationEvent, subject: str) -> list[Notification]:
        return [n for n, _ in self.seen if n.event is event and n.subject == subject]

    def labels_of(self, event: NotificationEvent, subject: str) -> list[Mapping[str, str] | None]:
        return [labels for n, labels in self.seen if n.event is event and n.subject == subject]

    def subjects(self, event: NotificationEvent) -> list[str]:
        return [n.subject for n, _ in self.seen if n.event is event]


@pytest.fixture
async def rec(daemon: Chrontainer) -> AsyncIterator[Recorder]:
    recorder = Recorder()
    settings = daemon.settings
    assert settings is not None
    detector = EventDetector(daemon.bus, daemon.hosts, daemon.audit, recorder.emit,
                             settings=lambda: settings.current)
    detector.start()
    yield recorder
    await detector.stop()


async def arrived(rec: Recorder, event: NotificationEvent, subject: str) -> Notification:
    await wait_for(lambda: bool(rec.about(event, subject)), timeout=TIMEOUT,
                   what=f"{event} about {subject}")
    return rec.about(event, subject)[0]


async def settle(rec: Recorder, engine: Engine) -> None:
    """Crash a marker container and wait for its "died": see the module docstring."""
    _, marker = await run_container(engine, "sh", "-c", "exit 7", name=unique("marker"))
    await arrived(rec, DIED, f"{engine.slug}/{marker}")


async def test_a_crash_is_exactly_one_died_notification(
        daemon: Chrontainer, rec: Recorder, local_engine: Engine) -> None:
    _, name = await run_container(local_engine, "sh", "-c", "sleep 1; exit 3")
    subject = f"{local_engine.slug}/{name}"
    n = await arrived(rec, DIED, subject)
    assert (n.title, n.severity, n.host, n.container) == (
        f"{name} on Local died (exit 3)", Severity.ERROR, local_engine.slug, name)
    assert "exited with code 3" in n.message
    await settle(rec, local_engine)
    assert len(rec.about(DIED, subject)) == 1
    [labels] = rec.labels_of(DIED, subject)
    assert labels is not None and labels[TEST_LABEL] == "1"  # from the cache, for opt-out


async def test_stop_kill_remove_and_auto_remove_are_no_deaths(
        rec: Recorder, remote_engine: Engine) -> None:
    stopped = (await run_container(remote_engine))[1]
    killed = (await run_container(remote_engine))[1]
    removed = (await run_container(remote_engine))[1]
    auto = (await run_container(remote_engine, "sh", "-c", "sleep 1; exit 3",
                                options=("--rm",)))[1]
    await docker(remote_engine, "stop", stopped)  # SIGTERM ignored: SIGKILL, exit 137
    await docker(remote_engine, "kill", killed)
    await docker(remote_engine, "rm", "-f", removed)

    async def auto_removed() -> bool:
        return auto not in await docker(remote_engine, "ps", "-a", "--format", "{{.Names}}")
    await wait_for(auto_removed, timeout=TIMEOUT, what="the --rm container is removed")
    for name in (stopped, killed):
        assert await docker(remote_engine, "inspect", "-f", "{{.State.ExitCode}}", name) == "137"
    await settle(rec, remote_engine)
    assert not {f"{remote_engine.slug}/{n}" for n in (stopped, killed, removed, auto)} & set(
        rec.subjects(DIED))


async def test_an_oom_kill_is_one_oom_notification_and_no_death(
        rec: Recorder, local_engine: Engine) -> None:
    _, name = await run_container(
        local_engine, "sh", "-c", "x=a; while true; do x=$x$x; done",
        options=("--memory", "8m", "--memory-swap", "8m"))
    subject = f"{local_engine.slug}/{name}"
    n = await arrived(rec, NotificationEvent.CONTAINER_OOM, subject)
    assert n.title == f"{name} on Local was killed: out of memory"
    assert n.severity is Severity.ERROR
    assert await docker(local_engine, "inspect", "-f", "{{.State.OOMKilled}}", name) == "true"
    await settle(rec, local_engine)
    assert len(rec.about(NotificationEvent.CONTAINER_OOM, subject)) == 1
    assert rec.about(DIED, subject) == []


async def test_a_failing_healthcheck_is_one_unhealthy_notification(
        rec: Recorder, remote_engine: Engine) -> None:
    _, name = await run_container(remote_engine, options=(
        "--health-cmd", "false", "--health-interval", "1s", "--health-retries", "1"))
    subject = f"{remote_engine.slug}/{name}"
    n = await arrived(rec, NotificationEvent.CONTAINER_UNHEALTHY, subject)
    assert (n.title, n.severity) == (f"{name} on Remote is unhealthy", Severity.WARNING)

    async def failed_again() -> bool:
        streak = await docker(remote_engine, "inspect", "-f",
                              "{{.State.Health.FailingStreak}}", name)
        return int(streak) >= 3
    await wait_for(failed_again, timeout=TIMEOUT, what="more failed healthchecks")
    await settle(rec, remote_engine)
    assert len(rec.about(NotificationEvent.CONTAINER_UNHEALTHY, subject)) == 1


async def test_a_restart_loop_is_one_notification(
        daemon: Chrontainer, rec: Recorder, local_engine: Engine) -> None:
    assert daemon.settings is not None
    await daemon.settings.update({"restart_loop_count": 3, "restart_loop_minutes": 10})
    _, name = await run_container(local_engine, "sh", "-c", "exit 1",
                                  options=("--restart", "always"))
    subject = f"{local_engine.slug}/{name}"
    try:
        n = await arrived(rec, NotificationEvent.CONTAINER_RESTART_LOOP, subject)
        assert n.title == f"{name} on Local is in a restart loop"
        assert "started 3 times within 10 minutes" in n.message

        async def kept_looping() -> bool:
            count = await docker(local_engine, "inspect", "-f", "{{.RestartCount}}", name)
            return int(count) >= 5
        await wait_for(kept_looping, timeout=TIMEOUT, what="more restarts")
    finally:
        await docker(local_engine, "rm", "-f", name)
    await settle(rec, local_engine)
    assert len(rec.about(NotificationEvent.CONTAINER_RESTART_LOOP, subject)) == 1
    # Each exit of the loop is a death of its own nobody asked for (the service throttles
    # them); only the last, ended by the removal, may go untold.
    assert len(rec.about(DIED, subject)) >= 3


async def test_failed_container_actions_are_notified_whoever_asked(
        daemon: Chrontainer, rec: Recorder, local_engine: Engine) -> None:
    _, name = await run_container(local_engine, start=False)
    await wait_for(lambda: any(c.name == name
                               for c in daemon.hosts.get(local_engine.slug).containers()),
                   what="the container is cached")
    with pytest.raises(InvalidInput):  # a failed call that is not a container action
        await daemon.hosts.add(HostSpec(slug="Not A Slug", name="x", url="tcp://127.0.0.1:1"))
    with pytest.raises(Conflict):
        await daemon.containers.action(local_engine.slug, name, "unpause")
    gone = unique("gone")
    with pytest.raises(NotFound):
        await daemon.containers.action(local_engine.slug, gone, "start")
    await daemon.containers.action(local_engine.slug, name, "start")  # succeeds: no news

    subject = f"{local_engine.slug}/{name}"
    n = await arrived(rec, NotificationEvent.ACTION_FAILED, subject)
    assert (n.title, n.severity, n.host, n.container) == (
        f"unpause of {name} on Local failed", Severity.ERROR, local_engine.slug, name)
    assert "cannot be unpaused" in n.message and "library" in n.message
    [labels] = rec.labels_of(NotificationEvent.ACTION_FAILED, subject)
    assert labels is not None and labels[TEST_LABEL] == "1"
    missing = await arrived(rec, NotificationEvent.ACTION_FAILED, f"{local_engine.slug}/{gone}")
    assert missing.title == f"start of {gone} on Local failed"
    assert rec.labels_of(NotificationEvent.ACTION_FAILED, missing.subject) == [None]
    assert rec.subjects(NotificationEvent.ACTION_FAILED) == [subject, missing.subject]


async def test_a_failed_schedule_run_is_notified(
        daemon: Chrontainer, rec: Recorder, local_engine: Engine) -> None:
    assert daemon.schedules is not None
    key = unique("absent")
    target = Target(kind=TargetKind.CONTAINER, host=local_engine.slug, key=key)
    schedule = await daemon.schedules.create(Schedule(
        id=0, name="wake it", enabled=True, target=target, action=ScheduleAction.START,
        trigger=Trigger(kind=TriggerKind.ONCE, at=datetime.now(UTC) + timedelta(days=1))))
    await daemon.schedules.run_now(schedule.id)
    n = await arrived(rec, NotificationEvent.SCHEDULE_FAILED, f"schedule/{schedule.id}")
    assert (n.title, n.severity) == ("Schedule 'wake it' failed", Severity.ERROR)
    assert n.message == (f"start container {key} on {local_engine.slug}: "
                         f"no container with key '{key}' on host '{local_engine.slug}'")
    # The container action the run tried failed as well, as the schedule.
    failed = await arrived(rec, NotificationEvent.ACTION_FAILED, f"{local_engine.slug}/{key}")
    assert "schedule:wake it" in failed.message


async def test_an_opted_out_container_still_reaches_emit_with_its_labels(
        rec: Recorder, local_engine: Engine) -> None:
    _, name = await run_container(local_engine, "sh", "-c", "sleep 1; exit 2",
                                  options=("--label", "chrontainer.notify=false"))
    subject = f"{local_engine.slug}/{name}"
    await arrived(rec, DIED, subject)
    [labels] = rec.labels_of(DIED, subject)
    assert labels is not None and labels["chrontainer.notify"] == "false"


async def test_a_host_going_offline_and_back_is_one_notification_each(
        daemon: Chrontainer, rec: Recorder, proxy: TcpProxy) -> None:
    await daemon.hosts.add(HostSpec(slug="cable", name="Cable", url=proxy.url))
    watcher = daemon.hosts.get("cable")
    assert await watcher.wait_synced(TIMEOUT), watcher.error
    await proxy.cut()  # the cable is pulled
    offline = await arrived(rec, NotificationEvent.HOST_OFFLINE, "cable")
    assert (offline.title, offline.severity, offline.host) == (
        "Cable is offline", Severity.ERROR, "cable")
    assert offline.message.startswith("The Docker engine of Cable (cable) stopped answering: ")
    await proxy.start()
    online = await arrived(rec, NotificationEvent.HOST_ONLINE, "cable")
    assert (online.title, online.severity) == ("Cable is back online", Severity.INFO)
    # The first connect was no news, and each transition was told once.
    assert [n.event for n, _ in rec.seen if n.subject == "cable"] == [
        NotificationEvent.HOST_OFFLINE, NotificationEvent.HOST_ONLINE]


async def test_a_failing_emit_or_settings_read_does_not_stop_detection(
        daemon: Chrontainer, local_engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    first, second = unique("fails"), unique("passes")
    refused: list[Notification] = []

    async def flaky_emit(n: Notification, labels: Mapping[str, str] | None) -> int:
        if n.container == first:
            refused.append(n)
            raise RuntimeError("database is locked")
        return await recorder.emit(n, labels)

    def broken_settings() -> Settings:
        raise RuntimeError("settings unavailable")

    detector = EventDetector(daemon.bus, daemon.hosts, daemon.audit, flaky_emit,
                             settings=broken_settings)
    detector.start()
    try:
        # Its start breaks on the settings; its death is the emit that fails.
        await run_container(local_engine, "sh", "-c", "sleep 1; exit 4", name=first)
        await wait_for(lambda: bool(refused), timeout=TIMEOUT, what="the refused emit")
        await run_container(local_engine, "sh", "-c", "sleep 1; exit 5", name=second)
        await arrived(recorder, DIED, f"{local_engine.slug}/{second}")
        assert detector.running
    finally:
        await detector.stop()
    assert rec_messages(caplog, "could not examine")
    assert rec_messages(caplog, f"could not emit container.died about local/{first}")


async def test_deaths_still_in_their_grace_period_are_emitted_at_stop(
        daemon: Chrontainer, local_engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="chrontainer_core.notify.detect")
    recorder = Recorder()
    settings = daemon.settings
    assert settings is not None
    detector = EventDetector(daemon.bus, daemon.hosts, daemon.audit, recorder.emit,
                             settings=lambda: settings.current,
                             death_grace=timedelta(hours=1))
    detector.start()
    try:
        _, name = await run_container(local_engine, "sh", "-c", "sleep 1; exit 6")
        await wait_for(lambda: rec_messages(caplog, f"container {name} died with exit code 6"),
                       timeout=TIMEOUT, what="the death is waiting")
        assert recorder.about(DIED, f"{local_engine.slug}/{name}") == []
    finally:
        await detector.stop()
    [n] = recorder.about(DIED, f"{local_engine.slug}/{name}")
    assert n.title == f"{name} on Local died (exit 6)"
    assert not detector.running


def rec_messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]
