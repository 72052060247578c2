"""/api/v1/registries: configured image registries, login tests, catalog, tags and search
(admins only, DESIGN §7: registries hold credentials, operators have none).

The password is write-only: it goes in on create, update and test, and never comes out;
responses say ``has_password`` instead. On update, a field left out keeps its value, and
``null`` or ``""`` clears the username or password. Search covers every registry with a catalog
and Docker Hub through the engine of ``host`` (default: the first online host); one registry
failing (the Hub offline, say) is reported in ``errors`` and the others' hits still come.
"""

from __future__ import annotations

from typing import Any, Final

import voluptuous as vol
from aiohttp import web

from chrontainer_core.errors import NotFound
from chrontainer_core.models import HubSearchResult
from chrontainer_core.registries.models import (
    CatalogPage,
    Registry,
    RegistryCheck,
    RegistryKind,
    RegistrySearch,
)
from chrontainer_core.registries.service import (
    KEEP,
    MAX_NAME,
    MAX_PASSWORD,
    MAX_QUERY,
    MAX_USERNAME,
    RegistryService,
)

from .context import actor, core
from .spec import ApiRoutes, ListOf, json_response, list_response

__all__ = ["routes"]

routes = ApiRoutes(tag="registries")

_INT32: Final = 2**31 - 1
_KIND: Final = vol.In([kind.value for kind in RegistryKind])
_NAME: Final = vol.All(str, vol.Length(min=1, max=MAX_NAME))
_URL: Final = vol.Any(None, vol.All(str, vol.Length(max=255)))
_USERNAME: Final = vol.Any(None, vol.All(str, vol.Length(max=MAX_USERNAME)))
_PASSWORD: Final = vol.Any(None, vol.All(str, vol.Length(max=MAX_PASSWORD)))
_URL_HELP: Final = ("the registry's root URL (harbor and generic: required, e.g. "
                    "http://127.0.0.1:5001); fixed for dockerhub, ghcr and quay")

CREATE: Final = {
    vol.Required("name", description=f"1-{MAX_NAME} characters"): _NAME,
    vol.Required("kind"): _KIND,
    vol.Optional("url", description=_URL_HELP): _URL,
    vol.Optional("username"): _USERNAME,
    vol.Optional("password", description="write-only; stored encrypted"): _PASSWORD,
}
TEST_CONFIG: Final = {
    vol.Required("kind"): _KIND,
    vol.Optional("url", description=_URL_HELP): _URL,
    vol.Optional("username"): _USERNAME,
    vol.Optional("password", description="write-only"): _PASSWORD,
}
UPDATE: Final = vol.All(
    {
        vol.Optional("name"): _NAME,
        vol.Optional("url", description="harbor and generic only"): _URL,
        vol.Optional("username", description="null or empty clears the login"): _USERNAME,
        vol.Optional("password", description="write-only; left out keeps it, null or empty "
                                             "clears it"): _PASSWORD,
    },
    vol.Length(min=1, msg="give at least one field to change"),
)
ID: Final = {"id": vol.All(vol.Coerce(int), vol.Range(min=1, max=_INT32))}
CATALOG_QUERY: Final = {
    vol.Optional("n", default=100, description="page size"):
        vol.All(vol.Coerce(int), vol.Range(min=1, max=1000)),
    vol.Optional("last", description="the previous page's next"):
        vol.All(str, vol.Length(min=1, max=255)),
}
TAGS_QUERY: Final = {
    vol.Required("repository", description="e.g. team/app (nginx is library/nginx on the Hub)"):
        vol.All(str, vol.Length(min=1, max=255)),
}
SEARCH_QUERY: Final = {
    vol.Required("q", description="case-insensitive substring of repository names"):
        vol.All(str, vol.Length(min=1, max=MAX_QUERY)),
    vol.Optional("host", description="the host whose engine searches Docker Hub (default: "
                                     "the first online host)"):
        vol.All(str, vol.Length(min=1, max=64)),
}


def service(request: web.Request) -> RegistryService:
    """The registry service of the runtime (daemon mode, once started).

    Raises:
        NotFound: The runtime keeps no registries (no database).
    """
    registries = core(request).registries
    if registries is None:
        raise NotFound("this server keeps no registries (no database)")
    return registries


@routes.get("/registries", response=ListOf(Registry), errors=(404,))
async def list_registries(request: web.Request) -> web.StreamResponse:
    """Every configured registry, by name (never a password)."""
    return list_response(await service(request).list())


@routes.post("/registries", body=CREATE, response=Registry, status=201, errors=(404, 409))
async def create_registry(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Add a registry; its password is stored encrypted and never shown again. 409 when its
    host is configured already (docker.io, index.docker.io and registry-1.docker.io are one)."""
    created = await service(request).create(
        name=body["name"], kind=body["kind"], url=body.get("url"),
        username=body.get("username"), password=body.get("password"), actor=actor(request))
    return json_response(created, status=201)


# Declared before /registries/{id} so that "test" and "search" are never taken for an id.
@routes.post("/registries/test", body=TEST_CONFIG, response=RegistryCheck, errors=(404,))
async def test_registry_config(request: web.Request, *,
                               body: dict[str, Any]) -> web.StreamResponse:
    """Log in to an unsaved configuration: 200 either way, ``ok`` false with the reason
    (credentials refused, unreachable, ...)."""
    return json_response(await service(request).test_config(
        kind=body["kind"], url=body.get("url"), username=body.get("username"),
        password=body.get("password")))


@routes.get("/registries/search", query=SEARCH_QUERY, response=RegistrySearch, errors=(404,))
async def search_registries(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """Repositories matching ``q`` on every registry with a catalog and on Docker Hub (through
    an engine); registries that fail are listed in ``errors``."""
    runtime = core(request)
    registries = service(request)
    host = query.get("host")
    if host is not None:
        runtime.hosts.get(host)  # an unknown host is the caller's mistake: 404, not an error

    async def hub(term: str) -> list[HubSearchResult]:
        return await runtime.images.search_hub(host, term)

    return json_response(await registries.search(query["q"], hub=hub))


@routes.get("/registries/{id}", path_params=ID, response=Registry, errors=(404,))
async def get_registry(request: web.Request, *, path_params: dict[str, Any]) -> web.StreamResponse:
    """One registry (never its password)."""
    return json_response(await service(request).get(path_params["id"]))


@routes.patch("/registries/{id}", path_params=ID, body=UPDATE, response=Registry,
              errors=(404, 409))
async def update_registry(request: web.Request, *, path_params: dict[str, Any],
                          body: dict[str, Any]) -> web.StreamResponse:
    """Rename a registry, move it (harbor, generic) or change its login; fields left out keep
    their value."""
    updated = await service(request).update(
        path_params["id"], name=body.get("name", KEEP), url=body.get("url", KEEP),
        username=body.get("username", KEEP), password=body.get("password", KEEP),
        actor=actor(request))
    return json_response(updated)


@routes.delete("/registries/{id}", path_params=ID, status=204, errors=(404,))
async def delete_registry(request: web.Request, *,
                          path_params: dict[str, Any]) -> web.StreamResponse:
    """Delete a registry and its stored credentials."""
    await service(request).delete(path_params["id"], actor=actor(request))
    return web.Response(status=204)


@routes.post("/registries/{id}/test", path_params=ID, response=RegistryCheck, errors=(404,))
async def test_registry(request: web.Request, *, path_params: dict[str, Any]) -> web.StreamResponse:
    """Log in to a stored registry with its credentials: 200 either way, ``ok`` false with the
    reason."""
    return json_response(await service(request).test(path_params["id"]))


@routes.get("/registries/{id}/catalog", path_params=ID, query=CATALOG_QUERY,
            response=CatalogPage, errors=(404, 409, 502))
async def registry_catalog(request: web.Request, *, path_params: dict[str, Any],
                           query: dict[str, Any]) -> web.StreamResponse:
    """One page of the registry's repositories; pass ``next`` as ``last`` for the next page.
    409 for Docker Hub (no catalog: use search); 502 when the registry fails."""
    return json_response(await service(request).catalog(
        path_params["id"], n=query["n"], last=query.get("last")))


@routes.get("/registries/{id}/tags", path_params=ID, query=TAGS_QUERY, response=list[str],
            errors=(404, 502))
async def registry_tags(request: web.Request, *, path_params: dict[str, Any],
                        query: dict[str, Any]) -> web.StreamResponse:
    """Every tag of a repository; 404 ``image_not_found`` when the registry has no such
    repository, 502 when it fails."""
    return json_response(await service(request).tags(path_params["id"], query["repository"]))
