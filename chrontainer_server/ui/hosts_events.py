"""The hosts page and the events page, with the fragments the hosts page fetches.

``/hosts`` lists every host from the core's in-memory state (no engine call on page load).
``hosts.js`` re-fetches one host's row (``/fragments/hosts/{host}/row``) when the live stream
says the host changed, and loads its machine info and disk use
(``/fragments/hosts/{host}/info``) only when the user expands it: ``/system/df`` can take
seconds on a Raspberry Pi, so it is never read for every host on page load. Admins get the
add/edit/test/remove controls, which call the JSON API (``/api/v1/hosts``); other roles get
the same page read-only.

``/events`` renders the persisted engine events server-side, newest first, with a plain GET
filter form and limit/offset links, so it works without JavaScript; ``events.js`` adds the live
feed on the first page. Bad filter values get the page back with status 400 and the offending
field named, as the API would answer 400 for the same query.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode

import voluptuous as vol
from aiohttp import web

from chrontainer_core.errors import HostUnreachable, NotFound, SecretUnavailable
from chrontainer_core.eventlog import EventFilter
from chrontainer_core.models import DockerObjectType, HostState
from chrontainer_core.serialize import format_datetime
from chrontainer_core.validate import format_path

from ..api.context import core, scope
from ..api.events import LIST_QUERY
from ..auth.principal import principal_of
from ..auth.roles import Role
from .rendering import render

__all__ = ["EVENT_LIMITS", "human_size", "parse_event_query", "setup"]

EVENT_LIMITS: Final = (25, 50, 100, 200)
DEFAULT_EVENT_LIMIT: Final = 50
# Actions offered as suggestions in the filter form (any text is accepted).
COMMON_ACTIONS: Final = (
    "create", "start", "restart", "stop", "kill", "die", "oom", "pause", "unpause", "rename",
    "destroy", "pull", "tag", "untag", "delete", "import", "mount", "unmount", "connect",
    "disconnect", "prune",
)
_SIZE_UNITS: Final = ("B", "KB", "MB", "GB", "TB", "PB")
_FULL_ID: Final = re.compile(r"[0-9a-f]{64}")


def setup(app: web.Application) -> None:
    """Add the hosts and events pages' routes."""
    app.router.add_get("/hosts", hosts_page)
    app.router.add_get("/fragments/hosts/{host}/row", host_row)
    app.router.add_get("/fragments/hosts/{host}/info", host_info)
    app.router.add_get("/events", events_page)


# ---------------------------------------------------------------------------------------------
# hosts


def _may_manage(request: web.Request) -> bool:
    # Mirrors ROUTE_ROLES: adding, editing, testing and removing hosts are admin routes.
    principal = principal_of(request)
    return principal is not None and principal.role.allows(Role.ADMIN)


def _visible_hosts(request: web.Request) -> list[HostState]:
    states = core(request).hosts.states()
    key_scope = scope(request)
    if key_scope is not None:
        states = [s for s in states if key_scope.allows_host(s.slug)]
    return states


def _host_state(request: web.Request) -> HostState:
    """The host of the path; NotFound (404) also for a host outside an API key's scope."""
    slug = request.match_info["host"]
    key_scope = scope(request)
    if key_scope is not None and not key_scope.allows_host(slug):
        raise NotFound(f"unknown host '{slug}'", details={"host": slug})
    return core(request).hosts.get(slug).state()


def human_size(size: int) -> str:
    """Bytes in the largest unit that keeps the number at 1 or more (decimal units, as Docker).

    Args:
        size: A size in bytes.

    Returns:
        ``"0 B"``, ``"512 B"``, ``"1.5 GB"``...
    """
    value, unit = float(size), 0
    while abs(value) >= 1000 and unit < len(_SIZE_UNITS) - 1:
        value, unit = value / 1000, unit + 1
    return f"{size} B" if unit == 0 else f"{value:.1f} {_SIZE_UNITS[unit]}"


def _utc(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


def _is_full_id(value: str) -> bool:
    # Engine ids (a network event's container=...) are shown short, with the full one on hover.
    return _FULL_ID.fullmatch(value) is not None


_HELPERS: Final[Mapping[str, Any]] = {
    "human_size": human_size, "utc": _utc, "iso": format_datetime, "is_full_id": _is_full_id,
}


async def hosts_page(request: web.Request) -> web.StreamResponse:
    """Every Docker host with its status; management forms for admins."""
    context = {"hosts": _visible_hosts(request), "manage": _may_manage(request), **_HELPERS}
    return render(request, "hosts.html", context)


async def host_row(request: web.Request) -> web.StreamResponse:
    """One host's table row, as the hosts page shows it (404 for an unknown host)."""
    context = {"host": _host_state(request), "manage": _may_manage(request), **_HELPERS}
    return render(request, "hosts_row.html", context)


async def host_info(request: web.Request) -> web.StreamResponse:
    """One host's machine info and disk use; an unreachable engine gives a 502 fragment.

    ``?refresh=1`` reads the disk use again instead of taking the cached reading.
    """
    state = _host_state(request)
    refresh = request.query.get("refresh", "").lower() in ("1", "true", "yes")
    try:
        details = await core(request).host_info.details(state.slug, refresh=refresh)
    except (HostUnreachable, SecretUnavailable) as err:
        # Rendered, not a JSON error: the page shows the message where the details would be.
        context = {"host": state, "details": None, "error": err.message, **_HELPERS}
        return render(request, "hosts_info.html", context, status=502)
    context = {"host": details.host, "details": details, "error": None, **_HELPERS}
    return render(request, "hosts_info.html", context)


# ---------------------------------------------------------------------------------------------
# events


@dataclass(frozen=True, slots=True, kw_only=True)
class EventQuery:
    """The events page's query, validated: the filter, the page, and the form's values.

    Attributes:
        filter: What the event log is asked for.
        limit: Rows per page.
        offset: Rows skipped (newest first).
        values: The filters as the form shows them (only the ones given).
        errors: Field -> message for values that could not be used.
    """

    filter: EventFilter
    limit: int
    offset: int
    values: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)


_EVENT_QUERY: Final = vol.Schema(LIST_QUERY)
_FILTER_KEYS: Final = ("host", "type", "action", "name", "object")


def parse_event_query(query: Mapping[str, str]) -> EventQuery:
    """Validate the events page's query string with the API's own schema (``GET /events``):
    ``host``, ``type``, ``action``, ``name``, ``object``, ``limit`` and ``offset``.

    Empty values mean "any" (the filter form sends every field).

    Args:
        query: The request's query (last value of each key).

    Returns:
        The query; when ``errors`` is not empty its filter is empty and must not be used.
    """
    given = {key: query[key].strip() for key in (*_FILTER_KEYS, "limit", "offset")
             if query.get(key, "").strip()}
    given.setdefault("limit", str(DEFAULT_EVENT_LIMIT))
    values = {key: given[key] for key in _FILTER_KEYS if key in given}
    try:
        valid = _EVENT_QUERY(given)
    except vol.MultipleInvalid as err:
        errors = {format_path(e.path): e.msg for e in err.errors}
        limit = _EVENT_QUERY({"limit": given["limit"]}) if "limit" not in errors else {}
        return EventQuery(filter=EventFilter(), limit=limit.get("limit", DEFAULT_EVENT_LIMIT),
                          offset=0, values=values, errors=errors)
    kind = valid.get("type")
    flt = EventFilter(
        host=valid.get("host"),
        type=DockerObjectType(kind) if kind else None,
        action=valid.get("action"),
        name=valid.get("name"),
        object_id=valid.get("object"),
    )
    return EventQuery(filter=flt, limit=valid["limit"], offset=valid["offset"], values=values)


async def events_page(request: web.Request) -> web.StreamResponse:
    """Engine events of every host, newest first, filtered and paged; live on the first page."""
    parsed = parse_event_query(request.query)
    errors = dict(parsed.errors)
    status = 400 if errors else 200
    log = core(request).events
    events, total = [], 0
    if log is None:
        errors[""] = "the event log is not available in this mode"
        status = 503
    elif not errors:
        key_scope = scope(request)
        # A scoped API key sees the events of its hosts only (whole or through some of their
        # containers), as in the API.
        flt = parsed.filter if key_scope is None else replace(parsed.filter, hosts=tuple(sorted(
            {*key_scope.hosts, *(c.split("/", 1)[0] for c in key_scope.containers)})))
        events, total = await log.list(flt, limit=parsed.limit, offset=parsed.offset)
    limit, offset = parsed.limit, parsed.offset

    def page_url(start: int) -> str:
        return "/events?" + urlencode({**parsed.values, "limit": limit, "offset": start})

    hosts = [h.slug for h in _visible_hosts(request)]
    if "host" in parsed.values and parsed.values["host"] not in hosts:
        hosts.append(parsed.values["host"])  # a removed host's events stay in the log
    context = {
        "events": events, "total": total, "values": parsed.values, "errors": errors,
        "limit": limit, "offset": offset,
        "limits": sorted({*EVENT_LIMITS, limit}),
        "hosts": hosts, "types": [t.value for t in DockerObjectType],
        "actions": COMMON_ACTIONS,
        "filtered": bool(parsed.values),
        "live": not errors and offset == 0,
        "prev_url": page_url(max(offset - limit, 0)) if offset > 0 else None,
        "next_url": page_url(offset + limit) if offset + limit < total else None,
        **_HELPERS,
    }
    return render(request, "events.html", context, status=status)
