"""One container's pages: logs viewer, inspect, processes.

Each page has the same header (``container_header.html``: name, host, state, the three tabs
and the way back to the list). The container is looked up like the API does (``ref``: name,
full id or unique id prefix); one that cannot be found, or whose host is unknown, gets a
page saying so with the status the error middleware would give (404, 409 for an ambiguous
ref), not a bare JSON error.

- **Logs** (``/containers/{host}/{ref}/logs``): the page is a shell; ``static/logs.js`` reads
  the logs API (a JSON list, or NDJSON while following) and builds the lines. Without
  JavaScript the page says so and offers the download.
- **Inspect** (``.../inspect``): the engine's inspect document as a tree of nested
  ``<details>``, rendered here (autoescaped: engine data is never marked safe), with the raw
  JSON beside it; ``static/inspect.js`` adds search, expand/collapse all and copy. Viewers
  get ``Config.Env`` values removed (``api/redact.py``).
- **Processes** (``.../top``): the container's process table. A stopped container, or an
  offline host, is a state of the page rather than an error page. The refresh button asks
  htmx for the same URL and gets only the table's panel back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, urlencode

from aiohttp import web

from chrontainer_core import Container, ProcessList
from chrontainer_core.errors import ChrontainerError, Conflict

from ..api.context import core
from ..api.redact import hides_env_values, redact_inspect
from ..middlewares import status_for
from .rendering import render

__all__ = ["InspectNode", "LogOptions", "inspect_tree", "setup"]

PAGE: Final = "/containers/{host}/{ref}"
TAILS: Final = ("100", "500", "1000", "5000", "all")
DEFAULT_TAIL: Final = "500"
# Top-level sections of an inspect document shown open; the rest start collapsed.
OPEN_SECTIONS: Final = frozenset({"State"})
_TRUE: Final = frozenset({"1", "true", "on", "yes"})
_FALSE: Final = frozenset({"0", "false", "off", "no"})


def setup(app: web.Application) -> None:
    """Add the container pages' routes."""
    app.router.add_get(PAGE + "/logs", logs_page)
    app.router.add_get(PAGE + "/inspect", inspect_page)
    app.router.add_get(PAGE + "/top", top_page)


# -- the logs viewer ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class LogOptions:
    """The viewer's choices, from the page's query string (invalid values fall back).

    Attributes:
        tail: One of :data:`TAILS`.
        timestamps: Show each line's time.
        follow: Keep reading new lines.
    """

    tail: str = DEFAULT_TAIL
    timestamps: bool = False
    follow: bool = True

    @classmethod
    def from_query(cls, query: Any) -> LogOptions:
        """Read ``tail``, ``timestamps`` and ``follow``; a page never answers 400 for them."""
        tail = _last(query, "tail") or DEFAULT_TAIL
        return cls(
            tail=tail if tail in TAILS else DEFAULT_TAIL,
            timestamps=_flag(_last(query, "timestamps"), default=False),
            follow=_flag(_last(query, "follow"), default=True),
        )


def _last(query: Any, name: str) -> str | None:
    # The form sends follow=false then, when the box is ticked, follow=true: the last counts.
    values = query.getall(name, [])
    return str(values[-1]) if values else None


def _flag(value: str | None, *, default: bool) -> bool:
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return default


async def logs_page(request: web.Request) -> web.StreamResponse:
    """The logs viewer's shell; ``logs.js`` fetches and follows the lines."""
    found = await _container_or_page(request)
    if isinstance(found, web.Response):
        return found
    options = LogOptions.from_query(request.query)
    api = _api_url(found)
    download_query = urlencode({"tail": options.tail,
                                "timestamps": str(options.timestamps).lower()})
    return render(request, "container_logs.html", {
        **_header(request, found, "logs"),
        "options": options,
        "tails": TAILS,
        "logs_url": api + "/logs",
        "download_url": api + "/logs/download",
        "download_href": f"{api}/logs/download?{download_query}",
    })


# -- inspect -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class InspectNode:
    """One key of an inspect document, as the tree shows it.

    Attributes:
        key: The key, or the index of an array item.
        kind: ``object``, ``array``, ``string``, ``number``, ``boolean`` or ``null``.
        text: A scalar's JSON text (strings quoted); for a branch, its size ("3 keys").
        children: A branch's members; empty for scalars and empty branches.
        index: True for array items (the key is a position, not a name).
    """

    key: str
    kind: str
    text: str
    children: tuple[InspectNode, ...] = ()
    index: bool = False

    @property
    def branch(self) -> bool:
        """True when the node has members to fold."""
        return bool(self.children)


def inspect_tree(document: dict[str, Any]) -> tuple[InspectNode, ...]:
    """The top-level nodes of an inspect document, in the engine's key order."""
    return tuple(_node(str(key), value) for key, value in document.items())


def _node(key: str, value: Any, *, index: bool = False) -> InspectNode:
    if isinstance(value, dict):
        children = tuple(_node(str(k), v) for k, v in value.items())
        size = f"{len(children)} key{'' if len(children) == 1 else 's'}"
        return InspectNode(key=key, kind="object", text=size if children else "{}",
                           children=children, index=index)
    if isinstance(value, list):
        items = tuple(_node(str(i), v, index=True) for i, v in enumerate(value))
        size = f"{len(items)} item{'' if len(items) == 1 else 's'}"
        return InspectNode(key=key, kind="array", text=size if items else "[]",
                           children=items, index=index)
    if value is None:
        kind = "null"
    elif isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, int | float):
        kind = "number"
    else:
        kind = "string"
    return InspectNode(key=key, kind=kind, text=json.dumps(value, ensure_ascii=False),
                       index=index)


async def inspect_page(request: web.Request) -> web.StreamResponse:
    """The inspect document as a collapsible tree, and as raw JSON."""
    found = await _container_or_page(request)
    if isinstance(found, web.Response):
        return found
    context = _header(request, found, "inspect")
    try:
        document = await core(request).containers.inspect(found.host, found.id)
    except ChrontainerError as err:
        # The container was found (maybe from an offline host's last known state) but the
        # engine cannot say more now: the page shows why, with the error's status.
        return render(request, "container_inspect.html",
                      {**context, "error": err.message, "tree": (), "raw": ""},
                      status=status_for(err))
    if hides_env_values(request):
        document = redact_inspect(document)
    return render(request, "container_inspect.html", {
        **context,
        "error": None,
        "tree": inspect_tree(document),
        "open_sections": OPEN_SECTIONS,
        "raw": json.dumps(document, indent=2, ensure_ascii=False),
    })


# -- processes ---------------------------------------------------------------------------------


async def top_page(request: web.Request) -> web.StreamResponse:
    """The process table; htmx refreshes (``HX-Request``) get only its panel back."""
    partial = request.headers.get("HX-Request") == "true"
    found = await _container_or_page(request, partial=partial)
    if isinstance(found, web.Response):
        return found
    processes: ProcessList | None = None
    stopped: str | None = None
    error: str | None = None
    status = 200
    try:
        processes = await core(request).containers.top(found.host, found.id)
    except Conflict as err:
        stopped = err.message  # not running: a state of the page, not a failure
    except ChrontainerError as err:
        error = err.message
        # htmx swaps 2xx answers only (and 400/409): a refresh shows the problem in the panel.
        status = 200 if partial else status_for(err)
    context = {
        **_header(request, found, "top"),
        "processes": processes,
        "stopped": stopped,
        "error": error,
        "read_at": datetime.now(UTC).strftime("%H:%M:%S UTC"),
        "refresh_url": _page_url(found, "top"),
    }
    template = "container_top_panel.html" if partial else "container_top.html"
    return render(request, template, context, status=status)


# -- shared ------------------------------------------------------------------------------------


async def _container_or_page(
    request: web.Request, *, partial: bool = False
) -> Container | web.Response:
    """The container the URL names, or the page telling why there is none."""
    host, ref = request.match_info["host"], request.match_info["ref"]
    try:
        return await core(request).containers.get(host, ref)
    except ChrontainerError as err:
        context = {"host": host, "ref": ref, "message": err.message, "code": err.code}
        if partial:
            # An htmx refresh of a container that went away: say so in the panel.
            return render(request, "container_missing_panel.html", context)
        return render(request, "container_missing.html", context, status=status_for(err))


def _header(request: web.Request, c: Container, tab: str) -> dict[str, Any]:
    """What ``container_header.html`` shows: the container, its host and the tabs."""
    host = core(request).hosts.get(c.host).state()
    return {
        "container": c,
        "host_state": host,
        "tab": tab,
        "tabs": (("logs", "Logs"), ("inspect", "Inspect"), ("top", "Processes")),
        "page_url": lambda name: _page_url(c, name),
    }


def _page_url(c: Container, name: str) -> str:
    return f"/containers/{quote(c.host, safe='')}/{quote(c.name, safe='')}/{name}"


def _api_url(c: Container) -> str:
    return f"/api/v1/hosts/{quote(c.host, safe='')}/containers/{quote(c.name, safe='')}"
