"""The containers dashboard (the home page) and its server-rendered fragments."""

from __future__ import annotations

from aiohttp import web

from ..api.context import core
from .rendering import render

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    """Add the dashboard's routes."""
    app.router.add_get("/containers", containers_page)


async def containers_page(request: web.Request) -> web.StreamResponse:
    """Every container of every host, from the core's cache."""
    listing = await core(request).containers.list()
    items = sorted(listing.items, key=lambda c: (c.host, c.name.lower()))
    offline = [h for h in listing.hosts.values() if h.status.value != "online"]
    return render(request, "containers.html", {"containers": items, "offline_hosts": offline})
