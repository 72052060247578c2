"""The notifications pages (admins only, like the API behind them): channels and the routing
matrix (``/notifications``), the delivery log (``/notifications/deliveries``) and one delivery
with its attempts (``/notifications/deliveries/{id}``).

Rendered here from the core's notification service (``ch.notifications``). Secrets never reach
a template: a channel is shown through ``public_config`` (its non-secret fields and the names
of the secrets that are set). Changes go through the JSON API from ``static/notifications.js``
(channels, "send test", routes); after one, the script fetches this page again and swaps the
list and the matrix. The channel form's fields per kind are declared in :data:`FORM_FIELDS`,
named as the API's ``config`` keys, so ``details.field`` of a refusal (``config.topic``) finds
its input. The delivery log is a plain GET form with paging, validated with the API's own
query schema; it needs no script.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import urlencode

import voluptuous as vol
from aiohttp import web

from chrontainer_core.errors import NotFound
from chrontainer_core.notify.channel import public_config
from chrontainer_core.notify.models import (
    CONFIG_BY_KIND,
    EVENTS,
    ChannelKind,
    DeliveryStatus,
    EmailSecurity,
    NotificationChannel,
    NotificationEvent,
)
from chrontainer_core.notify.service import MAX_NAME, NotificationService
from chrontainer_core.validate import format_path

from ..api.context import core
from ..api.notifications import DELIVERIES_QUERY
from .rendering import render
from .schedule_pages import PAGE_HELPERS

__all__ = ["FORM_FIELDS", "KIND_LABELS", "ChannelRow", "FormField", "setup", "summary"]

_ID: Final = r"{id:\d{1,10}}"
PAGE: Final = 50
_QUERY: Final = vol.Schema(DELIVERIES_QUERY)
_FILTERS: Final[tuple[str, ...]] = ("status", "channel")

KIND_LABELS: Final[dict[ChannelKind, str]] = {
    ChannelKind.DISCORD: "Discord",
    ChannelKind.NTFY: "ntfy",
    ChannelKind.GOTIFY: "Gotify",
    ChannelKind.WEBHOOK: "Webhook (JSON POST)",
    ChannelKind.EMAIL: "Email (SMTP)",
}

Input = Literal["text", "url", "email", "password", "number", "select", "check", "tags",
                "lines", "headers"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FormField:
    """One input of the channel form: ``name`` is the key in the API's ``config`` object.

    ``input`` says how the page shows and reads it: ``tags`` is a comma-separated list,
    ``lines`` one item per line, ``headers`` rows of name/value pairs. Secret fields (the
    config class's ``SECRETS``) are password inputs that are never pre-filled.
    """

    name: str
    label: str
    input: Input
    required: bool = False
    secret: bool = False
    help: str = ""
    placeholder: str = ""
    default: str | int | bool | None = None
    low: int | None = None
    high: int | None = None
    max_length: int | None = None
    options: tuple[tuple[str, str], ...] = ()


def _fields(kind: ChannelKind, *fields: FormField) -> tuple[FormField, ...]:
    secrets = CONFIG_BY_KIND[kind].SECRETS
    # The secret flag comes from the model, so a field can never be shown by mistake.
    return tuple(dataclasses.replace(f, secret=f.name in secrets) for f in fields)


FORM_FIELDS: Final[dict[ChannelKind, tuple[FormField, ...]]] = {
    ChannelKind.DISCORD: _fields(
        ChannelKind.DISCORD,
        FormField(name="webhook_url", label="Webhook URL", input="password", required=True,
                  placeholder="https://discord.com/api/webhooks/…",
                  help="Channel settings → Integrations → Webhooks → Copy Webhook URL. It "
                       "holds the webhook's token: stored encrypted, never shown again."),
        FormField(name="username", label="Username", input="text", max_length=80,
                  help="The sender's name; empty uses the webhook's own."),
    ),
    ChannelKind.NTFY: _fields(
        ChannelKind.NTFY,
        FormField(name="server", label="Server", input="url", default="https://ntfy.sh",
                  help="ntfy.sh or your own server."),
        FormField(name="topic", label="Topic", input="text", required=True, max_length=64,
                  help="1 to 64 letters, digits, _ or -."),
        FormField(name="token", label="Access token", input="password",
                  placeholder="tk_…", help="For a protected topic."),
        FormField(name="priority", label="Priority", input="number", default=3, low=1, high=5,
                  help="1 (min) to 5 (max); 3 is the default."),
        FormField(name="tags", label="Tags", input="tags", placeholder="docker, homelab",
                  help="Comma-separated; emoji short codes (warning, skull) show as emoji."),
    ),
    ChannelKind.GOTIFY: _fields(
        ChannelKind.GOTIFY,
        FormField(name="server", label="Server", input="url", required=True,
                  placeholder="https://gotify.example.com"),
        FormField(name="token", label="Application token", input="password", required=True,
                  help="Apps → Create application → its token."),
        FormField(name="priority", label="Priority", input="number", default=5, low=0,
                  high=10, help="0 to 10; 5 is the default."),
    ),
    ChannelKind.WEBHOOK: _fields(
        ChannelKind.WEBHOOK,
        FormField(name="url", label="URL", input="password", required=True,
                  placeholder="https://example.com/hooks/…",
                  help="Receives a JSON POST per notification; stored encrypted, as it may "
                       "hold a credential."),
        FormField(name="headers", label="Headers", input="headers",
                  help="Extra request headers, e.g. Authorization; values are stored "
                       "encrypted."),
    ),
    ChannelKind.EMAIL: _fields(
        ChannelKind.EMAIL,
        FormField(name="host", label="SMTP server", input="text", required=True,
                  max_length=253, placeholder="smtp.example.com"),
        FormField(name="port", label="Port", input="number", low=1, high=65535,
                  help="Empty: 587 for STARTTLS, 465 for TLS, 25 for none."),
        FormField(name="security", label="Security", input="select",
                  default=EmailSecurity.STARTTLS.value,
                  options=((EmailSecurity.STARTTLS.value, "STARTTLS"),
                           (EmailSecurity.TLS.value, "Implicit TLS"),
                           (EmailSecurity.NONE.value, "None (local relays only)"))),
        FormField(name="username", label="Username", input="text", max_length=256),
        FormField(name="password", label="Password", input="password",
                  help="Needs STARTTLS or TLS, so it never travels in clear."),
        FormField(name="sender", label="Sender", input="email", required=True, max_length=254,
                  placeholder="chrontainer@example.com"),
        FormField(name="recipients", label="Recipients", input="lines", required=True,
                  placeholder="me@example.com", help="One address per line (at most 20)."),
        FormField(name="verify_tls", label="Verify the server's certificate", input="check",
                  default=True, help="Off only for a relay with a self-signed certificate."),
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelRow:
    """A channel as the list shows it: never a secret, only which ones are set."""

    id: int
    name: str
    kind: ChannelKind
    kind_label: str
    enabled: bool
    summary: str
    secrets: tuple[tuple[str, bool], ...]  # (label, set)
    secrets_error: str | None


def summary(kind: ChannelKind, config: Mapping[str, Any]) -> str:
    """A short, non-secret description of a channel's settings (``config`` is the public one)."""
    match kind:
        case ChannelKind.DISCORD:
            return f"as {config['username']}" if config.get("username") else "Discord webhook"
        case ChannelKind.NTFY:
            text = f"{config['server']}/{config['topic']} · priority {config['priority']}"
            return text + (f" · tags {', '.join(config['tags'])}" if config.get("tags") else "")
        case ChannelKind.GOTIFY:
            return f"{config['server']} · priority {config['priority']}"
        case ChannelKind.WEBHOOK:
            return "JSON POST to its URL"
        case ChannelKind.EMAIL:
            return (f"{config['host']}:{config['port']} ({config['security']}) · "
                    f"{config['sender']} → {', '.join(config['recipients'])}")
    return ""  # pragma: no cover - every kind is matched above


def _row(channel: NotificationChannel) -> ChannelRow:
    public = public_config(channel.config)
    labels = {f.name: f.label for f in FORM_FIELDS[channel.kind]}
    return ChannelRow(
        id=channel.id, name=channel.name, kind=channel.kind,
        kind_label=KIND_LABELS[channel.kind], enabled=channel.enabled,
        summary=summary(channel.kind, public),
        secrets=tuple((labels.get(name, name), name in public["secrets_set"])
                      for name in type(channel.config).SECRETS),
        secrets_error=channel.secrets_error)


def setup(app: web.Application) -> None:
    """Add the notifications pages' routes."""
    app.router.add_get("/notifications", notifications_page)
    app.router.add_get("/notifications/deliveries", deliveries_page)
    app.router.add_get(f"/notifications/deliveries/{_ID}", delivery_page)


def _service(request: web.Request) -> NotificationService:
    service = core(request).notifications
    if service is None:  # library mode never serves pages; say so rather than crash
        raise web.HTTPServiceUnavailable(text="notifications are not available in this mode")
    return service


async def notifications_page(request: web.Request) -> web.StreamResponse:
    """The channels with the form that adds and edits one, and the routing matrix."""
    service = _service(request)
    channels = [_row(c) for c in await service.channels()]
    routes = await service.routes()
    settings = core(request).settings
    context = {
        "channels": channels,
        "kinds": list(ChannelKind), "kind_labels": KIND_LABELS, "fields": FORM_FIELDS,
        "default_kind": ChannelKind.DISCORD, "max_name": MAX_NAME,
        "events": [(event, EVENTS[event], routes.get(event, frozenset()))
                   for event in NotificationEvent],
        "throttle_minutes": settings.current.notify_throttle_minutes if settings else None,
    }
    return render(request, "notifications.html", context)


def _parse(query: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """(valid query, the filters as given, field -> error) of the log's query string."""
    given = {key: query[key].strip() for key in (*_FILTERS, "limit", "offset")
             if query.get(key, "").strip()}
    values = {key: given[key] for key in _FILTERS if key in given}
    try:
        return _QUERY({"limit": PAGE, **given}), values, {}
    except vol.MultipleInvalid as err:
        return {}, values, {format_path(e.path): e.msg for e in err.errors}


async def deliveries_page(request: web.Request) -> web.StreamResponse:
    """The delivery log, newest first, filtered by status and channel, 50 a page."""
    service = _service(request)
    valid, values, errors = _parse(request.query)
    limit, offset = valid.get("limit", PAGE), valid.get("offset", 0)
    deliveries: list[Any] = []
    total = 0
    if not errors:
        status = DeliveryStatus(valid["status"]) if "status" in valid else None
        deliveries, total = await service.deliveries(limit, offset, status=status,
                                                     channel_id=valid.get("channel"))
    names = await service.channel_names()

    def page_url(start: int) -> str:
        return "/notifications/deliveries?" + urlencode({**values, "limit": limit,
                                                         "offset": start})

    context = {
        "deliveries": deliveries, "total": total, "values": values, "errors": errors,
        "offset": offset, "names": names, "statuses": [s.value for s in DeliveryStatus],
        "events": EVENTS, "filtered": bool(values),
        "prev_url": page_url(max(offset - limit, 0)) if offset > 0 else None,
        "next_url": page_url(offset + limit) if offset + limit < total else None,
        **PAGE_HELPERS,
    }
    return render(request, "notifications_deliveries.html", context,
                  status=400 if errors else 200)


async def delivery_page(request: web.Request) -> web.StreamResponse:
    """One delivery: what was sent where, and each attempt (time, outcome, detail, duration)."""
    service = _service(request)
    try:
        delivery = await service.delivery(int(request.match_info["id"]))
    except NotFound as err:
        return render(request, "notifications_delivery.html",
                      {"delivery": None, "message": err.message}, status=404)
    attempts = await service.attempts(delivery.id)
    names = await service.channel_names()
    context = {
        "delivery": delivery, "attempts": attempts, "events": EVENTS,
        "channel_name": names.get(delivery.channel_id), **PAGE_HELPERS,
    }
    return render(request, "notifications_delivery.html", context)
