"""Live: MQTT commands through CommandHandler on a real daemon runtime and real containers.

The handler is driven directly (no broker) so these tests check exactly what it does: the
container's real state (``docker inspect``), the result it answers and the audit rows. The
end-to-end tests over a real Mosquitto and the bridge are at the end of the module.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chrontainer_core import Chrontainer
from chrontainer_core.actor import Actor, ActorKind
from chrontainer_core.models import AuditEntry, OperationStatus
from chrontainer_core.scheduling.jobs import (
    Schedule,
    ScheduleAction,
    Target,
    TargetKind,
    Trigger,
    TriggerKind,
)
from chrontainer_mqtt.commands import CommandHandler, Outgoing
from chrontainer_mqtt.protection import Protection
from chrontainer_mqtt.settings import ControlMode, MqttSettings
from chrontainer_mqtt.topics import Topics

from ..live import Engine, docker, free_port, run_container, unique, wait_for
from . import bridge_harness
from .bridge_harness import StartBridge, bridge_settings, in_cache, topics_of, wait_connected
from .broker import Mosquitto, recorder, retained

mqtt_core = bridge_harness.mqtt_core
start_bridge = bridge_harness.start_bridge

CLIENT_ID = "chrontainer-test-cmd"
FIXED_TIME = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@dataclass
class Rig:
    core: Chrontainer
    engine: Engine
    topics: Topics
    settings: MqttSettings
    protection: Protection = field(default_factory=lambda: Protection(
        own_ids=frozenset(), broker_ips=frozenset(), broker_port=1))
    handler: CommandHandler | None = None

    async def send(self, topic: str, payload: str | bytes, *,
                   retain: bool = False) -> list[Outgoing]:
        assert self.handler is not None
        raw = payload.encode() if isinstance(payload, str) else payload
        return await self.handler.handle(topic, raw, retain=retain)

    async def container(self, key: str, command: str, payload: str | bytes) -> dict[str, Any]:
        """Send a container command; return its one result (checked to be well formed)."""
        out = await self.send(self.topics.container_command(self.engine.slug, key, command),
                              payload)
        return self._result(out, self.topics.container(self.engine.slug, key, "result"),
                            command)

    async def schedule(self, ident: int, command: str, payload: str) -> dict[str, Any]:
        out = await self.send(self.topics.schedule_command(ident, command), payload)
        return self._result(out, self.topics.schedule(ident, "result"), command)

    @staticmethod
    def _result(out: list[Outgoing], topic: str, command: str) -> dict[str, Any]:
        assert len(out) == 1, out
        [msg] = out
        assert msg.topic == topic and not msg.retain
        body: dict[str, Any] = json.loads(msg.payload)
        assert set(body) == {"command", "payload", "ok", "changed", "error", "operation", "time"}
        assert body["command"] == command and body["time"] == "2025-06-01T12:00:00.000000Z"
        assert body["ok"] is (body["error"] is None)
        return body


@pytest.fixture
async def rig(daemon: Chrontainer, local_engine: Engine) -> AsyncIterator[Rig]:
    r = Rig(core=daemon, engine=local_engine, topics=Topics(base=unique("cmdtest")),
            settings=MqttSettings(enabled=True, host="127.0.0.1", client_id=CLIENT_ID,
                                  control=ControlMode.ALL))
    r.handler = CommandHandler(daemon, topics=r.topics, settings=lambda: r.settings,
                               protection=lambda: r.protection, actor=Actor.mqtt(CLIENT_ID),
                               clock=lambda: FIXED_TIME)
    yield r


async def started(rig: Rig, *options: str) -> tuple[str, str]:
    """A running test container that the daemon's cache knows; returns (id, name)."""
    cid, name = await run_container(rig.engine, options=options)
    await in_cache(rig.core, rig.engine.slug, cid=cid)
    return cid, name


async def started_as(rig: Rig, tagged: list[str], image: str, prefix: str) -> tuple[str, str]:
    """A running container of the test image tagged as ``image`` (the tag is recorded in
    ``tagged`` for removal), known to the daemon's cache; returns (id, name)."""
    await docker(rig.engine, "tag", "chrontainer-test/busybox:latest", image)
    tagged.append(image)
    name = unique(prefix)
    cid = await docker(rig.engine, "run", "-d", "--name", name, "--label", "chrontainer.test=1",
                       "--stop-timeout", "1", image, "sleep", "3600")
    await in_cache(rig.core, rig.engine.slug, cid=cid)
    return cid, name


async def status(engine: Engine, name: str) -> str:
    return await docker(engine, "inspect", "-f", "{{.State.Status}}", name)


async def mqtt_rows(rig: Rig, target: str) -> list[AuditEntry]:
    entries, _ = await rig.core.audit.list(actor_kind=ActorKind.MQTT, target=target)
    assert all(e.actor.id == CLIENT_ID for e in entries)
    return entries


async def tomorrow_schedule(rig: Rig, key: str, action: ScheduleAction) -> Schedule:
    assert rig.core.schedules is not None
    return await rig.core.schedules.create(Schedule(
        id=0, name=unique("mqtt"), enabled=True, action=action,
        target=Target(kind=TargetKind.CONTAINER, host=rig.engine.slug, key=key),
        trigger=Trigger(kind=TriggerKind.ONCE, at=datetime.now(UTC) + timedelta(days=1))))


# -- commands that act ------------------------------------------------------------------------

async def test_power_off_and_on_stop_and_start_the_container_and_are_audited(rig: Rig) -> None:
    _, name = await started(rig)
    off = await rig.container(name, "power", "OFF")
    assert off["ok"] and off["changed"] is True and off["payload"] == "OFF"
    assert await status(rig.engine, name) == "exited"
    again = await rig.container(name, "power", "off")  # case-insensitive; nothing to do
    assert again["ok"] and again["changed"] is False
    on = await rig.container(name, "power", "On")
    assert on["ok"] and on["changed"] is True
    assert await status(rig.engine, name) == "running"
    rows = await mqtt_rows(rig, f"{rig.engine.slug}/{name}")
    assert [(e.action, e.result) for e in reversed(rows)] == [
        ("container.stop", "ok"), ("container.stop", "ok"), ("container.start", "ok")]


async def test_restart_press_restarts_the_container(rig: Rig) -> None:
    _, name = await started(rig)
    before = await docker(rig.engine, "inspect", "-f", "{{.State.StartedAt}}", name)
    result = await rig.container(name, "restart", "PRESS")
    assert result["ok"] and result["changed"] is True
    after = await docker(rig.engine, "inspect", "-f", "{{.State.StartedAt}}", name)
    assert after != before and await status(rig.engine, name) == "running"


async def test_pause_on_and_off(rig: Rig) -> None:
    _, name = await started(rig)
    assert (await rig.container(name, "pause", "ON"))["changed"] is True
    assert await status(rig.engine, name) == "paused"
    # Starting a paused container is a conflict the core reports; it stays paused.
    refused = await rig.container(name, "power", "ON")
    assert not refused["ok"] and refused["error"]["code"] == "conflict"
    assert await status(rig.engine, name) == "paused"
    assert (await rig.container(name, "pause", "OFF"))["changed"] is True
    assert await status(rig.engine, name) == "running"


async def test_update_install_of_a_local_only_image_starts_an_operation_that_fails_cleanly(
        rig: Rig) -> None:
    # A reference on a registry that does not answer: the pull fails, the container stays.
    image = f"127.0.0.1:{free_port()}/{unique('local')}:v1"
    await docker(rig.engine, "tag", "chrontainer-test/busybox:latest", image)
    name = unique("upd")
    try:
        cid = await docker(rig.engine, "run", "-d", "--name", name, "--label",
                           "chrontainer.test=1", "--stop-timeout", "1", image, "sleep", "3600")
        await wait_for(lambda: any(c.id == cid for c in rig.core.hosts.get(rig.engine.slug)
                                   .containers()), what="the container is in the cache")
        result = await rig.container(name, "update", "install")
        assert result["ok"] and result["changed"] is None and result["operation"]
        op = await rig.core.operations.wait(result["operation"], 60)
        assert op.kind == "container.update" and op.target == name
        assert op.status is OperationStatus.FAILED and op.error
        assert await docker(rig.engine, "inspect", "-f", "{{.Id}} {{.State.Status}}",
                            name) == f"{cid} running"
        rows = await mqtt_rows(rig, f"{rig.engine.slug}/{name}")
        assert [(e.action, e.result) for e in rows] == [("container.update", "error")]
    finally:
        await docker(rig.engine, "rm", "-f", name, check=False)
        await docker(rig.engine, "rmi", image, check=False)


async def test_update_refused_by_the_core_is_answered_and_audited(rig: Rig) -> None:
    # A container another joins with network_mode container:<it> is never updated (the core's
    # refusal); the refusal raised before the core audits is audited as the MQTT command.
    cid, name = await started(rig)
    await run_container(rig.engine, options=("--network", f"container:{cid}"))
    await wait_for(lambda: rig.core.updates.joined(
        next(c for c in rig.core.hosts.get(rig.engine.slug).containers() if c.id == cid)),
        what="the joined container is in the cache")
    result = await rig.container(name, "update", "INSTALL")
    assert not result["ok"] and result["error"]["code"] == "conflict"
    assert "share" in result["error"]["message"] and result["operation"] is None
    rows = await mqtt_rows(rig, f"{rig.engine.slug}/{name}")
    assert [(e.action, e.result) for e in rows] == [("mqtt.update", "error")]


async def test_schedule_enabled_off_on_and_run_now(rig: Rig) -> None:
    assert rig.core.schedules is not None
    _, name = await started(rig)
    schedule = await tomorrow_schedule(rig, name, ScheduleAction.STOP)
    off = await rig.schedule(schedule.id, "enabled", "OFF")
    assert off["ok"] and off["changed"] is True
    assert not (await rig.core.schedules.get(schedule.id)).enabled
    assert (await rig.schedule(schedule.id, "enabled", "off"))["changed"] is False
    assert (await rig.schedule(schedule.id, "enabled", "ON"))["changed"] is True
    assert (await rig.core.schedules.get(schedule.id)).enabled
    run = await rig.schedule(schedule.id, "run", "press")
    assert run["ok"] and run["changed"] is True
    runs, _ = await rig.core.schedules.runs(schedule.id)
    [started_run] = runs
    await rig.core.schedules.wait_run(started_run.id, 60)

    async def stopped() -> bool:
        return await status(rig.engine, name) == "exited"
    await wait_for(stopped, timeout=60, what="the schedule's run stopped the container")
    rows = await mqtt_rows(rig, f"schedule/{schedule.id}")
    assert [e.action for e in reversed(rows)] == [
        "schedule.disable", "schedule.disable", "schedule.enable", "schedule.run_now"]
    assert all(e.result == "ok" for e in rows)


# -- refusals -------------------------------------------------------------------------------

async def test_control_off_refuses_every_command_and_changes_nothing(rig: Rig) -> None:
    assert rig.core.schedules is not None
    _, name = await started(rig)
    schedule = await tomorrow_schedule(rig, name, ScheduleAction.STOP)
    rig.settings = MqttSettings(client_id=CLIENT_ID)  # control off: the default
    for command, payload in (("power", "OFF"), ("restart", "PRESS"), ("pause", "ON"),
                             ("update", "install")):
        result = await rig.container(name, command, payload)
        assert not result["ok"] and result["error"]["code"] == "forbidden"
        assert "control is off" in result["error"]["message"]
    for command, payload in (("enabled", "OFF"), ("run", "PRESS")):
        result = await rig.schedule(schedule.id, command, payload)
        assert result["error"]["code"] == "forbidden"
    assert await status(rig.engine, name) == "running"
    assert (await rig.core.schedules.get(schedule.id)).enabled
    assert (await rig.core.schedules.runs(schedule.id))[0] == []
    rows = await mqtt_rows(rig, f"{rig.engine.slug}/{name}")
    assert sorted((e.action, e.result) for e in rows) == [
        ("mqtt.pause", "error"), ("mqtt.power", "error"), ("mqtt.restart", "error"),
        ("mqtt.update", "error")]
    assert all(e.error and "control is off" in e.error for e in rows)


async def test_labelled_mode_obeys_only_labelled_containers(rig: Rig) -> None:
    rig.settings = MqttSettings(client_id=CLIENT_ID, control=ControlMode.LABELLED)
    _, plain = await started(rig)
    _, opted_in = await started(rig, "--label", "chrontainer.mqtt.control=true")
    refused = await rig.container(plain, "power", "OFF")
    assert refused["error"]["code"] == "forbidden"
    assert "chrontainer.mqtt.control=true" in refused["error"]["message"]
    assert await status(rig.engine, plain) == "running"
    assert (await rig.container(opted_in, "power", "OFF"))["ok"]
    assert await status(rig.engine, opted_in) == "exited"


async def test_all_mode_respects_an_opt_out_label(rig: Rig) -> None:
    _, name = await started(rig, "--label", "chrontainer.mqtt.control=false")
    refused = await rig.container(name, "restart", "PRESS")
    assert refused["error"]["code"] == "forbidden"
    assert await status(rig.engine, name) == "running"


@pytest.fixture
async def tagged(local_engine: Engine) -> AsyncIterator[list[str]]:
    """Image tags a test makes on the engine (removed at the end)."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        await docker(local_engine, "rmi", tag, check=False)


async def assert_protected(rig: Rig, name: str, words: str) -> None:
    before = await docker(rig.engine, "inspect", "-f", "{{.State.Status}} {{.State.StartedAt}}",
                          name)
    for command, payload in (("power", "OFF"), ("restart", "PRESS"), ("pause", "ON"),
                             ("update", "install")):
        result = await rig.container(name, command, payload)
        assert not result["ok"] and result["error"]["code"] == "protected", result
        assert words in result["error"]["message"]
    after = await docker(rig.engine, "inspect", "-f", "{{.State.Status}} {{.State.StartedAt}}",
                         name)
    assert after == before and after.startswith("running")
    rows = await mqtt_rows(rig, f"{rig.engine.slug}/{name}")
    assert len(rows) == 4 and all(e.action.startswith("mqtt.") and e.result == "error"
                                  for e in rows)


async def test_a_container_labelled_protected_refuses(rig: Rig) -> None:
    _, name = await started(rig, "--label", "chrontainer.protected=TRUE")
    await assert_protected(rig, name, "chrontainer.protected")


async def test_a_broker_image_refuses(rig: Rig, tagged: list[str]) -> None:
    cid, name = await started_as(rig, tagged, f"eclipse-mosquitto:{unique('t')}", "broker")
    try:
        await assert_protected(rig, name, "MQTT broker image")
    finally:
        await docker(rig.engine, "rm", "-f", cid, check=False)


async def test_a_home_assistant_image_refuses(rig: Rig, tagged: list[str]) -> None:
    cid, name = await started_as(rig, tagged, f"homeassistant/home-assistant:{unique('t')}", "ha")
    try:
        await assert_protected(rig, name, "Home Assistant")
    finally:
        await docker(rig.engine, "rm", "-f", cid, check=False)


async def test_chrontainers_own_container_refuses(rig: Rig) -> None:
    cid, name = await started(rig)
    rig.protection = Protection(own_ids=frozenset({cid[:12]}), broker_ips=frozenset(),
                                broker_port=1)
    await assert_protected(rig, name, "Chrontainer itself")


async def test_the_broker_by_published_port_refuses(rig: Rig) -> None:
    port = free_port()
    _, name = await started(rig, "-p", f"127.0.0.1:{port}:1883")
    rig.protection = Protection(own_ids=frozenset(), broker_ips=frozenset(), broker_port=port)
    await assert_protected(rig, name, f"port {port}")


async def test_the_broker_by_network_address_refuses(rig: Rig) -> None:
    _, name = await started(rig)
    ip = await docker(rig.engine, "inspect", "-f",
                      "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name)
    assert ip
    rig.protection = Protection(own_ids=frozenset(), broker_ips=frozenset({ip}),
                                broker_port=1883)
    await assert_protected(rig, name, f"address {ip}")


async def test_a_retained_command_is_cleared_not_obeyed(rig: Rig) -> None:
    _, name = await started(rig)
    topic = rig.topics.container_command(rig.engine.slug, name, "power")
    out = await rig.send(topic, "OFF", retain=True)
    assert out == [Outgoing(topic=topic, payload="", retain=True)]
    assert await status(rig.engine, name) == "running"
    # The broker forwards that clearing (an empty message) to the bridge: ignored silently.
    assert await rig.send(topic, b"") == []
    assert await status(rig.engine, name) == "running"
    [row] = await mqtt_rows(rig, f"{rig.engine.slug}/{name}")
    assert (row.action, row.result, row.error) == ("mqtt.power", "error",
                                                   "retained command ignored")


async def test_bad_payloads_are_invalid_input_and_change_nothing(rig: Rig) -> None:
    assert rig.core.schedules is not None
    _, name = await started(rig)
    for command, payload in (("power", "TOGGLE"), ("power", "PRESS"), ("restart", "ON"),
                             ("pause", "1"), ("update", "now"), ("power", b"\xff\xfe")):
        result = await rig.container(name, command, payload)
        assert not result["ok"] and result["error"]["code"] == "invalid_input", result
    long = await rig.container(name, "power", "X" * 5000)
    assert long["error"]["code"] == "invalid_input" and len(long["payload"]) == 64
    schedule = await tomorrow_schedule(rig, name, ScheduleAction.STOP)
    for command, payload in (("enabled", "yes"), ("run", "ON")):
        result = await rig.schedule(schedule.id, command, payload)
        assert result["error"]["code"] == "invalid_input"
    assert await status(rig.engine, name) == "running"
    assert (await rig.core.schedules.get(schedule.id)).enabled
    assert (await rig.core.schedules.runs(schedule.id))[0] == []
    rows = await mqtt_rows(rig, f"{rig.engine.slug}/{name}")
    assert len(rows) == 7 and all(e.action.startswith("mqtt.") and e.result == "error"
                                  for e in rows)


async def test_unknown_targets_are_not_found(rig: Rig) -> None:
    missing = unique("missing")
    result = await rig.container(missing, "power", "OFF")
    assert result["error"]["code"] == "not_found" and missing in result["error"]["message"]
    out = await rig.send(rig.topics.container_command("no-such-host", "web", "restart"),
                         "PRESS")
    assert json.loads(out[0].payload)["error"]["code"] == "not_found"
    assert (await rig.schedule(999999, "run", "PRESS"))["error"]["code"] == "not_found"
    assert (await rig.schedule(999999, "enabled", "ON"))["error"]["code"] == "not_found"
    [row] = await mqtt_rows(rig, f"{rig.engine.slug}/{missing}")
    assert (row.action, row.result) == ("mqtt.power", "error")
    assert [e.action for e in await mqtt_rows(rig, "schedule/999999")] == [
        "mqtt.enabled", "mqtt.run"]


async def test_topics_that_name_no_command_are_ignored(rig: Rig) -> None:
    _, name = await started(rig)
    base = rig.topics.base
    for topic in (f"{base}/container/{rig.engine.slug}/{name}/cmd/kill",
                  f"{base}/container/{rig.engine.slug}/{name}/state",
                  f"other/container/{rig.engine.slug}/{name}/cmd/power",
                  f"{base}/schedule/abc/cmd/run"):
        assert await rig.send(topic, "OFF") == []
    assert await status(rig.engine, name) == "running"


# -- end to end: a real broker and the bridge ---------------------------------------------------

async def test_e2e_power_commands_round_trip_to_a_real_container(
        mqtt_core: Chrontainer, start_bridge: StartBridge, mqtt_broker: Mosquitto,
        local_engine: Engine) -> None:
    cid, name = await run_container(local_engine)
    await in_cache(mqtt_core, local_engine.slug, cid=cid)
    settings = bridge_settings(mqtt_broker, control=ControlMode.ALL)
    topics = topics_of(settings)
    async with recorder(mqtt_broker, f"{topics.base}/#") as rec:
        await wait_connected(await start_bridge(settings))
        result_topic = topics.container(local_engine.slug, name, "result")
        await rec.publish(topics.container_command(local_engine.slug, name, "power"), "OFF")
        result = (await rec.wait_for(result_topic, timeout=30)).json()
        assert result["ok"] and result["changed"] is True and result["command"] == "power"
        assert await status(local_engine, name) == "exited"
        # The state topic follows the real container.
        state_topic = topics.container(local_engine.slug, name, "state")
        await rec.wait_for(state_topic, lambda m: m.json()["running"] is False, timeout=30)
        since = len(rec.messages)
        await rec.publish(topics.container_command(local_engine.slug, name, "power"), "ON")
        again = (await rec.wait_for(result_topic, timeout=30, since=since)).json()
        assert again["ok"] and again["changed"] is True
        assert await status(local_engine, name) == "running"
        assert not any(m.retain for m in rec.seen(result_topic))
    entries, _ = await mqtt_core.audit.list(actor_kind=ActorKind.MQTT,
                                            target=f"{local_engine.slug}/{name}")
    assert [(e.action, e.actor.id) for e in reversed(entries)] == [
        ("container.stop", settings.client_id), ("container.start", settings.client_id)]


async def test_e2e_commands_are_refused_when_control_is_off(
        mqtt_core: Chrontainer, start_bridge: StartBridge, mqtt_broker: Mosquitto,
        local_engine: Engine) -> None:
    cid, name = await run_container(local_engine)
    await in_cache(mqtt_core, local_engine.slug, cid=cid)
    settings = bridge_settings(mqtt_broker)  # control off: the default
    topics = topics_of(settings)
    async with recorder(mqtt_broker, f"{topics.base}/#") as rec:
        await wait_connected(await start_bridge(settings))
        await rec.publish(topics.container_command(local_engine.slug, name, "restart"), "PRESS")
        result = (await rec.wait_for(topics.container(local_engine.slug, name, "result"),
                                     timeout=30)).json()
    assert not result["ok"] and result["error"]["code"] == "forbidden"
    assert await status(local_engine, name) == "running"
    entries, _ = await mqtt_core.audit.list(actor_kind=ActorKind.MQTT,
                                            target=f"{local_engine.slug}/{name}")
    assert [(e.action, e.result) for e in entries] == [("mqtt.restart", "error")]


async def test_e2e_a_retained_command_is_cleared_and_not_obeyed(
        mqtt_core: Chrontainer, start_bridge: StartBridge, mqtt_broker: Mosquitto,
        local_engine: Engine) -> None:
    cid, name = await run_container(local_engine)
    await in_cache(mqtt_core, local_engine.slug, cid=cid)
    settings = bridge_settings(mqtt_broker, control=ControlMode.ALL)
    topics = topics_of(settings)
    command = topics.container_command(local_engine.slug, name, "power")
    # Left retained on the broker before the bridge connects (a misconfigured automation).
    async with recorder(mqtt_broker, command) as rec:
        await rec.publish(command, "OFF", retain=True)
    assert await retained(mqtt_broker, command) == {command: b"OFF"}
    await wait_connected(await start_bridge(settings))

    async def cleared() -> bool:
        return await retained(mqtt_broker, command, settle=0.2) == {}
    await wait_for(cleared, timeout=30, what="the retained command is cleared")
    entries: list[AuditEntry] = []

    async def audited() -> bool:
        nonlocal entries
        entries, _ = await mqtt_core.audit.list(actor_kind=ActorKind.MQTT,
                                                target=f"{local_engine.slug}/{name}")
        return bool(entries)
    await wait_for(audited, what="the ignored command is audited")
    assert [(e.action, e.error) for e in entries] == [("mqtt.power", "retained command ignored")]
    assert await status(local_engine, name) == "running"
