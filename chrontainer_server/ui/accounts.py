"""Account pages: login, first-admin setup, one's profile, user administration, the audit trail.

The pages are server-rendered shells; the forms on them call the JSON API through small ES
modules (``static/login.js``, ``profile.js``, ``users.js``), which send the session's CSRF
token from ``<meta name="csrf-token">``. The audit page alone is rendered fully here: it only
reads, so a plain ``GET`` form with its filters and limit/offset links needs no script.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web

from chrontainer_core import ActorKind

from ..api.context import core
from ..auth.service import AUTH

__all__ = ["safe_next", "setup"]

Render = Callable[..., web.Response]
AUDIT_LIMITS: Final = (25, 50, 100, 200)
_RENDER: Final = web.AppKey("chrontainer_ui_render", Callable[..., web.Response])


def setup(app: web.Application, render: Render) -> None:
    """Add the account pages to ``app``; ``render`` is the UI's template renderer."""
    app[_RENDER] = render
    app.router.add_get("/login", login_page)
    app.router.add_get("/setup", setup_page)
    app.router.add_get("/profile", profile_page)
    app.router.add_get("/users", users_page)
    app.router.add_get("/audit", audit_page)


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a same-site path only, else ``/containers``.

    ``//host`` and ``/\\host`` are protocol-relative to browsers, so only a single leading
    slash followed by something else is accepted: never an open redirect.
    """
    if not value or not value.startswith("/") or value[1:2] in ("/", "\\"):
        return "/containers"
    if any(ord(ch) < 0x20 for ch in value):
        return "/containers"
    return value


async def login_page(request: web.Request) -> web.StreamResponse:
    """The login form (password, then the second factor when the account has one)."""
    return request.app[_RENDER](request, "login.html",
                                {"next": safe_next(request.query.get("next"))})


async def setup_page(request: web.Request) -> web.StreamResponse:
    """The first admin's form; says so at once when setup is already done."""
    pending = request.app[AUTH].setup.pending
    return request.app[_RENDER](request, "setup.html", {
        "token": request.query.get("token", ""), "pending": pending,
    })


async def profile_page(request: web.Request) -> web.StreamResponse:
    """One's password, second factor, sessions and API keys (filled in by ``profile.js``)."""
    return request.app[_RENDER](request, "profile.html", {})


async def users_page(request: web.Request) -> web.StreamResponse:
    """The account administration table (filled in by ``users.js``)."""
    return request.app[_RENDER](request, "users.html", {})


def _int(value: str | None, default: int, lowest: int, highest: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return min(max(number, lowest), highest)


async def audit_page(request: web.Request) -> web.StreamResponse:
    """The audit trail, newest first, with filters and limit/offset paging."""
    query = request.query
    filters = {key: query[key].strip()[:512] for key in ("action", "actor_kind", "target")
               if query.get(key, "").strip()}
    if filters.get("actor_kind") not in (None, *[k.value for k in ActorKind]):
        filters.pop("actor_kind")
    limit = _int(query.get("limit"), 50, 1, 500)
    offset = _int(query.get("offset"), 0, 0, 2**31 - 1)
    entries, total = await core(request).audit.list(limit=limit, offset=offset, **filters)

    def page_url(start: int) -> str:
        return "/audit?" + urlencode({**filters, "limit": limit, "offset": start})

    context: Mapping[str, Any] = {
        "entries": entries, "total": total, "filters": filters, "limit": limit,
        "offset": offset, "limits": AUDIT_LIMITS,
        "actor_kinds": [k.value for k in ActorKind],
        "prev_url": page_url(max(offset - limit, 0)) if offset > 0 else None,
        "next_url": page_url(offset + limit) if offset + limit < total else None,
    }
    return request.app[_RENDER](request, "audit.html", context)
