"""/api/v1/notifications: the event registry, channels, the routing matrix, "send test" and the
delivery log (admins only: channels hold secrets, and routing is a setting).

A channel's ``config`` is validated per kind by the core (``channel.parse_config``), so
``details.field`` of a refusal names the offending key (``config.topic``). Secrets go in and
never come out: responses carry ``config`` as ``public_config`` (the non-secret fields and
``secrets_set``, the names of the secrets that have a value). Editing a channel without its
secrets keeps the stored ones. A channel whose secrets cannot be decrypted (the secret key
changed) is listed with ``secrets_error`` and repaired by sending them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Final

import voluptuous as vol
from aiohttp import web

from chrontainer_core.errors import InvalidInput, NotFound
from chrontainer_core.notify.channel import CONFIG_SCHEMAS, parse_config, public_config
from chrontainer_core.notify.models import (
    EVENTS,
    ChannelKind,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    NotificationChannel,
    NotificationEvent,
    SendResult,
    Severity,
)
from chrontainer_core.notify.service import MAX_NAME, NotificationService

from .context import actor, core
from .jsonschema import from_voluptuous
from .spec import ApiRoutes, Integer, ListOf, json_response, list_response

__all__ = ["ChannelView", "DeliveryDetail", "DeliveryView", "EventView", "RoutesView", "routes"]

routes = ApiRoutes(tag="notifications")

_INT32: Final = 2**31 - 1
MAX_PAGE: Final = 200


class ChannelConfigInput:
    """A channel's ``config`` object; its kind's rules are applied by the handler (they depend
    on ``kind``), the document lists every kind's shape."""

    json_schema: ClassVar = {
        "type": "object",
        "description": "the kind's settings; secret fields left out (or null) keep their "
                       "stored value",
        "anyOf": [from_voluptuous(vol.Schema(schema)) for schema in CONFIG_SCHEMAS.values()],
    }

    def __call__(self, value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise vol.Invalid("expected an object")
        return value


_NAME: Final = vol.All(str, vol.Length(min=1, max=MAX_NAME))
_KIND: Final = vol.In([kind.value for kind in ChannelKind])
_CHANNEL_ID: Final = vol.All(Integer(), vol.Range(min=1, max=_INT32))
CHANNEL_CREATE: Final = {
    vol.Required("name", description=f"1-{MAX_NAME} characters"): _NAME,
    vol.Required("kind"): _KIND,
    vol.Optional("enabled", default=True): bool,
    vol.Required("config"): ChannelConfigInput(),
}
CHANNEL_UPDATE: Final = vol.All(
    {
        vol.Optional("name"): _NAME,
        vol.Optional("kind", description="may be repeated, never changed"): _KIND,
        vol.Optional("enabled"): bool,
        vol.Optional("config", description="replaces the settings; secrets left out are kept"):
            ChannelConfigInput(),
    },
    vol.Length(min=1, msg="give at least one field to change"),
)
ROUTES_BODY: Final = {
    vol.Required("routes", description="event type -> channel ids; events left out go "
                                       "nowhere"): {
        vol.Optional(event.value): vol.All([_CHANNEL_ID], vol.Length(max=1000))
        for event in NotificationEvent
    },
}
ID: Final = {"id": vol.All(vol.Coerce(int), vol.Range(min=1, max=_INT32))}
DELIVERIES_QUERY: Final = {
    vol.Optional("status"): vol.In([status.value for status in DeliveryStatus]),
    vol.Optional("channel", description="only deliveries to this channel id"):
        vol.All(vol.Coerce(int), vol.Range(min=1, max=_INT32)),
    vol.Optional("limit", default=50): vol.All(vol.Coerce(int), vol.Range(min=1, max=MAX_PAGE)),
    vol.Optional("offset", default=0): vol.All(vol.Coerce(int), vol.Range(min=0, max=_INT32)),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class EventView:
    """An event type that can be notified (a row of the routing matrix)."""

    event: NotificationEvent
    label: str
    severity: Severity
    description: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelView:
    """A channel as the API shows it: ``config`` without its secrets."""

    id: int
    name: str
    kind: ChannelKind
    enabled: bool
    config: dict[str, Any]  # public_config: non-secret fields and "secrets_set"
    secrets_error: str | None
    created_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutesView:
    """The routing matrix: every event type and the ids of the channels it goes to."""

    routes: dict[str, list[int]]


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryView:
    """One notification on its way to one channel, with that channel's name."""

    id: int
    channel_id: int
    channel_name: str | None
    event: NotificationEvent
    subject: str
    title: str
    message: str
    severity: Severity
    time: datetime
    suppressed: int
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryDetail:
    """A delivery and each of its attempts, oldest first."""

    delivery: DeliveryView
    attempts: list[DeliveryAttempt]


def service(request: web.Request) -> NotificationService:
    """The notification service of the runtime (daemon mode, once started).

    Raises:
        NotFound: The runtime keeps no notifications (no database).
    """
    notifications = core(request).notifications
    if notifications is None:
        raise NotFound("this server keeps no notifications (no database)")
    return notifications


def _channel_view(channel: NotificationChannel) -> ChannelView:
    return ChannelView(id=channel.id, name=channel.name, kind=channel.kind,
                       enabled=channel.enabled, config=public_config(channel.config),
                       secrets_error=channel.secrets_error, created_at=channel.created_at)


def _delivery_view(d: Delivery, names: Mapping[int, str]) -> DeliveryView:
    return DeliveryView(
        id=d.id, channel_id=d.channel_id, channel_name=names.get(d.channel_id), event=d.event,
        subject=d.subject, title=d.title, message=d.message, severity=d.severity, time=d.time,
        suppressed=d.suppressed, status=d.status, attempts=d.attempts,
        next_attempt_at=d.next_attempt_at, last_error=d.last_error, created_at=d.created_at,
        sent_at=d.sent_at)


def _routes_view(matrix: Mapping[NotificationEvent, frozenset[int]]) -> RoutesView:
    return RoutesView(routes={event.value: sorted(ids) for event, ids in matrix.items()})


# -- routes -----------------------------------------------------------------------------------


@routes.get("/notifications/events", response=ListOf(EventView), errors=(404,))
async def list_notification_events(request: web.Request) -> web.StreamResponse:
    """Every event type that can be notified: its label, severity and exact trigger."""
    service(request)
    return list_response([EventView(event=event, label=info.label, severity=info.severity,
                                    description=info.description)
                          for event, info in EVENTS.items()])


@routes.get("/notifications/channels", response=ListOf(ChannelView), errors=(404,))
async def list_channels(request: web.Request) -> web.StreamResponse:
    """Every notification channel, by id (never its secrets)."""
    return list_response([_channel_view(c) for c in await service(request).channels()])


@routes.post("/notifications/channels", body=CHANNEL_CREATE, response=ChannelView, status=201,
             errors=(404,))
async def create_channel(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Add a channel; its secrets are stored encrypted and never shown again."""
    config = parse_config(ChannelKind(body["kind"]), body["config"])
    created = await service(request).create_channel(body["name"], config,
                                                    enabled=body["enabled"],
                                                    actor=actor(request))
    return json_response(_channel_view(created), status=201)


@routes.get("/notifications/channels/{id}", path_params=ID, response=ChannelView,
            errors=(404,))
async def get_channel(request: web.Request, *, path_params: dict[str, Any]) -> web.StreamResponse:
    """One channel (never its secrets)."""
    return json_response(_channel_view(await service(request).channel(path_params["id"])))


@routes.patch("/notifications/channels/{id}", path_params=ID, body=CHANNEL_UPDATE,
              response=ChannelView, errors=(404,))
async def update_channel(request: web.Request, *, path_params: dict[str, Any],
                         body: dict[str, Any]) -> web.StreamResponse:
    """Rename, enable or disable a channel, or replace its settings (secrets left out are
    kept; a channel's kind never changes)."""
    notifications = service(request)
    current = await notifications.channel(path_params["id"])
    if body.get("kind", current.kind.value) != current.kind.value:
        raise InvalidInput(f"kind: a {current.kind.value} channel stays one; create a new "
                           "channel for another kind", field="kind")
    config = None
    if "config" in body:
        # Unreadable secrets cannot be kept: the edit must bring them again.
        keep = current.config if current.secrets_error is None else None
        config = parse_config(current.kind, body["config"], keep=keep)
    updated = await notifications.update_channel(
        current.id, name=body.get("name"), enabled=body.get("enabled"), config=config,
        actor=actor(request))
    return json_response(_channel_view(updated))


@routes.delete("/notifications/channels/{id}", path_params=ID, status=204, errors=(404,))
async def delete_channel(request: web.Request, *,
                         path_params: dict[str, Any]) -> web.StreamResponse:
    """Delete a channel, its routes and its deliveries."""
    await service(request).delete_channel(path_params["id"], actor=actor(request))
    return web.Response(status=204)


@routes.post("/notifications/channels/{id}/test", path_params=ID, response=SendResult,
             errors=(404,))
async def test_channel(request: web.Request, *, path_params: dict[str, Any]) -> web.StreamResponse:
    """Send a test notification now and report the real outcome (200 either way: ``ok``
    false with the status or error when the channel did not take it)."""
    return json_response(await service(request).test(path_params["id"], actor=actor(request)))


@routes.get("/notifications/routes", response=RoutesView, errors=(404,))
async def get_notification_routes(request: web.Request) -> web.StreamResponse:
    """The routing matrix: each event type with the channels it goes to."""
    return json_response(_routes_view(await service(request).routes()))


@routes.put("/notifications/routes", body=ROUTES_BODY, response=RoutesView, errors=(404,))
async def set_notification_routes(request: web.Request, *,
                                  body: dict[str, Any]) -> web.StreamResponse:
    """Replace the routing matrix (events left out go nowhere)."""
    matrix = {NotificationEvent(event): ids for event, ids in body["routes"].items()}
    return json_response(_routes_view(
        await service(request).set_routes(matrix, actor=actor(request))))


@routes.get("/notifications/deliveries", query=DELIVERIES_QUERY, response=ListOf(DeliveryView),
            errors=(404,))
async def list_deliveries(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """The delivery log, newest first, filtered by status and channel."""
    notifications = service(request)
    status = DeliveryStatus(query["status"]) if "status" in query else None
    found, total = await notifications.deliveries(query["limit"], query["offset"],
                                                  status=status,
                                                  channel_id=query.get("channel"))
    names = await notifications.channel_names()
    return list_response([_delivery_view(d, names) for d in found], total=total)


@routes.get("/notifications/deliveries/{id}", path_params=ID, response=DeliveryDetail,
            errors=(404,))
async def get_delivery(request: web.Request, *, path_params: dict[str, Any]) -> web.StreamResponse:
    """One delivery with each of its attempts (time, outcome, status, detail, duration)."""
    notifications = service(request)
    delivery = await notifications.delivery(path_params["id"])
    attempts = await notifications.attempts(delivery.id)
    view = _delivery_view(delivery, await notifications.channel_names())
    return json_response(DeliveryDetail(delivery=view, attempts=attempts))
