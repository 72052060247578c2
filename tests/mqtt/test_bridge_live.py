"""The bridge over a real daemon, real engines and a real Mosquitto: discovery, state, stats and
lifecycle events follow what happens to real containers."""

from __future__ import annotations

import json

from chrontainer_core import Chrontainer
from chrontainer_mqtt.settings import DiscoveryMode

from ..live import Engine, docker, run_container
from . import bridge_harness
from .bridge_harness import (
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


async def test_discovery_state_and_events_follow_real_containers(
        mqtt_core: Chrontainer, start_bridge: StartBridge, mqtt_broker: Mosquitto,
        local_engine: Engine) -> None:
    _, name = await run_container(local_engine)
    await in_cache(mqtt_core, local_engine.slug, name)
    schedule = await make_schedule(mqtt_core, local_engine.slug, name, name="nightly restart")
    settings = bridge_settings(mqtt_broker)
    t = topics_of(settings)
    host = local_engine.slug
    async with recorder(mqtt_broker, f"{settings.base_topic}/#") as rec:
        bridge = await start_bridge(settings)
        await wait_connected(bridge)

        held = await retained(mqtt_broker, f"{settings.discovery_prefix}/#")
        device = t.container_device_id(host, name)  # a plain container's key is its name
        config = json.loads(held[t.device_config(device)])
        assert config["device"]["identifiers"] == [device]
        assert config["device"]["name"] == name
        assert config["device"]["via_device"] == t.host_device_id(host)
        assert {"running", "state", "cpu", "memory", "started_at", "update", "event"} \
            <= set(config["components"])
        # Control is off by default: no command entity at all.
        assert not {"power", "restart", "pause"} & set(config["components"])
        assert t.unique_id(device, "running") in unique_ids(config)

        host_config = json.loads(held[t.device_config(t.host_device_id(host))])
        assert {"online", "containers", "running"} <= set(host_config["components"])
        schedule_config = json.loads(held[t.device_config(t.schedule_device_id(schedule.id))])
        assert schedule_config["device"]["name"] == "nightly restart"
        assert {"next_run", "last_result"} <= set(schedule_config["components"])
        assert "run" not in schedule_config["components"]

        held_state = await retained(mqtt_broker, f"{settings.base_topic}/#")
        assert held_state[t.status] == b"online"
        state = json.loads(held_state[t.container(host, name, "state")])
        assert (state["name"], state["running"], state["state"]) == (name, True, "running")
        assert held_state[t.container(host, name, "availability")] == b"online"
        assert json.loads(held_state[t.host(host)])["online"] is True
        assert json.loads(held_state[t.schedule(schedule.id)])["name"] == "nightly restart"

        since = len(rec.messages)
        await docker(local_engine, "stop", name)
        await rec.wait_for(t.container(host, name, "state"),
                           lambda m: m.json()["running"] is False, since=since)
        event = await rec.wait_for(t.container(host, name, "event"),
                                   lambda m: m.json()["event_type"] in ("kill", "die", "stop"),
                                   since=since)
        assert event.json()["name"] == name
        # Stopped is not gone: the container stays available.
        assert rec.last(t.container(host, name, "availability")).text == "online"

        since = len(rec.messages)
        await docker(local_engine, "start", name)
        await rec.wait_for(t.container(host, name, "state"),
                           lambda m: m.json()["running"] is True, since=since)
        await rec.wait_for(t.container(host, name, "event"),
                           lambda m: m.json()["event_type"] == "start", since=since)
        stats = await rec.wait_for(t.container(host, name, "stats"),
                                   lambda m: m.json()["memory_mib"] is not None, timeout=30)
        assert {"cpu_percent", "memory_mib", "memory_percent", "net_rx_kib_s",
                "net_tx_kib_s"} <= set(stats.json())

    # Events are not retained: a new subscriber gets no stale "start".
    assert t.container(host, name, "event") not in await retained(
        mqtt_broker, f"{settings.base_topic}/#")
    status = bridge.status()
    assert status.state == "connected"
    assert status.broker == f"{mqtt_broker.host}:{mqtt_broker.port}"
    assert status.devices >= 3 and status.commands is False


async def test_new_container_appears_without_restart(
        mqtt_core: Chrontainer, start_bridge: StartBridge, mqtt_broker: Mosquitto,
        remote_engine: Engine) -> None:
    settings = bridge_settings(mqtt_broker)
    t = topics_of(settings)
    bridge = await start_bridge(settings)
    await wait_connected(bridge)
    before = bridge.status().devices
    async with recorder(mqtt_broker) as rec:
        _, name = await run_container(remote_engine)
        device = t.container_device_id(remote_engine.slug, name)
        message = await rec.wait_for(t.device_config(device))
        await rec.wait_for(t.container(remote_engine.slug, name, "availability"),
                           lambda m: m.text == "online")
    config = json.loads(message.payload)
    assert config["device"]["via_device"] == t.host_device_id(remote_engine.slug)
    held = await retained(mqtt_broker, f"{settings.discovery_prefix}/#")
    assert t.device_config(device) in held
    assert bridge.status().devices == before + 1


async def test_component_mode_publishes_one_config_per_entity(
        mqtt_core: Chrontainer, start_bridge: StartBridge, mqtt_broker: Mosquitto,
        local_engine: Engine) -> None:
    _, name = await run_container(local_engine)
    await in_cache(mqtt_core, local_engine.slug, name)
    settings = bridge_settings(mqtt_broker, discovery_mode=DiscoveryMode.COMPONENT)
    t = topics_of(settings)
    bridge = await start_bridge(settings)
    await wait_connected(bridge)
    held = await retained(mqtt_broker, f"{settings.discovery_prefix}/#")
    device = t.container_device_id(local_engine.slug, name)
    running = json.loads(held[t.component_config("binary_sensor", device, "running")])
    assert running["unique_id"] == t.unique_id(device, "running")
    assert running["device"]["identifiers"] == [device]
    assert t.device_config(device) not in held
