"""Where handlers find the core runtime and who is asking."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from chrontainer_core import Actor, ActorKind, Chrontainer

CORE: Final = web.AppKey("chrontainer_core", Chrontainer)


def core(request: web.Request) -> Chrontainer:
    """The runtime serving this request."""
    return request.app[CORE]


def actor(request: web.Request) -> Actor:
    """The actor of an HTTP request (the accounts issue replaces this with the logged-in user)."""
    return Actor(kind=ActorKind.USER, id="anonymous", name="anonymous", source_ip=request.remote)
