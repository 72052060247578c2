"""What the bridge publishes: one device per container key, host and schedule, and its state.

The :class:`Inventory` turns the core's current state into discovery configs (built by
:mod:`.discovery`) and state payloads (:mod:`.state`), publishes them on the current
:class:`~.session.Session` and records every device in :class:`~.published.PublishedDevices`.
It reads the core's caches (the container cache, host states, the schedules) rather than the
events' payloads, so any event simply says "look at this again", and a missed event (``Lagged``)
or a new connection is handled by looking at everything again.

While there is no connection nothing is published, but removals are still recorded (a
container's ``gone_since``), so the TTL counts from when the container really went.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import metadata

from chrontainer_core.bus import MetricsSampled
from chrontainer_core.errors import ChrontainerError, NotFound
from chrontainer_core.identity import HELPER_LABEL, is_transient
from chrontainer_core.models import (
    Container,
    ContainerMetrics,
    ContainerState,
    DockerEvent,
    DockerObjectType,
    HostDetails,
    HostState,
    HostStatus,
    Operation,
    OperationStatus,
)
from chrontainer_core.runtime import Chrontainer
from chrontainer_core.scheduling.jobs import Schedule, ScheduleRun

from .discovery import (
    ContainerContext,
    DeviceConfig,
    Origin,
    container_config,
    host_config,
    schedule_config,
)
from .protection import Protection, commands_offered
from .published import DeviceKind, PublishedDevice, PublishedDevices
from .session import Session
from .settings import ControlMode, MqttSettings
from .state import (
    StatsDeadband,
    container_event,
    container_state,
    container_stats,
    host_state,
    schedule_state,
    to_payload,
    update_state,
)
from .topics import Topics

__all__ = ["UPDATE_KIND", "Inventory", "relevant"]

log = logging.getLogger(__name__)

UPDATE_KIND = "container.update"
# Disk usage walks every layer on the engine: read it at most this often per host.
DETAILS_MAX_AGE = timedelta(minutes=5)
# The retained state topics of a container (cleared when its device is removed).
_CONTAINER_LEAVES = ("state", "stats", "update", "availability")


def relevant(c: Container) -> bool:
    """Whether a container gets a device: not a volume helper, not an update's transient one."""
    return HELPER_LABEL not in c.labels and not is_transient(c.name)


def _version() -> str:
    try:
        return metadata.version("chrontainer")
    except metadata.PackageNotFoundError:  # running from a source tree without metadata
        return "0"


@dataclass(slots=True)
class _Details:
    value: HostDetails | None
    read_at: datetime


@dataclass(slots=True)
class InventoryCounts:
    """Totals since the bridge started (status and the bench)."""

    removed: int = 0
    events: int = 0
    stats: int = 0


@dataclass
class Inventory:
    """The published devices and the state behind them (see the module docstring).

    Every method must be called with the bridge's lock held: they interleave publishes and
    database writes that must not mix with another sequence of them.
    """

    core: Chrontainer
    store: PublishedDevices
    clock: Callable[[], datetime]
    settings: MqttSettings
    stats_expire_after: int
    session: Session | None = None
    protection: Protection | None = None
    counts: InventoryCounts = field(default_factory=InventoryCounts)
    origin: Origin = field(default_factory=lambda: Origin(
        sw_version=_version(), support_url="https://github.com/chrontainer/chrontainer"))
    _deadband: StatsDeadband = field(init=False)
    _operations: dict[tuple[str, str], Operation] = field(default_factory=dict)
    _details: dict[str, _Details] = field(default_factory=dict)
    _key_by_id: dict[tuple[str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The stats sensors expire (expire_after) when nothing arrives: steady values inside
        # the deadband are sent again at half that.
        self._deadband = StatsDeadband(max_silence=self.stats_expire_after / 2)

    @property
    def topics(self) -> Topics:
        return Topics(self.settings.base_topic, self.settings.discovery_prefix)

    # -- reading the core -----------------------------------------------------------------------

    def _containers(self, host: str) -> dict[str, Container]:
        """The host's relevant cached containers by key (empty for an unknown host)."""
        if host not in self.core.hosts:
            return {}
        return {c.key: c for c in self.core.hosts.get(host).containers() if relevant(c)}

    def _host_state(self, host: str) -> HostState | None:
        return self.core.hosts.get(host).state() if host in self.core.hosts else None

    def _online(self, host: str) -> bool:
        state = self._host_state(host)
        return state is not None and state.status is HostStatus.ONLINE

    # -- publishing -----------------------------------------------------------------------------

    async def _device(self, device_id: str, build: Callable[[Mapping[str, str]], DeviceConfig],
                      *, kind: str, host: str | None, ref: str) -> None:
        """Publish a device's discovery and record it.

        ``build(dropped)`` makes the config; entities published before and missing now are
        passed as ``dropped`` (device mode removes them with ``{"p": platform}``), and in
        component mode their config topics are cleared.
        """
        if self.session is None:
            return
        cfg = build({})
        old = self.store.get(device_id)
        before = old.components if old is not None else {}
        dropped = {key: platform for key, platform in before.items()
                   if key not in cfg.components}
        if dropped:
            cfg = build(dropped)
        for topic, payload in cfg.messages:
            await self.session.publish(topic, payload)
        topics = tuple(topic for topic, _ in cfg.messages)
        if old is not None:
            await self.session.clear(t for t in old.config_topics if t not in topics)
        record = PublishedDevice(device_id=device_id, kind=kind, host=host, ref=ref,
                                 config_topics=topics, components=dict(cfg.components),
                                 gone_since=old.gone_since if old is not None else None)
        await self.store.record(record)

    async def _send(self, topic: str, payload: str, *, retain: bool = True) -> None:
        if self.session is not None:
            await self.session.publish(topic, payload, retain=retain)

    async def container(self, c: Container) -> None:
        """Publish one container's device, state, update entity and availability."""
        topics = self.topics
        device_id = topics.container_device_id(c.host, c.key)
        self._key_by_id[(c.host, c.id)] = c.key
        if self.session is not None and self.protection is not None:
            ctx = ContainerContext(
                commands=commands_offered(c, self.settings, self.protection),
                stats_expire_after=self.stats_expire_after)
            await self._device(device_id, lambda dropped: container_config(
                c, topics=topics, mode=self.settings.discovery_mode, origin=self.origin,
                ctx=ctx, dropped=dropped), kind=DeviceKind.CONTAINER, host=c.host, ref=c.key)
            await self._send(topics.container(c.host, c.key, "state"),
                             to_payload(container_state(c)))
            await self._send(topics.container(c.host, c.key, "update"),
                             to_payload(self._update(c)))
            available = self._online(c.host) and not c.stale
            await self._send(topics.container(c.host, c.key, "availability"),
                             "online" if available else "offline")
        # Back (recreated, or its host synced again): the TTL no longer runs.
        await self.store.set_gone(device_id, None)

    def _update(self, c: Container) -> dict[str, object]:
        check = self.core.updates.status(c.host, c.key)
        return update_state(c, check, operation=self._operations.get((c.host, c.key)))

    async def container_gone(self, host: str, key: str) -> None:
        """A container key has no container any more: unavailable now, removed after the TTL.

        Nothing happens while its host is not online and synced (its containers are unknown
        then, not gone) or while an update recreates it.
        """
        device_id = self.topics.container_device_id(host, key)
        device = self.store.get(device_id)
        if device is None or not self._online(host) or (host, key) in self._operations:
            return
        await self._send(self.topics.container(host, key, "availability"), "offline")
        if device.gone_since is None:
            await self.store.set_gone(device_id, self.clock())

    async def container_changed(self, host: str, container_id: str, key: str) -> None:
        """Look at a container (and the key it had before) again after a change event."""
        current = self._containers(host)
        previous = self._key_by_id.pop((host, container_id), None)
        c = current.get(key)
        if c is not None:
            await self.container(c)
        elif not is_transient(key):
            await self.container_gone(host, key)
        if previous is not None and previous != key and previous not in current:
            await self.container_gone(host, previous)  # renamed away from its old key
        await self.publish_host(host)

    async def docker_event(self, event: DockerEvent) -> None:
        """Publish a container's lifecycle event (not retained) on its event entity.

        Engine events, not cache changes, are the source: the cache folds a burst (kill, die,
        stop, start) into one change, and an event entity must see each of them. The payload
        says what the event says, not the cache's state, which may be older or newer.
        """
        if (event.type is not DockerObjectType.CONTAINER or self.session is None
                or event.host not in self.core.hosts):
            return
        c = self.core.hosts.get(event.host).get(event.object_id)
        key = c.key if c is not None else self._key_by_id.get((event.host, event.object_id))
        if key is None or is_transient(key) or is_transient(event.name) or (
                c is not None and not relevant(c)):
            return  # not (yet) a device: a container created a moment ago has no key yet
        payload = container_event(event.action, None, event.time)
        if payload is None:
            return
        payload.update(name=c.name if c is not None else event.name, id=event.object_id[:12])
        exit_code = event.attributes.get("exitCode")
        if exit_code is not None and exit_code.lstrip("-").isdigit():
            payload["exit_code"] = int(exit_code)
        self.counts.events += 1
        await self._send(self.topics.container(event.host, key, "event"), to_payload(payload),
                         retain=False)

    async def stats(self, event: MetricsSampled) -> None:
        """Publish the stats of sampled containers that moved past the deadband."""
        if self.session is None or event.host not in self.core.hosts:
            return
        watcher = self.core.hosts.get(event.host)
        for container_id, metrics in event.metrics.items():
            c = watcher.get(container_id)
            if c is not None and relevant(c):
                await self._stats(c, metrics, force=False)

    async def _stats(self, c: Container, metrics: ContainerMetrics, *, force: bool) -> None:
        ident = self.topics.container_device_id(c.host, c.key)
        payload = container_stats(metrics)
        if self._deadband.should_publish(ident, payload, force=force):
            self.counts.stats += 1
            await self._send(self.topics.container(c.host, c.key, "stats"), to_payload(payload))

    async def operation(self, op: Operation) -> None:
        """Follow a container update's progress on its update entity."""
        if op.kind != UPDATE_KIND:
            return
        ident = (op.host, op.target)
        if op.status is OperationStatus.RUNNING:
            self._operations[ident] = op
        else:
            self._operations.pop(ident, None)
        c = self._containers(op.host).get(op.target)
        if c is not None and self.session is not None:
            await self._send(self.topics.container(c.host, c.key, "update"),
                             to_payload(self._update(c)))
        elif c is None and op.status is not OperationStatus.RUNNING:
            await self.container_gone(op.host, op.target)

    async def update_status(self, host: str, key: str) -> None:
        """A key's update check changed."""
        c = self._containers(host).get(key)
        if c is not None and self.session is not None:
            await self._send(self.topics.container(host, key, "update"),
                             to_payload(self._update(c)))

    async def host(self, h: HostState) -> None:
        """Publish a host's device and state (counts from the container cache)."""
        if self.session is None:
            return
        topics = self.topics
        device_id = topics.host_device_id(h.slug)
        await self._device(device_id, lambda dropped: host_config(
            h, topics=topics, mode=self.settings.discovery_mode, origin=self.origin,
            dropped=dropped), kind=DeviceKind.HOST, host=h.slug, ref=h.slug)
        details = self._details.get(h.slug)
        containers = list(self._containers(h.slug).values())
        await self._send(topics.host(h.slug), to_payload(host_state(
            h, containers=containers, details=details.value if details else None)))

    async def read_details(self) -> list[str]:
        """Read host details (images, disk use) of online hosts whose reading is old.

        Does not publish (the caller does, with :meth:`publish_host`, under the lock: reading
        can take seconds). Returns the slugs read.
        """
        now = self.clock()
        read = []
        for h in self.core.hosts.states():
            cached = self._details.get(h.slug)
            if h.status is not HostStatus.ONLINE or (
                    cached is not None and now - cached.read_at < DETAILS_MAX_AGE):
                continue
            try:
                details: HostDetails | None = await self.core.host_info.details(h.slug)
            except ChrontainerError as err:
                log.debug("host %s: details for MQTT unavailable: %s", h.slug, err)
                details = cached.value if cached else None
            self._details[h.slug] = _Details(details, now)
            read.append(h.slug)
        return read

    async def publish_host(self, slug: str) -> None:
        """Publish a host again by slug (gone hosts are skipped)."""
        state = self._host_state(slug)
        if state is not None:
            await self.host(state)

    async def schedule(self, s: Schedule, last: ScheduleRun | None) -> None:
        """Publish a schedule's device and state."""
        if self.session is None:
            return
        topics = self.topics
        device_id = topics.schedule_device_id(s.id)
        commands = self.settings.control is not ControlMode.OFF
        await self._device(device_id, lambda dropped: schedule_config(
            s, topics=topics, mode=self.settings.discovery_mode, origin=self.origin,
            commands=commands, dropped=dropped), kind=DeviceKind.SCHEDULE, host=None,
            ref=str(s.id))
        await self._send(topics.schedule(s.id), to_payload(schedule_state(s, last)))

    async def schedule_changed(self, schedule_id: int, s: Schedule | None,
                               last: ScheduleRun | None = None) -> None:
        """A schedule changed (or was deleted: its entities are removed at once)."""
        if s is not None:
            await self.schedule(s, last)
            return
        device = self.store.get(self.topics.schedule_device_id(schedule_id))
        if device is not None:
            await self.remove(device)

    async def run_changed(self, run: ScheduleRun) -> None:
        """A run started or ended: the schedule's next and last run changed."""
        if run.schedule_id is None or self.core.schedules is None or self.session is None:
            return
        try:
            s = await self.core.schedules.get(run.schedule_id)
        except NotFound:
            return
        await self.schedule(s, run)

    # -- removal --------------------------------------------------------------------------------

    async def remove(self, device: PublishedDevice) -> bool:
        """Clear a device's config and retained state and forget it; False when offline."""
        if self.session is None:
            return False
        topics = self.topics
        state_topics: list[str] = []
        if device.kind == DeviceKind.CONTAINER and device.host is not None:
            state_topics = [topics.container(device.host, device.ref, leaf)
                            for leaf in _CONTAINER_LEAVES]
            self._deadband.forget(device.device_id)
        elif device.kind == DeviceKind.HOST:
            state_topics = [topics.host(device.ref)]
        elif device.kind == DeviceKind.SCHEDULE and device.ref.isdigit():
            state_topics = [topics.schedule(int(device.ref))]
        await self.session.clear([*device.config_topics, *state_topics])
        await self.store.forget([device.device_id])
        self.counts.removed += 1
        log.info("mqtt: removed %s device %s", device.kind, device.device_id)
        return True

    async def sweep(self, ttl: timedelta) -> int:
        """Remove container devices gone longer than ``ttl``; how many were removed."""
        now = self.clock()
        removed = 0
        for device in self.store.all():
            if (device.kind == DeviceKind.CONTAINER and device.gone_since is not None
                    and now - device.gone_since >= ttl and await self.remove(device)):
                removed += 1
        return removed

    async def reconcile_host(self, host: str) -> None:
        """Mark the recorded containers of an online, synced host that are not there now."""
        if not self._online(host):
            return
        current = self._containers(host)
        for device in self.store.all():
            if device.kind == DeviceKind.CONTAINER and device.host == host \
                    and device.ref not in current:
                await self.container_gone(host, device.ref)

    async def removed_hosts(self) -> None:
        """Remove the devices of hosts that are no longer managed (and their containers)."""
        for device in self.store.all():
            if device.kind in (DeviceKind.HOST, DeviceKind.CONTAINER) \
                    and device.host is not None and device.host not in self.core.hosts:
                await self.remove(device)

    def _expected_id(self, device: PublishedDevice) -> str | None:
        """The id this device would have under the current topics (None: not a valid row)."""
        topics = self.topics
        if device.kind == DeviceKind.CONTAINER and device.host is not None:
            return topics.container_device_id(device.host, device.ref)
        if device.kind == DeviceKind.HOST:
            return topics.host_device_id(device.ref)
        if device.kind == DeviceKind.SCHEDULE and device.ref.isdigit():
            return topics.schedule_device_id(int(device.ref))
        return None

    # -- everything -----------------------------------------------------------------------------

    async def publish_all(self) -> None:
        """Publish every device and its state, then clean up what no longer exists."""
        core = self.core
        for h in core.hosts.states():
            await self.host(h)
        for h in core.hosts.states():
            for c in self._containers(h.slug).values():
                await self.container(c)
                metrics = core.containers.latest_metrics(c)
                if metrics is not None and c.state is ContainerState.RUNNING:
                    await self._stats(c, metrics, force=True)
        schedules = await core.schedules.list() if core.schedules is not None else []
        last = await core.schedules.last_runs() if core.schedules is not None else {}
        for s in schedules:
            await self.schedule(s, last.get(s.id))
        await self.removed_hosts()
        ids = {s.id for s in schedules}
        for device in self.store.all():
            if device.device_id != self._expected_id(device) or (
                    device.kind == DeviceKind.SCHEDULE and int(device.ref) not in ids):
                # A deleted schedule, or a device of another base topic (settings changed
                # while the bridge could not clear them): its entities go at once.
                await self.remove(device)
        for h in core.hosts.states():
            await self.reconcile_host(h.slug)
