"""Signing in and one's own account: setup, login (and its second factor), logout, me,
password, sessions.

An account with TOTP logs in in two steps: ``POST /auth/login`` answers
``{"second_factor_required": true}`` with the cookie of a *pending* session, and
``POST /auth/login/second-factor`` trades a code for a full session (a new cookie).

The session token only ever travels in the ``Set-Cookie`` header of a login; the CSRF token
comes with the login and with ``GET /auth/me``, for the browser to send as ``X-CSRF-Token``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import voluptuous as vol
from aiohttp import web

from chrontainer_server.auth.errors import Unauthenticated
from chrontainer_server.auth.passwords import MAX_PASSWORD
from chrontainer_server.auth.principal import Principal, request_ip, request_is_https
from chrontainer_server.auth.principal import principal_of as _principal_of
from chrontainer_server.auth.service import AUTH
from chrontainer_server.auth.sessions import COOKIE_NAME, Session
from chrontainer_server.auth.users import User

from .context import actor, core
from .spec import ApiRoutes, ListOf, json_response, list_response

routes = ApiRoutes(tag="auth")

_TEXT = vol.All(str, vol.Length(min=1, max=256))
_PASSWORD = vol.All(str, vol.Length(min=1, max=MAX_PASSWORD))

SETUP_BODY = {
    vol.Required("token", description="the one-time token from the setup link in the log"): _TEXT,
    vol.Required("username"): _TEXT,
    vol.Required("password", description="8 characters or more"): _PASSWORD,
}
LOGIN_BODY = {vol.Required("username"): _TEXT, vol.Required("password"): _PASSWORD}
PASSWORD_BODY = {vol.Required("current"): _PASSWORD,
                 vol.Required("new", description="8 characters or more"): _PASSWORD}

_ENROLLMENT_REQUIRED = {
    "type": "boolean",
    "description": "2FA is required for everyone and this user has not set it up: until "
                   "they do, the session reaches only /auth/me, /auth/logout and /me/totp/*",
}
LOGGED_IN = {
    "type": "object",
    "properties": {"user": User,
                   "csrf_token": {"type": "string",
                                  "description": "send as X-CSRF-Token on changes"},
                   "enrollment_required": _ENROLLMENT_REQUIRED},
    "required": ["user", "csrf_token", "enrollment_required"],
    "additionalProperties": False,
}
SECOND_FACTOR_REQUIRED = {
    "type": "object",
    "properties": {"second_factor_required": {
        "type": "boolean", "enum": [True],
        "description": "send a code to /auth/login/second-factor with the cookie just set"}},
    "required": ["second_factor_required"],
    "additionalProperties": False,
}
LOGIN_RESULT = {"oneOf": [LOGGED_IN, SECOND_FACTOR_REQUIRED]}
_CODE_TEXT = vol.All(str, vol.Length(min=1, max=64))
SECOND_FACTOR_BODY = vol.All(
    {vol.Optional("code", description="the 6 digits of the authenticator app"): _CODE_TEXT,
     vol.Optional("recovery_code", description="one of the recovery codes (single use)"):
         _CODE_TEXT},
    vol.Length(min=1, max=1, msg="give code or recovery_code"),
)
ME_RESULT = {
    "type": "object",
    "properties": {
        "user": User,
        "role": {"type": "string", "enum": ["admin", "operator", "viewer"],
                 "description": "effective role (an API key's may be below the user's)"},
        "via": {"type": "string", "enum": ["session", "api_key"]},
        "csrf_token": {"type": ["string", "null"], "description": "null for API keys"},
        "enrollment_required": _ENROLLMENT_REQUIRED,
    },
    "required": ["user", "role", "via", "csrf_token", "enrollment_required"],
    "additionalProperties": False,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionView:
    """A login session as its owner sees it."""

    id: str
    created_at: datetime
    last_seen_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool


def principal_of(request: web.Request) -> Principal:
    """The caller of a route that requires a login (the middleware guarantees one)."""
    principal = _principal_of(request)
    if principal is None:
        raise Unauthenticated("log in or send an API key")
    return principal


def _set_cookie(request: web.Request, response: web.StreamResponse, token: str) -> None:
    secure = request_is_https(request)
    response.set_cookie(COOKIE_NAME, token, path="/", httponly=True, samesite="Lax",
                        secure=secure)


def _logged_in(request: web.Request, token: str, session: Session, user: User, *,
               status: int = 200) -> web.StreamResponse:
    response = json_response({"user": user, "csrf_token": session.csrf_token,
                              "enrollment_required": request.app[AUTH].enrollment_required(user)},
                             status=status)
    _set_cookie(request, response, token)
    return response


@routes.post("/auth/setup", body=SETUP_BODY, response=LOGGED_IN, status=201,
             errors=(403, 409), public=True)
async def setup(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Create the first admin with the one-time setup token, and log in as them."""
    auth = request.app[AUTH]
    async with core(request).audit.track(actor(request), "auth.setup", body["username"][:64]):
        user = await auth.setup.complete(body["token"], body["username"], body["password"])
    ip = request_ip(request)
    token, session = await auth.sessions.create(
        user.id, ip=ip, user_agent=request.headers.get("User-Agent"))
    return _logged_in(request, token, session, user, status=201)


@routes.post("/auth/login", body=LOGIN_BODY, response=LOGIN_RESULT, errors=(401, 429),
             public=True)
async def login(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Log in with a username and password; the session comes back as an HttpOnly cookie.

    Failed attempts slow down per (account, IP) and are limited per IP (429 with Retry-After).
    For an account with two-factor authentication the answer is only
    ``{"second_factor_required": true}`` and the cookie of a session that may do nothing but
    ``POST /auth/login/second-factor`` (within 5 minutes) or log out.
    """
    ip = request_ip(request)
    token, session, user = await request.app[AUTH].login(
        body["username"], body["password"], ip=ip,
        user_agent=request.headers.get("User-Agent"))
    if session.second_factor_pending:
        response = json_response({"second_factor_required": True})
        _set_cookie(request, response, token)
        return response
    return _logged_in(request, token, session, user)


@routes.post("/auth/login/second-factor", body=SECOND_FACTOR_BODY, response=LOGGED_IN,
             errors=(401, 429), public=True)
async def login_second_factor(request: web.Request, *,
                              body: dict[str, Any]) -> web.StreamResponse:
    """Finish a two-step login with a TOTP code or a recovery code (each usable once).

    Needs the cookie set by ``POST /auth/login``; a new session cookie replaces it. Wrong codes
    slow down per (account, IP) like passwords (429 with Retry-After).
    """
    principal = _principal_of(request)
    if principal is None or principal.session is None:
        raise Unauthenticated("log in with your password first")
    token, session, user = await request.app[AUTH].complete_second_factor(
        principal.session, code=body.get("code"), recovery_code=body.get("recovery_code"),
        ip=request_ip(request), user_agent=request.headers.get("User-Agent"))
    return _logged_in(request, token, session, user)


@routes.post("/auth/logout", status=204)
async def logout(request: web.Request) -> web.StreamResponse:
    """End the current session (nothing to end for an API key)."""
    principal = principal_of(request)
    response = web.Response(status=204)
    if principal.session is not None:
        await request.app[AUTH].sessions.revoke_key(principal.session.key)
        response.del_cookie(COOKIE_NAME, path="/")
    return response


@routes.get("/auth/me", response=ME_RESULT)
async def me(request: web.Request) -> web.StreamResponse:
    """Who am I: the account, the effective role, and the session's CSRF token."""
    principal = principal_of(request)
    user = await request.app[AUTH].users.get(principal.user_id)
    return json_response({
        "user": user,
        "role": principal.role,
        "via": "api_key" if principal.via_api_key else "session",
        "csrf_token": principal.session.csrf_token if principal.session else None,
        "enrollment_required": principal.enrollment_required,
    })


@routes.post("/me/password", body=PASSWORD_BODY, response=User, errors=(401,))
async def change_password(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Change one's password (the current one is required); other sessions end."""
    principal = principal_of(request)
    keep = principal.session.key if principal.session else None
    async with core(request).audit.track(actor(request), "user.password", principal.username):
        user = await request.app[AUTH].change_password(
            principal.user_id, body["current"], body["new"], keep_session=keep)
    return json_response(user)


@routes.get("/me/sessions", response=ListOf(SessionView))
async def list_sessions(request: web.Request) -> web.StreamResponse:
    """One's live sessions, the current one marked."""
    principal = principal_of(request)
    current = principal.session.key if principal.session else None
    sessions = await request.app[AUTH].sessions.list(principal.user_id)
    return list_response([
        SessionView(id=s.id, created_at=s.created_at, last_seen_at=s.last_seen_at, ip=s.ip,
                    user_agent=s.user_agent, current=s.key == current)
        for s in sessions
    ])


@routes.delete("/me/sessions/{id}", status=204, errors=(404,),
               path_params={"id": vol.All(str, vol.Match(r"^[0-9a-f]{16}$"))})
async def revoke_session(request: web.Request, *, path_params: dict[str, Any]) -> web.Response:
    """End one of one's sessions (logs that browser out)."""
    principal = principal_of(request)
    async with core(request).audit.track(actor(request), "session.revoke",
                                         f"{principal.username}/{path_params['id']}"):
        await request.app[AUTH].sessions.revoke(principal.user_id, path_params["id"])
    return web.Response(status=204)
