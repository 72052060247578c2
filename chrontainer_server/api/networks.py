"""Networks: the cross-host list, inspect, create, delete, connect, disconnect and prune.

``{ref}`` is a network's id, its exact name, or a unique id prefix of at least 12 hex
characters. The body's ``container`` of connect/disconnect is a container ref (id, exact name,
unique id prefix).

A scoped API key reads the networks of the hosts it reaches, but changes networks (create,
delete, connect, disconnect, prune) only on hosts it reaches as a whole: networks are shared by
a host's containers.
"""

from __future__ import annotations

from typing import Any, Final

import voluptuous as vol
from aiohttp import web

from chrontainer_core.models import HostState, Network, PruneResult
from chrontainer_core.networks import DRIVERS, MAX_ALIASES, NetworkFilter, NetworkSpec
from chrontainer_core.serialize import to_jsonable
from chrontainer_core.validate import Slug

from .context import actor, core, require_whole_host, scope
from .spec import ApiRoutes, ListOf, json_response, jsonable_response

__all__ = ["routes"]

routes = ApiRoutes(tag="networks")

ONE: Final = "/hosts/{host}/networks/{ref}"
_PRINTABLE: Final = r"^[^\x00-\x1f\x7f]*$"
REF = vol.All(str, vol.Length(min=1, max=255))
KEY = vol.All(str, vol.Length(min=1, max=255), vol.Match(r"^[^=\x00-\x1f\x7f]+$"))
VALUE = vol.All(str, vol.Length(max=1024), vol.Match(_PRINTABLE))
STRING_MAP = vol.All({KEY: VALUE}, vol.Length(max=64))
TEXT = vol.All(str, vol.Length(min=1, max=64))

HOST_PARAMS = {vol.Required("host"): Slug()}
ONE_PARAMS = {vol.Required("host"): Slug(), vol.Required("ref"): REF}
LIST_QUERY = {
    vol.Optional("host"): Slug(),
    vol.Optional("name", description="case-insensitive substring of the name"):
        vol.All(str, vol.Length(min=1, max=255)),
    vol.Optional("driver", description="exact driver name (bridge, macvlan, host, null, ...)"):
        vol.All(str, vol.Length(min=1, max=255)),
}
LISTING = ListOf(Network, extra={"hosts": {"type": "object", "additionalProperties": HostState}})
CREATE_BODY = {
    vol.Required("name", description="letters, digits, _ . - (starting with a letter or "
                                     "digit), up to 128"):
        vol.All(str, vol.Length(min=1, max=128)),
    vol.Optional("driver", default="bridge"): vol.In(list(DRIVERS)),
    vol.Optional("subnet", description="CIDR without host bits, e.g. 10.20.0.0/24; absent: "
                                       "the engine picks one"): TEXT,
    vol.Optional("gateway", description="an address inside the subnet (needs subnet)"): TEXT,
    vol.Optional("ip_range", description="CIDR inside the subnet that containers get "
                                         "addresses from (needs subnet)"): TEXT,
    vol.Optional("parent", description="macvlan/ipvlan only: the host interface (eth0, "
                                       "eth0.10); absent: the engine makes an internal dummy "
                                       "parent"): TEXT,
    vol.Optional("internal", default=False, description="no route to the outside"): bool,
    vol.Optional("attachable", default=False,
                 description="standalone containers may join (swarm-scoped networks)"): bool,
    vol.Optional("enable_ipv6", default=False,
                 description="IPv6 on the network; a given subnet must then be IPv6"): bool,
    vol.Optional("labels", default=dict): STRING_MAP,
    vol.Optional("options", default=dict,
                 description="driver options, e.g. com.docker.network.bridge.name"): STRING_MAP,
}
PRUNE_BODY = {
    vol.Optional("label", description="only networks carrying this label: 'key' or "
                                      "'key=value'"):
        vol.All(str, vol.Match(r"^[^=\x00-\x1f\x7f]{1,255}(=[^\x00-\x1f\x7f]{0,1024})?$")),
}
CONNECT_BODY = {
    vol.Required("container", description="container id, exact name or unique id prefix"):
        REF,
    vol.Optional("aliases", default=list,
                 description="extra DNS names of the container on this network"):
        vol.All([vol.All(str, vol.Length(min=1, max=128))], vol.Length(max=MAX_ALIASES)),
    vol.Optional("ipv4_address", description="static IPv4 address inside the network's "
                                             "subnet"): TEXT,
    vol.Optional("ipv6_address", description="static IPv6 address inside the network's "
                                             "subnet"): TEXT,
}
DISCONNECT_BODY = {
    vol.Required("container", description="container id, exact name or unique id prefix"):
        REF,
    vol.Optional("force", default=False,
                 description="the engine's force (e.g. an endpoint left by a crash)"): bool,
}




@routes.get("/networks", query=LIST_QUERY, response=LISTING, errors=(404,))
async def list_networks(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """Every network of every host (or of ``host``), with its containers and their addresses.

    An offline host contributes no networks; ``hosts`` tells its status and error.
    """
    flt = NetworkFilter(host=query.get("host"), name=query.get("name"),
                        driver=query.get("driver"))
    listing = await core(request).networks.list(flt)
    items, hosts = listing.items, listing.hosts
    key_scope = scope(request)
    if key_scope is not None:
        items = [n for n in items if key_scope.allows_host(n.host)]
        hosts = {slug: st for slug, st in hosts.items() if key_scope.allows_host(slug)}
    return jsonable_response({"items": to_jsonable(items), "total": len(items),
                              "hosts": to_jsonable(hosts)})


@routes.post("/hosts/{host}/networks", path_params=HOST_PARAMS, body=CREATE_BODY,
             response=Network, status=201, errors=(403, 404, 409, 502))
async def create_network(request: web.Request, *, path_params: dict[str, Any],
                         body: dict[str, Any]) -> web.StreamResponse:
    """Create a network (bridge, macvlan or ipvlan); 409 when the name is taken or the
    engine refuses the subnet (overlapping another network's)."""
    host = path_params["host"]
    require_whole_host(request, host)
    spec = NetworkSpec(**body)
    network = await core(request).networks.create(host, spec, actor=actor(request))
    return json_response(network, status=201)


@routes.post("/hosts/{host}/networks/prune", path_params=HOST_PARAMS, body=PRUNE_BODY,
             response=PruneResult, errors=(403, 404, 502))
async def prune_networks(request: web.Request, *, path_params: dict[str, Any],
                         body: dict[str, Any]) -> web.StreamResponse:
    """Remove the networks no container uses (never bridge, host, none); ``deleted`` names
    them."""
    host = path_params["host"]
    require_whole_host(request, host)
    result = await core(request).networks.prune(host, label=body.get("label"),
                                                actor=actor(request))
    return json_response(result)


@routes.get(ONE, path_params=ONE_PARAMS, response={"type": "object"},
            errors=(404, 409, 502))
async def inspect_network(request: web.Request, *,
                          path_params: dict[str, Any]) -> web.StreamResponse:
    """The engine's inspect document of a network, unmodified."""
    document = await core(request).networks.inspect(path_params["host"], path_params["ref"])
    return jsonable_response(document)


@routes.delete(ONE, path_params=ONE_PARAMS, status=204, errors=(403, 404, 409, 502))
async def delete_network(request: web.Request, *,
                         path_params: dict[str, Any]) -> web.StreamResponse:
    """Delete a network; 409 while containers use it (``details.containers`` names them)
    and for the built-in bridge, host and none."""
    host = path_params["host"]
    require_whole_host(request, host)
    await core(request).networks.remove(host, path_params["ref"], actor=actor(request))
    return web.Response(status=204)


@routes.post(ONE + "/connect", path_params=ONE_PARAMS, body=CONNECT_BODY, response=Network,
             errors=(403, 404, 409, 502))
async def connect_network(request: web.Request, *, path_params: dict[str, Any],
                          body: dict[str, Any]) -> web.StreamResponse:
    """Connect a container, optionally with aliases and static addresses; the network as
    the engine sees it afterwards comes back."""
    host = path_params["host"]
    require_whole_host(request, host)
    network = await core(request).networks.connect(
        host, path_params["ref"], body["container"], aliases=body["aliases"],
        ipv4_address=body.get("ipv4_address"), ipv6_address=body.get("ipv6_address"),
        actor=actor(request))
    return json_response(network)


@routes.post(ONE + "/disconnect", path_params=ONE_PARAMS, body=DISCONNECT_BODY,
             response=Network, errors=(403, 404, 409, 502))
async def disconnect_network(request: web.Request, *, path_params: dict[str, Any],
                             body: dict[str, Any]) -> web.StreamResponse:
    """Disconnect a container; the network as the engine sees it afterwards comes back."""
    host = path_params["host"]
    require_whole_host(request, host)
    network = await core(request).networks.disconnect(
        host, path_params["ref"], body["container"], force=body["force"], actor=actor(request))
    return json_response(network)
