"""Unit tests: which containers MQTT commands may act on (protection rules, control modes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chrontainer_core.models import Container, ContainerState, NetworkAttachment, PortBinding
from chrontainer_mqtt.protection import (
    Protection,
    broker_image,
    commands_offered,
    control_allowed,
    home_assistant_image,
)
from chrontainer_mqtt.settings import ControlMode, MqttSettings

OWN = "a" * 64
OTHER = "b" * 64


def container(**changes: Any) -> Container:
    values: dict[str, Any] = {
        "host": "local", "id": OTHER, "name": "web", "key": "web", "image": "nginx:1.27",
        "image_id": "sha256:" + "c" * 64, "command": "nginx", "state": ContainerState.RUNNING,
        "created": datetime(2025, 1, 1, tzinfo=UTC),
    }
    values.update(changes)
    return Container(**values)


RULES = Protection(own_ids=frozenset(), broker_ips=frozenset({"172.17.0.9", "fd00::9"}),
                   broker_port=1883)


def test_an_ordinary_container_is_not_protected() -> None:
    assert RULES.reason(container()) is None


@pytest.mark.parametrize("own", [OTHER, OTHER[:12]])
def test_own_container_by_full_id_or_hostname_prefix(own: str) -> None:
    rules = Protection(own_ids=frozenset({own}), broker_ips=frozenset(), broker_port=1883)
    reason = rules.reason(container())
    assert reason is not None and "Chrontainer itself" in reason


def test_own_id_needs_a_full_id_or_a_12_hex_prefix() -> None:
    # A shorter prefix is no id selfid.py returns: it must not protect by accident.
    rules = Protection(own_ids=frozenset({OTHER[:8], OWN}), broker_ips=frozenset(),
                       broker_port=1883)
    assert rules.reason(container()) is None


@pytest.mark.parametrize("attachment", [
    NetworkAttachment(network="bridge", ip_address="172.17.0.9"),
    NetworkAttachment(network="mqtt", ip_address="10.0.0.2", ipv6_address="fd00::9"),
])
def test_broker_by_network_address(attachment: NetworkAttachment) -> None:
    reason = RULES.reason(container(networks=(attachment,)))
    assert reason is not None and "MQTT broker" in reason


def test_other_network_addresses_are_not_the_broker() -> None:
    c = container(networks=(NetworkAttachment(network="bridge", ip_address="172.17.0.10"),))
    assert RULES.reason(c) is None


def test_broker_by_published_port_on_any_host_ip() -> None:
    for host_ip in (None, "0.0.0.0", "192.168.1.5"):
        c = container(host="remote", ports=(PortBinding(container_port=1883, protocol="tcp",
                                                        host_ip=host_ip, host_port=1883),))
        reason = RULES.reason(c)
        assert reason is not None and "port 1883" in reason


@pytest.mark.parametrize("port", [
    PortBinding(container_port=1883, protocol="tcp"),               # exposed, not published
    PortBinding(container_port=1883, protocol="tcp", host_port=11883),
    PortBinding(container_port=80, protocol="udp", host_port=1883),  # UDP is no MQTT
])
def test_port_near_misses(port: PortBinding) -> None:
    assert RULES.reason(container(ports=(port,))) is None


@pytest.mark.parametrize("image", [
    "eclipse-mosquitto", "eclipse-mosquitto:2", "eclipse-mosquitto:2.0.18-openssl",
    "docker.io/library/eclipse-mosquitto:latest", "library/eclipse-mosquitto",
    "mosquitto", "someone/mosquitto:1.6", "iegomez/mosquitto-go-auth:latest",
    "emqx/emqx", "emqx/emqx:5.8", "emqx:latest", "emqx/emqx-enterprise:5",
    "vernemq/vernemq", "vernemq/vernemq:1.13.0",
    "registry.example.com:5000/mirror/eclipse-mosquitto:2",
    "eclipse-mosquitto@sha256:" + "d" * 64, "Eclipse-Mosquitto:2",
])
def test_broker_images(image: str) -> None:
    assert broker_image(image)
    reason = RULES.reason(container(image=image))
    assert reason is not None and "MQTT broker image" in reason


@pytest.mark.parametrize("image", [
    "sapcc/mosquitto-exporter", "mosquitto-exporter:0.8", "emqx/emqx-exporter",
    "my-mosquitto-backup", "vernemq-tools/cli", "nginx:1.27", "mosquittoish",
    "sha256:" + "e" * 64, "",  # made from an image id / no reference at all
])
def test_broker_image_near_misses(image: str) -> None:
    assert not broker_image(image)
    assert RULES.reason(container(image=image)) is None


@pytest.mark.parametrize("image", [
    "homeassistant/home-assistant", "homeassistant/home-assistant:2025.1",
    "ghcr.io/home-assistant/home-assistant:stable",
    "ghcr.io/home-assistant/amd64-hassio-supervisor",
    "ghcr.io/home-assistant/qemux86-64-homeassistant:14.1",
    "homeassistant/raspberrypi4-64-homeassistant", "linuxserver/homeassistant:latest",
    "lscr.io/linuxserver/homeassistant", "home-assistant", "homeassistant",
])
def test_home_assistant_images(image: str) -> None:
    assert home_assistant_image(image)
    reason = RULES.reason(container(image=image))
    assert reason is not None and "Home Assistant" in reason


@pytest.mark.parametrize("image", [
    "home-assistant-exporter", "someone/hass-configurator", "ghcr.io/someone/home-assistant-"
    "backup", "homeassistantish/tool", "nginx",
])
def test_home_assistant_near_misses(image: str) -> None:
    assert not home_assistant_image(image)
    assert RULES.reason(container(image=image)) is None


@pytest.mark.parametrize("value", ["true", "TRUE", "True", "1", "yes", " Yes "])
def test_protected_label(value: str) -> None:
    reason = RULES.reason(container(labels={"chrontainer.protected": value}))
    assert reason is not None and "chrontainer.protected" in reason


@pytest.mark.parametrize("value", ["false", "0", "no", "", "maybe"])
def test_protected_label_that_is_not_true(value: str) -> None:
    assert RULES.reason(container(labels={"chrontainer.protected": value})) is None


def test_control_modes_and_the_control_label() -> None:
    plain = container()
    opted_in = container(labels={"chrontainer.mqtt.control": "True"})
    opted_out = container(labels={"chrontainer.mqtt.control": "no"})
    odd = container(labels={"chrontainer.mqtt.control": "sometimes"})
    assert [control_allowed(c, ControlMode.OFF) for c in (plain, opted_in, opted_out, odd)] == [
        False, False, False, False]
    assert [control_allowed(c, ControlMode.ALL) for c in (plain, opted_in, opted_out, odd)] == [
        True, True, False, True]
    assert [control_allowed(c, ControlMode.LABELLED)
            for c in (plain, opted_in, opted_out, odd)] == [False, True, False, False]


def test_commands_offered_needs_control_and_no_protection() -> None:
    on = MqttSettings(control=ControlMode.ALL)
    assert commands_offered(container(), on, RULES)
    assert not commands_offered(container(), MqttSettings(), RULES)  # control off by default
    assert not commands_offered(container(image="eclipse-mosquitto:2"), on, RULES)
    assert not commands_offered(
        container(labels={"chrontainer.protected": "1", "chrontainer.mqtt.control": "true"}),
        MqttSettings(control=ControlMode.LABELLED), RULES)


async def test_build_resolves_the_broker_host() -> None:
    rules = await Protection.build(MqttSettings(enabled=True, host="localhost", port=8883),
                                   own_ids=frozenset({OWN}))
    assert "127.0.0.1" in rules.broker_ips
    assert rules.broker_port == 8883 and rules.own_ids == frozenset({OWN})
    literal = await Protection.build(MqttSettings(host="192.0.2.7"), own_ids=frozenset())
    assert literal.broker_ips == frozenset({"192.0.2.7"})


async def test_build_with_an_unresolvable_or_no_broker_has_no_addresses() -> None:
    bad = await Protection.build(MqttSettings(host="no-such-host.invalid"), own_ids=frozenset())
    assert bad.broker_ips == frozenset() and bad.broker_port == 1883
    none = await Protection.build(MqttSettings(), own_ids=frozenset())
    assert none.broker_ips == frozenset()
    # The port and image rules still apply without addresses.
    assert bad.reason(container(image="emqx/emqx")) is not None
