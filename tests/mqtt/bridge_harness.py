"""Running the real MQTT bridge over a real daemon runtime in tests.

- :class:`SettingsBox`: a settings source (frozen :class:`MqttSettings` plus ``on_change``
  listeners); :meth:`SettingsBox.change` replaces values and notifies like the settings service.
- :func:`bridge_settings`: settings for a broker with a base topic, discovery prefix and client
  id unique to the test, so tests can share the session broker.
- :class:`FakeClock` (the removal TTL) and :class:`SleepRecorder` (records the backoff and
  republish delays; sleeps at most ``cap`` seconds, so a test never waits out a backoff).
- Fixtures (a test module takes them with ``mqtt_core = bridge_harness.mqtt_core``):
  ``mqtt_core`` is a daemon runtime over both engines sampling metrics every second;
  ``start_bridge`` starts bridges over it and stops them when the test ends.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chrontainer_core import Chrontainer
from chrontainer_core.scheduling.jobs import (
    Schedule,
    ScheduleAction,
    Target,
    TargetKind,
    Trigger,
    TriggerKind,
)
from chrontainer_mqtt.bridge import MqttBridge
from chrontainer_mqtt.settings import MqttSettings
from chrontainer_mqtt.topics import Topics

from ..live import wait_for, wait_synced
from .broker import PASSWORD, USERNAME, Message, Mosquitto


class SettingsBox:
    """A settings source for the bridge: the current settings and change listeners."""

    def __init__(self, settings: MqttSettings) -> None:
        self._settings = settings
        self._listeners: list[Callable[[frozenset[str]], object]] = []

    @property
    def current(self) -> MqttSettings:
        return self._settings

    def on_change(self, listener: Callable[[frozenset[str]], object]) -> None:
        self._listeners.append(listener)

    def change(self, **changes: Any) -> None:
        """Replace some values and tell the listeners which keys changed."""
        self._settings = dataclasses.replace(self._settings, **changes)
        for listener in self._listeners:
            listener(frozenset(changes))


def bridge_settings(broker: Mosquitto, **overrides: Any) -> MqttSettings:
    """Enabled settings for ``broker``, with topics and client id unique to this call."""
    token = uuid.uuid4().hex[:8]
    values: dict[str, Any] = {
        "enabled": True, "host": broker.host, "port": broker.port,
        "base_topic": f"ct-{token}", "discovery_prefix": f"ha-{token}",
        "client_id": f"chrontainer-{token}",
    }
    if "password_file" in broker.conf.read_text():
        values |= {"username": USERNAME, "password": PASSWORD}
    return MqttSettings(**(values | overrides))


def topics_of(settings: MqttSettings) -> Topics:
    return Topics(settings.base_topic, settings.discovery_prefix)


class FakeClock:
    """An injectable clock that moves only when told."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class SleepRecorder:
    """An injectable sleep recording every delay asked for; really sleeps at most ``cap``."""

    def __init__(self, cap: float = 0.2) -> None:
        self.cap = cap
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(min(delay, self.cap))


async def in_cache(core: Chrontainer, host: str, name: str | None = None, *,
                   cid: str | None = None) -> None:
    """Wait until ``core``'s cache of ``host`` holds the container (by name, or by id)."""
    def seen() -> bool:
        return any((c.id == cid) if cid is not None else (c.name == name)
                   for c in core.hosts.get(host).containers())

    await wait_for(seen, what=f"{name or cid} in the cache")


async def wait_connected(bridge: MqttBridge, timeout: float = 20.0) -> None:
    """Wait until the bridge reports a connection (after it published everything)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while bridge.status().state != "connected":
        if loop.time() > deadline:
            raise AssertionError(f"bridge not connected: {bridge.status()}")
        await asyncio.sleep(0.05)


def device_config(message: Message) -> dict[str, Any]:
    """A device-discovery payload, parsed (it must be a JSON object)."""
    doc = json.loads(message.payload)
    assert isinstance(doc, dict), message.payload
    return doc


def unique_ids(config: dict[str, Any]) -> set[str]:
    """Every entity's unique id in a device-discovery payload."""
    return {c["unique_id"] for c in config["components"].values() if "unique_id" in c}


@pytest.fixture
async def mqtt_core(clean_engines: None, daemon_config: Any) -> AsyncIterator[Chrontainer]:
    """A daemon runtime over both engines, sampling metrics every second."""
    config = dataclasses.replace(daemon_config, metrics_interval=1.0)
    async with Chrontainer.from_config(config) as core:
        await wait_synced(core)
        yield core


StartBridge = Callable[..., Awaitable[MqttBridge]]


@pytest.fixture
async def start_bridge(mqtt_core: Chrontainer) -> AsyncIterator[StartBridge]:
    """``await start_bridge(settings_or_box, **bridge_kwargs)``: a started bridge over
    ``mqtt_core`` (stopped at the end of the test, before the core)."""
    started: list[MqttBridge] = []

    async def start(settings: MqttSettings | SettingsBox, **kwargs: Any) -> MqttBridge:
        box = settings if isinstance(settings, SettingsBox) else SettingsBox(settings)
        kwargs.setdefault("own_ids", frozenset)
        bridge = MqttBridge(mqtt_core, box, **kwargs)
        await bridge.start()
        started.append(bridge)
        return bridge

    yield start
    for bridge in reversed(started):
        await bridge.stop()


async def make_schedule(core: Chrontainer, host: str, key: str, *, name: str = "nightly",
                        enabled: bool = True) -> Schedule:
    """A one-time restart of ``key`` on ``host`` a day from now (it never fires in a test)."""
    assert core.schedules is not None
    target = Target(kind=TargetKind.CONTAINER, host=host, key=key)
    return await core.schedules.create(Schedule(
        id=0, name=name, enabled=enabled, target=target, action=ScheduleAction.RESTART,
        trigger=Trigger(kind=TriggerKind.ONCE, at=datetime.now(UTC) + timedelta(days=1))))
