"""Containers: cross-host list, details, inspect, actions, bulk, logs, stats, top."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, Final

import voluptuous as vol
from aiohttp import web

from chrontainer_core import (
    ActionResult,
    BulkItemResult,
    BulkTarget,
    Container,
    ContainerAction,
    ContainerFilter,
    ContainerMetrics,
    ContainerState,
    ContainerStats,
    HostState,
    LogRecord,
    LogStream,
    ProcessList,
)
from chrontainer_core.errors import ChrontainerError
from chrontainer_core.models import Tag
from chrontainer_core.serialize import format_datetime, to_jsonable
from chrontainer_core.updates.models import UpdateCheck
from chrontainer_core.validate import Slug

from .context import actor, core, require_targets_in_scope, scope
from .redact import hides_env_values, redact_container, redact_inspect
from .spec import (
    JSON,
    NDJSON,
    TEXT,
    ApiRoutes,
    Content,
    Integer,
    ListOf,
    json_response,
    jsonable_response,
)

routes = ApiRoutes(tag="containers")

ONE = "/hosts/{host}/containers/{ref}"

LIST_QUERY = {
    vol.Optional("host"): Slug(),
    vol.Optional("state"): vol.In([s.value for s in ContainerState]),
    vol.Optional("name", description="case-insensitive substring"): vol.All(
        str, vol.Length(max=256)
    ),
    vol.Optional("label", description="'key' or 'key=value'"): vol.All(str, vol.Length(min=1)),
    vol.Optional("project", description="compose project"): vol.All(str, vol.Length(min=1)),
    vol.Optional("tag", description="tag name, ignoring case; an unknown tag matches nothing"):
        vol.All(str, vol.Length(min=1, max=64)),
}
# A listed container: the Container model plus its latest sampled metrics (null when it is
# not running, has not been sampled yet, or its host is offline), and the tags (sorted by name)
# and web-UI link attached to its key, and its last update check (null: never checked). The
# detail route uses it too.
CONTAINER_WITH_METRICS = {
    "allOf": [
        Container,
        {
            "type": "object",
            "properties": {
                "metrics": ContainerMetrics | None,
                "tags": list[Tag],
                "web_url": {"type": ["string", "null"], "description": "http(s) web-UI link"},
                "update": UpdateCheck | None,
            },
            "required": ["metrics", "tags", "web_url", "update"],
        },
    ]
}
LISTING = ListOf(CONTAINER_WITH_METRICS,
                 extra={"hosts": {"type": "object", "additionalProperties": HostState}})

TIMEOUT = vol.All(Integer(), vol.Range(min=0, max=3600))
SIGNAL = vol.All(str, vol.Match(r"^(SIG)?[A-Z0-9+-]{1,16}$|^[0-9]{1,2}$"))
CONTAINER_NAME = vol.All(str, vol.Match(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$"))

# Each action's body: what it accepts, nothing more (additionalProperties: false).
ACTION_BODIES: dict[ContainerAction, dict[Any, Any]] = {
    ContainerAction.START: {},
    ContainerAction.STOP: {vol.Optional("timeout", description="seconds before SIGKILL"): TIMEOUT},
    ContainerAction.RESTART: {vol.Optional("timeout"): TIMEOUT},
    ContainerAction.PAUSE: {},
    ContainerAction.UNPAUSE: {},
    ContainerAction.KILL: {vol.Optional("signal", description="default SIGKILL"): SIGNAL},
    ContainerAction.RENAME: {vol.Required("name"): CONTAINER_NAME},
    ContainerAction.REMOVE: {
        vol.Optional("force", default=False): bool,
        vol.Optional("volumes", default=False, description="remove anonymous volumes"): bool,
    },
}

BULK_BODY = {
    vol.Required("action"): vol.In([a.value for a in ContainerAction
                                    if a is not ContainerAction.RENAME]),
    vol.Required("targets"): vol.All(
        [{vol.Required("host"): Slug(), vol.Required("ref"): vol.All(str, vol.Length(min=1))}],
        vol.Length(min=1, max=500),
    ),
    vol.Optional("timeout"): TIMEOUT,
    vol.Optional("signal"): SIGNAL,
    vol.Optional("force"): bool,
    vol.Optional("volumes"): bool,
}
BULK_RESULT = {"type": "object", "properties": {"items": {"type": "array",
                                                          "items": BulkItemResult}},
               "required": ["items"], "additionalProperties": False}


class Since:
    """``since``: unix seconds or an ISO 8601 instant, converted to unix seconds."""

    json_schema: Final = {"type": "string", "description": "unix seconds or ISO 8601 time"}

    def __call__(self, value: str) -> int:
        if re.fullmatch(r"\d{1,12}", value):
            return int(value)
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        except ValueError as err:
            raise vol.Invalid("must be unix seconds or an ISO 8601 time") from err


TAIL = vol.Any("all", vol.All(vol.Coerce(int), vol.Range(min=0, max=100_000)))
LOGS_QUERY = {
    vol.Optional("tail", default=100, description="lines from the end, or 'all'"): TAIL,
    vol.Optional("since"): Since(),
    vol.Optional("timestamps", default=False): vol.Boolean(),
    vol.Optional("follow", default=False): vol.Boolean(),
}
TOP_QUERY = {vol.Optional("ps_args"): vol.All(str, vol.Match(r"^[a-zA-Z -]{1,32}$"))}


def _host_ref(request: web.Request) -> tuple[str, str]:
    return request.match_info["host"], request.match_info["ref"]


async def _listing(request: web.Request, flt: ContainerFilter) -> web.StreamResponse:
    listing = await core(request).containers.list(flt)
    items, hosts = listing.items_json, listing.hosts
    key_scope = scope(request)
    if key_scope is not None:
        # A scoped API key sees only its hosts and containers.
        items = [doc for c, doc in zip(listing.items, items, strict=True)
                 if key_scope.allows_container(c.host, c.key)]
        hosts = {slug: st for slug, st in hosts.items() if key_scope.allows_host(slug)}
    if hides_env_values(request):
        items = [redact_container(doc) for doc in items]
    return jsonable_response(
        {"items": items, "total": len(items), "hosts": to_jsonable(hosts)}
    )


def _filter(query: dict[str, Any], host: str | None = None) -> ContainerFilter:
    state = query.get("state")
    return ContainerFilter(
        host=host or query.get("host"),
        state=ContainerState(state) if state else None,
        name=query.get("name"),
        label=query.get("label"),
        project=query.get("project"),
        tag=query.get("tag"),
    )


@routes.get("/containers", query=LIST_QUERY, response=LISTING, errors=(404,))
async def list_containers(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """Every container of every host; an offline host's containers come back ``stale``."""
    return await _listing(request, _filter(query))


@routes.get("/hosts/{host}/containers", query={k: v for k, v in LIST_QUERY.items()
                                               if str(k) != "host"},
            response=LISTING, errors=(404,))
async def list_host_containers(
    request: web.Request, *, query: dict[str, Any]
) -> web.StreamResponse:
    """The containers of one host."""
    return await _listing(request, _filter(query, host=request.match_info["host"]))


@routes.get(ONE, response=CONTAINER_WITH_METRICS, errors=(404, 409))
async def get_container(request: web.Request) -> web.StreamResponse:
    """One container, with its latest metrics like in the list.

    ref is a full id, an exact name or a unique id prefix (>= 12).
    """
    service = core(request).containers
    doc = service.item_json(await service.get(*_host_ref(request)))
    return jsonable_response(redact_container(doc) if hides_env_values(request) else doc)


@routes.get(ONE + "/inspect", response={"type": "object"}, errors=(404, 409, 502))
async def inspect_container(request: web.Request) -> web.StreamResponse:
    """The engine's inspect document, unmodified, except for viewers.

    Viewers see environment variable names but not their values (DESIGN §7): values often
    hold passwords and tokens.
    """
    document = await core(request).containers.inspect(*_host_ref(request))
    return jsonable_response(redact_inspect(document) if hides_env_values(request) else document)


def _declare_action(action: ContainerAction) -> None:
    async def handler(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
        host, ref = _host_ref(request)
        result = await core(request).containers.action(
            host, ref, action, actor=actor(request), **body
        )
        return json_response(result)

    handler.__name__ = f"{action.value}_container"
    handler.__doc__ = f"{action.value.capitalize()} a container."
    routes.post(f"{ONE}/{action.value}", body=ACTION_BODIES[action], response=ActionResult,
                errors=(404, 409, 502))(handler)


for _action in ContainerAction:
    _declare_action(_action)


@routes.post("/containers/actions", body=BULK_BODY, response=BULK_RESULT, errors=(403,))
async def bulk_action(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """One action on many containers; each item reports its own result."""
    params = {k: body[k] for k in ("timeout", "signal", "force", "volumes") if k in body}
    targets = [BulkTarget(host=t["host"], ref=t["ref"]) for t in body["targets"]]
    await require_targets_in_scope(request, targets)
    items = await core(request).containers.bulk(
        body["action"], targets, actor=actor(request), **params
    )
    return json_response({"items": items})


@routes.get(
    ONE + "/logs",
    query=LOGS_QUERY,
    response=[Content(JSON, list[LogRecord]), Content(NDJSON, LogRecord)],
    errors=(404, 409, 502),
)
async def container_logs(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """Log records ``{t, stream, line}``: a JSON list, or NDJSON while following."""
    tail = query["tail"]
    records = await core(request).containers.logs(
        *_host_ref(request),
        tail=None if tail == "all" else int(tail),
        since=query.get("since"),
        timestamps=query["timestamps"],
        follow=query["follow"],
    )
    if not query["follow"]:
        try:
            return json_response([r async for r in records])
        finally:
            await records.aclose()  # type: ignore[attr-defined]
    response = web.StreamResponse(headers={"Content-Type": NDJSON, "Cache-Control": "no-store"})
    await response.prepare(request)
    try:
        # A client disconnect cancels this handler; closing the iterator then closes the
        # engine's log stream too (finally below).
        async for record in records:
            line = json.dumps(to_jsonable(record), separators=(",", ":")) + "\n"
            await response.write(line.encode())
    finally:
        await records.aclose()  # type: ignore[attr-defined]
    return response


# The download takes the logs query without ``follow`` (a file has an end) and defaults to the
# whole log.
DOWNLOAD_QUERY = {
    vol.Optional("tail", default="all", description="lines from the end, or 'all'"): TAIL,
    vol.Optional("since"): Since(),
    vol.Optional("timestamps", default=False): vol.Boolean(),
}
# Lines are gathered up to this many bytes per write: a write per line would make a long log
# crawl, and the whole log is never held in memory.
_DOWNLOAD_CHUNK: Final = 64 * 1024
STDERR_PREFIX: Final = "[stderr] "
_log = logging.getLogger(__name__)


def _download_line(record: LogRecord) -> str:
    """One record as a line of the log file: ``[<time> ][[stderr] ]<line>``."""
    stamp = f"{format_datetime(record.t)} " if record.t is not None else ""
    marker = STDERR_PREFIX if record.stream is LogStream.STDERR else ""
    return f"{stamp}{marker}{record.line}\n"


def _download_filename(name: str) -> str:
    """``<name>-<UTC time>.log`` with only filename-safe characters (a quoted header value)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip(".") or "container"
    return f"{safe}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.log"


@routes.get(
    ONE + "/logs/download",
    query=DOWNLOAD_QUERY,
    response=Content(TEXT, {"type": "string"}),
    errors=(404, 409, 502),
)
async def download_container_logs(
    request: web.Request, *, query: dict[str, Any]
) -> web.StreamResponse:
    """The log as a plain text file, streamed.

    One line per record, oldest first; ``timestamps`` puts the engine's time (ISO 8601 UTC)
    first, and stderr lines carry the ``[stderr] `` marker (after the time), so the file
    keeps what the viewer shows in colour. The engine stream is closed when the client goes
    away; an engine failure after the first line ends the file with a ``[chrontainer]`` line
    saying so, since the status is already sent.
    """
    host, ref = _host_ref(request)
    service = core(request).containers
    c = await service.get(host, ref)
    tail = query["tail"]
    records = await service.logs(host, c.id, tail=None if tail == "all" else int(tail),
                                 since=query.get("since"), timestamps=query["timestamps"])
    try:
        # The first record is read before the headers go out, so that an engine that cannot
        # be reached still gets its proper error status (502) instead of an empty file.
        first = await anext(records, None)
        response = web.StreamResponse(headers={
            "Content-Type": f"{TEXT}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{_download_filename(c.name)}"',
            "Cache-Control": "no-store",
        })
        await response.prepare(request)
        buffer: list[str] = [] if first is None else [_download_line(first)]
        size = sum(map(len, buffer))
        try:
            async for record in records:
                buffer.append(line := _download_line(record))
                size += len(line)
                if size >= _DOWNLOAD_CHUNK:
                    await response.write("".join(buffer).encode())
                    buffer, size = [], 0
        except ChrontainerError as err:
            _log.warning("host %s: log download of container %s ended early: %s",
                         host, c.name, err.message)
            buffer.append(f"[chrontainer] the log ends early: {err.message}\n")
        if buffer:
            await response.write("".join(buffer).encode())
        await response.write_eof()
    finally:
        # Also on a client disconnect (cancellation): closing ends the engine's log stream.
        await records.aclose()  # type: ignore[attr-defined]
    return response


@routes.get(ONE + "/stats", response=ContainerStats, errors=(404, 409, 502))
async def container_stats(request: web.Request) -> web.StreamResponse:
    """One stats reading of a running container."""
    return json_response(await core(request).containers.stats(*_host_ref(request)))


@routes.get(ONE + "/top", query=TOP_QUERY, response=ProcessList, errors=(404, 409, 502))
async def container_top(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """The processes running in a container."""
    return json_response(
        await core(request).containers.top(*_host_ref(request), query.get("ps_args"))
    )
