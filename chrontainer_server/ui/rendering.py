"""Rendering a page: the template environment, the navigation and the base context.

Every UI module renders through :func:`render`, so every page gets the same navigation, CSRF
token and compression.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import jinja2
from aiohttp import web

from ..api.context import core
from ..auth.principal import principal_of
from ..auth.roles import Role
from .assets import Assets

__all__ = ["HTML", "NAV", "UI_STATE", "NavItem", "UiState", "render"]

HTML: Final = "text/html"


@dataclass(frozen=True, slots=True)
class NavItem:
    """A top navigation entry; a section appears here once its feature exists.

    ``role`` mirrors the page's entry in ``ROUTE_ROLES``: a link the user could only follow
    to a 403 is not shown.
    """

    href: str
    label: str
    role: Role = Role.VIEWER


NAV: Final = (
    NavItem("/containers", "Containers"),
    NavItem("/images", "Images"),
    NavItem("/updates", "Updates"),
    NavItem("/schedules", "Schedules"),
    NavItem("/webhooks", "Webhooks"),
    NavItem("/activity", "Activity"),
    NavItem("/hosts", "Hosts"),
    NavItem("/events", "Events"),
    NavItem("/settings", "Settings", Role.ADMIN),
    NavItem("/notifications", "Notifications", Role.ADMIN),
    NavItem("/users", "Users", Role.ADMIN),
    NavItem("/audit", "Audit", Role.ADMIN),
)


@dataclass(slots=True)
class UiState:
    """The template environment and static files of one application."""

    env: jinja2.Environment
    assets: Assets


UI_STATE: Final = web.AppKey("chrontainer_ui", UiState)


def render(
    request: web.Request, template: str, context: Mapping[str, Any], *, status: int = 200
) -> web.Response:
    """Render ``template`` into a compressed HTML response.

    The base context gives every page the instance name, the navigation and, for a session,
    its CSRF token, which forms send in the ``X-CSRF-Token`` header (through htmx). Anonymous
    pages (login, setup) get no navigation.
    """
    settings = core(request).settings
    principal = principal_of(request)
    session = principal.session if principal is not None else None
    nav = [item for item in NAV if principal is not None and principal.role.allows(item.role)]
    page = {
        "instance_name": settings.current.instance_name if settings else "Chrontainer",
        "nav": nav,
        "path": request.path,
        "username": principal.username if principal is not None else None,
        "csrf_token": session.csrf_token if session is not None else None,
        **context,
    }
    text = request.app[UI_STATE].env.get_template(template).render(page)
    response = web.Response(text=text, status=status, content_type=HTML)
    response.enable_compression()  # gzip/deflate when the client accepts it
    return response
