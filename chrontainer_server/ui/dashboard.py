"""The containers dashboard (the home page) and its server-rendered fragments.

Routes:

- ``GET /containers``: every container of every host from the core's cache, grouped and
  filtered by a GET form (works without script). With the header ``X-Fragment: list`` only the
  list region is rendered: the page's script swaps it in after the live stream lagged or
  reconnected.
- ``GET /fragments/containers/{host}/{ref}/row``: one row, rendered by the same template as
  the page's rows, for the page's current query. ``204`` when the container no longer matches
  it (the script then drops the row), ``404`` when it is gone.
- ``GET /fragments/containers/{host}/{ref}/details``: a row's details, fetched on expand; the
  engine's inspect document is read only here, and only for the health log.
- ``GET /tags.css``: one rule per tag colour (``.tag-<id>``): the CSP forbids ``style=""``.

What is shown and how it is formatted lives in :mod:`.dashboard_view`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from chrontainer_core import Container
from chrontainer_core.containers import ContainerListing
from chrontainer_core.errors import ChrontainerError, NotFound
from chrontainer_core.models import ContainerMeta, ContainerState, HostStatus, Tag
from chrontainer_core.tag_rules import Colour
from chrontainer_core.updates.models import UpdateCheck

from ..api.context import core, scope
from ..api.redact import hides_env_values
from ..auth.errors import Forbidden
from ..auth.principal import principal_of
from ..auth.roles import Role
from .dashboard_view import (
    ACTIONS_BY_STATE,
    DashboardQuery,
    DetailsView,
    accepts,
    engine_address,
    env_rows,
    group_key,
    group_rows,
    health_log,
    make_row,
    port_links,
    row_dom_id,
    safe_web_url,
)
from .rendering import render

__all__ = ["setup"]

NO_STORE: Final = "no-store"
_STATES: Final = tuple(s.value for s in ContainerState)


def setup(app: web.Application) -> None:
    """Add the dashboard's routes."""
    app.router.add_get("/containers", containers_page)
    app.router.add_get("/fragments/containers/{host}/{ref}/row", row_fragment)
    app.router.add_get("/fragments/containers/{host}/{ref}/details", details_fragment)
    app.router.add_get("/tags.css", tags_css)


# -- tags ----------------------------------------------------------------------------------------


def _tags(request: web.Request) -> list[Tag]:
    service = core(request).tags  # None in library mode only; kept safe anyway
    return service.tags() if service is not None else []


def _meta(request: web.Request, c: Container) -> ContainerMeta:
    service = core(request).tags
    return service.meta(c.host, c.key) if service is not None else ContainerMeta(
        host=c.host, key=c.key)


def _update(request: web.Request, c: Container) -> UpdateCheck | None:
    """The container's last update check (kept in memory by the core)."""
    return core(request).updates.status(c.host, c.key)


def _ink(colour: str) -> str:
    """Black or white text, whichever reads better on ``colour`` (#rrggbb)."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return "#111" if (0.299 * r + 0.587 * g + 0.114 * b) > 150 else "#fff"


def _stylesheet(tags: list[Tag]) -> tuple[str, str]:
    """The tag colours stylesheet and its version (a hash of the text)."""
    # Only well-formed colours reach the CSS: a value is never able to close the rule.
    text = "".join(f".tag-{t.id}{{background:{t.colour};color:{_ink(t.colour)}}}\n"
                   for t in tags if accepts(Colour(), t.colour))
    return text, hashlib.sha256(text.encode()).hexdigest()[:12]


async def tags_css(request: web.Request) -> web.StreamResponse:
    """The tag colours as CSS, revalidated by ETag; immutable under its current version URL."""
    text, version = _stylesheet(_tags(request))
    etag = f'"{version}"'
    # The page links /tags.css?v=<version>: that URL's content never changes, so it is
    # cached for good; a tag change gives the page a new URL. Any other URL revalidates.
    cache = ("private, max-age=31536000, immutable" if request.query.get("v") == version
             else "private, no-cache")
    headers = {"ETag": etag, "Cache-Control": cache}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(text=text, content_type="text/css", headers=headers)


# -- the page ------------------------------------------------------------------------------------


def _roles(request: web.Request) -> dict[str, Any]:
    principal = principal_of(request)
    operate = principal is not None and principal.role.allows(Role.OPERATOR)
    # Columns: [select], name, state, image, CPU, memory, uptime, ports, actions.
    return {"can_operate": operate, "cols": 9 if operate else 8}


# What the shared actions menu offers per state: sent once with the page, not with each row.
_ACTIONS_JSON: Final = json.dumps({s.value: " ".join(a) for s, a in ACTIONS_BY_STATE.items()},
                                  separators=(",", ":"))


def _visible(request: web.Request, c: Container) -> bool:
    key_scope = scope(request)
    return key_scope is None or key_scope.allows_container(c.host, c.key)


def _list_context(
    request: web.Request, query: DashboardQuery, listing: ContainerListing
) -> dict[str, Any]:
    key_scope = scope(request)
    hosts = {slug: st for slug, st in listing.hosts.items()
             if key_scope is None or key_scope.allows_host(slug)}
    browser_host = request.url.host or "localhost"
    addresses = {slug: engine_address(st, browser_host) for slug, st in hosts.items()}
    now = datetime.now(UTC)
    rows = []
    for c, metrics in zip(listing.items, listing.metrics, strict=True):
        if c.host not in hosts or not _visible(request, c):
            continue
        meta = _meta(request, c)
        if query.matches(c, meta):
            rows.append(make_row(c, metrics=metrics, meta=meta, group=group_key(c, query.group),
                                 address=addresses[c.host], now=now,
                                 update=_update(request, c)))
    rows.sort(key=lambda r: (r.c.name.lower(), r.c.host))
    tags = _tags(request)
    return {
        "query": query,
        "groups": group_rows(rows, query.group, hosts, every_host=not query.filtered),
        "count": len(rows),
        "hosts": sorted(hosts.values(), key=lambda h: h.slug),
        "offline": [h for h in sorted(hosts.values(), key=lambda h: h.slug)
                    if h.status is not HostStatus.ONLINE],
        "states": _STATES,
        "tags": tags,
        "tags_css": f"/tags.css?v={_stylesheet(tags)[1]}",
        "actions_by_state": _ACTIONS_JSON,
        **_roles(request),
    }


async def containers_page(request: web.Request) -> web.StreamResponse:
    """Every container of every host, from the core's cache, filtered and grouped."""
    query = DashboardQuery.parse(request.query)
    listing = await core(request).containers.list()
    context = _list_context(request, query, listing)
    partial = request.headers.get("X-Fragment") == "list"
    response = render(request, "containers_list.html" if partial else "containers.html", context)
    response.headers["Cache-Control"] = NO_STORE
    return response


# -- fragments -----------------------------------------------------------------------------------


async def _container(request: web.Request) -> Container:
    """The container of a fragment URL; 404 when unknown, 403 outside an API key's scope."""
    c = await core(request).containers.get(request.match_info["host"], request.match_info["ref"])
    if not _visible(request, c):
        raise Forbidden(f"this API key is not scoped to '{c.host}/{c.key}'")
    return c


async def row_fragment(request: web.Request) -> web.StreamResponse:
    """One row for the page's query, or 204 when the container no longer matches it (or no
    longer exists: a container created and removed at once still sends its change events,
    and the page only needs to drop the row, not to log a failed load)."""
    query = DashboardQuery.parse(request.query)
    try:
        c = await _container(request)
    except NotFound:
        if request.match_info["host"] not in core(request).hosts:
            raise  # an unknown host is a bad URL, not a vanished container
        return web.Response(status=204, headers={"Cache-Control": NO_STORE})
    meta = _meta(request, c)
    if not query.matches(c, meta):
        return web.Response(status=204, headers={"Cache-Control": NO_STORE})
    state = core(request).hosts.get(c.host).state()
    row = make_row(c, metrics=core(request).containers.latest_metrics(c), meta=meta,
                   group=group_key(c, query.group),
                   address=engine_address(state, request.url.host or "localhost"),
                   update=_update(request, c))
    response = render(request, "containers_row.html", {"row": row, **_roles(request)})
    response.headers["Cache-Control"] = NO_STORE
    return response


async def details_fragment(request: web.Request) -> web.StreamResponse:
    """A row's details: ports, networks, mounts, environment, labels, health log, links."""
    c = await _container(request)
    health, health_error = [], None
    if c.health is not None and not c.stale:
        # Only the health log needs the engine's inspect document; read it on expand only.
        try:
            health = health_log(await core(request).containers.inspect(c.host, c.id))
        except ChrontainerError as err:
            health_error = err.message
    hide = hides_env_values(request)
    meta = _meta(request, c)
    state = core(request).hosts.get(c.host).state()
    view = DetailsView(
        c=c, dom_id=row_dom_id(c.host, c.id), env=env_rows(c, hide_values=hide),
        hide_values=hide, health=health, health_error=health_error, meta=meta,
        all_tags=_tags(request),
        ports=port_links(c, engine_address(state, request.url.host or "localhost")),
        web_url=safe_web_url(meta.web_url), update=_update(request, c),
    )
    response = render(request, "containers_details.html", {"d": view, **_roles(request)})
    response.headers["Cache-Control"] = NO_STORE
    return response
