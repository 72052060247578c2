"""The auth middleware: who is calling, and may they call this route?

For every request that matched a route:

1. The route's requirement comes from :data:`~.roles.ROUTE_ROLES`. A route missing from the
   table is refused (403) and logged: nothing is reachable by omission.
2. Credentials: ``Authorization: Bearer <key>`` or the legacy ``X-API-Key`` header (an API
   key), else the session cookie. Public routes run with or without them.
3. No credentials -> 401 ``unauthenticated`` (a ``GET`` of a UI page instead redirects to
   ``/login?next=<path>``, so a browser lands on the login form); a role below the
   requirement -> 403 ``forbidden``; an API key on a session-only route -> 403.
4. CSRF: a state-changing request authenticated by a session cookie must carry the session's
   token in ``X-CSRF-Token`` (403 ``csrf``). API keys are exempt: browsers never send them on
   their own.
5. API-key scope: a scoped key reaches only its hosts and containers (403 otherwise).
6. Two-factor: a *pending* session (password accepted, second factor owed) reaches only
   :data:`~.roles.SECOND_FACTOR_ROUTES` (401 ``second_factor_required`` elsewhere; public
   routes run as if anonymous). While 2FA is required for everyone, a session of a user who
   has not enrolled reaches only :data:`~.roles.ENROLLMENT_ROUTES` (403
   ``enrollment_required``).

The principal and the core actor are stored on the request for the handlers
(:func:`principal_of`, :func:`actor_of`).
"""

from __future__ import annotations

import hmac
import logging
import re
from typing import Final
from urllib.parse import urlencode

from aiohttp import web
from aiohttp.typedefs import Handler

from chrontainer_server.api.context import core

from .errors import (
    CsrfRejected,
    EnrollmentRequired,
    Forbidden,
    SecondFactorRequired,
    Unauthenticated,
)
from .principal import ACTOR, PRINCIPAL, Principal, request_ip
from .roles import ENROLLMENT_ROUTES, PUBLIC, SECOND_FACTOR_ROUTES, SESSION_ONLY, requirement_for
from .service import AUTH
from .sessions import COOKIE_NAME

__all__ = ["auth_middleware"]

log = logging.getLogger(__name__)

_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
# API clients want the 401 JSON; only page views of a browser are sent to the login form.
_API_PATH: Final = re.compile(r"^/api(/|$)")
LOGIN_PATH: Final = "/login"
ENROLL_PAGE: Final = "/profile#two-factor"


def _login_redirect(request: web.Request) -> web.HTTPSeeOther | None:
    """The redirect to the login form for an anonymous page view, else None.

    ``next`` is the request's own path and query: relative by construction, so it can never
    point elsewhere (the login page checks it again before following it).
    """
    if request.method not in ("GET", "HEAD") or _API_PATH.match(request.path):
        return None
    return web.HTTPSeeOther(f"{LOGIN_PATH}?{urlencode({'next': request.rel_url.path_qs})}")


def _api_key_of(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("X-API-Key") or None


async def _authenticate(request: web.Request) -> Principal | None:
    auth = request.app[AUTH]
    secret = _api_key_of(request)
    if secret is not None:
        # An explicit key that does not work is not silently replaced by a cookie.
        return await auth.from_api_key(secret)
    token = request.cookies.get(COOKIE_NAME)
    if token:
        return await auth.from_session(token)
    return None


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate and authorize the request (see the module docstring)."""
    match = request.match_info
    if match.http_exception is not None:
        return await handler(request)  # no such route: the router's 404/405 follows
    resource = match.route.resource
    pattern = resource.canonical if resource is not None else ""
    requirement = requirement_for(request.method, pattern)
    if requirement is None:
        log.warning("refused %s %s: the route is missing from the role table",
                    request.method, pattern)
        raise Forbidden("this route is not open to anyone yet")
    principal = await _authenticate(request)
    route = ("GET" if request.method == "HEAD" else request.method, pattern)
    pending = (principal is not None and principal.session is not None
               and principal.session.second_factor_pending)
    if pending and route not in SECOND_FACTOR_ROUTES:
        if requirement is PUBLIC:
            principal = None  # a half-done login counts as no login
        else:
            redirect = _login_redirect(request)
            if redirect is not None:
                raise redirect  # a page view goes back to the login form's code step
            raise SecondFactorRequired("enter the code from your authenticator app first")
    if principal is not None:
        request[PRINCIPAL] = principal
        request[ACTOR] = principal.actor(request_ip(request))
    if requirement is PUBLIC:
        return await handler(request)
    if principal is None:
        redirect = _login_redirect(request)
        if redirect is not None:
            raise redirect
        raise Unauthenticated("log in or send an API key")
    if not principal.role.allows(requirement):
        raise Forbidden(f"this needs the {requirement.value} role",
                        details={"required": requirement.value, "role": principal.role.value})
    if principal.via_api_key and (request.method, pattern) in SESSION_ONLY:
        raise Forbidden("this needs a logged-in session, not an API key")
    if principal.enrollment_required and route not in ENROLLMENT_ROUTES:
        if _login_redirect(request) is not None:
            # A page view is sent where the user can enrol (the profile's 2FA section).
            raise web.HTTPSeeOther(ENROLL_PAGE)
        raise EnrollmentRequired("set up two-factor authentication first (required for "
                                 "every user)")
    # A pending session got no CSRF token (its login response carries no account data), and
    # needs none: its two routes either demand a code a forger cannot know or log out.
    if (principal.session is not None and not pending
            and request.method not in _SAFE_METHODS):
        sent = request.headers.get("X-CSRF-Token", "")
        if not hmac.compare_digest(sent.encode(), principal.session.csrf_token.encode()):
            raise CsrfRejected("missing or wrong X-CSRF-Token header")
    if principal.scope is not None:
        await _check_scope(request, principal)
    return await handler(request)


async def _check_scope(request: web.Request, principal: Principal) -> None:
    """A scoped key may address only its hosts and containers."""
    scope = principal.scope
    assert scope is not None
    host = request.match_info.get("host")
    if host is None:
        return  # lists filter by scope themselves; other routes have no host
    if not scope.allows_host(host):
        raise Forbidden(f"this API key is not scoped to host '{host}'")
    if scope.allows_whole_host(host):
        return
    # ``{ref}`` names a container only on container routes (images have refs too).
    resource = request.match_info.route.resource
    on_container = resource is not None and "/containers/{ref}" in resource.canonical
    ref = request.match_info.get("ref") if on_container else None
    if ref is None:
        # A key scoped to some containers of a host may read the host (and its images), not
        # change it.
        if request.method not in _SAFE_METHODS:
            raise Forbidden(f"this API key is not scoped to the whole host '{host}'")
        return
    container = await core(request).containers.get(host, ref)
    if not scope.allows_container(host, container.key):
        raise Forbidden(f"this API key is not scoped to container '{host}/{container.key}'")
