"""The volumes page and a volume's file browser.

Routes:

- ``GET /volumes``: every volume of every host, grouped by host, filtered and sorted by a GET
  form and the column headers (server-side; works without script), with each host's largest
  volumes as an SVG size chart. With the header ``X-Fragment: list`` only the list region
  (table and charts) is rendered: ``static/volumes.js`` swaps it in after volume events or the
  page's own actions.
- ``GET /volumes/{host}/{name}?path=``: one directory of a volume (read-only): breadcrumbs and
  entries; directories are links, so back, forward and reload work. Operators also get file
  previews (fetched by ``static/volume_browser.js`` from the API) and backup and restore.

Every action (create, delete, prune, restore, preview) goes through the JSON API from the page's
scripts; these handlers only read. What is shown and how lives in :mod:`.volume_view`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from chrontainer_core.errors import ChrontainerError
from chrontainer_core.models import HostState, HostStatus, Volume
from chrontainer_core.volumes.service import VolumeFilter

from ..api.context import core, scope
from ..auth.errors import Forbidden
from ..auth.principal import principal_of
from ..auth.roles import Role
from ..middlewares import status_for
from .rendering import render
from .volume_view import (
    IN_USE_CHOICES,
    VolumesQuery,
    breadcrumbs,
    entry_rows,
    group_volumes,
    make_volume_row,
    volume_chart,
)

__all__ = ["setup"]

NO_STORE: Final = "no-store"
MAX_PATH: Final = 4096


def setup(app: web.Application) -> None:
    """Add the volumes pages' routes."""
    app.router.add_get("/volumes", volumes_page)
    app.router.add_get("/volumes/{host}/{name}", browser_page)


def _can_operate(request: web.Request, host: str | None = None) -> bool:
    """Operators get the controls; a host-scoped API key only on hosts it holds whole (the
    API refuses the rest: volumes are shared by a host's containers)."""
    principal = principal_of(request)
    if principal is None or not principal.role.allows(Role.OPERATOR):
        return False
    key_scope = scope(request)
    return key_scope is None or host is None or key_scope.allows_whole_host(host)


def _allowed(request: web.Request, host: str) -> bool:
    key_scope = scope(request)
    return key_scope is None or key_scope.allows_host(host)


def _all_hosts(request: web.Request) -> list[HostState]:
    """Every host the caller may use, for the host pickers."""
    states = core(request).hosts.states()
    return sorted((h for h in states if _allowed(request, h.slug)), key=lambda h: h.slug)


def _charts(volumes: Iterable[Volume], online: list[str]) -> list[Any]:
    by_host: dict[str, list[Volume]] = {slug: [] for slug in online}
    for v in volumes:
        if v.host in by_host:
            by_host[v.host].append(v)
    return [volume_chart(slug, items) for slug, items in by_host.items()]


async def _list_context(request: web.Request, query: VolumesQuery) -> dict[str, Any]:
    now = datetime.now(UTC)
    ch = core(request)
    known = query.host in ch.hosts if query.host else True
    if known:
        flt = VolumeFilter(host=query.host or None, name=query.name or None,
                           driver=query.driver or None, in_use=query.in_use_flag)
        listing = await ch.volumes.list(flt, sort=query.sort)
        hosts = {s: st for s, st in listing.hosts.items() if _allowed(request, s)}
        volumes = [v for v in listing.items if v.host in hosts]
    else:
        hosts, volumes = {}, []  # a stale bookmark of a removed host: an empty list
    rows = [make_volume_row(v, now) for v in volumes]
    ordered = sorted(hosts.values(), key=lambda h: h.slug)
    online = [h.slug for h in ordered if h.status is HostStatus.ONLINE]
    return {
        "query": query,
        "unknown_host": not known,
        "groups": group_volumes(rows, hosts, every_host=not query.filtered),
        "count": len(rows),
        "offline": [h for h in ordered if h.status is not HostStatus.ONLINE],
        "charts": _charts(volumes, online),
        "can_operate": _can_operate(request),
    }


async def volumes_page(request: web.Request) -> web.StreamResponse:
    """Every volume of every host, filtered, sorted and grouped by host."""
    query = VolumesQuery.parse(request.query)
    context = await _list_context(request, query)
    partial = request.headers.get("X-Fragment") == "list"
    if not partial:
        context.update(all_hosts=_all_hosts(request), in_use_choices=IN_USE_CHOICES)
    response = render(request, "volumes_list.html" if partial else "volumes.html", context)
    response.headers["Cache-Control"] = NO_STORE
    return response


async def browser_page(request: web.Request) -> web.StreamResponse:
    """One directory of a volume; errors (unknown volume or path, a symlink) as a message."""
    host, name = request.match_info["host"], request.match_info["name"]
    if not _allowed(request, host):
        raise Forbidden(f"this API key is not scoped to host '{host}'")
    path = request.query.get("path", "")[:MAX_PATH].strip("/")
    context: dict[str, Any] = {
        "host": host, "name": name, "path": path,
        "crumbs": breadcrumbs(host, name, path),
        "can_operate": _can_operate(request, host),
        "listing": None, "rows": [], "error": None,
    }
    status = 200
    try:
        listing = await core(request).volume_browser.browse(host, name, path)
    except ChrontainerError as err:
        context.update(error=err.message, code=err.code)
        status = status_for(err)
    else:
        context.update(listing=listing, rows=entry_rows(listing, datetime.now(UTC)))
    response = render(request, "volume_browser.html", context, status=status)
    response.headers["Cache-Control"] = NO_STORE
    return response
