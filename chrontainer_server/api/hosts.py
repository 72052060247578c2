"""Hosts: list, add, read, edit, remove, and test a connection.

A ``tcp://`` host may carry TLS material (``tls``: CA certificate, client certificate and client
key, PEM). It is write-only: responses say ``tls: true`` and never contain the PEMs.
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from aiohttp import web

from chrontainer_core import HostSpec, HostState, HostTLS
from chrontainer_core.models import UNCHANGED, EngineVersion, HostDetails
from chrontainer_core.validate import DockerUrl, HostName, PemCertificates, PemPrivateKey, Slug

from .context import actor, core, scope
from .spec import ApiRoutes, ListOf, json_response, list_response

routes = ApiRoutes(tag="hosts")

TLS_MATERIAL = {
    vol.Required("ca_cert", description="PEM: the CA that signed the engine's certificate"):
        PemCertificates(),
    vol.Required("client_cert", description="PEM: the client certificate (clientAuth)"):
        PemCertificates(),
    vol.Required("client_key", description="PEM, unencrypted; stored encrypted, never returned"):
        PemPrivateKey(),
}
_TLS_DESCRIPTION = "TLS of a tcp:// engine started with --tlsverify: all three PEMs together"

HOST_CREATE = {
    vol.Required("slug", description="immutable id: lowercase letters, digits and '-'"): Slug(),
    vol.Optional("name", description="display name (default: the slug)"): HostName,
    vol.Required("url", description="unix:///path/docker.sock or tcp://host:port"): DockerUrl(),
    vol.Optional("tls", description=_TLS_DESCRIPTION): TLS_MATERIAL,
}
HOST_UPDATE = vol.All(
    {
        vol.Optional("name"): HostName,
        vol.Optional("url"): DockerUrl(),
        vol.Optional("tls", description=f"{_TLS_DESCRIPTION}; null removes TLS"):
            vol.Maybe(TLS_MATERIAL),
    },
    vol.Length(min=1, msg="give name, url and/or tls"),
)
HOST_TEST = {
    vol.Required("url"): DockerUrl(),
    vol.Optional("tls", description=_TLS_DESCRIPTION): TLS_MATERIAL,
}


def _tls(body: dict[str, Any]) -> HostTLS | None:
    material = body.get("tls")
    return HostTLS(**material) if material is not None else None


@routes.get("/hosts", response=ListOf(HostState))
async def list_hosts(request: web.Request) -> web.StreamResponse:
    """Every host with its status, last error and engine version."""
    states = core(request).hosts.states()
    key_scope = scope(request)
    if key_scope is not None:
        states = [s for s in states if key_scope.allows_host(s.slug)]
    return list_response(states)


@routes.post("/hosts", body=HOST_CREATE, response=HostState, status=201, errors=(409,))
async def add_host(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Add a Docker host."""
    spec = HostSpec(slug=body["slug"], name=body.get("name") or body["slug"], url=body["url"],
                    tls=_tls(body))
    state = await core(request).hosts.add(spec, actor=actor(request))
    return json_response(state, status=201)


@routes.get("/hosts/{host}", response=HostState, errors=(404,))
async def get_host(request: web.Request) -> web.StreamResponse:
    """One host."""
    return json_response(core(request).hosts.get(request.match_info["host"]).state())


@routes.patch("/hosts/{host}", body=HOST_UPDATE, response=HostState, errors=(404,))
async def update_host(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Change a host's display name, URL or TLS material (the slug never changes).

    Sending ``tls`` again is also how a host whose stored key can no longer be decrypted (the
    secret key changed) is repaired; ``tls: null`` removes TLS.
    """
    state = await core(request).hosts.update(
        request.match_info["host"], name=body.get("name"), url=body.get("url"),
        tls=_tls(body) if "tls" in body else UNCHANGED,
        actor=actor(request),
    )
    return json_response(state)


@routes.delete("/hosts/{host}", status=204, errors=(404,))
async def remove_host(request: web.Request) -> web.StreamResponse:
    """Forget a host; its containers keep running on the engine."""
    await core(request).hosts.remove(request.match_info["host"], actor=actor(request))
    return web.Response(status=204)


@routes.get(
    "/hosts/{host}/info",
    query={vol.Optional("refresh", default=False, description="read disk use again now"):
           vol.Boolean()},
    response=HostDetails,
    errors=(404, 502),
)
async def host_info(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """Machine info (OS, kernel, CPUs, memory, engine) and disk use (cached 5 min)."""
    details = await core(request).host_info.details(
        request.match_info["host"], refresh=query["refresh"]
    )
    return json_response(details)


@routes.post("/hosts/{host}/test", response=EngineVersion, errors=(404, 409, 502))
async def test_host(request: web.Request) -> web.StreamResponse:
    """Connect to a saved host's engine now and report its version."""
    ch = core(request)
    spec = ch.hosts.get(request.match_info["host"]).host.spec
    return json_response(await ch.hosts.test(spec))


@routes.post("/hosts/test", body=HOST_TEST, response=EngineVersion, errors=(502,))
async def test_url(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Connect to an engine URL (with its TLS material, if any) before saving it as a host."""
    spec = HostSpec(slug="test", name="test", url=body["url"], tls=_tls(body))
    return json_response(await core(request).hosts.test(spec))
