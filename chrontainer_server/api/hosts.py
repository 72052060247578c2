"""Hosts: list, add, read, edit, remove, and test a connection."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from aiohttp import web

from chrontainer_core import HostSpec, HostState
from chrontainer_core.models import EngineVersion
from chrontainer_core.validate import DockerUrl, HostName, Slug

from .context import actor, core
from .spec import ApiRoutes, ListOf, json_response, list_response

routes = ApiRoutes(tag="hosts")

HOST_CREATE = {
    vol.Required("slug", description="immutable id: lowercase letters, digits and '-'"): Slug(),
    vol.Optional("name", description="display name (default: the slug)"): HostName,
    vol.Required("url", description="unix:///path/docker.sock or tcp://host:port"): DockerUrl(),
}
HOST_UPDATE = vol.All(
    {vol.Optional("name"): HostName, vol.Optional("url"): DockerUrl()},
    vol.Length(min=1, msg="give name and/or url"),
)
HOST_TEST = {vol.Required("url"): DockerUrl()}


@routes.get("/hosts", response=ListOf(HostState))
async def list_hosts(request: web.Request) -> web.StreamResponse:
    """Every host with its status, last error and engine version."""
    return list_response(core(request).hosts.states())


@routes.post("/hosts", body=HOST_CREATE, response=HostState, status=201, errors=(409,))
async def add_host(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Add a Docker host."""
    spec = HostSpec(slug=body["slug"], name=body.get("name") or body["slug"], url=body["url"])
    state = await core(request).hosts.add(spec, actor=actor(request))
    return json_response(state, status=201)


@routes.get("/hosts/{host}", response=HostState, errors=(404,))
async def get_host(request: web.Request) -> web.StreamResponse:
    """One host."""
    return json_response(core(request).hosts.get(request.match_info["host"]).state())


@routes.patch("/hosts/{host}", body=HOST_UPDATE, response=HostState, errors=(404,))
async def update_host(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Change a host's display name or URL (the slug never changes)."""
    state = await core(request).hosts.update(
        request.match_info["host"], name=body.get("name"), url=body.get("url"),
        actor=actor(request),
    )
    return json_response(state)


@routes.delete("/hosts/{host}", status=204, errors=(404,))
async def remove_host(request: web.Request) -> web.StreamResponse:
    """Forget a host; its containers keep running on the engine."""
    await core(request).hosts.remove(request.match_info["host"], actor=actor(request))
    return web.Response(status=204)


@routes.post("/hosts/{host}/test", response=EngineVersion, errors=(404, 502))
async def test_host(request: web.Request) -> web.StreamResponse:
    """Connect to a saved host's engine now and report its version."""
    ch = core(request)
    spec = ch.hosts.get(request.match_info["host"]).host.spec
    return json_response(await ch.hosts.test(spec))


@routes.post("/hosts/test", body=HOST_TEST, response=EngineVersion, errors=(502,))
async def test_url(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Connect to an engine URL before saving it as a host."""
    spec = HostSpec(slug="test", name="test", url=body["url"])
    return json_response(await core(request).hosts.test(spec))
