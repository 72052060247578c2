"""Unit tests of the events feed: engine event -> DockerEvent, replay suppression, and the
EventLog on a real (migrated) SQLite file."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from chrontainer_core.audit import LogAuditTrail
from chrontainer_core.bus import Bus, DockerEventSeen, Lagged
from chrontainer_core.docker.events import HostWatcher, event_time, to_docker_event
from chrontainer_core.docker.host import EngineEvent
from chrontainer_core.errors import InvalidInput
from chrontainer_core.eventlog import EventFilter, EventLog
from chrontainer_core.models import DockerEvent, DockerObjectType
from chrontainer_core.settings import SettingsService
from chrontainer_core.store import Database
from chrontainer_core.store.tables import DockerEventRow

from ..dbtemplate import migrated
from ..live import wait_for

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T0_NANO = int(T0.timestamp()) * 1_000_000_000
CID = "0bec0552520b3602cbc690b424729bc235de75ef81ba7a48bf6785e1d50cf399"
NET = "786c1d11f6fb8b51bb8686e2fce0f4ecbf1c723b81c96f93a2e029f58e561a26"
IMG = "sha256:3b2289be91fb12e8bde008d6bc27a0d803d1df41cf438b8870c0bf346b789311"


def engine_event(type_: str, action: str, id_: str, nano: int = T0_NANO,
                 **attributes: str) -> EngineEvent:
    return EngineEvent(type=type_, action=action, id=id_, attributes=attributes, time_nano=nano)


def container_event(action: str, nano: int = T0_NANO, **extra: str) -> EngineEvent:
    # Container events carry every label as an attribute, as the engine sends them.
    labels = {"com.example.secret": "hunter2", "chrontainer.test": "1",
              "org.opencontainers.image.version": "1.0"}
    return engine_event("container", action, CID, nano, name="web",
                        image="busybox:latest", **labels, **extra)


# --- engine event -> DockerEvent ---------------------------------------------------------------


def test_container_event_keeps_name_and_whitelisted_attributes_only() -> None:
    ev = to_docker_event("local", container_event("die", exitCode="137"))
    assert ev == DockerEvent(
        time=T0, host="local", type=DockerObjectType.CONTAINER, action="die", object_id=CID,
        name="web", attributes={"image": "busybox:latest", "exitCode": "137"},
    )
    kill = to_docker_event("local", container_event("kill", signal="9"))
    assert kill is not None and kill.attributes == {"image": "busybox:latest", "signal": "9"}
    rename = to_docker_event("local", container_event("rename", oldName="/old"))
    assert rename is not None and rename.attributes["oldName"] == "/old"
    assert rename.name == "web"


@pytest.mark.parametrize("action", [
    "exec_create: sh -c true", "exec_start: sh -c true", "exec_die", "exec_detach", "attach",
    "resize", "top", "export", "archive-path", "extract-to-dir", "copy",
])
def test_container_noise_is_skipped(action: str) -> None:
    assert to_docker_event("local", container_event(action)) is None


def test_health_status_is_kept_and_trimmed() -> None:
    ev = to_docker_event("local", container_event("health_status: healthy "))
    assert ev is not None and ev.action == "health_status: healthy"


def test_image_volume_network_names() -> None:
    tag = to_docker_event("local", engine_event("image", "tag", IMG, name="app:1",
                                                **{"org.label": "x"}))
    assert tag is not None and (tag.type, tag.name, tag.object_id) == (
        DockerObjectType.IMAGE, "app:1", IMG)
    assert tag.attributes == {}  # an image's labels are not kept either
    pulled = to_docker_event("local", engine_event("image", "delete", IMG))
    assert pulled is not None and pulled.name == IMG  # no name attribute: the id
    volume = to_docker_event("remote", engine_event(
        "volume", "mount", "data", container=CID, destination="/data", driver="local",
        propagation="", **{"read/write": "true"}))
    assert volume is not None and (volume.host, volume.name, volume.object_id) == (
        "remote", "data", "data")
    assert volume.attributes == {"container": CID, "destination": "/data", "driver": "local"}
    network = to_docker_event("local", engine_event("network", "connect", NET, name="backend",
                                                    type="bridge", container=CID))
    assert network is not None and (network.type, network.name, network.object_id) == (
        DockerObjectType.NETWORK, "backend", NET)
    assert network.attributes == {"type": "bridge", "container": CID}


@pytest.mark.parametrize("kind", ["daemon", "plugin", "service", "node", "secret", ""])
def test_other_object_types_are_skipped(kind: str) -> None:
    assert to_docker_event("local", engine_event(kind, "reload", "x", name="x")) is None


def test_time_from_time_nano_is_utc_with_microseconds() -> None:
    assert event_time(T0_NANO + 123_456_789) == T0 + timedelta(microseconds=123_456)
    assert event_time(T0_NANO).tzinfo is UTC


def test_long_values_are_cut_to_the_columns() -> None:
    ev = to_docker_event("local", engine_event("volume", "create", "v" * 400, driver="d" * 400))
    assert ev is not None
    assert len(ev.name) == len(ev.object_id) == len(ev.attributes["driver"]) == 255


# --- the watcher publishes each event once -----------------------------------------------------


class ReplayingHost:
    """Stands in for DockerHost where the watcher follows events: each connection replays."""

    slug = "local"

    def __init__(self, connections: list[list[EngineEvent]]) -> None:
        self.connections = connections

    async def events(self, *, since: int | None = None) -> AsyncIterator[EngineEvent]:
        for event in self.connections.pop(0):
            yield event


async def test_watcher_publishes_each_event_once_across_reconnects() -> None:
    first = [container_event("create", T0_NANO + 1), container_event("start", T0_NANO + 2),
             engine_event("volume", "create", "data", T0_NANO + 2, driver="local"),
             container_event("exec_create: true", T0_NANO + 3)]
    # The reconnect asks for events since before the resync: the last ones come again.
    second = [container_event("start", T0_NANO + 2),
              engine_event("volume", "create", "data", T0_NANO + 2, driver="local"),
              container_event("die", T0_NANO + 4, exitCode="0")]
    host = ReplayingHost([first, second])
    bus = Bus()
    watcher = HostWatcher(host, bus)  # type: ignore[arg-type]
    with bus.subscribe([DockerEventSeen.topic]) as sub:
        await watcher._follow(0)
        await watcher._follow(0)
        seen = []
        while sub._queue.qsize():
            ev = sub._queue.get_nowait()
            assert isinstance(ev, DockerEventSeen)
            seen.append((ev.event.type.value, ev.event.action))
    assert seen == [("container", "create"), ("container", "start"), ("volume", "create"),
                    ("container", "die")]


# --- the event log on a real SQLite file -------------------------------------------------------


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'chrontainer.db'}"
    migrated(url)
    database = Database(url)
    yield database
    await database.close()


@pytest.fixture
async def settings(db: Database) -> SettingsService:
    service = SettingsService(db, audit=LogAuditTrail())
    await service.load()
    return service


def synthetic(n: int, *, host: str = "local", kind: DockerObjectType = DockerObjectType.CONTAINER,
              action: str = "start", name: str | None = None, object_id: str = CID,
              ) -> DockerEvent:
    return DockerEvent(time=T0 + timedelta(seconds=n), host=host, type=kind, action=action,
                       object_id=object_id, name=name or f"ev-{n}",
                       attributes={"image": "busybox"})


async def stored(db: Database) -> list[DockerEventRow]:
    async with db.session() as session:
        return list((await session.scalars(
            select(DockerEventRow).order_by(DockerEventRow.id))).all())


async def test_keeps_exactly_the_newest_events_and_flushes_on_stop(
    db: Database, settings: SettingsService
) -> None:
    await settings.update({"events_keep": 100})
    bus = Bus()
    events = EventLog(db, bus, lambda: settings.current.events_keep)
    events.start()
    for n in range(150):
        bus.publish(DockerEventSeen(event=synthetic(n)))
    # Fewer than a batch, so nothing forces a write before stop(): stop must write them all.
    await events.stop()
    rows = await stored(db)
    assert [r.name for r in rows] == [f"ev-{n}" for n in range(50, 150)]
    assert bus.subscriber_count == 0
    items, total = await events.list(limit=3)
    assert total == 100
    assert [e.name for e in items] == ["ev-149", "ev-148", "ev-147"]
    # Read back as written, with the row's id.
    assert items[0] == DockerEvent(id=rows[-1].id, time=T0 + timedelta(seconds=149),
                                   host="local", type=DockerObjectType.CONTAINER,
                                   action="start", object_id=CID, name="ev-149",
                                   attributes={"image": "busybox"})


async def test_writes_in_batches_and_prunes_while_running(db: Database) -> None:
    bus = Bus()
    ticks = iter(range(0, 10_000, 10))  # every flush is PRUNE_INTERVAL after the last
    events = EventLog(db, bus, lambda: 100, batch_size=50, clock=lambda: float(next(ticks)))
    events.start()
    try:
        for n in range(150):
            bus.publish(DockerEventSeen(event=synthetic(n)))

        async def pruned() -> bool:
            rows = await stored(db)
            return len(rows) == 100 and rows[-1].name == "ev-149"

        # Three full batches: written and pruned without stop() and without the 1 s timer.
        await wait_for(pruned, what="three batches written and pruned to 100")
        assert (await stored(db))[0].name == "ev-50"
    finally:
        await events.stop()


async def test_flushes_a_partial_batch_after_the_interval(db: Database) -> None:
    bus = Bus()
    events = EventLog(db, bus, lambda: 100, flush_interval=0.05)
    events.start()
    try:
        bus.publish(DockerEventSeen(event=synthetic(1)))

        async def written() -> bool:
            return len(await stored(db)) == 1

        await wait_for(written, what="the lone event written")
    finally:
        await events.stop()


async def test_filters_and_paging(db: Database) -> None:
    bus = Bus()
    events = EventLog(db, bus, lambda: 1000)
    events.start()
    made = [
        synthetic(1, name="Web_1"),
        synthetic(2, name="web-2", action="die"),
        synthetic(3, host="remote", name="web-remote"),
        synthetic(4, kind=DockerObjectType.VOLUME, action="create", name="data%",
                  object_id="data%"),
        synthetic(5, kind=DockerObjectType.NETWORK, action="create", name="backend",
                  object_id=NET),
        synthetic(6, kind=DockerObjectType.IMAGE, action="tag", name="app:1", object_id=IMG),
    ]
    for ev in made:
        bus.publish(DockerEventSeen(event=ev))
    await events.stop()

    async def names(**kw: Any) -> list[str]:
        items, total = await events.list(EventFilter(**kw))
        assert total == len(items)
        return [e.name for e in items]

    assert await names() == ["app:1", "backend", "data%", "web-remote", "web-2", "Web_1"]
    assert await names(host="remote") == ["web-remote"]
    assert await names(type=DockerObjectType.CONTAINER, host="local") == ["web-2", "Web_1"]
    assert await names(action="die") == ["web-2"]
    assert await names(action="di") == []  # actions match exactly
    assert await names(name="WEB") == ["web-remote", "web-2", "Web_1"]
    # LIKE wildcards in a name filter are literal characters.
    assert await names(name="_") == ["Web_1"]
    assert await names(name="%") == ["data%"]
    assert await names(object_id="data%") == ["data%"]
    assert await names(object_id="data") == []  # not an id prefix: exact only
    assert await names(object_id=NET[:12]) == ["backend"]
    assert await names(object_id=NET) == ["backend"]
    assert await names(object_id=NET[:11]) == []  # too short to be a prefix
    assert await names(hosts=("remote",)) == ["web-remote"]
    assert await names(hosts=()) == []
    assert await names(hosts=("local",), name="web") == ["web-2", "Web_1"]

    page, total = await events.list(limit=2, offset=1)
    assert [e.name for e in page] == ["backend", "data%"] and total == 6
    page, total = await events.list(EventFilter(host="local"), limit=2, offset=4)
    assert [e.name for e in page] == ["Web_1"] and total == 5
    for bad in ({"limit": -1}, {"offset": -1}):
        with pytest.raises(InvalidInput) as err:
            await events.list(**bad)
        assert err.value.field == next(iter(bad))


async def test_a_failed_write_is_logged_once_kept_and_retried(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    gate = asyncio.Event()
    retries = 0

    async def sleep(_: float) -> None:
        nonlocal retries
        retries += 1
        await gate.wait()
        gate.clear()

    async def sql(statement: str) -> None:
        async with db.session() as session:
            await session.execute(text(statement))

    bus = Bus()
    events = EventLog(db, bus, lambda: 1000, batch_size=5, sleep=sleep)
    await sql("ALTER TABLE docker_events RENAME TO docker_events_away")
    events.start()
    try:
        with caplog.at_level(logging.INFO, logger="chrontainer_core.eventlog"):
            for n in range(5):
                bus.publish(DockerEventSeen(event=synthetic(n)))
            await wait_for(lambda: retries == 1, what="the first failed write")
            gate.set()
            await wait_for(lambda: retries == 2, what="the second failed write")
            failures = [r for r in caplog.records if r.levelno == logging.ERROR]
            assert len(failures) == 1  # logged once, not once per retry
            await sql("ALTER TABLE docker_events_away RENAME TO docker_events")
            gate.set()

            async def written() -> bool:
                return len(await stored(db)) == 5

            await wait_for(written, what="the kept batch written")
            assert any("works again" in r.getMessage() for r in caplog.records)
    finally:
        await events.stop()


async def test_lagged_is_logged_once_and_the_log_goes_on(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    bus = Bus()
    events = EventLog(db, bus, lambda: 1000, batch_size=1)
    events.start()
    try:
        assert events._sub is not None
        with caplog.at_level(logging.WARNING, logger="chrontainer_core.eventlog"):
            events._sub.deliver(Lagged(dropped=7))
            events._sub.deliver(Lagged(dropped=3))
            bus.publish(DockerEventSeen(event=synthetic(1)))

            async def written() -> bool:
                return len(await stored(db)) == 1

            await wait_for(written, what="the event after the lag")
        assert len([r for r in caplog.records if "fell behind" in r.getMessage()]) == 1
    finally:
        await events.stop()


async def test_stop_without_start_and_twice(db: Database) -> None:
    events = EventLog(db, Bus(), lambda: 100)
    await events.stop()
    events.start()
    await events.stop()
    await events.stop()
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(DockerEventRow)) == 0
