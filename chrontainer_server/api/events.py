"""Docker events: the persisted feed (``GET /events``) and the browser's live stream (SSE).

``GET /events/stream`` is the one long-lived request a browser tab keeps (DESIGN §3b): each bus
event of the asked topics becomes one SSE message, ``event: <topic>`` + ``data: <JSON>``. A
viewer's containers have their environment values emptied, and a scoped API key receives only
events of its hosts and containers, as everywhere else. A ``: ping`` comment every
:data:`PING_INTERVAL` seconds keeps proxies from closing an idle stream and notices a client
that went away. Open streams are kept in an app-level registry and ended by an ``on_shutdown``
handler (it runs before the server waits for its handlers), so ``chrontainer serve`` stops at
once and clients reconnect to the next server by themselves (``retry:``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final

import voluptuous as vol
from aiohttp import web

from chrontainer_core.bus import (
    ContainerChanged,
    ContainerMetaChanged,
    ContainerRenamed,
    DockerEventSeen,
    Event,
    HostChanged,
    Lagged,
    MetricsSampled,
    OperationChanged,
    RunChanged,
    UpdateStatusChanged,
)
from chrontainer_core.errors import NotFound
from chrontainer_core.eventlog import EventFilter, EventLog
from chrontainer_core.models import (
    Container,
    ContainerMetrics,
    DockerEvent,
    DockerObjectType,
    HostState,
    Operation,
)
from chrontainer_core.serialize import to_jsonable
from chrontainer_core.updates.models import UpdateCheck
from chrontainer_core.validate import Slug
from chrontainer_server.auth.apikeys import KeyScope

from .context import core, scope
from .redact import hides_env_values, redact_container
from .spec import SSE, ApiRoutes, Content, ListOf, list_response

__all__ = ["PING_INTERVAL", "SSE_PING_INTERVAL", "TOPICS", "routes", "setup"]

log = logging.getLogger(__name__)

routes = ApiRoutes(tag="events")

# The topics a stream may ask for; without ``topics`` it gets all of them. ``lagged`` is always
# delivered (and accepted in the list, where it changes nothing).
TOPICS: Final = (
    ContainerChanged.topic,
    ContainerMetaChanged.topic,
    ContainerRenamed.topic,
    HostChanged.topic,
    DockerEventSeen.topic,
    MetricsSampled.topic,
    RunChanged.topic,
    OperationChanged.topic,
    UpdateStatusChanged.topic,
)
_ASKABLE: Final = (*TOPICS, Lagged.topic)
# Common proxies close a response idle for 30 to 60 s.
PING_INTERVAL: Final = 15.0
# How long a browser waits before reconnecting a stream that ended, in milliseconds.
RETRY_MS: Final = 3000
# A stream whose tab stopped reading falls behind by this many events before it gets "lagged".
QUEUE_SIZE: Final = 500

# Seconds between pings; set it on the app before it starts to change it (tests).
SSE_PING_INTERVAL: Final = web.AppKey("chrontainer_sse_ping_interval", float)
# One "end now" event per open stream (see setup()).
_STREAMS: Final = web.AppKey("chrontainer_sse_streams", set[asyncio.Event])


class Topics:
    """``topics``: a comma-separated list of known topics; empty means all of them."""

    _NAME = "|".join(t.replace(".", r"\.") for t in _ASKABLE)
    json_schema: Final = {
        "type": "string",
        "pattern": rf"^(({_NAME})(,({_NAME}))*)?$",
        "description": "comma-separated topics (default: all): " + ", ".join(_ASKABLE),
    }

    def __call__(self, value: object) -> frozenset[str]:
        if not isinstance(value, str):
            raise vol.Invalid("expected a comma-separated list of topics")
        # Exactly what the documented pattern allows: no spaces, no empty items.
        names = value.split(",") if value else list(TOPICS)
        unknown = [t for t in names if t not in _ASKABLE]
        if unknown:
            raise vol.Invalid(f"unknown topic {unknown[0][:64]!r}; known: {', '.join(_ASKABLE)}")
        return frozenset(names) - {Lagged.topic}


LIST_QUERY: Final = {
    vol.Optional("host"): Slug(),
    vol.Optional("type"): vol.In([t.value for t in DockerObjectType]),
    vol.Optional("action", description="exact action, e.g. start or destroy"): vol.All(
        str, vol.Length(min=1, max=64)
    ),
    vol.Optional("name", description="case-insensitive substring of the object's name"): vol.All(
        str, vol.Length(max=256)
    ),
    vol.Optional("object", description="the object's id (12+ hex characters: a prefix) or "
                                       "volume name"): vol.All(str, vol.Length(min=1, max=255)),
    vol.Optional("limit", default=100): vol.All(vol.Coerce(int), vol.Range(min=1, max=500)),
    vol.Optional("offset", default=0): vol.All(vol.Coerce(int), vol.Range(min=0, max=2**31 - 1)),
}
STREAM_QUERY: Final = {vol.Optional("topics"): Topics()}


def _message(topic: str, data: Any) -> dict[str, Any]:
    """The OpenAPI schema of one SSE message: its topic, and data as JSON of ``data``."""
    return {
        "type": "object",
        "properties": {
            "event": {"const": topic},
            "data": {"type": "string", "contentMediaType": "application/json",
                     "contentSchema": data},
        },
        "required": ["event", "data"],
    }


def _object(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": dict(properties), "required": list(properties)}


STRING: Final = {"type": "string"}
MESSAGES: Final = {
    "oneOf": [
        _message(ContainerChanged.topic, _object({
            "host": STRING, "id": STRING, "key": STRING, "action": STRING,
            "container": Container | None,
        })),
        _message(ContainerMetaChanged.topic, _object({"host": STRING, "key": STRING})),
        _message(ContainerRenamed.topic, _object({
            "host": STRING, "id": STRING, "old_key": STRING, "new_key": STRING,
        })),
        _message(HostChanged.topic, _object({"host": HostState})),
        _message(DockerEventSeen.topic, DockerEvent),
        _message(MetricsSampled.topic, _object({
            "host": STRING,
            "items": {"type": "object", "additionalProperties": ContainerMetrics},
        })),
        _message(OperationChanged.topic, Operation),
        _message(UpdateStatusChanged.topic, _object({
            "host": STRING, "key": STRING, "check": UpdateCheck | None,
        })),
        _message(Lagged.topic, _object({"dropped": {"type": "integer", "minimum": 0}})),
    ]
}


def setup(app: web.Application) -> None:
    """Keep a registry of the open streams and end them when the server shuts down."""
    app[_STREAMS] = set()
    app.on_shutdown.append(_end_streams)


async def _end_streams(app: web.Application) -> None:
    for end in app[_STREAMS]:
        end.set()


def _log(request: web.Request) -> EventLog:
    events = core(request).events
    if events is None:
        raise NotFound("this server keeps no events (no database)")
    return events


def _scope_hosts(key_scope: KeyScope) -> tuple[str, ...]:
    """Every host a scoped key may read (whole, or through some of its containers)."""
    return tuple(sorted({*key_scope.hosts, *(c.split("/", 1)[0] for c in key_scope.containers)}))


@routes.get("/events", query=LIST_QUERY, response=ListOf(DockerEvent))
async def list_events(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """Container, image, volume and network events of every host, newest first.

    The last ``events_keep`` events (a setting) are kept. A scoped API key sees only the events
    of its hosts.
    """
    key_scope = scope(request)
    kind = query.get("type")
    flt = EventFilter(
        host=query.get("host"),
        type=DockerObjectType(kind) if kind else None,
        action=query.get("action"),
        name=query.get("name") or None,
        object_id=query.get("object"),
        hosts=_scope_hosts(key_scope) if key_scope is not None else None,
    )
    items, total = await _log(request).list(flt, limit=query["limit"], offset=query["offset"])
    return list_response(items, total=total)


@routes.get(
    "/events/stream",
    query=STREAM_QUERY,
    response=Content(SSE, MESSAGES),
    description=(
        "Server-sent events: one message per core event, `event: <topic>` and `data: <JSON>`. "
        "Topics: " + ", ".join(TOPICS) + "; `lagged` ({dropped}) says events were dropped "
        "because the client read too slowly: resync. The stream starts with `retry: 3000`, "
        "sends a `: ping` comment every 15 s and ends when the server shuts down."
    ),
)
async def events_stream(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """The live stream of core events (SSE), the browser's one long-lived request."""
    topics: frozenset[str] = query.get("topics", frozenset(TOPICS))
    encode = _encoder(request)
    ping = request.app.get(SSE_PING_INTERVAL, PING_INTERVAL)
    end = asyncio.Event()
    streams = request.app[_STREAMS]
    response = web.StreamResponse(headers={
        "Content-Type": SSE,
        "Cache-Control": "no-store",
        # nginx buffers responses unless told not to; a buffered stream is no stream.
        "X-Accel-Buffering": "no",
    })
    with core(request).bus.subscribe(topics, maxsize=QUEUE_SIZE) as sub:
        streams.add(end)
        ending = asyncio.ensure_future(end.wait())
        waiting: asyncio.Future[Event] | None = None
        try:
            await response.prepare(request)
            await response.write(f"retry: {RETRY_MS}\n\n".encode())
            while not end.is_set():
                if waiting is None:
                    waiting = asyncio.ensure_future(sub.get())
                done, _ = await asyncio.wait({waiting, ending}, timeout=ping,
                                             return_when=asyncio.FIRST_COMPLETED)
                if waiting in done:
                    event, waiting = waiting.result(), None
                    chunk = encode(event)
                    if chunk:
                        await response.write(chunk)
                elif not done:
                    await response.write(b": ping\n\n")
        except ConnectionError:
            pass  # the client went away: the stream is over (the bus is left below)
        finally:
            streams.discard(end)
            for future in (waiting, ending):
                if future is not None:
                    future.cancel()
    return response


Encoder = Callable[[Event], bytes]


def _encoder(request: web.Request) -> Encoder:
    """How this client's stream turns a bus event into an SSE message (b"" to skip it)."""
    runtime = core(request)
    key_scope = scope(request)
    redact = hides_env_values(request)

    def container_json(ev: ContainerChanged) -> dict[str, Any] | None:
        if ev.container is None:
            return None
        doc: dict[str, Any] | None = None
        if ev.host in runtime.hosts:
            watcher = runtime.hosts.get(ev.host)
            # The cache's ready JSON form, when the cache still holds this very version.
            if watcher.get(ev.id) is ev.container:
                doc = watcher.json_of(ev.id)
        if doc is None:
            doc = to_jsonable(ev.container)
        return redact_container(doc) if redact else doc

    def key_of(host: str, container_id: str) -> str | None:
        if host not in runtime.hosts:
            return None
        found = runtime.hosts.get(host).get(container_id)
        return found.key if found is not None else None

    def data(ev: Event) -> Any:
        if isinstance(ev, ContainerChanged):
            if key_scope is not None and not key_scope.allows_container(ev.host, ev.key):
                return None
            return {"host": ev.host, "id": ev.id, "key": ev.key, "action": ev.action,
                    "container": container_json(ev)}
        if isinstance(ev, DockerEventSeen):
            if key_scope is not None and not key_scope.allows_host(ev.event.host):
                return None
            return to_jsonable(ev.event)
        if isinstance(ev, MetricsSampled):
            items = dict(ev.metrics)
            if key_scope is not None:
                if not key_scope.allows_host(ev.host):
                    return None
                if not key_scope.allows_whole_host(ev.host):
                    items = {cid: m for cid, m in items.items()
                             if (key := key_of(ev.host, cid)) is not None
                             and key_scope.allows_container(ev.host, key)}
            return {"host": ev.host, "items": to_jsonable(items)}
        if isinstance(ev, OperationChanged):
            # The operation as GET /operations/{id} shows it.
            if key_scope is not None and not key_scope.allows_host(ev.operation.host):
                return None
            return to_jsonable(ev.operation)
        if isinstance(ev, RunChanged):
            # The run as GET /runs/{id} shows it, plus the schedule's or webhook's name. A run
            # names its target only in words, so a scoped key gets none rather than too many.
            return None if key_scope is not None else {**to_jsonable(ev.run), "name": ev.name}
        if key_scope is not None:
            if isinstance(ev, HostChanged) and not key_scope.allows_host(ev.host.slug):
                return None
            if isinstance(ev, ContainerMetaChanged | UpdateStatusChanged) and not (
                    key_scope.allows_container(ev.host, ev.key)):
                return None
            if isinstance(ev, ContainerRenamed) and not (
                    key_scope.allows_container(ev.host, ev.old_key)
                    or key_scope.allows_container(ev.host, ev.new_key)):
                return None
        return to_jsonable(ev)

    def encode(ev: Event) -> bytes:
        payload = data(ev)
        if payload is None:
            return b""
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return f"event: {ev.topic}\ndata: {text}\n\n".encode()

    return encode
