"""Where handlers find the core runtime and who is asking."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from aiohttp import web

from chrontainer_core import Actor, BulkTarget, Chrontainer
from chrontainer_core.errors import ChrontainerError
from chrontainer_server.auth.apikeys import KeyScope
from chrontainer_server.auth.errors import Forbidden
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


def require_whole_host(request: web.Request, host: str) -> None:
    """A scoped API key changes host-wide things (images, volumes, networks: every container
    of the host shares them) only on hosts it reaches as a whole.

    Raises:
        Forbidden: The key reaches only some of the host's containers, or another host.
    """
    key_scope = scope(request)
    if key_scope is not None and not key_scope.allows_whole_host(host):
        raise Forbidden(f"this API key is not scoped to the whole host '{host}'")


async def require_targets_in_scope(request: web.Request, targets: Iterable[BulkTarget]) -> None:
    """A scoped API key may name only its containers: refuse the whole request otherwise
    (bulk actions and updates name their targets in the body, out of the middleware's sight).

    Raises:
        Forbidden: A target outside the key's scope (or unknown, which is never guessed at).
    """
    key_scope = scope(request)
    if key_scope is None:
        return
    containers = core(request).containers
    for t in targets:
        if key_scope.allows_whole_host(t.host):
            continue
        allowed = False
        if key_scope.allows_host(t.host):
            try:
                found = await containers.get(t.host, t.ref)
            except ChrontainerError:
                found = None  # unknown or ambiguous: refused, never guessed at
            allowed = found is not None and key_scope.allows_container(t.host, found.key)
        if not allowed:
            raise Forbidden(f"this API key is not scoped to '{t.host}/{t.ref}'")
