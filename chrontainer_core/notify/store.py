"""Notifications in the database: channels (secrets encrypted), the routing matrix, the durable
delivery queue with its attempts, and the per-(event, subject) throttle.

A channel's configuration is split in two columns: the non-secret fields as JSON, and the fields
its config class names in ``SECRETS`` as one JSON value encrypted with the installation's
:class:`~chrontainer_core.secrets.SecretBox`. When those cannot be decrypted (the secret key
changed), reading never fails: the channel comes back with empty secret fields and
``secrets_error`` set, so it can be listed, shown as broken and repaired by re-entering them.

Deliveries are rows from the moment they are queued: the worker takes the due ``pending`` ones,
and each try appends an attempt row, so a restart loses nothing and the delivery log shows
every try.
"""

from __future__ import annotations

import builtins
import dataclasses
import enum
import json
import logging
import types
import typing
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import InvalidInput, NotFound, SecretUnavailable
from ..secrets import SecretBox
from ..serialize import to_jsonable
from ..store.db import Database
from ..store.tables import (
    NotificationAttemptRow,
    NotificationChannelRow,
    NotificationDeliveryRow,
    NotificationRouteRow,
    NotificationThrottleRow,
    utc_now,
)
from .models import (
    CONFIG_BY_KIND,
    ChannelConfig,
    ChannelKind,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Notification,
    NotificationChannel,
    NotificationEvent,
    SendResult,
    Severity,
)

__all__ = ["SECRETS_UNREADABLE", "NotificationStore", "kind_of", "notification_of", "throttled"]

log = logging.getLogger(__name__)

SECRETS_UNREADABLE: Final = (
    "cannot decrypt this channel's secrets: re-enter them (the secret key is not the one they "
    "were stored with)"
)
# Column sizes of the deliveries table: a longer title or subject is cut, never refused.
_TITLE_CHARS: Final = 200
_SUBJECT_CHARS: Final = 300

_EVENT_VALUES: Final = frozenset(event.value for event in NotificationEvent)
_KIND_OF: Final[dict[type[ChannelConfig], ChannelKind]] = {
    cls: kind for kind, cls in CONFIG_BY_KIND.items()
}


def kind_of(config: ChannelConfig) -> ChannelKind:
    """The channel kind a configuration belongs to."""
    return _KIND_OF[type(config)]


def throttled(last_sent_at: datetime | None, now: datetime, window: timedelta) -> bool:
    """Whether a notification is dropped because one of its (event, subject) went out less
    than ``window`` ago (a zero window never drops anything)."""
    return (window > timedelta(0) and last_sent_at is not None
            and now - last_sent_at < window)


def notification_of(delivery: Delivery) -> Notification:
    """The notification a delivery carries, as the channel sends it.

    The queue stores the subject, not host and container apart; for container and update
    events the subject is ``host/key``, for host events ``host`` (see :class:`Notification`),
    so they are recovered.
    """
    host = container = None
    if (delivery.event.value.startswith(("container.", "update."))
            and "/" in delivery.subject):
        host, container = delivery.subject.split("/", 1)
    elif delivery.event.value.startswith("host."):
        host = delivery.subject
    return Notification(
        event=delivery.event, title=delivery.title, message=delivery.message,
        severity=delivery.severity, time=delivery.time, subject=delivery.subject, host=host,
        container=container, suppressed=delivery.suppressed,
    )


# -- configuration <-> columns -------------------------------------------------------------------


def _split(config: ChannelConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(non-secret fields, secret fields) of a configuration, JSON-ready."""
    public: dict[str, Any] = {}
    secret: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        target = secret if f.name in config.SECRETS else public
        target[f.name] = to_jsonable(getattr(config, f.name))
    return public, secret


def _decode(hint: Any, value: Any) -> Any:
    """A JSON value back in the shape of a config field's type (tuples, enums)."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        return _decode(options[0], value) if len(options) == 1 else value
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], item) for item in value)
        return tuple(_decode(arg, item) for arg, item in zip(args, value, strict=True))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    return value


def _build(kind: ChannelKind, public: Mapping[str, Any],
           secret: Mapping[str, Any] | None) -> ChannelConfig:
    """The configuration of ``kind`` from its stored parts; ``secret`` None: unreadable, so the
    secret fields are left empty (their default, or ``""``)."""
    cls = CONFIG_BY_KIND[kind]
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in cls.SECRETS:
            if secret is not None and f.name in secret:
                values[f.name] = _decode(hints[f.name], secret[f.name])
            elif f.default is dataclasses.MISSING:
                values[f.name] = ""
        elif f.name in public:
            values[f.name] = _decode(hints[f.name], public[f.name])
    return cls(**values)


def _delivery(row: NotificationDeliveryRow) -> Delivery:
    return Delivery(
        id=row.id, channel_id=row.channel_id, event=NotificationEvent(row.event),
        subject=row.subject, title=row.title, message=row.message,
        severity=Severity(row.severity), time=row.time, suppressed=row.suppressed,
        status=DeliveryStatus(row.status), attempts=row.attempts,
        next_attempt_at=row.next_attempt_at, last_error=row.last_error,
        created_at=row.created_at, sent_at=row.sent_at,
    )


def _attempt(row: NotificationAttemptRow) -> DeliveryAttempt:
    return DeliveryAttempt(id=row.id, delivery_id=row.delivery_id, at=row.at, ok=row.ok,
                           status=row.status, detail=row.detail, duration_ms=row.duration_ms)


class NotificationStore:
    """The five notification tables.

    Args:
        db: The database.
        secrets: Encrypts channel secrets; without it, channels with secrets read back with
            ``secrets_error`` set and cannot be stored.
        clock: Source of ``created_at``/``updated_at`` (aware UTC).
    """

    def __init__(self, db: Database, secrets: SecretBox | None, *,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._db = db
        self._secrets = secrets
        self._clock = clock

    # -- channels --------------------------------------------------------------------------------

    def _channel(self, row: NotificationChannelRow) -> NotificationChannel:
        kind = ChannelKind(row.kind)
        secret: dict[str, Any] | None = {}
        if row.secrets_encrypted is not None:
            try:
                if self._secrets is None:
                    raise SecretUnavailable("no secret key configured")
                secret = json.loads(self._secrets.decrypt(row.secrets_encrypted))
            except SecretUnavailable:
                secret = None
        return NotificationChannel(
            id=row.id, name=row.name, kind=kind, enabled=row.enabled,
            config=_build(kind, json.loads(row.config), secret), created_at=row.created_at,
            secrets_error=SECRETS_UNREADABLE if secret is None else None,
        )

    def _set_config(self, row: NotificationChannelRow, config: ChannelConfig) -> None:
        public, secret = _split(config)
        row.kind = kind_of(config).value
        row.config = json.dumps(public)
        if self._secrets is None:
            raise RuntimeError("NotificationStore needs a SecretBox to store channel secrets")
        row.secrets_encrypted = self._secrets.encrypt(json.dumps(secret)) if secret else None

    async def channels(self) -> builtins.list[NotificationChannel]:
        """Every channel, by id."""
        async with self._db.session() as session:
            rows = await session.scalars(
                select(NotificationChannelRow).order_by(NotificationChannelRow.id))
            return [self._channel(row) for row in rows]

    async def channel_names(self) -> dict[int, str]:
        """Every channel's name by id (no secret is decrypted)."""
        async with self._db.session() as session:
            rows = await session.execute(
                select(NotificationChannelRow.id, NotificationChannelRow.name))
            return {channel_id: name for channel_id, name in rows}

    async def channel(self, channel_id: int) -> NotificationChannel:
        """One channel.

        Raises:
            NotFound: No channel has this id.
        """
        async with self._db.session() as session:
            return self._channel(await self._channel_row(session, channel_id))

    async def add_channel(self, name: str, config: ChannelConfig, *,
                          enabled: bool = True) -> NotificationChannel:
        """Store a new channel; its kind is its configuration's."""
        now = self._clock()
        row = NotificationChannelRow(name=name, enabled=enabled, created_at=now, updated_at=now)
        self._set_config(row, config)
        async with self._db.session() as session:
            session.add(row)
            await session.flush()
            return self._channel(row)

    async def update_channel(self, channel_id: int, *, name: str | None = None,
                             enabled: bool | None = None,
                             config: ChannelConfig | None = None) -> NotificationChannel:
        """Change a channel; None keeps a value (``config`` None keeps the stored secrets as
        they are, even unreadable ones).

        Raises:
            NotFound: No channel has this id.
            InvalidInput: ``config`` is of another kind than the channel.
        """
        async with self._db.session() as session:
            row = await self._channel_row(session, channel_id)
            if config is not None:
                if kind_of(config).value != row.kind:
                    raise InvalidInput(f"kind: a {row.kind} channel cannot become "
                                       f"{kind_of(config).value}", field="kind")
                self._set_config(row, config)
            if name is not None:
                row.name = name
            if enabled is not None:
                row.enabled = enabled
            row.updated_at = self._clock()
            return self._channel(row)

    async def delete_channel(self, channel_id: int) -> None:
        """Delete a channel with its routes and deliveries.

        Raises:
            NotFound: No channel has this id.
        """
        async with self._db.session() as session:
            await session.delete(await self._channel_row(session, channel_id))

    @staticmethod
    async def _channel_row(session: AsyncSession, channel_id: int) -> NotificationChannelRow:
        row = await session.get(NotificationChannelRow, channel_id)
        if row is None:
            raise NotFound(f"notification channel {channel_id} not found",
                           details={"channel": channel_id})
        return row

    # -- routes ----------------------------------------------------------------------------------

    async def routes(self) -> dict[NotificationEvent, frozenset[int]]:
        """The routing matrix: every event type with the channels it goes to."""
        found: dict[NotificationEvent, set[int]] = {event: set() for event in NotificationEvent}
        async with self._db.session() as session:
            for row in await session.scalars(select(NotificationRouteRow)):
                if row.event in _EVENT_VALUES:  # an event type a later version dropped
                    found[NotificationEvent(row.event)].add(row.channel_id)
        return {event: frozenset(ids) for event, ids in found.items()}

    async def set_routes(self, routes: Mapping[NotificationEvent, Iterable[int]]) -> None:
        """Replace the whole matrix (events left out go nowhere).

        Raises:
            InvalidInput: A channel id is unknown (``field`` is ``routes.<event>``).
        """
        async with self._db.session() as session:
            known = set(await session.scalars(select(NotificationChannelRow.id)))
            await session.execute(delete(NotificationRouteRow))
            for event, ids in routes.items():
                for channel_id in sorted(set(ids)):
                    if channel_id not in known:
                        raise InvalidInput(
                            f"routes.{event.value}: no notification channel {channel_id}",
                            field=f"routes.{event.value}")
                    session.add(NotificationRouteRow(event=event.value, channel_id=channel_id))

    # -- queueing --------------------------------------------------------------------------------

    async def enqueue(self, n: Notification, *, now: datetime, window: timedelta) -> int:
        """Queue ``n`` for every enabled channel its event is routed to, unless the throttle
        drops it; returns how many deliveries were queued.

        One transaction: the throttle row and the deliveries change together. A dropped
        notification adds one to the row's suppressed count; the next one queued carries that
        count and resets it.
        """
        async with self._db.session() as session:
            channel_ids = builtins.list(await session.scalars(
                select(NotificationRouteRow.channel_id)
                .join(NotificationChannelRow,
                      NotificationChannelRow.id == NotificationRouteRow.channel_id)
                .where(NotificationRouteRow.event == n.event.value,
                       NotificationChannelRow.enabled.is_(True))
                .order_by(NotificationRouteRow.channel_id)))
            if not channel_ids:
                return 0
            subject = n.subject[:_SUBJECT_CHARS]
            throttle = await session.get(NotificationThrottleRow, (n.event.value, subject))
            if throttle is not None and throttled(throttle.last_sent_at, now, window):
                throttle.suppressed += 1
                log.info("notification %s about %s: throttled (%d suppressed so far)",
                         n.event.value, subject, throttle.suppressed)
                return 0
            suppressed = n.suppressed
            if throttle is None:
                session.add(NotificationThrottleRow(event=n.event.value, subject=subject,
                                                    last_sent_at=now, suppressed=0))
            else:
                suppressed += throttle.suppressed
                throttle.last_sent_at, throttle.suppressed = now, 0
            for channel_id in channel_ids:
                session.add(NotificationDeliveryRow(
                    channel_id=channel_id, event=n.event.value, subject=subject,
                    title=n.title[:_TITLE_CHARS], message=n.message, severity=n.severity.value,
                    time=n.time, suppressed=suppressed, status=DeliveryStatus.PENDING.value,
                    attempts=0, next_attempt_at=now, last_error=None, created_at=now))
            return len(channel_ids)

    # -- the worker's side -----------------------------------------------------------------------

    async def due(self, now: datetime, *, limit: int, skip_ids: Collection[int] = (),
                  skip_channels: Collection[int] = ()) -> builtins.list[Delivery]:
        """Pending deliveries due at ``now``, oldest due first, leaving out those being sent
        (``skip_ids``) and those of channels already sending at capacity."""
        query = (select(NotificationDeliveryRow)
                 .where(NotificationDeliveryRow.status == DeliveryStatus.PENDING.value,
                        NotificationDeliveryRow.next_attempt_at <= now)
                 .order_by(NotificationDeliveryRow.next_attempt_at, NotificationDeliveryRow.id)
                 .limit(limit))
        if skip_ids:
            query = query.where(NotificationDeliveryRow.id.not_in(skip_ids))
        if skip_channels:
            query = query.where(NotificationDeliveryRow.channel_id.not_in(skip_channels))
        async with self._db.session() as session:
            return [_delivery(row) for row in await session.scalars(query)]

    async def next_due_at(self, *, skip_ids: Collection[int] = (),
                          skip_channels: Collection[int] = ()) -> datetime | None:
        """When the next pending delivery (other than those skipped) is due; None: none is."""
        query = select(func.min(NotificationDeliveryRow.next_attempt_at)).where(
            NotificationDeliveryRow.status == DeliveryStatus.PENDING.value)
        if skip_ids:
            query = query.where(NotificationDeliveryRow.id.not_in(skip_ids))
        if skip_channels:
            query = query.where(NotificationDeliveryRow.channel_id.not_in(skip_channels))
        async with self._db.session() as session:
            # min() keeps the column's type, so the value comes back aware UTC.
            value: datetime | None = await session.scalar(query)
            return value

    async def record(self, delivery_id: int, *, at: datetime, result: SendResult,
                     duration_ms: int, status: DeliveryStatus,
                     next_attempt_at: datetime | None) -> bool:
        """Append an attempt and move the delivery to ``status``; False when the delivery is
        gone (its channel was deleted meanwhile)."""
        async with self._db.session() as session:
            row = await session.get(NotificationDeliveryRow, delivery_id)
            if row is None:
                return False
            session.add(NotificationAttemptRow(
                delivery_id=delivery_id, at=at, ok=result.ok, status=result.status,
                detail=result.detail, duration_ms=duration_ms))
            row.attempts += 1
            row.status = status.value
            row.next_attempt_at = next_attempt_at
            row.last_error = None if result.ok else result.detail
            if result.ok:
                row.sent_at = at
            return True

    async def prune(self, before: datetime) -> int:
        """Delete sent and failed deliveries created before ``before`` (their attempts go with
        them) and throttle rows idle since then; returns how many deliveries went."""
        async with self._db.session() as session:
            ids = builtins.list(await session.scalars(
                select(NotificationDeliveryRow.id).where(
                    NotificationDeliveryRow.status.in_(
                        (DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value)),
                    NotificationDeliveryRow.created_at < before)))
            # Attempts explicitly too: the cascade needs foreign keys on, which PostgreSQL
            # always has but a hand-opened SQLite connection may not.
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                await session.execute(delete(NotificationAttemptRow).where(
                    NotificationAttemptRow.delivery_id.in_(chunk)))
                await session.execute(delete(NotificationDeliveryRow).where(
                    NotificationDeliveryRow.id.in_(chunk)))
            await session.execute(delete(NotificationThrottleRow).where(
                NotificationThrottleRow.last_sent_at < before,
                NotificationThrottleRow.suppressed == 0))
            return len(ids)

    # -- the delivery log ------------------------------------------------------------------------

    async def deliveries(self, *, limit: int, offset: int, status: DeliveryStatus | None = None,
                         channel_id: int | None = None) -> tuple[builtins.list[Delivery], int]:
        """A page of deliveries, newest first, and how many match the filters."""
        conditions = []
        if status is not None:
            conditions.append(NotificationDeliveryRow.status == status.value)
        if channel_id is not None:
            conditions.append(NotificationDeliveryRow.channel_id == channel_id)
        page = (select(NotificationDeliveryRow).where(*conditions)
                .order_by(NotificationDeliveryRow.created_at.desc(),
                          NotificationDeliveryRow.id.desc())
                .limit(limit).offset(offset))
        count = select(func.count()).select_from(NotificationDeliveryRow).where(*conditions)
        async with self._db.session() as session:
            total = await session.scalar(count) or 0
            return [_delivery(row) for row in await session.scalars(page)], total

    async def delivery(self, delivery_id: int) -> Delivery:
        """One delivery.

        Raises:
            NotFound: No delivery has this id.
        """
        async with self._db.session() as session:
            row = await session.get(NotificationDeliveryRow, delivery_id)
            if row is None:
                raise NotFound(f"delivery {delivery_id} not found",
                               details={"delivery": delivery_id})
            return _delivery(row)

    async def attempts(self, delivery_id: int) -> builtins.list[DeliveryAttempt]:
        """The attempts of a delivery, oldest first (none for an unknown delivery)."""
        async with self._db.session() as session:
            rows = await session.scalars(
                select(NotificationAttemptRow)
                .where(NotificationAttemptRow.delivery_id == delivery_id)
                .order_by(NotificationAttemptRow.at, NotificationAttemptRow.id))
            return [_attempt(row) for row in rows]

