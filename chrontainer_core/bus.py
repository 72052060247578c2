"""Typed publish/subscribe with bounded per-subscriber queues.

Publishing never blocks and never waits for a slow subscriber: when a subscriber's queue is
full its backlog is dropped and replaced by a single :class:`Lagged` marker, after which the
subscriber is expected to resync from the cache (DESIGN §1).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import ClassVar

from .models import Container, ContainerMetrics, DockerEvent, HostState, Operation
from .scheduling.jobs import Schedule, ScheduleRun
from .updates.models import UpdateCheck


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every bus event; ``topic`` names the kind ("container.changed")."""

    topic: ClassVar[str] = "event"


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerChanged(Event):
    """A container was created, changed state or was removed (``container`` is None)."""

    topic: ClassVar[str] = "container.changed"
    host: str
    id: str
    key: str
    container: Container | None
    # The engine action that caused the change, or "sync" after a resync.
    action: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class HostChanged(Event):
    """A host went online/offline, or its details changed."""

    topic: ClassVar[str] = "host.changed"
    host: HostState


@dataclass(frozen=True, slots=True, kw_only=True)
class HostRemoved(Event):
    """A host is no longer managed (removed through Chrontainer or the CLI)."""

    topic: ClassVar[str] = "host.removed"
    slug: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerRenamed(Event):
    """A container's key changed by a rename (through Chrontainer or the docker CLI).

    Whatever refers to the old key (tags, web-UI links, later schedules) moves to the new one.
    """

    topic: ClassVar[str] = "container.renamed"
    host: str
    id: str
    old_key: str
    new_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerMetaChanged(Event):
    """A container key's tags or web-UI link changed."""

    topic: ClassVar[str] = "container.meta"
    host: str
    key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DockerEventSeen(Event):
    """An engine event of a container, image, volume or network (for the events feed)."""

    topic: ClassVar[str] = "docker.event"
    event: DockerEvent


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsSampled(Event):
    """The sampler finished a round on one host: the latest metrics by container id."""

    topic: ClassVar[str] = "metrics.sampled"
    host: str
    metrics: Mapping[str, ContainerMetrics]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunChanged(Event):
    """A schedule or webhook run started (result ``running``) or ended (any other result).

    ``name`` is the schedule's or webhook's name, so a listener needs no lookup to say which.
    """

    topic: ClassVar[str] = "schedule.run"
    run: ScheduleRun
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleChanged(Event):
    """A schedule was created, changed, enabled or disabled (``schedule`` is None: deleted)."""

    topic: ClassVar[str] = "schedule.changed"
    schedule_id: int
    schedule: Schedule | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OperationChanged(Event):
    """A long operation started, progressed (throttled) or ended (``operation.status``)."""

    topic: ClassVar[str] = "operation"
    operation: Operation


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateStatusChanged(Event):
    """A container's update check result changed (``check`` None: it was forgotten)."""

    topic: ClassVar[str] = "update.status"
    host: str
    key: str
    check: UpdateCheck | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Lagged(Event):
    """Marker: this subscriber fell behind and missed events; resync from the cache."""

    topic: ClassVar[str] = "lagged"
    dropped: int = 0


class Subscription:
    """One subscriber's bounded queue; iterate it with ``async for``."""

    def __init__(self, bus: Bus, topics: frozenset[str] | None, maxsize: int) -> None:
        self._bus = bus
        self.topics = topics
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)

    def wants(self, event: Event) -> bool:
        return self.topics is None or event.topic in self.topics

    def deliver(self, event: Event) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            dropped = self._queue.qsize()
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(Lagged(dropped=dropped + 1))

    async def get(self) -> Event:
        """Wait for the next event."""
        return await self._queue.get()

    def close(self) -> None:
        self._bus._subscribers.discard(self)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self._queue.get()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class Bus:
    """In-process pub/sub for core events."""

    def __init__(self) -> None:
        self._subscribers: set[Subscription] = set()

    def subscribe(
        self, topics: Iterable[str] | None = None, *, maxsize: int = 1000
    ) -> Subscription:
        """Subscribe to some topics (all when None); use as a context manager to unsubscribe."""
        sub = Subscription(self, frozenset(topics) if topics is not None else None, maxsize)
        self._subscribers.add(sub)
        return sub

    def publish(self, event: Event) -> None:
        """Deliver to every interested subscriber without blocking."""
        for sub in tuple(self._subscribers):
            if sub.wants(event):
                sub.deliver(event)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def __repr__(self) -> str:
        return f"<Bus subscribers={len(self._subscribers)}>"

