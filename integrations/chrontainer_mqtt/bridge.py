"""The MQTT bridge: supervision of the broker connection, the core's events, and commands.

One supervisor task per settings generation (DESIGN §1 "Supervision")::

    start() ──▶ _run(settings) ─┬─ _pump: bus events ──▶ Inventory (publishes when connected)
                                ├─ _maintain: removed hosts, host details, the TTL sweep
                                └─ connect loop: connect ─▶ "online", everything, subscribe
                                         ▲                  ─▶ commands, HA "online"
                                         └── backoff 1, 2, 4 ... 60 s ◀── MqttError

aiomqtt leaves reconnecting to its caller: a lost connection ends the ``async with`` block
(publishing raises, the message iterator raises), and the loop opens a new client. The core
never waits for MQTT: the bus hands events over without blocking, and a bridge that falls
behind gets ``Lagged`` and looks at everything again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

import aiomqtt

from chrontainer_core.actor import Actor
from chrontainer_core.bus import (
    ContainerChanged,
    DockerEventSeen,
    Event,
    HostChanged,
    HostRemoved,
    Lagged,
    MetricsSampled,
    OperationChanged,
    RunChanged,
    ScheduleChanged,
    Subscription,
    UpdateStatusChanged,
)
from chrontainer_core.errors import ChrontainerError
from chrontainer_core.models import HostStatus
from chrontainer_core.runtime import Chrontainer
from chrontainer_core.store.tables import utc_now
from chrontainer_core.updates.selfid import read_own_container_ids

from .commands import CommandHandler
from .inventory import Inventory
from .protection import Protection
from .published import PublishedDevices
from .session import QOS, Session, client_for, tls_context
from .settings import ControlMode, MqttSettings
from .topics import Topics

__all__ = ["BridgeStatus", "MqttBridge", "SettingsSource"]

log = logging.getLogger(__name__)

BACKOFF: Final = (1.0, 60.0)
# Home Assistant asks for everything at once after it starts; spreading the answers of many
# publishers over a few seconds spares its MQTT queue.
HA_DELAY: Final = 5.0
# How often the maintenance loop looks at host details (each host's are re-read at most every
# few minutes, see Inventory.read_details) and the removal TTL.
MAINTAIN_TICK: Final = 5.0
# Publishing "offline" at shutdown must not hold the server's stop up for long.
STOP_TIMEOUT: Final = 2.0
_BUS_TOPICS: Final = (ContainerChanged.topic, DockerEventSeen.topic, HostChanged.topic,
                      HostRemoved.topic,
                      MetricsSampled.topic, ScheduleChanged.topic, RunChanged.topic,
                      OperationChanged.topic, UpdateStatusChanged.topic)


class SettingsSource(Protocol):
    """Where the bridge reads its settings, and hears about changes to them."""

    @property
    def current(self) -> MqttSettings: ...

    def on_change(self, listener: Callable[[frozenset[str]], object]) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class BridgeStatus:
    """The bridge as the settings page shows it.

    Attributes:
        state: "disabled", "connecting", "connected" or "reconnecting".
        broker: "host:port" of the configured broker, None when none is.
        error: The last connection error, for people.
        connected_since: When the current connection was made.
        devices: Devices published (recorded) so far.
        commands: Whether MQTT control is on.
    """

    state: str
    broker: str | None
    error: str | None
    connected_since: datetime | None
    devices: int
    commands: bool


class MqttBridge:
    """Publishes containers, hosts and schedules to MQTT and obeys commands (see module doc).

    Args:
        core: The daemon runtime (started).
        settings: The MQTT settings and their change notifications.
        clock: Decides the removal TTL (tests move it).
        sleep: Waits out the reconnect backoff and Home Assistant's republish delay.
        jitter: A number in [0, 1): the share of the 5 s republish delay.
        own_ids: Chrontainer's own container ids (blocking: run in a thread once per run).
        sweep_interval: Seconds between TTL sweeps.
    """

    def __init__(self, core: Chrontainer, settings: SettingsSource, *,
                 clock: Callable[[], datetime] = utc_now,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                 jitter: Callable[[], float] = random.random,
                 own_ids: Callable[[], frozenset[str]] = read_own_container_ids,
                 sweep_interval: float = 60.0) -> None:
        self._core = core
        self._source = settings
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._own_ids = own_ids
        self._sweep_interval = sweep_interval
        self._store = PublishedDevices(core.db, clock=clock)
        self._lock = asyncio.Lock()  # one publish sequence at a time (see Inventory)
        self._control = asyncio.Lock()  # start/stop/settings changes, one at a time
        self._task: asyncio.Task[None] | None = None
        self._changes: set[asyncio.Task[None]] = set()
        self._listening = False
        self._stopped = False
        self._settings: MqttSettings | None = None
        self._inventory: Inventory | None = None
        self._state = "disabled"
        self._error: str | None = None
        self._connected_since: datetime | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Run when the settings say so, and follow their changes from now on."""
        self._stopped = False
        if not self._listening:
            self._source.on_change(self._settings_changed)
            self._listening = True
        async with self._control:
            await self._launch(self._source.current)

    async def stop(self) -> None:
        """Publish ``offline``, disconnect and stop every task (before the core stops)."""
        self._stopped = True
        for task in list(self._changes):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self._control:
            await self._shutdown()

    def status(self) -> BridgeStatus:
        """The connection state and what was published."""
        settings = self._settings or self._source.current
        return BridgeStatus(
            state=self._state,
            broker=f"{settings.host}:{settings.port}" if settings.host else None,
            error=self._error,
            connected_since=self._connected_since,
            devices=len(self._store),
            commands=settings.control is not ControlMode.OFF,
        )

    async def sweep(self) -> int:
        """Remove the entities of containers gone longer than the TTL now; how many devices."""
        inventory = self._inventory
        if inventory is None:
            return 0
        ttl = timedelta(hours=inventory.settings.removed_ttl_hours)
        async with self._lock:
            try:
                return await inventory.sweep(ttl)
            except aiomqtt.MqttError as err:
                log.debug("mqtt: sweep interrupted by the connection: %s", err)
                return 0

    async def _launch(self, settings: MqttSettings) -> None:
        self._settings = settings
        if not settings.configured or self._stopped:
            self._state = "disabled"
            return
        if not self._store.loaded:
            await self._store.load()
        self._state = "connecting"
        self._task = asyncio.create_task(self._run(settings), name="mqtt:bridge")

    async def _shutdown(self) -> None:
        task, self._task = self._task, None
        inventory, self._inventory = self._inventory, None
        # Only over a live connection: publishing on a lost one would hold a server stop for
        # the whole timeout, and the broker sends the last will "offline" for us anyway.
        if (inventory is not None and inventory.session is not None and self._settings
                and self._state == "connected"):
            topics = Topics(self._settings.base_topic, self._settings.discovery_prefix)
            with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                async with asyncio.timeout(STOP_TIMEOUT):
                    await inventory.session.client.publish(topics.status, "offline", qos=QOS,
                                                           retain=True)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._state = "disabled"
        self._connected_since = None

    def _settings_changed(self, keys: frozenset[str]) -> None:
        if self._stopped:
            return
        task = asyncio.create_task(self._apply_settings(), name="mqtt:settings")
        self._changes.add(task)
        task.add_done_callback(self._changes.discard)

    async def _apply_settings(self) -> None:
        """Reconnect with the new settings; clear the old topics when they moved."""
        async with self._control:
            old, new = self._settings, self._source.current
            inventory = self._inventory
            moved = old is not None and (old.base_topic, old.discovery_prefix) != (
                new.base_topic, new.discovery_prefix)
            if moved and inventory is not None and inventory.session is not None:
                async with self._lock:
                    with contextlib.suppress(aiomqtt.MqttError):
                        for device in self._store.all():
                            await inventory.remove(device)
            await self._shutdown()
            log.info("mqtt: settings changed; %s", "reconnecting" if new.configured
                     else "bridge disabled")
            await self._launch(new)

    # -- supervision ----------------------------------------------------------------------------

    async def _run(self, settings: MqttSettings) -> None:
        core = self._core
        interval = core.config.metrics_interval if core.config is not None else 15.0
        inventory = self._inventory = Inventory(
            core=core, store=self._store, clock=self._clock, settings=settings,
            stats_expire_after=int(max(60.0, 3 * interval)))
        own_ids = await asyncio.to_thread(self._own_ids)  # a few /proc reads: blocking
        with core.bus.subscribe(_BUS_TOPICS, maxsize=5000) as sub:
            helpers = [asyncio.create_task(self._pump(sub, inventory), name="mqtt:events"),
                       asyncio.create_task(self._maintain(inventory), name="mqtt:maintain")]
            try:
                await self._connect_loop(settings, inventory, own_ids)
            finally:
                for task in helpers:
                    task.cancel()
                await asyncio.gather(*helpers, return_exceptions=True)

    async def _connect_loop(self, settings: MqttSettings, inventory: Inventory,
                            own_ids: frozenset[str]) -> None:
        topics = Topics(settings.base_topic, settings.discovery_prefix)
        broker = f"{settings.host}:{settings.port}"
        delay, down = BACKOFF[0], False
        tls: ssl.SSLContext | None = None
        while True:
            try:
                if settings.tls and tls is None:
                    tls = await tls_context(settings)  # reads the system's CAs: once per run
                async with client_for(settings, topics, tls=tls) as client:
                    if down:
                        log.info("mqtt: connected to %s again", broker)
                    down = False
                    delay = BACKOFF[0]
                    await self._serve(client, settings, topics, inventory, own_ids)
            except aiomqtt.MqttError as err:
                self._lost(broker, str(err) or type(err).__name__, logged=down)
            except Exception as err:  # supervision: a bug must not end the bridge
                log.exception("mqtt: the bridge failed unexpectedly")
                self._lost(broker, str(err), logged=True)
            finally:
                inventory.session = None
            down = True
            self._state = "reconnecting"
            await self._sleep(delay)
            delay = min(delay * 2, BACKOFF[1])

    def _lost(self, broker: str, error: str, *, logged: bool) -> None:
        if not logged:  # once per outage, not once per retry
            log.warning("mqtt: %s %s: %s", "connection lost to" if self._state == "connected"
                        else "cannot connect to", broker, error)
        self._error = error
        self._connected_since = None

    async def _serve(self, client: aiomqtt.Client, settings: MqttSettings, topics: Topics,
                     inventory: Inventory, own_ids: frozenset[str]) -> None:
        """One connection: announce, publish everything, subscribe, then handle messages."""
        session = Session(client)
        protection = await Protection.build(settings, own_ids=own_ids)
        handler = CommandHandler(self._core, topics=topics, settings=lambda: settings,
                                 protection=lambda: protection,
                                 actor=Actor.mqtt(settings.client_id), clock=self._clock)
        async with self._lock:
            inventory.session = session
            inventory.protection = protection
            await session.publish(topics.status, "online")
            await inventory.publish_all()
        await client.subscribe(topics.ha_status, qos=QOS)
        for topic_filter in topics.command_filters:
            await client.subscribe(topic_filter, qos=QOS)
        self._state = "connected"
        self._error = None
        self._connected_since = self._clock()
        tasks: set[asyncio.Task[None]] = set()
        republish: asyncio.Task[None] | None = None
        try:
            async for message in client.messages:
                topic = str(message.topic)
                payload = message.payload if isinstance(message.payload, bytes) else \
                    str(message.payload or "").encode()
                if topic == topics.ha_status:
                    if payload.strip() == b"online" and (republish is None or republish.done()):
                        republish = asyncio.create_task(self._republish(session, inventory))
                        tasks.add(republish)
                    continue
                task = asyncio.create_task(self._command(
                    handler, session, topic, payload, retain=bool(message.retain)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _republish(self, session: Session, inventory: Inventory) -> None:
        """Home Assistant (re)started: send everything again after a random short delay."""
        await self._sleep(self._jitter() * HA_DELAY)
        async with self._lock:
            if inventory.session is not session:
                return  # reconnected meanwhile: that connection published everything
            session.forget()
            try:
                await session.publish(inventory.topics.status, "online")
                await inventory.publish_all()
            except aiomqtt.MqttError as err:
                log.debug("mqtt: republish interrupted: %s", err)

    async def _command(self, handler: CommandHandler, session: Session, topic: str,
                       payload: bytes, *, retain: bool) -> None:
        try:
            for out in await handler.handle(topic, payload, retain=retain):
                await session.publish(out.topic, out.payload, retain=out.retain, force=True)
        except aiomqtt.MqttError as err:
            log.debug("mqtt: result of %s not sent: %s", topic, err)

    # -- the core's events ----------------------------------------------------------------------

    async def _pump(self, sub: Subscription, inventory: Inventory) -> None:
        async for event in sub:
            try:
                async with self._lock:
                    await self._dispatch(event, inventory)
            except aiomqtt.MqttError as err:
                # The connect loop notices the broken connection and republishes everything.
                log.debug("mqtt: publishing %s failed: %s", event.topic, err)
            except ChrontainerError as err:
                log.warning("mqtt: handling %s failed: %s", event.topic, err)
            except Exception:  # supervision: one bad event must not stop the bridge
                log.exception("mqtt: handling %s failed", event.topic)

    async def _dispatch(self, event: Event, inventory: Inventory) -> None:
        if isinstance(event, ContainerChanged):
            await inventory.container_changed(event.host, event.id, event.key)
        elif isinstance(event, DockerEventSeen):
            await inventory.docker_event(event.event)
        elif isinstance(event, MetricsSampled):
            await inventory.stats(event)
        elif isinstance(event, HostChanged):
            await inventory.host(event.host)
            if event.host.status is HostStatus.ONLINE:
                await inventory.reconcile_host(event.host.slug)
        elif isinstance(event, HostRemoved):
            await inventory.removed_hosts()
        elif isinstance(event, ScheduleChanged):
            schedules = self._core.schedules
            last = None
            if event.schedule is not None and schedules is not None and inventory.session:
                last = (await schedules.last_runs()).get(event.schedule_id)
            await inventory.schedule_changed(event.schedule_id, event.schedule, last)
        elif isinstance(event, RunChanged):
            await inventory.run_changed(event.run)
        elif isinstance(event, OperationChanged):
            await inventory.operation(event.operation)
        elif isinstance(event, UpdateStatusChanged):
            await inventory.update_status(event.host, event.key)
        elif isinstance(event, Lagged):
            log.info("mqtt: %d events missed; publishing everything again", event.dropped)
            await inventory.publish_all()

    async def _maintain(self, inventory: Inventory) -> None:
        """Refresh host details (image count, disk use: no engine event reports them) and
        sweep removed containers."""
        loop = asyncio.get_running_loop()
        next_sweep = loop.time() + self._sweep_interval
        while True:
            try:
                # Reading host details can take seconds: not while holding the lock.
                for slug in await inventory.read_details():
                    async with self._lock:
                        await inventory.publish_host(slug)
                if loop.time() >= next_sweep:
                    next_sweep = loop.time() + self._sweep_interval
                    await self.sweep()
            except aiomqtt.MqttError as err:
                log.debug("mqtt: maintenance interrupted by the connection: %s", err)
            except Exception:  # supervision
                log.exception("mqtt: maintenance failed")
            await asyncio.sleep(MAINTAIN_TICK)
