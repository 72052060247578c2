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

__all__ = ["HTML", "NAV", "UI_STATE", "NavGroup", "NavItem", "UiState", "render", "visible_nav"]

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


@dataclass(frozen=True, slots=True)
class NavGroup:
    """Entries shown under one disclosure (``<details>``) of the top bar.

    The top bar has room for about a dozen entries at 1280 px; the admin pages share one.
    A group whose entries the user may not see is left out.
    """

    label: str
    items: tuple[NavItem, ...]

    def current(self, path: str) -> bool:
        """True when ``path`` is one of the group's pages (the summary is marked too)."""
        return self.current_item(path) is not None

    def current_item(self, path: str) -> NavItem | None:
        """The entry ``path`` belongs to: the longest matching prefix, so /settings/mqtt
        marks "MQTT" and not "Settings" as well."""
        matches = [item for item in self.items if path.startswith(item.href)]
        return max(matches, key=lambda item: len(item.href)) if matches else None


NAV: Final = (
    NavItem("/containers", "Containers"),
    NavItem("/images", "Images"),
    NavItem("/volumes", "Volumes"),
    NavItem("/networks", "Networks"),
    NavItem("/updates", "Updates"),
    NavItem("/schedules", "Schedules"),
    NavItem("/webhooks", "Webhooks"),
    NavItem("/activity", "Activity"),
    NavItem("/hosts", "Hosts"),
    NavItem("/events", "Events"),
    NavGroup("Admin", (
        NavItem("/settings", "Settings", Role.ADMIN),
        NavItem("/settings/mqtt", "MQTT", Role.ADMIN),
        NavItem("/notifications", "Notifications", Role.ADMIN),
        NavItem("/users", "Users", Role.ADMIN),
        NavItem("/audit", "Audit", Role.ADMIN),
    )),
)


def visible_nav(role: Role | None) -> list[NavItem | NavGroup]:
    """The entries of :data:`NAV` a user of ``role`` may follow (None: anonymous, none)."""
    if role is None:
        return []
    shown: list[NavItem | NavGroup] = []
    for entry in NAV:
        if isinstance(entry, NavGroup):
            items = tuple(item for item in entry.items if role.allows(item.role))
            if items:
                shown.append(NavGroup(entry.label, items))
        elif role.allows(entry.role):
            shown.append(entry)
    return shown


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
    nav = visible_nav(principal.role if principal is not None else None)
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
