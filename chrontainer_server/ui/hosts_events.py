"""The hosts page and the events page."""

from __future__ import annotations

from aiohttp import web

from ..api.context import core
from .rendering import render

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    """Add the hosts and events pages' routes."""
    app.router.add_get("/hosts", hosts_page)


async def hosts_page(request: web.Request) -> web.StreamResponse:
    """Every Docker host with its status."""
    return render(request, "hosts.html", {"hosts": core(request).hosts.states()})
