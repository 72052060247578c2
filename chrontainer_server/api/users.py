"""Account administration (admins only): users, their sessions, and the audit trail."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from aiohttp import web

from chrontainer_core import ActorKind
from chrontainer_core.models import AuditEntry
from chrontainer_server.auth.passwords import MAX_PASSWORD
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.service import AUTH
from chrontainer_server.auth.users import User

from .context import actor, core
from .spec import ApiRoutes, ListOf, json_response, list_response

routes = ApiRoutes(tag="users")

_ROLE = vol.All(str, vol.In([r.value for r in Role]))
_PASSWORD = vol.All(str, vol.Length(min=1, max=MAX_PASSWORD))
USER_ID = {"id": vol.All(vol.Coerce(int), vol.Range(min=1, max=2**31 - 1))}

USER_CREATE = {
    vol.Required("username", description="1-64 of a-z 0-9 . _ -; stored lowercased"):
        vol.All(str, vol.Length(min=1, max=64)),
    vol.Required("password", description="8 characters or more"): _PASSWORD,
    vol.Required("role"): _ROLE,
}
USER_UPDATE = vol.All(
    {vol.Optional("role"): _ROLE, vol.Optional("disabled"): bool},
    vol.Length(min=1, msg="give role and/or disabled"),
)
RESET_BODY = {vol.Required("password", description="8 characters or more"): _PASSWORD}
AUDIT_QUERY = {
    vol.Optional("limit", default=50): vol.All(vol.Coerce(int), vol.Range(min=1, max=500)),
    vol.Optional("offset", default=0): vol.All(vol.Coerce(int), vol.Range(min=0, max=2**31 - 1)),
    vol.Optional("action", description="exact action, e.g. auth.login"):
        vol.All(str, vol.Length(min=1, max=100)),
    vol.Optional("actor_kind"): vol.In([k.value for k in ActorKind]),
    vol.Optional("target", description="exact target"): vol.All(str, vol.Length(min=1, max=512)),
}


@routes.get("/users", response=ListOf(User))
async def list_users(request: web.Request) -> web.StreamResponse:
    """Every account."""
    return list_response(await request.app[AUTH].users.list())


@routes.post("/users", body=USER_CREATE, response=User, status=201, errors=(409,))
async def create_user(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Create an account."""
    async with core(request).audit.track(actor(request), "user.create",
                                         body["username"][:64].lower()):
        user = await request.app[AUTH].users.create(body["username"], body["password"],
                                                     Role(body["role"]))
    return json_response(user, status=201)


@routes.get("/users/{id}", path_params=USER_ID, response=User, errors=(404,))
async def get_user(request: web.Request, *, path_params: dict[str, Any]) -> web.StreamResponse:
    """One account."""
    return json_response(await request.app[AUTH].users.get(path_params["id"]))


@routes.patch("/users/{id}", path_params=USER_ID, body=USER_UPDATE, response=User,
              errors=(404, 409))
async def update_user(request: web.Request, *, path_params: dict[str, Any],
                      body: dict[str, Any]) -> web.StreamResponse:
    """Change an account's role or disable it; the last enabled admin stays (409).

    Disabling an account ends its sessions; its API keys stop working while it is disabled.
    """
    auth = request.app[AUTH]
    user_id = path_params["id"]
    async with core(request).audit.track(actor(request), "user.update", f"user/{user_id}"):
        role = Role(body["role"]) if "role" in body else None
        user = await auth.users.update(user_id, role=role, disabled=body.get("disabled"))
        if user.disabled:
            await auth.sessions.revoke_all(user_id)
    return json_response(user)


@routes.delete("/users/{id}", path_params=USER_ID, status=204, errors=(404, 409))
async def delete_user(request: web.Request, *, path_params: dict[str, Any]) -> web.Response:
    """Delete an account with its sessions and API keys; the last enabled admin stays (409)."""
    user_id = path_params["id"]
    async with core(request).audit.track(actor(request), "user.delete", f"user/{user_id}"):
        await request.app[AUTH].users.delete(user_id)
    return web.Response(status=204)


@routes.post("/users/{id}/reset-password", path_params=USER_ID, body=RESET_BODY, response=User,
             errors=(404,))
async def reset_password(request: web.Request, *, path_params: dict[str, Any],
                         body: dict[str, Any]) -> web.StreamResponse:
    """Set a new password for an account; all its sessions end."""
    auth = request.app[AUTH]
    user_id = path_params["id"]
    async with core(request).audit.track(actor(request), "user.password_reset",
                                         f"user/{user_id}"):
        user = await auth.users.set_password(user_id, body["password"])
        await auth.sessions.revoke_all(user_id)
    return json_response(user)


@routes.delete("/users/{id}/sessions", path_params=USER_ID, status=204, errors=(404,))
async def revoke_user_sessions(request: web.Request, *,
                               path_params: dict[str, Any]) -> web.Response:
    """End every session of an account (log it out everywhere)."""
    auth = request.app[AUTH]
    user_id = path_params["id"]
    async with core(request).audit.track(actor(request), "session.revoke_all",
                                         f"user/{user_id}"):
        await auth.users.get(user_id)
        await auth.sessions.revoke_all(user_id)
    return web.Response(status=204)


@routes.delete("/users/{id}/totp", path_params=USER_ID, status=204, errors=(404,))
async def reset_user_totp(request: web.Request, *, path_params: dict[str, Any]) -> web.Response:
    """Reset an account's two-factor authentication (a lost phone).

    The account then logs in with its password alone until it enrolls again.
    """
    user_id = path_params["id"]
    async with core(request).audit.track(actor(request), "auth.totp.reset", f"user/{user_id}"):
        await request.app[AUTH].totp.disable(user_id)
    return web.Response(status=204)


@routes.get("/audit", query=AUDIT_QUERY, response=ListOf(AuditEntry), tag="audit")
async def list_audit(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """The audit trail, newest first, with filters and limit/offset paging."""
    entries, total = await core(request).audit.list(
        limit=query["limit"], offset=query["offset"], action=query.get("action"),
        actor_kind=query.get("actor_kind"), target=query.get("target"))
    return list_response(entries, total=total)
