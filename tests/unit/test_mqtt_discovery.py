"""Unit tests: the discovery configs of containers, hosts and schedules (pure).

Every config is checked against tests/mqtt/ha_schema.py, a table of what Home Assistant's MQTT
discovery accepts written from Home Assistant's sources (not from our entity tables), and the
value templates are rendered with Jinja2 against the payloads the state builders produce.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import jinja2
import pytest

from chrontainer_core.models import (
    Container,
    ContainerMetrics,
    ContainerState,
    Health,
    HostState,
    HostStatus,
)
from chrontainer_core.scheduling.jobs import (
    RunResult,
    RunTrigger,
    Schedule,
    ScheduleAction,
    ScheduleRun,
    Target,
    TargetKind,
    Trigger,
    TriggerKind,
)
from chrontainer_mqtt.discovery import (
    ContainerContext,
    DeviceConfig,
    Origin,
    container_config,
    host_config,
    schedule_config,
)
from chrontainer_mqtt.settings import DiscoveryMode
from chrontainer_mqtt.state import (
    EVENT_TYPES,
    container_event,
    container_state,
    container_stats,
    host_state,
    schedule_state,
    update_state,
)
from chrontainer_mqtt.topics import Topics

from ..mqtt.ha_schema import UPDATE_STATE_KEYS, validate_config

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TOPICS = Topics(base="chrontainer", discovery_prefix="homeassistant")
ORIGIN = Origin(sw_version="1.2.3", support_url="https://example.org/chrontainer")
MODES = (DiscoveryMode.DEVICE, DiscoveryMode.COMPONENT)
ON = ContainerContext(commands=True, stats_expire_after=90)
OFF = ContainerContext(commands=False, stats_expire_after=90)


def make_container(**changes: Any) -> Container:
    base = Container(host="local", id="a" * 64, name="web", key="web", image="nginx:1.27",
                     image_id="sha256:" + "b" * 64, command="nginx", created=T0,
                     state=ContainerState.RUNNING, started_at=T0,
                     labels={"org.opencontainers.image.version": "1.27.0"})
    return replace(base, **changes)


def make_host(**changes: Any) -> HostState:
    base = HostState(slug="local", name="Local", url="unix:///var/run/docker.sock",
                     status=HostStatus.ONLINE, engine_version="20.10.24", containers=3)
    return replace(base, **changes)


def make_schedule(**changes: Any) -> Schedule:
    base = Schedule(id=7, name="Nightly restart", enabled=True,
                    target=Target(kind=TargetKind.CONTAINER, host="local", key="web"),
                    action=ScheduleAction.RESTART,
                    trigger=Trigger(kind=TriggerKind.CRON, cron="0 3 * * *"),
                    next_run_at=T0 + timedelta(hours=15))
    return replace(base, **changes)


def payloads(config: DeviceConfig) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(config topic, platform or "device", parsed payload) of each message."""
    for topic, text in config.messages:
        parts = topic.split("/")
        yield topic, ("device" if parts[1] == "device" else parts[1]), json.loads(text)


def entities(config: DeviceConfig) -> dict[str, tuple[str, dict[str, Any]]]:
    """Entity key -> (platform, its options), whichever the discovery mode."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for topic, platform, data in payloads(config):
        if platform == "device":
            for key, comp in data["components"].items():
                out[key] = (comp["p"], comp)
        else:
            out[topic.split("/")[3]] = (platform, data)
    return out


def all_configs() -> Iterator[tuple[str, DeviceConfig]]:
    healthy = make_container(health=Health.HEALTHY)
    for mode in MODES:
        for ctx in (ON, OFF):
            for c in (make_container(), healthy):
                yield (f"container {mode} commands={ctx.commands} health={c.health}",
                       container_config(c, topics=TOPICS, mode=mode, origin=ORIGIN, ctx=ctx))
        yield f"host {mode}", host_config(make_host(), topics=TOPICS, mode=mode, origin=ORIGIN)
        for commands in (True, False):
            yield (f"schedule {mode} commands={commands}",
                   schedule_config(make_schedule(), topics=TOPICS, mode=mode, origin=ORIGIN,
                                   commands=commands))


# --- Home Assistant's schema ---------------------------------------------------------------------


def test_every_config_validates_against_home_assistants_schema() -> None:
    count = 0
    for label, config in all_configs():
        for topic, platform, data in payloads(config):
            assert validate_config(platform, data) == [], (label, topic)
            count += 1
    assert count > 20  # both modes of every kind of device were produced


def test_the_validator_catches_wrong_payloads() -> None:
    _, config = next(all_configs())
    device = json.loads(config.messages[0][1])
    good_state = dict(device["components"]["state"])
    good_memory = dict(device["components"]["memory"])

    def problems_with(key: str, component: dict[str, Any]) -> list[str]:
        bad = {**device, "components": {**device["components"], key: component}}
        return validate_config("device", bad)

    assert any("unknown key 'colour'" in p
               for p in problems_with("state", {**good_state, "colour": "red"}))
    assert any("no unit_of_measurement" in p
               for p in problems_with("state", {**good_state, "unit_of_measurement": "%"}))
    assert any("unit '%' is not valid for device_class data_size" in p
               for p in problems_with("memory", {**good_memory, "unit_of_measurement": "%"}))
    assert any("object_id" in p for p in problems_with("state", {**good_state,
                                                                "object_id": "web_state"}))
    assert any("unique_id" in p for p in problems_with(
        "state", {k: v for k, v in good_state.items() if k != "unique_id"}))
    # A component-mode payload: wrong device class for the platform, bad entity id.
    assert validate_config("binary_sensor", {"state_topic": "a/b", "device_class": "restart"})
    assert validate_config("sensor", {"state_topic": "a/b", "default_entity_id": "switch.x"})
    assert validate_config("sensor", {"state_topic": "a/b", "device_class": "data_rate",
                                      "unit_of_measurement": "KiB/s", "state_class": "total"})
    assert validate_config("device", {"components": {}}) != []


def test_device_mode_is_one_message_with_shared_availability() -> None:
    c = make_container()
    config = container_config(c, topics=TOPICS, mode=DiscoveryMode.DEVICE, origin=ORIGIN,
                              ctx=ON)
    assert len(config.messages) == 1
    topic, text = config.messages[0]
    assert topic == TOPICS.device_config(config.device_id)
    data = json.loads(text)
    assert data["availability_mode"] == "all"
    assert data["qos"] == 1
    assert [a["topic"] for a in data["availability"]] == [
        TOPICS.status, TOPICS.container("local", "web", "availability")]
    assert data["origin"] == {"name": "Chrontainer", "sw_version": "1.2.3",
                              "support_url": "https://example.org/chrontainer"}
    assert data["device"]["identifiers"] == [config.device_id]
    assert data["device"]["via_device"] == TOPICS.host_device_id("local")
    assert set(data["components"]) == set(config.components)
    assert all(comp["p"] == config.components[key] for key, comp in data["components"].items())


def test_component_mode_is_one_message_per_entity_with_device_and_origin() -> None:
    config = container_config(make_container(), topics=TOPICS, mode=DiscoveryMode.COMPONENT,
                              origin=ORIGIN, ctx=ON)
    assert len(config.messages) == len(config.components)
    for topic, platform, data in payloads(config):
        key = topic.split("/")[3]
        assert topic == TOPICS.component_config(platform, config.device_id, key)
        assert config.components[key] == platform
        assert data["device"]["identifiers"] == [config.device_id]
        assert data["origin"]["name"] == "Chrontainer"
        assert data["availability_mode"] == "all"
        assert "p" not in data and "platform" not in data


def test_commands_decide_the_command_entities() -> None:
    c = make_container()
    with_cmds = container_config(c, topics=TOPICS, mode=DiscoveryMode.DEVICE, origin=ORIGIN,
                                 ctx=ON)
    without = container_config(c, topics=TOPICS, mode=DiscoveryMode.DEVICE, origin=ORIGIN,
                               ctx=OFF)
    assert {"power", "restart", "pause"} <= set(with_cmds.components)
    assert not {"power", "restart", "pause"} & set(without.components)
    update_on = entities(with_cmds)["update"][1]
    update_off = entities(without)["update"][1]
    assert update_on["command_topic"] == TOPICS.container_command("local", "web", "update")
    assert update_on["payload_install"] == "install"
    assert "command_topic" not in update_off and "payload_install" not in update_off
    power = entities(with_cmds)["power"][1]
    assert power["command_topic"] == TOPICS.container_command("local", "web", "power")
    assert (power["payload_on"], power["payload_off"]) == ("ON", "OFF")
    assert power["entity_category"] == "config"
    assert power["optimistic"] is False
    restart = entities(with_cmds)["restart"][1]
    assert (restart["device_class"], restart["payload_press"]) == ("restart", "PRESS")
    sched_on = schedule_config(make_schedule(), topics=TOPICS, mode=DiscoveryMode.DEVICE,
                               origin=ORIGIN, commands=True)
    sched_off = schedule_config(make_schedule(), topics=TOPICS, mode=DiscoveryMode.DEVICE,
                                origin=ORIGIN, commands=False)
    assert {"enabled", "run"} <= set(sched_on.components)
    assert not {"enabled", "run"} & set(sched_off.components)
    assert entities(sched_on)["run"][1]["command_topic"] == TOPICS.schedule_command(7, "run")


def test_health_entity_only_with_a_healthcheck() -> None:
    without = container_config(make_container(), topics=TOPICS, mode=DiscoveryMode.DEVICE,
                               origin=ORIGIN, ctx=OFF)
    with_hc = container_config(make_container(health=Health.STARTING), topics=TOPICS,
                               mode=DiscoveryMode.DEVICE, origin=ORIGIN, ctx=OFF)
    assert "health" not in without.components
    assert with_hc.components["health"] == "binary_sensor"
    assert entities(with_hc)["health"][1]["device_class"] == "problem"


def test_classes_and_units_of_the_container_entities() -> None:
    ents = entities(container_config(make_container(), topics=TOPICS,
                                     mode=DiscoveryMode.COMPONENT, origin=ORIGIN, ctx=OFF))
    state = ents["state"][1]
    assert state["device_class"] == "enum"
    assert "unit_of_measurement" not in state and "state_class" not in state
    assert set(state["options"]) == {s.value for s in ContainerState}
    assert (ents["memory"][1]["device_class"], ents["memory"][1]["unit_of_measurement"]) == \
        ("data_size", "MiB")
    for key in ("net_rx", "net_tx"):
        assert ents[key][1]["unit_of_measurement"] == "KiB/s"
        assert ents[key][1]["device_class"] == "data_rate"
    for key in ("cpu", "memory", "memory_percent", "net_rx", "net_tx"):
        assert ents[key][1]["expire_after"] == 90
        assert ents[key][1]["state_class"] == "measurement"
        assert ents[key][1]["state_topic"] == TOPICS.container("local", "web", "stats")
    assert ents["started_at"][1]["device_class"] == "timestamp"
    assert ents["event"][1]["event_types"] == list(EVENT_TYPES)
    assert ents["event"][1]["state_topic"] == TOPICS.container("local", "web", "event")
    assert ents["update"][1]["state_topic"] == TOPICS.container("local", "web", "update")


def test_dropped_entities_are_sent_as_their_platform_alone() -> None:
    config = container_config(make_container(), topics=TOPICS, mode=DiscoveryMode.DEVICE,
                              origin=ORIGIN, ctx=OFF,
                              dropped={"power": "switch", "health": "binary_sensor",
                                       "state": "sensor"})
    comps = json.loads(config.messages[0][1])["components"]
    assert comps["power"] == {"p": "switch"}
    assert comps["health"] == {"p": "binary_sensor"}
    assert comps["state"]["p"] == "sensor" and "unique_id" in comps["state"]  # still there
    assert "power" not in config.components  # only what exists now
    assert validate_config("device", json.loads(config.messages[0][1])) == []
    component_mode = container_config(make_container(), topics=TOPICS,
                                      mode=DiscoveryMode.COMPONENT, origin=ORIGIN, ctx=OFF,
                                      dropped={"power": "switch"})
    assert not any("/switch/" in topic for topic, _ in component_mode.messages)


# --- identity ------------------------------------------------------------------------------------


def unique_ids(config: DeviceConfig) -> dict[str, str]:
    return {key: opts["unique_id"] for key, (_, opts) in entities(config).items()}


@pytest.mark.parametrize("mode", MODES)
def test_unique_ids_depend_on_host_and_key_only(mode: DiscoveryMode) -> None:
    first = make_container()
    recreated = make_container(id="c" * 64, name="web-new", image="nginx:1.28",
                               image_id="sha256:" + "d" * 64, state=ContainerState.EXITED)
    a = container_config(first, topics=TOPICS, mode=mode, origin=ORIGIN, ctx=ON)
    b = container_config(recreated, topics=TOPICS, mode=mode, origin=ORIGIN, ctx=ON)
    assert a.device_id == b.device_id
    assert unique_ids(a) == unique_ids(b)
    assert unique_ids(a)["power"] == TOPICS.unique_id(a.device_id, "power")
    assert all(first.id[:12] not in uid for uid in unique_ids(a).values())
    other_host = container_config(replace(first, host="nas"), topics=TOPICS, mode=mode,
                                  origin=ORIGIN, ctx=ON)
    other_key = container_config(replace(first, key="api"), topics=TOPICS, mode=mode,
                                 origin=ORIGIN, ctx=ON)
    assert not set(unique_ids(a).values()) & set(unique_ids(other_host).values())
    assert not set(unique_ids(a).values()) & set(unique_ids(other_key).values())


def test_no_object_id_anywhere_and_default_entity_ids_are_well_formed() -> None:
    entity_id = re.compile(r"^[a-z_]+\.(?!_)(?!.*__)[a-z0-9_]+(?<!_)$")
    odd = make_container(host="nas-2", key="Proj_Web.1 ünï", name="x")
    configs = [*all_configs(),
               ("odd", container_config(odd, topics=TOPICS, mode=DiscoveryMode.DEVICE,
                                        origin=ORIGIN, ctx=ON))]
    seen: set[str] = set()
    for label, config in configs:
        for _, text in config.messages:
            assert "object_id" not in text and "obj_id" not in text, label
        for key, (platform, opts) in entities(config).items():
            default = opts["default_entity_id"]
            assert entity_id.match(default), (label, default)
            assert default.startswith(f"{platform}.") and default.endswith(f"_{key}")
            if label.startswith("container device commands=True health=None"):
                seen.add(default)
    assert "switch.local_web_power" in seen
    odd_ids = entities(configs[-1][1])
    # Anything outside [a-z0-9] becomes one "_" (Home Assistant's entity ids are ASCII).
    assert odd_ids["power"][1]["default_entity_id"] == "switch.nas_2_proj_web_1_n_power"


def test_schedule_and_host_devices_link_and_ids() -> None:
    sched = schedule_config(make_schedule(), topics=TOPICS, mode=DiscoveryMode.DEVICE,
                            origin=ORIGIN, commands=True)
    data = json.loads(sched.messages[0][1])
    assert data["device"]["via_device"] == TOPICS.host_device_id("local")
    assert sched.device_id == TOPICS.schedule_device_id(7)
    assert [a["topic"] for a in data["availability"]] == [TOPICS.status]
    comps = data["components"]
    assert comps["last_duration"]["device_class"] == "duration"
    assert comps["last_duration"]["unit_of_measurement"] == "s"
    assert set(comps["last_result"]["options"]) == {r.value for r in RunResult}
    host = host_config(make_host(), topics=TOPICS, mode=DiscoveryMode.DEVICE, origin=ORIGIN)
    hdata = json.loads(host.messages[0][1])
    assert host.device_id == TOPICS.host_device_id("local")
    assert "via_device" not in hdata["device"]
    assert [a["topic"] for a in hdata["availability"]] == [TOPICS.status]
    assert hdata["components"]["online"]["device_class"] == "connectivity"
    assert hdata["components"]["disk_usage"]["unit_of_measurement"] == "GiB"
    assert hdata["components"]["docker_version"]["entity_category"] == "diagnostic"


# --- value templates against the real payloads --------------------------------------------------


def render(template: str, payload: dict[str, Any]) -> str:
    """Render like Home Assistant: ``value_json`` is the parsed JSON of the state message."""
    text = json.dumps(payload)
    return jinja2.Environment(autoescape=False).from_string(template).render(
        value=text, value_json=json.loads(text))


def state_payloads(c: Container) -> dict[str, dict[str, Any]]:
    metrics = ContainerMetrics(read_at=T0, cpu_percent=12.34, memory_used=300 * 1024 * 1024,
                               memory_limit=1024 ** 3, memory_percent=29.3,
                               net_rx_rate=2048.0, net_tx_rate=None, block_read_rate=None,
                               block_write_rate=None, pids=3)
    return {"state": container_state(c), "stats": container_stats(metrics)}


def test_value_templates_render_against_the_state_payloads() -> None:
    running = make_container(health=Health.UNHEALTHY)
    paused = make_container(state=ContainerState.PAUSED)
    stopped = make_container(state=ContainerState.EXITED, exit_code=137)
    rendered: dict[str, dict[str, str]] = {}
    for label, c in (("running", running), ("paused", paused), ("stopped", stopped)):
        config = container_config(c, topics=TOPICS, mode=DiscoveryMode.DEVICE, origin=ORIGIN,
                                  ctx=ON)
        states = state_payloads(c)
        rendered[label] = {}
        for key, (_, opts) in entities(config).items():
            if "value_template" not in opts:
                continue
            leaf = opts["state_topic"].rsplit("/", 1)[1]
            payload = states[leaf]
            # Every field a template reads exists in the payload it reads.
            for field in re.findall(r"value_json\.(\w+)", opts["value_template"]):
                assert field in payload, (key, field)
            rendered[label][key] = render(opts["value_template"], payload)
    assert rendered["running"]["power"] == "ON"
    assert rendered["running"]["running"] == "ON"
    assert rendered["running"]["pause"] == "OFF"
    assert rendered["running"]["health"] == "ON"  # problem: unhealthy
    assert rendered["running"]["state"] == "running"
    assert rendered["running"]["cpu"] == "12.3"
    assert rendered["running"]["memory"] == "300.0"
    assert rendered["running"]["net_rx"] == "2.0"
    assert rendered["running"]["net_tx"] == "None"  # Home Assistant's "unknown"
    assert rendered["running"]["started_at"] == "2026-03-01T12:00:00Z"
    assert rendered["paused"]["pause"] == "ON" and rendered["paused"]["power"] == "ON"
    assert rendered["stopped"]["power"] == "OFF" and rendered["stopped"]["running"] == "OFF"
    assert rendered["stopped"]["state"] == "exited"
    assert rendered["stopped"]["started_at"] == "None"
    assert rendered["running"]["state"] in entities(container_config(
        running, topics=TOPICS, mode=DiscoveryMode.DEVICE, origin=ORIGIN,
        ctx=ON))["state"][1]["options"]


def test_host_and_schedule_templates_render() -> None:
    h = make_host()
    c = make_container()
    host_payload = host_state(h, containers=[c], details=None)
    for key, (_, opts) in entities(host_config(h, topics=TOPICS, mode=DiscoveryMode.DEVICE,
                                               origin=ORIGIN)).items():
        for field in re.findall(r"value_json\.(\w+)", opts["value_template"]):
            assert field in host_payload, (key, field)
    assert render("{{ 'ON' if value_json.online else 'OFF' }}", host_payload) == "ON"
    s = make_schedule()
    run = ScheduleRun(id=1, schedule_id=7, trigger=RunTrigger.SCHEDULE, scheduled_for=T0,
                      started_at=T0, finished_at=T0 + timedelta(seconds=2.5),
                      result=RunResult.OK)
    sched_payload = schedule_state(s, run)
    out = {}
    for key, (_, opts) in entities(schedule_config(s, topics=TOPICS, mode=DiscoveryMode.DEVICE,
                                                   origin=ORIGIN, commands=True)).items():
        if "value_template" in opts:
            for field in re.findall(r"value_json\.(\w+)", opts["value_template"]):
                assert field in sched_payload, (key, field)
            out[key] = render(opts["value_template"], sched_payload)
    assert out == {"enabled": "ON", "next_run": "2026-03-02T03:00:00Z",
                   "last_run": "2026-03-01T12:00:00Z", "last_result": "ok",
                   "last_duration": "2.5"}


def test_update_and_event_payloads_fit_their_entities() -> None:
    c = make_container()
    assert set(update_state(c, None, operation=None)) <= UPDATE_STATE_KEYS
    ents = entities(container_config(c, topics=TOPICS, mode=DiscoveryMode.DEVICE,
                                     origin=ORIGIN, ctx=ON))
    event = container_event("start", c, T0)
    assert event is not None
    assert event["event_type"] in ents["event"][1]["event_types"]
