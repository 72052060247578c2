"""Per-host events watcher and container cache (DESIGN §1).

The watcher follows the engine's ``/events`` stream and keeps an in-memory cache of the host's
containers current from it: typed models plus each container's JSON-ready form, rebuilt only on
change. It re-inspects a container only on lifecycle events, ignores ``exec_*`` noise from
healthchecks, and coalesces bursts. After every (re)connect it re-syncs the whole host. It
supervises itself: an engine failure marks the host offline (logged once), the cached
containers become ``stale``, and it reconnects with backoff until the engine answers again.

It also feeds the events page: every engine event of a container, image, volume or network
(minus the noise: healthchecks alone emit ``exec_*`` every interval) becomes a
:class:`~chrontainer_core.models.DockerEvent` published as ``DockerEventSeen``. A reconnect asks
for events since just before its resync, so some are replayed; the newest ``time_nano`` seen
decides which were published already, so none is published twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from ..bus import Bus, ContainerChanged, ContainerRenamed, DockerEventSeen, HostChanged
from ..errors import ChrontainerError, NotFound
from ..identity import is_transient, rekey
from ..models import (
    Container,
    DockerEvent,
    DockerObjectType,
    EngineVersion,
    HostState,
    HostStatus,
)
from ..serialize import to_jsonable
from ..tasks import cancel_and_wait
from .host import DockerHost, EngineEvent

log = logging.getLogger(__name__)

# Container actions that change what the cache shows. Everything else (exec_*, attach,
# resize, top, export, ...) is noise: healthchecks alone emit exec_* every interval.
LIFECYCLE_ACTIONS = frozenset(
    {
        "create",
        "start",
        "restart",
        "die",
        "kill",
        "stop",
        "pause",
        "unpause",
        "rename",
        "update",
        "destroy",
        "oom",
    }
)

# Inspecting hundreds of containers at once would swamp a Raspberry Pi's engine.
SYNC_CONCURRENCY = 8

# Container actions the events feed leaves out: healthchecks emit exec_* every interval, and
# the rest are side effects of reading a container (docker logs/attach, top, cp, export).
NOISE_ACTIONS: Final = frozenset(
    {"attach", "resize", "top", "export", "archive-path", "extract-to-dir", "copy"}
)
NOISE_PREFIXES: Final = ("exec_",)

# The engine attributes worth showing. Container events carry every label of the container as
# attributes too (user data, sometimes secrets): only these keys are ever kept.
KEPT_ATTRIBUTES: Final = frozenset(
    {"image", "exitCode", "signal", "driver", "type", "container", "oldName", "destination"}
)
# Column sizes of docker_events (store/tables.py); engine values are cut to fit.
_MAX_ACTION = 64
_MAX_TEXT = 255
_NANOS = 1_000_000_000

Sleep = Callable[[float], Awaitable[None]]


def is_lifecycle(event: EngineEvent) -> bool:
    """True for container events that can change the container's cached state."""
    if event.type != "container":
        return False
    return event.action in LIFECYCLE_ACTIONS or event.action.startswith("health_status")


def changed_container(event: EngineEvent) -> str | None:
    """The id of the container whose cached state ``event`` may change, if any: the container
    of a lifecycle event, or the one a network was connected to or disconnected from (its
    cached networks and addresses change; ``docker network connect`` emits no container
    event)."""
    if is_lifecycle(event):
        return event.id
    if event.type == "network" and event.action in ("connect", "disconnect"):
        return event.attributes.get("container") or None
    return None


def is_noise(event: EngineEvent) -> bool:
    """True for container events the events feed leaves out (exec_*, attach, top, ...)."""
    if event.type != DockerObjectType.CONTAINER:
        return False
    return event.action in NOISE_ACTIONS or event.action.startswith(NOISE_PREFIXES)


def event_time(time_nano: int) -> datetime:
    """An engine ``timeNano`` as an aware UTC datetime (microsecond precision)."""
    seconds, nanos = divmod(time_nano, _NANOS)
    return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=nanos // 1000)


def to_docker_event(host: str, event: EngineEvent) -> DockerEvent | None:
    """The events-feed form of an engine event; None for other object types and noise.

    Args:
        host: The slug of the host the event came from.
        event: One entry of the engine's ``/events`` stream.
    """
    try:
        kind = DockerObjectType(event.type)
    except ValueError:
        return None  # daemon, plugin, node, service, ... events: not on the events page
    if is_noise(event):
        return None
    attrs = event.attributes
    # A volume's id is its name; an image event without a name (a dangling image removed)
    # shows the image's id.
    name = event.id if kind is DockerObjectType.VOLUME else attrs.get("name") or event.id
    kept = {k: str(v)[:_MAX_TEXT] for k, v in attrs.items() if k in KEPT_ATTRIBUTES}
    return DockerEvent(
        time=event_time(event.time_nano) if event.time_nano > 0 else datetime.now(UTC),
        host=host,
        type=kind,
        action=event.action.strip()[:_MAX_ACTION],
        object_id=event.id[:_MAX_TEXT],
        name=name[:_MAX_TEXT],
        attributes=kept,
    )


class HostWatcher:
    """Owns one host's container cache and the loop keeping it current.

    Args:
        host: the engine connection.
        bus: where ContainerChanged / ContainerRenamed / HostChanged / DockerEventSeen events
            are published.
        coalesce: seconds to gather a burst of events before re-inspecting.
        backoff: (first, maximum) seconds between reconnect attempts.
        heartbeat: seconds between liveness checks while the events stream is quiet.
        sleep: injectable sleep (tests), defaults to asyncio.sleep.
    """

    def __init__(
        self,
        host: DockerHost,
        bus: Bus,
        *,
        coalesce: float = 0.05,
        backoff: tuple[float, float] = (0.5, 30.0),
        heartbeat: float = 10.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.host = host
        self._bus = bus
        self._coalesce = coalesce
        self._backoff = backoff
        self._heartbeat = heartbeat
        self._sleep = sleep
        self._containers: dict[str, Container] = {}
        self._json: dict[str, dict[str, Any]] = {}
        self.status = HostStatus.UNKNOWN
        self.error: str | None = None
        self.last_seen: datetime | None = None
        self.version: EngineVersion | None = None
        self._task: asyncio.Task[None] | None = None
        self._dirty: dict[str, str] = {}
        self._dirty_event = asyncio.Event()
        self._synced = asyncio.Event()
        # The newest engine event published so far (time_nano), and which events had exactly
        # that time: a reconnect replays events since just before its resync.
        self._newest_nano = 0
        self._at_newest: set[tuple[str, str, str]] = set()

    # -- reading the cache ------------------------------------------------------------------

    @property
    def slug(self) -> str:
        return self.host.slug

    @property
    def live(self) -> bool:
        """True while the watcher loop runs (daemon mode); library mode reads on demand."""
        return self._task is not None and not self._task.done()

    def containers(self) -> list[Container]:
        """The cached containers (marked stale while the host is offline)."""
        return list(self._containers.values())

    def container_json(self) -> list[dict[str, Any]]:
        """The cached JSON-ready forms, in the same order as :meth:`containers`."""
        return list(self._json.values())

    def get(self, container_id: str) -> Container | None:
        return self._containers.get(container_id)

    def json_of(self, container_id: str) -> dict[str, Any] | None:
        """The cached JSON-ready form of one container (shared: do not mutate)."""
        return self._json.get(container_id)

    def state(self) -> HostState:
        """The host as the API shows it."""
        spec = self.host.spec
        return HostState(
            slug=spec.slug,
            name=spec.name,
            url=spec.url,
            status=self.status,
            error=self.error,
            last_seen=self.last_seen,
            engine_version=self.version.version if self.version else None,
            api_version=self.version.api_version if self.version else None,
            containers=len(self._containers),
            tls=spec.tls is not None,
        )

    async def wait_synced(self, timeout: float) -> bool:  # noqa: ASYNC109 - a deadline, not I/O
        """Wait until the first sync finished (or failed); True when the host is online."""
        try:
            async with asyncio.timeout(timeout):
                await self._synced.wait()
        except TimeoutError:
            return False
        return self.status is HostStatus.ONLINE

    async def current(self) -> list[Container]:
        """Containers for a reader: the live cache, or a fresh sync in library mode."""
        if not self.live:
            await self.resync()
        return self.containers()

    # -- changing the cache ---------------------------------------------------------------------

    async def resync(self) -> None:
        """Rebuild the cache from the engine: list every container and inspect each."""
        try:
            version = await self.host.version()
            ids = await self.host.container_ids()
            sem = asyncio.Semaphore(SYNC_CONCURRENCY)

            async def inspect(container_id: str) -> Container | None:
                async with sem:
                    try:
                        return await self.host.inspect(container_id)
                    except NotFound:  # removed between list and inspect
                        return None

            found = [c for c in await asyncio.gather(*map(inspect, ids)) if c is not None]
        except ChrontainerError as err:
            self._set_offline(err)
            raise
        self.version = version
        self._replace_all(found)
        self._set_online()

    async def refresh(self, container_id: str, *, action: str = "") -> Container | None:
        """Re-inspect one container and update the cache; None when it no longer exists."""
        try:
            container = await self.host.inspect(container_id)
        except NotFound:
            self._drop(container_id, action or "destroy")
            return None
        self._put([container], action)
        return self._containers.get(container.id)

    def _replace_all(self, found: Iterable[Container]) -> None:
        fresh = {c.id: c for c in rekey(list(found))}
        for gone in set(self._containers) - set(fresh):
            self._drop(gone, "sync")
        changed = [c for cid, c in fresh.items() if self._containers.get(cid) != c]
        self._store(changed, "sync")

    def _put(self, containers: list[Container], action: str) -> None:
        """Insert or update containers, recomputing keys (replica counts may change)."""
        merged = {**self._containers, **{c.id: c for c in containers}}
        updated = {c.id: c for c in rekey(list(merged.values()))}
        changed = [c for cid, c in updated.items() if self._containers.get(cid) != c]
        self._store(changed, action)

    def _drop(self, container_id: str, action: str) -> None:
        old = self._containers.pop(container_id, None)
        self._json.pop(container_id, None)
        if old is None:
            return
        self._bus.publish(
            ContainerChanged(host=self.slug, id=container_id, key=old.key, container=None,
                             action=action)
        )
        # Removing a replica can drop the _N suffix of its siblings.
        self._put([], action)

    def _store(self, changed: list[Container], action: str) -> None:
        for c in changed:
            old = self._containers.get(c.id)
            # A new name (seen through any event: a burst may fold "rename" into a later
            # action) moves whatever refers to the old key. Replica renumbering is not a rename.
            # An update's renames to and from transient names keep every reference on the
            # original key (identity.is_transient).
            if (old is not None and old.name != c.name and old.key != c.key
                    and not is_transient(old.name) and not is_transient(c.name)):
                self._bus.publish(ContainerRenamed(host=self.slug, id=c.id, old_key=old.key,
                                                   new_key=c.key))
            self._containers[c.id] = c
            self._json[c.id] = to_jsonable(c)
            self._bus.publish(
                ContainerChanged(host=self.slug, id=c.id, key=c.key, container=c, action=action)
            )

    def _set_online(self) -> None:
        self.last_seen = datetime.now(UTC)
        if self.status is not HostStatus.ONLINE:
            if self.status is HostStatus.OFFLINE:
                log.info("host %s: back online (engine %s)", self.slug,
                         self.version.version if self.version else "?")
            self.status = HostStatus.ONLINE
            self.error = None
            self._mark_stale(False)
            self._bus.publish(HostChanged(host=self.state()))
        self._synced.set()

    def _set_offline(self, err: BaseException) -> None:
        message = getattr(err, "message", None) or str(err)
        if self.status is not HostStatus.OFFLINE:
            # Logged once per outage, not once per retry.
            log.warning("host %s: offline: %s", self.slug, message)
            self.status = HostStatus.OFFLINE
            self.error = message
            self._mark_stale(True)
            self._bus.publish(HostChanged(host=self.state()))
        self.error = message
        self._synced.set()

    def _mark_stale(self, stale: bool) -> None:
        marked = [replace(c, stale=stale) for c in self._containers.values() if c.stale != stale]
        self._store(marked, "stale" if stale else "sync")

    # -- the loop -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the supervised watcher loop."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"watcher:{self.slug}")

    async def stop(self) -> None:
        """Stop the loop and close the engine connection."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        await self.host.close()

    async def _run(self) -> None:
        delay = self._backoff[0]
        while True:
            try:
                await self._watch_once()
            except ChrontainerError as err:
                self._set_offline(err)
            except Exception as err:  # supervision: a bug must not kill the host's loop
                log.exception("host %s: watcher failed unexpectedly", self.slug)
                self._set_offline(err)
            else:
                delay = self._backoff[0]
            if self.status is HostStatus.ONLINE:
                delay = self._backoff[0]
            await self._sleep(delay)
            delay = min(delay * 2, self._backoff[1])

    async def _watch_once(self) -> None:
        """One connection: resync, then follow events until the stream breaks.

        A heartbeat runs beside the stream: a silent stream can mean a quiet host or a dead
        one behind a half-open connection, and only a request with a timeout tells them apart.
        """
        # Ask for events since just before the sync so nothing between list and subscribe
        # is missed; replayed events only cause a harmless re-inspect.
        since = int(time.time()) - 1
        await self.resync()
        tasks = [
            asyncio.create_task(self._flush_loop(), name=f"flush:{self.slug}"),
            asyncio.create_task(self._follow(since), name=f"events:{self.slug}"),
            asyncio.create_task(self._beat(), name=f"heartbeat:{self.slug}"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise what ended the connection
        finally:
            for task in tasks:
                await cancel_and_wait(task)

    async def _follow(self, since: int) -> None:
        async for event in self.host.events(since=since):
            self.last_seen = datetime.now(UTC)
            container_id = changed_container(event)
            if container_id is not None:
                if event.type == "container":
                    self._dirty[container_id] = event.action
                else:
                    # A network event never hides a pending destroy (the engine reports the
                    # disconnect around it): any pending action re-inspects anyway.
                    self._dirty.setdefault(container_id, event.action)
                self._dirty_event.set()
            self._publish_event(event)

    def _publish_event(self, event: EngineEvent) -> None:
        """Publish an event for the events feed, unless it is noise or was published before."""
        if event.time_nano > 0:
            seen = (event.type, event.action, event.id)
            if event.time_nano < self._newest_nano or (
                event.time_nano == self._newest_nano and seen in self._at_newest
            ):
                return  # replayed after a reconnect
            if event.time_nano > self._newest_nano:
                self._newest_nano = event.time_nano
                self._at_newest = set()
            self._at_newest.add(seen)
        docker_event = to_docker_event(self.slug, event)
        if docker_event is not None:
            self._bus.publish(DockerEventSeen(event=docker_event))

    async def _beat(self) -> None:
        while True:
            await self._sleep(self._heartbeat)
            await self.host.version()
            self.last_seen = datetime.now(UTC)

    async def _flush_loop(self) -> None:
        """Re-inspect containers touched by a burst of events, once per burst."""
        while True:
            await self._dirty_event.wait()
            await self._sleep(self._coalesce)
            self._dirty_event.clear()
            batch, self._dirty = self._dirty, {}
            await self._refresh_batch(batch)

    async def _refresh_batch(self, batch: dict[str, str]) -> None:
        """Re-inspect (or drop) each container of one burst, a few at a time."""
        sem = asyncio.Semaphore(SYNC_CONCURRENCY)

        async def one(container_id: str, action: str) -> None:
            async with sem:
                if action == "destroy":
                    self._drop(container_id, action)
                    return
                try:
                    await self.refresh(container_id, action=action)
                except ChrontainerError as err:
                    # The events stream fails too when the engine is gone; it decides
                    # about offline. Here the container is simply retried next burst.
                    log.debug("host %s: re-inspect of %s failed: %s",
                              self.slug, container_id[:12], err)

        await asyncio.gather(*(one(cid, action) for cid, action in batch.items()))
