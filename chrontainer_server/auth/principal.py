"""Who is calling: the authenticated principal of a request, and the client's address."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from chrontainer_core import Actor, ActorKind
from chrontainer_core.config import IPNetwork

from .apikeys import KeyScope
from .roles import Role
from .sessions import Session

__all__ = ["ACTOR", "PRINCIPAL", "TRUSTED_PROXIES", "Principal", "actor_of", "client_ip",
           "is_https", "principal_of", "request_ip", "request_is_https"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """An authenticated caller: a user through a session, or through one of their API keys.

    Attributes:
        user_id: The account.
        username: Its name.
        role: The effective role (for a key: min(ceiling, the owner's current role)).
        session: The session, when authenticated by cookie.
        api_key_id: The key's id, when authenticated by API key.
        api_key_name: The key's label.
        scope: The key's scope; None means unscoped.
        enrollment_required: 2FA is required for everyone and this session's user has not
            enrolled: the session may only reach the enrollment routes.
    """

    user_id: int
    username: str
    role: Role
    session: Session | None = None
    api_key_id: int | None = None
    api_key_name: str = ""
    scope: KeyScope | None = None
    enrollment_required: bool = False

    @property
    def via_api_key(self) -> bool:
        """True when authenticated by an API key."""
        return self.api_key_id is not None

    def actor(self, source_ip: str | None) -> Actor:
        """The core actor recorded in the audit trail."""
        if self.api_key_id is not None:
            return Actor(kind=ActorKind.API_KEY, id=str(self.api_key_id),
                         name=f"{self.username}/{self.api_key_name}", source_ip=source_ip)
        return Actor(kind=ActorKind.USER, id=str(self.user_id), name=self.username,
                     source_ip=source_ip)


def _trusted(address: str | None, proxies: Sequence[IPNetwork]) -> bool:
    if not address or not proxies:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client_ip(request: web.Request, proxies: Sequence[IPNetwork]) -> str | None:
    """The client's address: ``X-Forwarded-For`` is believed only from a trusted proxy.

    The header is read right to left, skipping trusted proxies, so a client cannot pose as
    another address by sending its own ``X-Forwarded-For`` through the proxy.
    """
    remote = request.remote
    if not _trusted(remote, proxies):
        return remote
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")
            if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop[:45]
    return remote


def is_https(request: web.Request, proxies: Sequence[IPNetwork]) -> bool:
    """True when the client reached us over TLS (directly, or through a trusted proxy)."""
    if request.secure:
        return True
    if _trusted(request.remote, proxies):
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return proto == "https"
    return False


PRINCIPAL: Final = web.RequestKey("chrontainer_principal", Principal)
ACTOR: Final = web.RequestKey("chrontainer_actor", Actor)
TRUSTED_PROXIES: Final = web.AppKey("chrontainer_trusted_proxies", tuple[IPNetwork, ...])


def _proxies(request: web.Request) -> tuple[IPNetwork, ...]:
    proxies: tuple[IPNetwork, ...] = request.app.get(TRUSTED_PROXIES, ())
    return proxies


def request_ip(request: web.Request) -> str | None:
    """The client address of a request, per the app's ``trusted_proxies``."""
    return client_ip(request, _proxies(request))


def request_is_https(request: web.Request) -> bool:
    """True when the client of a request used TLS, per the app's ``trusted_proxies``."""
    return is_https(request, _proxies(request))


def principal_of(request: web.Request) -> Principal | None:
    """The authenticated caller, or None on a public route called without credentials."""
    return request.get(PRINCIPAL)


def actor_of(request: web.Request) -> Actor:
    """The core actor of a request (``anonymous`` on public routes without credentials)."""
    actor: Actor | None = request.get(ACTOR)
    if actor is None:
        return Actor(kind=ActorKind.USER, id="", name="anonymous", source_ip=request_ip(request))
    return actor
