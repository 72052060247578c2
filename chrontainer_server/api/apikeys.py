"""One's own API keys: list (never the secrets), create (the secret is shown once), revoke."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import voluptuous as vol
from aiohttp import web

from chrontainer_core.errors import InvalidInput
from chrontainer_core.validate import Slug
from chrontainer_server.auth.apikeys import ApiKey, parse_scope
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.service import AUTH

from .auth import principal_of
from .context import actor, core
from .spec import ApiRoutes, Integer, ListOf, json_response, list_response

routes = ApiRoutes(tag="apikeys")

KEY_ID = {"id": vol.All(vol.Coerce(int), vol.Range(min=1, max=2**31 - 1))}
CONTAINER_SCOPE = vol.All(str, vol.Match(r"^[a-z0-9-]{1,63}/[^/\s]{1,255}$"),
                          msg="a container is 'host/key'")
KEY_CREATE = {
    vol.Required("name", description="a label for the key"): vol.All(str, vol.Length(min=1,
                                                                                   max=100)),
    vol.Optional("role", description="ceiling; default and maximum: your own role"):
        vol.All(str, vol.In([r.value for r in Role])),
    vol.Optional("expires_days"): vol.All(Integer(), vol.Range(min=1, max=3650)),
    vol.Optional("hosts", description="scope: host slugs"):
        vol.All([Slug()], vol.Length(max=100)),
    vol.Optional("containers", description="scope: containers as 'host/key'"):
        vol.All([CONTAINER_SCOPE], vol.Length(max=500)),
}
KEY_CREATED = {
    "type": "object",
    "properties": {"key": ApiKey,
                   "secret": {"type": "string",
                              "description": "the key itself: shown this once only"}},
    "required": ["key", "secret"],
    "additionalProperties": False,
}


@routes.get("/me/apikeys", response=ListOf(ApiKey))
async def list_api_keys(request: web.Request) -> web.StreamResponse:
    """One's API keys, revoked ones included; never their secrets."""
    return list_response(await request.app[AUTH].apikeys.list(principal_of(request).user_id))


@routes.post("/me/apikeys", body=KEY_CREATE, response=KEY_CREATED, status=201)
async def create_api_key(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Create an API key; its secret is in this response and nowhere else, ever."""
    principal = principal_of(request)
    ceiling = Role(body.get("role", principal.role.value))
    if not principal.role.allows(ceiling):
        raise InvalidInput("a key's role cannot be above your own", field="role")
    days = body.get("expires_days")
    scope = parse_scope(body.get("hosts"), body.get("containers"))
    async with core(request).audit.track(actor(request), "apikey.create",
                                         f"{principal.username}/{body['name']}"):
        secret, key = await request.app[AUTH].apikeys.create(
            principal.user_id, name=body["name"], role_ceiling=ceiling,
            expires_in=timedelta(days=days) if days else None,
            scope=scope)
    return json_response({"key": key, "secret": secret}, status=201)


@routes.delete("/me/apikeys/{id}", path_params=KEY_ID, status=204, errors=(404,))
async def revoke_api_key(request: web.Request, *, path_params: dict[str, Any]) -> web.Response:
    """Revoke one of one's API keys; it stops working at once."""
    principal = principal_of(request)
    async with core(request).audit.track(actor(request), "apikey.revoke",
                                         f"{principal.username}/{path_params['id']}"):
        await request.app[AUTH].apikeys.revoke(principal.user_id, path_params["id"])
    return web.Response(status=204)
