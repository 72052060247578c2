"""The images page and an image's detail page.

Routes:

- ``GET /images``: every image of every host, grouped by host, filtered and sorted by a GET
  form and the column headers (server-side; works without script), with each host's disk use
  per repository as an SVG chart. With the header ``X-Fragment: list`` only the list region
  (table and charts) is rendered: ``static/images.js`` swaps it in after image events, the end
  of a pull, or a lagged or reconnected live stream. ``?pull=<reference>&host=<slug>`` opens the
  pull dialog pre-filled (the script reads the address).
- ``GET /images/{host}/{ref}``: one image: summary, labels, environment (names only for
  viewers, as :mod:`..api.redact` decides), history, and the tag form for operators. ``ref`` is
  what the API takes: an id, a unique id prefix or a reference.

Every action (pull, delete, tag, prune, search) goes through the JSON API from the page's
script; these handlers only read. What is shown and how lives in :mod:`.image_view` and
:mod:`.disk_chart`.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from chrontainer_core.errors import ChrontainerError
from chrontainer_core.models import HostState, HostStatus

from ..api.context import core, scope
from ..api.redact import hides_env_values
from ..auth.errors import Forbidden
from ..auth.principal import principal_of
from ..auth.roles import Role
from ..middlewares import status_for
from .disk_chart import DiskChart, disk_chart
from .image_view import (
    DANGLING_CHOICES,
    ImageDetail,
    ImagesQuery,
    env_entries,
    group_images,
    history_rows,
    make_image_row,
)
from .rendering import render

__all__ = ["setup"]

NO_STORE: Final = "no-store"
# Seconds one host's disk use (the engine's /system/df) may take before its chart is left out:
# a slow host must not hold up the page.
DISK_USAGE_TIMEOUT: Final = 5.0


def setup(app: web.Application) -> None:
    """Add the images pages' routes."""
    app.router.add_get("/images", images_page)
    app.router.add_get("/images/{host}/{ref}", image_page)


def _roles(request: web.Request) -> dict[str, Any]:
    principal = principal_of(request)
    operate = principal is not None and principal.role.allows(Role.OPERATOR)
    admin = principal is not None and principal.role.allows(Role.ADMIN)
    # Columns: [select], repository, tags, id, size, created, containers, actions.
    return {"can_operate": operate, "is_admin": admin, "cols": 8 if operate else 7}


def _allowed(request: web.Request, host: str) -> bool:
    key_scope = scope(request)
    return key_scope is None or key_scope.allows_host(host)


async def _chart(request: web.Request, host: str) -> DiskChart | str:
    """A host's disk-use chart, or why there is none."""
    try:
        async with asyncio.timeout(DISK_USAGE_TIMEOUT):
            return disk_chart(await core(request).images.disk_usage(host))
    except TimeoutError:
        return f"the disk use of host {host} took too long to read"
    except ChrontainerError as err:
        return err.message


async def _list_context(request: web.Request, query: ImagesQuery) -> dict[str, Any]:
    now = datetime.now(UTC)
    ch = core(request)
    known = query.host in ch.hosts if query.host else True
    if known:
        listing = await ch.images.list(query.to_filter(now), sort=query.sort)
        hosts = {s: st for s, st in listing.hosts.items() if _allowed(request, s)}
        rows = [make_image_row(i, now) for i in listing.items if i.host in hosts]
    else:
        hosts, rows = {}, []  # a stale bookmark of a removed host: an empty list, not an error
    ordered = sorted(hosts.values(), key=lambda h: h.slug)
    online = [h.slug for h in ordered if h.status is HostStatus.ONLINE]
    charts = await asyncio.gather(*(_chart(request, slug) for slug in online))
    return {
        "query": query,
        "unknown_host": not known,
        "groups": group_images(rows, hosts, every_host=not query.filtered),
        "count": len(rows),
        "offline": [h for h in ordered if h.status is not HostStatus.ONLINE],
        "charts": list(zip(online, charts, strict=True)),
        **_roles(request),
    }


def _all_hosts(request: web.Request) -> list[HostState]:
    """Every host the caller may use, for the pull, prune and search host pickers."""
    states = core(request).hosts.states()
    return sorted((h for h in states if _allowed(request, h.slug)), key=lambda h: h.slug)


async def images_page(request: web.Request) -> web.StreamResponse:
    """Every image of every host, filtered, sorted and grouped by host."""
    query = ImagesQuery.parse(request.query)
    context = await _list_context(request, query)
    partial = request.headers.get("X-Fragment") == "list"
    if not partial:
        context.update(all_hosts=_all_hosts(request), dangling_choices=DANGLING_CHOICES)
    response = render(request, "images_list.html" if partial else "images.html", context)
    response.headers["Cache-Control"] = NO_STORE
    return response


async def image_page(request: web.Request) -> web.StreamResponse:
    """One image: summary, labels, environment, history; the tag form for operators."""
    host, ref = request.match_info["host"], request.match_info["ref"]
    if not _allowed(request, host):
        raise Forbidden(f"this API key is not scoped to host '{host}'")
    images = core(request).images
    now = datetime.now(UTC)
    try:
        image = await images.get(host, ref)
        document = await images.inspect(host, image.id)
    except ChrontainerError as err:
        context = {"host": host, "ref": ref, "message": err.message, "code": err.code}
        return render(request, "images_missing.html", context, status=status_for(err))
    history_error = None
    try:
        history = history_rows(await images.history(host, image.id), now)
    except ChrontainerError as err:
        history, history_error = [], err.message
    hide = hides_env_values(request)
    config = document.get("Config")
    labels = config.get("Labels") if isinstance(config, dict) else None
    detail = ImageDetail(
        row=make_image_row(image, now),
        architecture=str(document.get("Architecture") or ""),
        os=str(document.get("Os") or ""),
        labels=sorted((str(k), str(v)) for k, v in (labels or {}).items()),
        env=env_entries(document, hide_values=hide),
        hide_values=hide,
        history=history,
        history_error=history_error,
    )
    host_state = core(request).hosts.get(host).state()
    response = render(request, "images_detail.html",
                      {"d": detail, "host_state": host_state, **_roles(request)})
    response.headers["Cache-Control"] = NO_STORE
    return response
