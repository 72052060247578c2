"""Middlewares: errors to HTTP responses, and security headers.

:func:`error_middleware` is the only place where core errors become HTTP status codes
(:data:`STATUS_BY_ERROR`). Every error leaves as ``{"error": {"code", "message", "details"}}``:

- a :class:`ChrontainerError` -> its status from the table, its code, message and details;
- a request body over ``client_max_size`` -> 413 ``too_large``;
- an unknown path or method under ``/api/`` -> 404 ``not_found`` / 405 ``method_not_allowed``
  (outside ``/api/`` aiohttp's own pages are kept, for the UI);
- anything else -> 500 ``internal`` with a fixed message; the exception is logged with its
  traceback and its text never reaches the client.

``asyncio.CancelledError`` (a client went away) is not an ``Exception`` and passes through.
A handler that has already started a streamed response must deal with its own errors: headers
sent cannot be taken back.

Security headers are added by :func:`add_security_headers`, an ``on_response_prepare`` hook, so
that streamed and error responses get them too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler

from chrontainer_core.errors import (
    AmbiguousRef,
    Busy,
    ChrontainerError,
    ConfigError,
    Conflict,
    EngineError,
    HostUnreachable,
    ImageNotFound,
    InstanceLocked,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    RegistryAuthFailed,
    RegistryError,
    RegistryUnreachable,
    SecretUnavailable,
    TooLarge,
    UpdateFailed,
)

from .api.spec import json_response
from .auth.errors import InvalidCredentials, InvalidSecondFactor, Unauthenticated

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "SECURITY_HEADERS",
    "STATUS_BY_ERROR",
    "add_security_headers",
    "error_middleware",
    "error_response",
    "status_for",
]

log = logging.getLogger(__name__)

STATUS_BY_ERROR: Final[Mapping[type, int]] = {
    InvalidInput: 400,
    TooLarge: 413,
    ConfigError: 400,
    Unauthenticated: 401,
    InvalidCredentials: 401,
    InvalidSecondFactor: 401,
    PermissionDenied: 403,
    NotFound: 404,
    Conflict: 409,
    AmbiguousRef: 409,
    Busy: 409,
    InstanceLocked: 409,
    # 409, not 422: the request is fine, the server's state (a secret stored under another
    # secret key) prevents it; re-entering the secret resolves the conflict.
    SecretUnavailable: 409,
    RateLimited: 429,
    HostUnreachable: 502,
    EngineError: 502,
    # A registry's failure is an upstream failure: 502, never 401/403, which would read as the
    # caller's own session being refused.
    RegistryError: 502,
    RegistryUnreachable: 502,
    RegistryAuthFailed: 502,
    ImageNotFound: 404,
    # The engine or the new image failed the update (the old container runs again).
    UpdateFailed: 502,
}

# Strict CSP: scripts, styles and everything else from this origin only, never inline (no
# <script> bodies, style="" or on*= attributes), no eval; data: images for tiny icons. Sent on
# every response, not only HTML: a JSON body opened in a tab is then inert too.
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

_API_PATH: Final = re.compile(r"^/api(/|$)")


def status_for(err: ChrontainerError) -> int:
    """The HTTP status of a core error: its nearest class in :data:`STATUS_BY_ERROR`, else 500."""
    for cls in type(err).__mro__:
        status = STATUS_BY_ERROR.get(cls)
        if status is not None:
            return status
    return 500


def error_response(
    status: int, code: str, message: str, details: Mapping[str, Any] | None = None
) -> web.Response:
    """The JSON error body every API error uses."""
    body = {"error": {"code": code, "message": message, "details": dict(details or {})}}
    return json_response(body, status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn exceptions into JSON error responses (see the module docstring)."""
    try:
        return await handler(request)
    except ChrontainerError as err:
        response = error_response(status_for(err), err.code, err.message, err.details)
        if isinstance(err, RateLimited):
            response.headers["Retry-After"] = str(err.retry_after)
        return response
    except web.HTTPRequestEntityTooLarge as err:
        return error_response(413, "too_large", err.text or "request body is too large")
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as err:
        if not _API_PATH.match(request.path):
            raise
        return _http_error(err)
    except web.HTTPException:
        raise  # redirects and deliberate aiohttp responses pass through unchanged
    except Exception:
        # The route pattern, not the path: paths can carry secrets (webhook tokens).
        log.exception("unhandled error in %s %s", request.method, _route_pattern(request))
        return error_response(500, "internal", "internal error")


def _route_pattern(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "(no route)"


def _http_error(err: web.HTTPNotFound | web.HTTPMethodNotAllowed) -> web.Response:
    if isinstance(err, web.HTTPMethodNotAllowed):
        response = error_response(
            405,
            "method_not_allowed",
            f"method {err.method} is not allowed here",
            {"allowed": sorted(err.allowed_methods)},
        )
        response.headers["Allow"] = err.headers["Allow"]
        return response
    return error_response(404, "not_found", "no such API endpoint")


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: every response gets :data:`SECURITY_HEADERS`.

    A signal rather than a middleware, because it also reaches streamed responses (log
    follows, SSE) and the error pages aiohttp renders itself, just before headers are sent.
    """
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
