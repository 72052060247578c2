"""The bridge's lifecycle against a real Mosquitto and real engines: last will, reconnect after a
broker restart, Home Assistant's restart, removal after the TTL, recreation keeping the ids,
ghost cleanup after a restart of the bridge, and settings changes."""

from __future__ import annotations

import json
from dataclasses import replace

from chrontainer_core import Chrontainer
from chrontainer_mqtt.settings import ControlMode

from ..live import Engine, TcpProxy, docker, run_container, wait_for
from . import bridge_harness
from .bridge_harness import (
    FakeClock,
    SettingsBox,
    SleepRecorder,
    StartBridge,
    bridge_settings,
    in_cache,
    make_schedule,
    topics_of,
    unique_ids,
    wait_connected,
)
from .broker import Mosquitto, recorder, retained

mqtt_core = bridge_harness.mqtt_core
start_bridge = bridge_harness.start_bridge


async def held_configs(broker: Mosquitto, prefix: str) -> dict[str, bytes]:
    return await retained(broker, f"{prefix}/#")


async def test_last_will_says_offline_when_the_connection_dies(
        mqtt_core: Chrontainer, start_bridge: StartBridge, mqtt_broker: Mosquitto) -> None:
    proxy = TcpProxy(mqtt_broker.host, mqtt_broker.port)
    await proxy.start()
    settings = bridge_settings(mqtt_broker, port=proxy.port)
    t = topics_of(settings)
    sleep = SleepRecorder()
    try:
        async with recorder(mqtt_broker, f"{settings.base_topic}/#") as rec:
            bridge = await start_bridge(settings, sleep=sleep)
            await wait_connected(bridge)
            await rec.wait_for(t.status, lambda m: m.text == "online")
            since = len(rec.messages)
            await proxy.cut()  # no DISCONNECT: the broker publishes the last will
            await rec.wait_for(t.status, lambda m: m.text == "offline", since=since)
            await wait_for(lambda: bridge.status().state == "reconnecting",
                           what="reconnecting")
            assert bridge.status().error
            since = len(rec.messages)
            await proxy.start()
            await rec.wait_for(t.status, lambda m: m.text == "online", since=since)
            await wait_connected(bridge)
        # The backoff grew from 1 s, doubling.
        assert sleep.delays[:3] == [1.0, 2.0, 4.0][:len(sleep.delays[:3])]
        assert bridge.status().error is None
    finally:
        await proxy.cut()


async def test_broker_restart_reconnects_and_republishes(
        mqtt_core: Chrontainer, start_bridge: StartBridge, own_broker: Mosquitto,
        local_engine: Engine) -> None:
    _, name = await run_container(local_engine)
    await in_cache(mqtt_core, local_engine.slug, name)
    settings = bridge_settings(own_broker)
    t = topics_of(settings)
    device_topic = t.device_config(t.container_device_id(local_engine.slug, name))
    bridge = await start_bridge(settings, sleep=SleepRecorder(cap=0.5))
    await wait_connected(bridge)
    assert device_topic in await held_configs(own_broker, settings.discovery_prefix)

    own_broker.stop()  # no persistence: every retained message is lost
    await wait_for(lambda: bridge.status().state == "reconnecting", what="reconnecting")
    own_broker.start()
    await wait_connected(bridge, timeout=30)

    async def republished() -> bool:
        return device_topic in await held_configs(own_broker, settings.discovery_prefix)

    await wait_for(republished, timeout=20, what="config republished")
    held = await retained(own_broker, f"{settings.base_topic}/#")
    assert held[t.status] == b"online"
    assert json.loads(held[t.container(local_engine.slug, name, "state")])["name"] == name


async def test_a_broker_down_at_start_is_retried_while_the_core_keeps_working(
        mqtt_core: Chrontainer, start_bridge: StartBridge, own_broker: Mosquitto,
        local_engine: Engine) -> None:
    own_broker.stop()
    _, name = await run_container(local_engine)
    settings = bridge_settings(own_broker)
    t = topics_of(settings)
    sleep = SleepRecorder(cap=0.3)
    bridge = await start_bridge(settings, sleep=sleep)  # returns although nothing answers
    await wait_for(lambda: len(sleep.delays) >= 3, what="three retries")
    assert sleep.delays[:3] == [1.0, 2.0, 4.0]  # backing off
    status = bridge.status()
    assert (status.state, status.connected_since) == ("reconnecting", None)
    assert status.error
    # Meanwhile the core works: a container action goes through.
    result = await mqtt_core.containers.action(local_engine.slug, name, "stop")
    assert result.changed

    own_broker.start()
    await wait_connected(bridge, timeout=30)
    held = await retained(own_broker, f"{settings.base_topic}/#")
    assert held[t.status] == b"online"
    assert json.loads(held[t.container(local_engine.slug, name, "state")])["running"] is False


async def test_home_assistant_online_republishes_after_a_random_delay(
        mqtt_core: Chrontainer, start_bridge: StartBridge, mqtt_broker: Mosquitto,
        local_engine: Engine) -> None:
    _, name = await run_container(local_engine)
    await in_cache(mqtt_core, local_engine.slug, name)
    settings = bridge_settings(mqtt_broker)
    t = topics_of(settings)
    device_topic = t.device_config(t.container_device_id(local_engine.slug, name))
    sleep = SleepRecorder(cap=0)
    bridge = await start_bridge(settings, sleep=sleep, jitter=lambda: 0.7)
    await wait_connected(bridge)
    async with recorder(mqtt_broker) as rec:
        await rec.wait_for(device_topic)  # the retained copy
        since = len(rec.messages)
        await rec.publish(t.ha_status, "offline")
        await rec.publish(t.ha_status, "online")
        message = await rec.wait_for(device_topic, since=since)
        assert not message.retain  # sent live, not replayed by the broker
        await rec.wait_for(t.container(local_engine.slug, name, "state"), since=since)
    assert sleep.delays == [3.5]  # jitter 0.7 of at most 5 s, once ("offline" asks nothing)
    assert all(0 <= d <= 5 for d in sleep.delays)


async def test_removed_container_goes_unavailable_then_is_removed_after_the_ttl(
        mqtt_core: Chrontainer, start_bridge: StartBridge, mqtt_broker: Mosquitto,
        local_engine: Engine) -> None:
    _, name = await run_container(local_engine)
    await in_cache(mqtt_core, local_engine.slug, name)
    settings = bridge_settings(mqtt_broker, removed_ttl_hours=2)
    t = topics_of(settings)
    host = local_engine.slug
    device_topic = t.device_config(t.container_device_id(host, name))
    clock = FakeClock()
    bridge = await start_bridge(settings, clock=clock)
    await wait_connected(bridge)
    async with recorder(mqtt_broker, f"{settings.base_topic}/#") as rec:
        await rec.wait_for(t.container(host, name, "availability"), lambda m: m.text == "online")
        since = len(rec.messages)
        await docker(local_engine, "rm", "-f", name)
        await rec.wait_for(t.container(host, name, "availability"),
                           lambda m: m.text == "offline", since=since)
    assert device_topic in await held_configs(mqtt_broker, settings.discovery_prefix)

    clock.advance(hours=1)
    assert await bridge.sweep() == 0  # not yet
    assert device_topic in await held_configs(mqtt_broker, settings.discovery_prefix)
    devices = bridge.status().devices
    clock.advance(hours=1, seconds=1)
    assert await bridge.sweep() == 1
    assert device_topic not in await held_configs(mqtt_broker, settings.discovery_prefix)
    held = await retained(mqtt_broker, f"{settings.base_topic}/container/#")
    assert not [topic for topic in held if f"/{name}/" in topic]  # its state went too
    assert bridge.status().devices == devices - 1


async def test_recreated_container_keeps_its_ids_and_comes_back(
        mqtt_core: Chrontainer, start_bridge: StartBridge, mqtt_broker: Mosquitto,
        remote_engine: Engine) -> None:
    first, name = await run_container(remote_engine)
    await in_cache(mqtt_core, remote_engine.slug, name)
    settings = bridge_settings(mqtt_broker, removed_ttl_hours=1)
    t = topics_of(settings)
    host = remote_engine.slug
    device_topic = t.device_config(t.container_device_id(host, name))
    clock = FakeClock()
    bridge = await start_bridge(settings, clock=clock)
    await wait_connected(bridge)
    before = json.loads((await held_configs(mqtt_broker, settings.discovery_prefix))[device_topic])
    async with recorder(mqtt_broker, f"{settings.base_topic}/#") as rec:
        since = len(rec.messages)
        await docker(remote_engine, "rm", "-f", name)
        await rec.wait_for(t.container(host, name, "availability"),
                           lambda m: m.text == "offline", since=since)
        since = len(rec.messages)
        second, _ = await run_container(remote_engine, name=name)
        assert second != first
        await rec.wait_for(t.container(host, name, "availability"),
                           lambda m: m.text == "online", since=since)
        state = await rec.wait_for(t.container(host, name, "state"),
                                   lambda m: m.json()["id"] == second[:12], since=since)
        assert state.json()["running"] is True
    after = json.loads((await held_configs(mqtt_broker, settings.discovery_prefix))[device_topic])
    assert after["device"]["identifiers"] == before["device"]["identifiers"]
    assert unique_ids(after) == unique_ids(before)
    clock.advance(hours=2)
    assert await bridge.sweep() == 0  # it came back: the TTL no longer runs


async def test_ghosts_are_cleaned_after_a_restart_of_the_bridge(
        mqtt_core: Chrontainer, start_bridge: StartBridge, mqtt_broker: Mosquitto,
        local_engine: Engine) -> None:
    assert mqtt_core.schedules is not None
    _, name = await run_container(local_engine)
    await in_cache(mqtt_core, local_engine.slug, name)
    schedule = await make_schedule(mqtt_core, local_engine.slug, name)
    settings = bridge_settings(mqtt_broker, removed_ttl_hours=1)
    t = topics_of(settings)
    host = local_engine.slug
    container_topic = t.device_config(t.container_device_id(host, name))
    schedule_topic = t.device_config(t.schedule_device_id(schedule.id))
    clock = FakeClock()
    first = await start_bridge(settings, clock=clock)
    await wait_connected(first)
    held = await held_configs(mqtt_broker, settings.discovery_prefix)
    assert {container_topic, schedule_topic} <= set(held)
    await first.stop()

    # While no bridge runs: the schedule is deleted and the container removed.
    await mqtt_core.schedules.delete(schedule.id)
    await docker(local_engine, "rm", "-f", name)
    await wait_for(lambda: all(c.name != name for c in mqtt_core.hosts.get(host).containers()),
                   what="removal seen by the cache")

    second = await start_bridge(settings, clock=clock)  # same database, new bridge
    await wait_connected(second)
    held = await held_configs(mqtt_broker, settings.discovery_prefix)
    assert schedule_topic not in held  # a deleted schedule goes at once
    assert container_topic in held  # a removed container only after the TTL
    state = await retained(mqtt_broker, f"{settings.base_topic}/#")
    assert state[t.container(host, name, "availability")] == b"offline"
    assert t.schedule(schedule.id) not in state
    clock.advance(hours=1, seconds=1)
    assert await second.sweep() == 1
    assert container_topic not in await held_configs(mqtt_broker, settings.discovery_prefix)


async def test_entities_dropped_while_the_bridge_was_down_are_removed_after_a_restart(
        mqtt_core: Chrontainer, start_bridge: StartBridge, mqtt_broker: Mosquitto,
        local_engine: Engine) -> None:
    """Device-based discovery removes an entity only when it is sent as {"p": platform}: the
    bridge remembers a device's entities in the database, so control switched off while no
    bridge ran still removes the power switch."""
    _, name = await run_container(local_engine)
    await in_cache(mqtt_core, local_engine.slug, name)
    settings = bridge_settings(mqtt_broker, control=ControlMode.ALL)
    t = topics_of(settings)
    topic = t.device_config(t.container_device_id(local_engine.slug, name))
    first = await start_bridge(settings)
    await wait_connected(first)
    held = json.loads((await held_configs(mqtt_broker, settings.discovery_prefix))[topic])
    assert held["components"]["power"]["command_topic"].endswith("/cmd/power")
    await first.stop()

    second = await start_bridge(replace(settings, control=ControlMode.OFF))
    await wait_connected(second)
    held = json.loads((await held_configs(mqtt_broker, settings.discovery_prefix))[topic])
    for key, platform in (("power", "switch"), ("restart", "button"), ("pause", "switch")):
        assert held["components"][key] == {"p": platform}
    assert held["components"]["running"]["p"] == "binary_sensor"  # the others stay


async def test_a_deleted_schedule_is_removed_at_once(
        mqtt_core: Chrontainer, start_bridge: StartBridge, mqtt_broker: Mosquitto,
        local_engine: Engine) -> None:
    assert mqtt_core.schedules is not None
    schedule = await make_schedule(mqtt_core, local_engine.slug, "anything")
    settings = bridge_settings(mqtt_broker)
    t = topics_of(settings)
    bridge = await start_bridge(settings)
    await wait_connected(bridge)
    async with recorder(mqtt_broker, f"{settings.discovery_prefix}/#") as rec:
        await rec.wait_for(t.device_config(t.schedule_device_id(schedule.id)),
                           lambda m: m.payload != b"")
        await mqtt_core.schedules.set_enabled(schedule.id, False)
        since = len(rec.messages)
        await mqtt_core.schedules.delete(schedule.id)
        await rec.wait_for(t.device_config(t.schedule_device_id(schedule.id)),
                           lambda m: m.payload == b"", since=since)


async def test_settings_changes_reconnect_and_move_the_topics(
        mqtt_core: Chrontainer, start_bridge: StartBridge, mqtt_broker: Mosquitto) -> None:
    settings = bridge_settings(mqtt_broker)
    box = SettingsBox(settings)
    bridge = await start_bridge(box)
    await wait_connected(bridge)
    old = topics_of(settings)
    host_topic = old.device_config(old.host_device_id("local"))
    assert host_topic in await held_configs(mqtt_broker, settings.discovery_prefix)

    new_base = f"{settings.base_topic}-moved"
    box.change(base_topic=new_base)
    new = topics_of(box.current)

    async def moved() -> bool:
        held = await held_configs(mqtt_broker, settings.discovery_prefix)
        return new.device_config(new.host_device_id("local")) in held and host_topic not in held

    await wait_for(moved, timeout=20, what="configs moved to the new base topic")
    await wait_connected(bridge)
    assert (await retained(mqtt_broker, f"{new_base}/status"))[new.status] == b"online"

    box.change(enabled=False)
    await wait_for(lambda: bridge.status().state == "disabled", what="disabled")
    assert (await retained(mqtt_broker, f"{new_base}/status"))[new.status] == b"offline"


async def test_a_removed_host_and_its_containers_are_removed_at_once(
        mqtt_core: Chrontainer, start_bridge: StartBridge, mqtt_broker: Mosquitto,
        remote_engine: Engine) -> None:
    _, name = await run_container(remote_engine)
    await in_cache(mqtt_core, remote_engine.slug, name)
    settings = bridge_settings(mqtt_broker)
    t = topics_of(settings)
    host_topic = t.device_config(t.host_device_id(remote_engine.slug))
    container_topic = t.device_config(t.container_device_id(remote_engine.slug, name))
    bridge = await start_bridge(settings)
    await wait_connected(bridge)
    assert {host_topic, container_topic} <= set(
        await held_configs(mqtt_broker, settings.discovery_prefix))

    await mqtt_core.hosts.remove(remote_engine.slug)

    async def gone() -> bool:
        held = await held_configs(mqtt_broker, settings.discovery_prefix)
        return not {host_topic, container_topic} & set(held)

    await wait_for(gone, timeout=20, what="host and container configs cleared")
    assert t.host(remote_engine.slug) not in await retained(mqtt_broker,
                                                            f"{settings.base_topic}/#")
