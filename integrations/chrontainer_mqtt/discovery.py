"""Home Assistant MQTT discovery configs of containers, hosts and schedules (pure).

One generic builder per platform turns an :class:`~.entities.EntityDescription` row into the
platform's options; :func:`container_config`, :func:`host_config` and :func:`schedule_config`
wrap them into the messages of one device:

- device mode (Home Assistant 2024.12+): one retained message on
  ``<prefix>/device/<device id>/config`` holding the device, the origin, the shared
  availability and every entity under ``components`` (each with its platform ``p``);
- component mode: one retained message per entity on
  ``<prefix>/<platform>/<device id>/<key>/config``, each carrying the device and origin.

Full option names are used (Home Assistant expands abbreviations, and full names read better in
a broker browser), except ``p``, the component platform, as Home Assistant documents it.
Entity ids are suggested with ``default_entity_id`` (``object_id`` is deprecated since Home
Assistant 2025.10 and never sent).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from chrontainer_core.models import Container, HostState
from chrontainer_core.scheduling.jobs import Schedule

from .entities import (
    CONTAINER_ENTITIES,
    HOST_ENTITIES,
    SCHEDULE_ENTITIES,
    EntityDescription,
    Platform,
)
from .settings import DiscoveryMode
from .state import VERSION_LABEL, to_payload
from .topics import Topics

__all__ = [
    "ContainerContext",
    "DeviceConfig",
    "Origin",
    "container_config",
    "entity_slug",
    "host_config",
    "schedule_config",
]

QOS: Final = 1
_EMPTY: Final[Mapping[str, str]] = {}
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """Who publishes the configs (Home Assistant shows it in the MQTT info and the logs)."""

    name: str = "Chrontainer"
    sw_version: str
    support_url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerContext:
    """What the bridge decided for one container.

    Attributes:
        commands: Control is allowed and the container is not protected: the power and pause
            switches, the restart button and the update's install are offered.
        stats_expire_after: Seconds after which the stats sensors go unavailable without news.
    """

    commands: bool
    stats_expire_after: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceConfig:
    """The discovery of one device.

    Attributes:
        device_id: The device's id (``Topics.container_device_id`` and friends).
        components: Entity key -> platform of every entity published now (the bridge keeps
            them to pass as ``dropped`` when an entity goes away).
        messages: ``(config topic, JSON payload)`` pairs to publish retained.
    """

    device_id: str
    components: Mapping[str, str]
    messages: tuple[tuple[str, str], ...]


def entity_slug(text: str) -> str:
    """A Home Assistant object id fragment: ``[a-z0-9_]``, no double, leading or trailing ``_``."""
    return _NOT_SLUG.sub("_", text.lower()).strip("_")


# --- one generic builder per platform -----------------------------------------------------------


def _value_template(d: EntityDescription) -> str:
    return "{{ value_json.%s }}" % d.value_key  # noqa: UP031 - braces of Jinja2


def _on_off_template(d: EntityDescription) -> str:
    test = d.on_when or f"value_json.{d.value_key}"
    return "{{ 'ON' if %s else 'OFF' }}" % test  # noqa: UP031 - braces of Jinja2


def _sensor(d: EntityDescription, state_topic: str, expire_after: int) -> dict[str, Any]:
    out: dict[str, Any] = {"state_topic": state_topic, "value_template": _value_template(d)}
    for name in ("device_class", "unit_of_measurement", "state_class",
                 "suggested_display_precision"):
        value = getattr(d, name)
        if value is not None:
            out[name] = value
    if d.options:
        out["options"] = list(d.options)
    if d.expire_after:
        out["expire_after"] = expire_after
    return out


def _binary_sensor(d: EntityDescription, state_topic: str, expire_after: int) -> dict[str, Any]:
    out: dict[str, Any] = {"state_topic": state_topic, "value_template": _on_off_template(d),
                           **d.payloads}
    if d.device_class is not None:
        out["device_class"] = d.device_class
    if d.expire_after:
        out["expire_after"] = expire_after
    return out


def _switch(d: EntityDescription, state_topic: str, command_topic: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"state_topic": state_topic, "value_template": _on_off_template(d),
                           "command_topic": command_topic, **d.payloads}
    if d.device_class is not None:
        out["device_class"] = d.device_class
    return out


def _button(d: EntityDescription, command_topic: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"command_topic": command_topic, **d.payloads}
    if d.device_class is not None:
        out["device_class"] = d.device_class
    return out


def _update(d: EntityDescription, state_topic: str, command_topic: str | None,
            commands: bool) -> dict[str, Any]:
    # The state topic carries the whole JSON (installed_version, latest_version, in_progress,
    # update_percentage, ...); without a command topic Home Assistant offers no install.
    out: dict[str, Any] = {"state_topic": state_topic}
    if commands and command_topic is not None:
        out["command_topic"] = command_topic
        out.update(d.payloads)
    if d.device_class is not None:
        out["device_class"] = d.device_class
    return out


def _event(d: EntityDescription, state_topic: str) -> dict[str, Any]:
    out: dict[str, Any] = {"state_topic": state_topic}
    if d.device_class is not None:
        out["device_class"] = d.device_class
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class _Device:
    """What the generic part needs of one device."""

    device_id: str
    block: dict[str, Any]
    slug: str  # the readable prefix of its entity ids
    availability: list[dict[str, str]]
    state_topic: Callable[[str], str]  # leaf -> topic
    command_topic: Callable[[str], str]  # command -> topic
    commands: bool
    expire_after: int = 0


def _component(d: EntityDescription, dev: _Device, topics: Topics) -> dict[str, Any]:
    """The platform options of one entity plus what every entity carries."""
    state_topic = dev.state_topic(d.leaf)
    command_topic = dev.command_topic(d.command) if d.command is not None else None
    if d.platform is Platform.SENSOR:
        options = _sensor(d, state_topic, dev.expire_after)
    elif d.platform is Platform.BINARY_SENSOR:
        options = _binary_sensor(d, state_topic, dev.expire_after)
    elif d.platform is Platform.SWITCH:
        options = _switch(d, state_topic, command_topic)
    elif d.platform is Platform.BUTTON:
        options = _button(d, command_topic)
    elif d.platform is Platform.UPDATE:
        options = _update(d, state_topic, command_topic, dev.commands)
    else:
        options = _event(d, state_topic)
    common: dict[str, Any] = {
        "name": d.name,
        "unique_id": topics.unique_id(dev.device_id, d.key),
        "default_entity_id": f"{d.platform.value}.{dev.slug}_{d.key}",
    }
    if d.entity_category is not None:
        common["entity_category"] = d.entity_category
    if d.icon is not None:
        common["icon"] = d.icon
    if not d.enabled_by_default:
        common["enabled_by_default"] = False
    return {**common, **options, **d.extra}


def _build(dev: _Device, table: Sequence[EntityDescription], obj: Any, *, topics: Topics,
           mode: DiscoveryMode, origin: Origin, dropped: Mapping[str, str]) -> DeviceConfig:
    entities = [d for d in table if d.applies_to(obj, commands=dev.commands)]
    components = {d.key: d.platform.value for d in entities}
    origin_block = {"name": origin.name, "sw_version": origin.sw_version,
                    "support_url": origin.support_url}
    shared: dict[str, Any] = {"availability": dev.availability, "availability_mode": "all",
                              "qos": QOS}
    messages: list[tuple[str, str]] = []
    if mode is DiscoveryMode.DEVICE:
        cmps: dict[str, dict[str, Any]] = {
            d.key: {"p": d.platform.value, **_component(d, dev, topics)} for d in entities
        }
        # A component published before and gone now is sent as its platform alone: Home
        # Assistant then removes that entity and keeps the others.
        for key, platform in dropped.items():
            if key not in cmps:
                cmps[key] = {"p": platform}
        payload = {"device": dev.block, "origin": origin_block, "components": cmps, **shared}
        messages.append((topics.device_config(dev.device_id), to_payload(payload)))
    else:
        for d in entities:
            payload = {**_component(d, dev, topics), "device": dev.block,
                       "origin": origin_block, **shared}
            topic = topics.component_config(d.platform.value, dev.device_id, d.key)
            messages.append((topic, to_payload(payload)))
    return DeviceConfig(device_id=dev.device_id, components=components,
                        messages=tuple(messages))


def _bridge_availability(topics: Topics) -> dict[str, str]:
    return {"topic": topics.status, "payload_available": "online",
            "payload_not_available": "offline"}


# --- the three kinds of device ------------------------------------------------------------------


def container_config(c: Container, *, topics: Topics, mode: DiscoveryMode, origin: Origin,
                     ctx: ContainerContext, dropped: Mapping[str, str] = _EMPTY) -> DeviceConfig:
    """The discovery of a container's device (per host + container key, never per id).

    Args:
        c: The container.
        topics: The topic layout.
        mode: Device or per-component discovery.
        origin: The origin block.
        ctx: Whether commands are offered and the stats' expiry.
        dropped: Entity key -> platform of entities published before and absent now (device
            mode removes them; component mode leaves clearing their topics to the bridge).

    Returns:
        The device id, its components and the messages to publish retained.
    """
    device_id = topics.container_device_id(c.host, c.key)
    block: dict[str, Any] = {
        "identifiers": [device_id],
        "name": c.name,
        "model": c.image,
        "manufacturer": "Chrontainer",
        "via_device": topics.host_device_id(c.host),
    }
    version = c.labels.get(VERSION_LABEL)
    if version:
        block["sw_version"] = version
    dev = _Device(
        device_id=device_id,
        block=block,
        slug=entity_slug(f"{c.host}_{c.key}") or "container",
        availability=[
            _bridge_availability(topics),
            {"topic": topics.container(c.host, c.key, "availability"),
             "payload_available": "online", "payload_not_available": "offline"},
        ],
        state_topic=lambda leaf: topics.container(c.host, c.key, leaf),
        command_topic=lambda cmd: topics.container_command(c.host, c.key, cmd),
        commands=ctx.commands,
        expire_after=ctx.stats_expire_after,
    )
    return _build(dev, CONTAINER_ENTITIES, c, topics=topics, mode=mode, origin=origin,
                  dropped=dropped)


def host_config(h: HostState, *, topics: Topics, mode: DiscoveryMode, origin: Origin,
                dropped: Mapping[str, str] = _EMPTY) -> DeviceConfig:
    """The discovery of a host's device; available while the bridge is (its ``online``
    sensor tells whether the engine answers)."""
    device_id = topics.host_device_id(h.slug)
    block: dict[str, Any] = {
        "identifiers": [device_id],
        "name": h.name,
        "model": "Docker Engine",
        "manufacturer": "Docker",
    }
    if h.engine_version:
        block["sw_version"] = h.engine_version
    dev = _Device(
        device_id=device_id,
        block=block,
        slug=entity_slug(f"docker_{h.slug}") or "docker",
        availability=[_bridge_availability(topics)],
        state_topic=lambda leaf: topics.host(h.slug, leaf),
        command_topic=lambda cmd: topics.host(h.slug, f"cmd/{cmd}"),
        commands=False,
    )
    return _build(dev, HOST_ENTITIES, h, topics=topics, mode=mode, origin=origin,
                  dropped=dropped)


def schedule_config(s: Schedule, *, topics: Topics, mode: DiscoveryMode, origin: Origin,
                    commands: bool, dropped: Mapping[str, str] = _EMPTY) -> DeviceConfig:
    """The discovery of a schedule's device, linked to its target's host."""
    device_id = topics.schedule_device_id(s.id)
    block: dict[str, Any] = {
        "identifiers": [device_id],
        "name": s.name,
        "model": "Schedule",
        "manufacturer": "Chrontainer",
    }
    if s.target.host:
        block["via_device"] = topics.host_device_id(s.target.host)
    dev = _Device(
        device_id=device_id,
        block=block,
        slug=entity_slug(f"schedule_{s.name}") or f"schedule_{s.id}",
        availability=[_bridge_availability(topics)],
        state_topic=lambda leaf: topics.schedule(s.id, leaf),
        command_topic=lambda cmd: topics.schedule_command(s.id, cmd),
        commands=commands,
    )
    return _build(dev, SCHEDULE_ENTITIES, s, topics=topics, mode=mode, origin=origin,
                  dropped=dropped)
