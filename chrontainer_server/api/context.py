"""Where handlers find the core runtime and who is asking."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from chrontainer_core import Actor, Chrontainer
from chrontainer_server.auth.apikeys import KeyScope
from chrontainer_server.auth.principal import actor_of, principal_of

CORE: Final = web.AppKey("chrontainer_core", Chrontainer)


def core(request: web.Request) -> Chrontainer:
    """The runtime serving this request."""
    return request.app[CORE]


def actor(request: web.Request) -> Actor:
    """The actor of an HTTP request: the logged-in user or API key (set by the auth middleware)."""
    return actor_of(request)


def scope(request: web.Request) -> KeyScope | None:
    """The API-key scope limiting this request; None when unscoped (sessions, unscoped keys)."""
    principal = principal_of(request)
    return principal.scope if principal is not None else None
