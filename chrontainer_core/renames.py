"""Following container renames: whatever refers to a container by key moves with it.

A rename (through Chrontainer or the docker CLI) changes a name-derived container key (DESIGN
§3a); the watcher publishes :class:`~chrontainer_core.bus.ContainerRenamed`. Tags, web-UI links
and schedules all refer to containers by key, so each registers a handler here and one
subscription feeds them all, in registration order. Started before the watchers, so no rename
goes unheard; stopped before the database closes, since handlers write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from .bus import Bus, ContainerRenamed, Lagged, Subscription
from .tasks import cancel_and_wait

__all__ = ["RenameFollower", "RenameHandler"]

log = logging.getLogger(__name__)

RenameHandler = Callable[[ContainerRenamed], Awaitable[None]]


class RenameFollower:
    """Calls every registered handler for each :class:`ContainerRenamed` on the bus."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus
        self._handlers: list[tuple[str, RenameHandler]] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, what: str, handler: RenameHandler) -> None:
        """Register ``handler``; ``what`` names what it moves, for the logs ("tags")."""
        self._handlers.append((what, handler))

    @property
    def running(self) -> bool:
        """True while renames are being followed."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Follow renames (no-op when running)."""
        if not self.running:
            # Subscribed now, not in the task: no rename published from here on is missed.
            sub = self._bus.subscribe([ContainerRenamed.topic])
            self._task = asyncio.create_task(self._follow(sub), name="renames")

    async def stop(self) -> None:
        """Stop following; a move in progress is cancelled (its transaction rolls back)."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _follow(self, sub: Subscription) -> None:
        with sub:
            async for event in sub:
                if isinstance(event, ContainerRenamed):
                    await self._dispatch(event)
                elif isinstance(event, Lagged):
                    log.warning("missed %d rename events; what refers to those containers "
                                "(%s) stays on their old keys", event.dropped,
                                ", ".join(what for what, _ in self._handlers))

    async def _dispatch(self, event: ContainerRenamed) -> None:
        for what, handler in self._handlers:
            try:
                await handler(event)
            except Exception:  # supervision: one failed move must not stop the others
                log.exception("host %s: could not move %s of %s to %s", event.host, what,
                              event.old_key, event.new_key)
