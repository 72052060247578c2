"""Notifications as the rest of the core sees them: channels, the routing matrix, "send test",
:meth:`NotificationService.emit`, and the delivery log (daemon mode: ``ch.notifications``).

:meth:`~NotificationService.emit` decides, in this order: a container labelled
``chrontainer.notify=false`` is never notified about; an event routed to no enabled channel
goes nowhere; one (event, subject) notified less than ``notify_throttle_minutes`` ago is dropped
and counted; otherwise one pending delivery per routed channel is written and the worker is
woken. It only writes rows, so a hanging channel never delays the caller.

Changes to channels and routes are audited as ``notification.channel.create|update|delete``
(target ``channel/<id>``), ``notification.routes.update`` and ``notification.channel.test``;
no secret ever appears in the audit trail or the log.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Final

import aiohttp

from ..actor import Actor
from ..audit import AuditTrail
from ..errors import InvalidInput
from ..secrets import SecretBox
from ..settings import Settings
from ..store.db import Database
from ..store.tables import utc_now
from .delivery import DeliveryWorker, Send, send_safely
from .models import (
    NOTIFY_OPT_OUT_LABEL,
    ChannelConfig,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Notification,
    NotificationChannel,
    NotificationEvent,
    SendResult,
    Severity,
)
from .store import NotificationStore

__all__ = ["MAX_NAME", "NotificationService", "check_channel_name", "opted_out"]

log = logging.getLogger(__name__)

MAX_NAME: Final = 100
ROUTES_TARGET: Final = "routes"


def opted_out(labels: Mapping[str, str] | None) -> bool:
    """Whether a container's labels opt it out of notifications (``chrontainer.notify=false``,
    in any case)."""
    return labels is not None and labels.get(NOTIFY_OPT_OUT_LABEL, "").strip().lower() == "false"


def check_channel_name(name: str) -> str:
    """A channel name without surrounding spaces.

    Raises:
        InvalidInput: It is empty or longer than :data:`MAX_NAME` (``field`` is ``name``).
    """
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise InvalidInput(f"name: 1 to {MAX_NAME} characters", field="name")
    return name


def _target(channel_id: int) -> str:
    return f"channel/{channel_id}"


class NotificationService:
    """Channels, routes, test sends, emitting and the delivery log.

    Args:
        db: The database.
        secrets: Encrypts channel secrets at rest.
        audit: Where changes are recorded.
        http: The HTTP session test sends use (the worker has the same one).
        worker: The delivery worker; :meth:`emit` wakes it.
        settings: Returns the current settings (the throttle window is read per emit).
        clock: Current time (aware UTC).
        send: How a test notification is sent (the worker's, by default).
    """

    def __init__(self, db: Database, secrets: SecretBox | None, audit: AuditTrail,
                 http: aiohttp.ClientSession, worker: DeliveryWorker, *,
                 settings: Callable[[], Settings], clock: Callable[[], datetime] = utc_now,
                 send: Send | None = None) -> None:
        self.store = NotificationStore(db, secrets, clock=clock)
        self.worker = worker
        self._audit = audit
        self._http = http
        self._settings = settings
        self._clock = clock
        self._send: Send = send if send is not None else worker.send
        # emit() reads then writes the throttle row: one at a time, so that two notifications
        # of one (event, subject) arriving together are one sent and one throttled.
        self._emitting = asyncio.Lock()

    def start(self) -> None:
        """Start the delivery worker."""
        self.worker.start()

    async def stop(self) -> None:
        """Stop the delivery worker; pending deliveries stay queued."""
        await self.worker.stop()

    # -- channels --------------------------------------------------------------------------------

    async def channels(self) -> builtins.list[NotificationChannel]:
        """Every channel, by id (``config`` holds secrets: never show it as it is)."""
        return await self.store.channels()

    async def channel_names(self) -> dict[int, str]:
        """Every channel's name by id (for the delivery log)."""
        return await self.store.channel_names()

    async def channel(self, channel_id: int) -> NotificationChannel:
        """One channel.

        Raises:
            NotFound: No channel has this id.
        """
        return await self.store.channel(channel_id)

    async def create_channel(self, name: str, config: ChannelConfig, *, enabled: bool = True,
                             actor: Actor | None = None) -> NotificationChannel:
        """Add a channel (validated configuration, e.g. from ``channel.parse_config``).

        Raises:
            InvalidInput: The name is empty or too long.
        """
        actor = actor or Actor.library()
        async with self._audit.track(actor, "notification.channel.create", "channel/new") as scope:
            created = await self.store.add_channel(check_channel_name(name), config,
                                                   enabled=enabled)
            scope.target = _target(created.id)
        log.info("notification channel %d (%s, %s) created", created.id, created.name,
                 created.kind.value)
        return created

    async def update_channel(self, channel_id: int, *, name: str | None = None,
                             enabled: bool | None = None, config: ChannelConfig | None = None,
                             actor: Actor | None = None) -> NotificationChannel:
        """Change a channel's name, enabled flag and/or configuration (None keeps each).

        Raises:
            NotFound: No channel has this id.
            InvalidInput: Bad name, or a configuration of another kind.
        """
        actor = actor or Actor.library()
        async with self._audit.track(actor, "notification.channel.update",
                                     _target(channel_id)):
            return await self.store.update_channel(
                channel_id, name=None if name is None else check_channel_name(name),
                enabled=enabled, config=config)

    async def delete_channel(self, channel_id: int, *, actor: Actor | None = None) -> None:
        """Delete a channel, its routes and its deliveries.

        Raises:
            NotFound: No channel has this id.
        """
        actor = actor or Actor.library()
        async with self._audit.track(actor, "notification.channel.delete",
                                     _target(channel_id)):
            await self.store.delete_channel(channel_id)

    async def test(self, channel_id: int, *, actor: Actor | None = None) -> SendResult:
        """Send a test notification to a channel now (not through the queue) and report how it
        went; the outcome is audited (a failed send as an error).

        Raises:
            NotFound: No channel has this id.
        """
        actor = actor or Actor.library()
        channel = await self.store.channel(channel_id)
        if channel.secrets_error is not None:
            result = SendResult(ok=False, detail=channel.secrets_error)
        else:
            result = await send_safely(self._send, channel.config, self._test_notification(
                channel), http=self._http, timeout=self.worker.send_timeout)
        await self._audit.record(actor, "notification.channel.test", _target(channel_id),
                                 error=None if result.ok else result.detail or "failed")
        return result

    def _test_notification(self, channel: NotificationChannel) -> Notification:
        # The registry has no "test" event (it would become a row of the routing matrix); an
        # informational event carries it, and the title says what it is.
        return Notification(
            event=NotificationEvent.HOST_ONLINE, severity=Severity.INFO, time=self._clock(),
            title="Chrontainer test notification",
            message=f"Channel \"{channel.name}\" works: this is how Chrontainer's "
                    "notifications will reach you.",
            subject="test")

    # -- routes ----------------------------------------------------------------------------------

    async def routes(self) -> dict[NotificationEvent, frozenset[int]]:
        """The routing matrix: every event type with the ids of the channels it goes to."""
        return await self.store.routes()

    async def set_routes(self, routes: Mapping[NotificationEvent, Iterable[int]], *,
                         actor: Actor | None = None) -> dict[NotificationEvent, frozenset[int]]:
        """Replace the whole routing matrix (events left out go nowhere); returns it.

        Raises:
            InvalidInput: A channel id is unknown (``field`` is ``routes.<event>``).
        """
        actor = actor or Actor.library()
        async with self._audit.track(actor, "notification.routes.update", ROUTES_TARGET):
            await self.store.set_routes(routes)
        return await self.store.routes()

    # -- emitting --------------------------------------------------------------------------------

    async def emit(self, n: Notification, *, labels: Mapping[str, str] | None = None) -> int:
        """Queue a notification for the channels its event is routed to.

        Args:
            n: The notification.
            labels: The labels of the container it is about, if any (for the opt-out label).

        Returns:
            How many deliveries were queued: 0 when the container opted out, the event is
            routed nowhere, or the throttle dropped it (and counted it as suppressed).
        """
        if opted_out(labels):
            log.debug("notification %s about %s: the container opted out", n.event.value,
                      n.subject)
            return 0
        window = timedelta(minutes=self._settings().notify_throttle_minutes)
        async with self._emitting:
            queued = await self.store.enqueue(n, now=self._clock(), window=window)
        if queued:
            log.info("notification %s about %s: queued for %d channel(s)", n.event.value,
                     n.subject, queued)
            self.worker.wake()
        return queued

    # -- the delivery log ------------------------------------------------------------------------

    async def deliveries(self, limit: int = 50, offset: int = 0, *,
                         status: DeliveryStatus | None = None,
                         channel_id: int | None = None) -> tuple[builtins.list[Delivery], int]:
        """A page of deliveries, newest first, and how many match the filters.

        Raises:
            InvalidInput: ``limit`` or ``offset`` is negative.
        """
        if limit < 0:
            raise InvalidInput("limit must be 0 or more", field="limit")
        if offset < 0:
            raise InvalidInput("offset must be 0 or more", field="offset")
        return await self.store.deliveries(limit=limit, offset=offset, status=status,
                                           channel_id=channel_id)

    async def delivery(self, delivery_id: int) -> Delivery:
        """One delivery.

        Raises:
            NotFound: No delivery has this id.
        """
        return await self.store.delivery(delivery_id)

    async def attempts(self, delivery_id: int) -> builtins.list[DeliveryAttempt]:
        """The attempts of one delivery, oldest first."""
        return await self.store.attempts(delivery_id)
