"""Volumes: the cross-host list, inspect, create, delete and prune.

A scoped API key reads the volumes of the hosts it reaches, but changes volumes (create,
delete, prune) only on hosts it reaches as a whole: volumes are shared by a host's containers.
"""

from __future__ import annotations

from typing import Any, Final

import voluptuous as vol
from aiohttp import web

from chrontainer_core.models import HostState, PruneResult, Volume
from chrontainer_core.serialize import to_jsonable
from chrontainer_core.validate import Slug
from chrontainer_core.volumes.service import SORT_KEYS, VolumeFilter

from .context import actor, core, require_whole_host, scope
from .spec import ApiRoutes, ListOf, json_response, jsonable_response

__all__ = ["routes"]

routes = ApiRoutes(tag="volumes")

ONE: Final = "/hosts/{host}/volumes/{name}"
SORTS: Final = [*SORT_KEYS, *(f"-{k}" for k in SORT_KEYS)]
NAME_PATTERN: Final = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$"
NAME = vol.All(str, vol.Match(NAME_PATTERN, msg="expected a volume name: letters, digits, "
                                                "_ . - (starting with a letter or digit)"))
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
KEY = vol.All(str, vol.Length(min=1, max=255), vol.Match(r"^[^=\x00-\x1f\x7f]+$"))
VALUE = vol.All(str, vol.Length(max=4096), vol.Match(_PRINTABLE))
STRING_MAP = vol.All({KEY: VALUE}, vol.Length(max=100))

HOST_PARAMS = {vol.Required("host"): Slug()}
ONE_PARAMS = {vol.Required("host"): Slug(), vol.Required("name"): NAME}
LIST_QUERY = {
    vol.Optional("host"): Slug(),
    vol.Optional("name", description="case-insensitive substring of the name"):
        vol.All(str, vol.Length(min=1, max=255)),
    vol.Optional("driver", description="exact driver name (case-insensitive)"):
        vol.All(str, vol.Length(min=1, max=255)),
    vol.Optional("in_use", description="true: only volumes a container (any state) mounts; "
                                       "false: only unused ones"): vol.Boolean(),
    vol.Optional("sort", default="name",
                 description="a leading '-' sorts descending"): vol.In(SORTS),
}
LISTING = ListOf(Volume, extra={"hosts": {"type": "object", "additionalProperties": HostState}})
CREATE_BODY = {
    vol.Optional("name", default="",
                 description="empty or absent: the engine generates a name"):
        vol.Any(vol.All(str, vol.Length(max=0)), NAME),
    vol.Optional("driver", default="local"):
        vol.All(str, vol.Match(r"^[a-zA-Z0-9][a-zA-Z0-9_.:/-]{0,254}$")),
    vol.Optional("driver_opts", default=dict,
                 description="e.g. type=tmpfs, device=tmpfs, o=size=1m"): STRING_MAP,
    vol.Optional("labels", default=dict): STRING_MAP,
}
REMOVE_QUERY = {vol.Optional("force", default=False,
                             description="the engine's force (driver-level errors); a volume "
                                         "a container uses is refused all the same"):
                vol.Boolean()}
PRUNE_BODY = {
    vol.Optional("all", default=False,
                 description="false (default): anonymous volumes only; true: every volume "
                             "no container uses"): bool,
    vol.Optional("label", description="only volumes carrying this label: 'key' or "
                                      "'key=value'"):
        vol.All(str, vol.Match(r"^[^=\x00-\x1f\x7f]{1,255}(=[^\x00-\x1f\x7f]{0,1024})?$")),
}




@routes.get("/volumes", query=LIST_QUERY, response=LISTING, errors=(404,))
async def list_volumes(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """Every volume of every host (or of ``host``), with sizes and users, filtered and sorted.

    An offline host contributes no volumes; ``hosts`` tells its status and error. ``size`` is
    null when the engine did not report it in time.
    """
    flt = VolumeFilter(host=query.get("host"), name=query.get("name"),
                       driver=query.get("driver"), in_use=query.get("in_use"))
    listing = await core(request).volumes.list(flt, sort=query["sort"])
    items, hosts = listing.items, listing.hosts
    key_scope = scope(request)
    if key_scope is not None:
        items = [v for v in items if key_scope.allows_host(v.host)]
        hosts = {slug: st for slug, st in hosts.items() if key_scope.allows_host(slug)}
    return jsonable_response({"items": to_jsonable(items), "total": len(items),
                              "hosts": to_jsonable(hosts)})


@routes.post("/hosts/{host}/volumes", path_params=HOST_PARAMS, body=CREATE_BODY,
             response=Volume, status=201, errors=(400, 403, 404, 409, 502))
async def create_volume(request: web.Request, *, path_params: dict[str, Any],
                        body: dict[str, Any]) -> web.StreamResponse:
    """Create a volume; 409 when the name is taken (the engine would silently reuse it)."""
    host = path_params["host"]
    require_whole_host(request, host)
    volume = await core(request).volumes.create(
        host, name=body["name"], driver=body["driver"], driver_opts=body["driver_opts"],
        labels=body["labels"], actor=actor(request))
    return json_response(volume, status=201)


@routes.post("/hosts/{host}/volumes/prune", path_params=HOST_PARAMS, body=PRUNE_BODY,
             response=PruneResult, errors=(400, 403, 404, 502))
async def prune_volumes(request: web.Request, *, path_params: dict[str, Any],
                        body: dict[str, Any]) -> web.StreamResponse:
    """Remove the volumes no container uses (anonymous ones only unless ``all``) and report
    their names and the bytes reclaimed."""
    host = path_params["host"]
    require_whole_host(request, host)
    result = await core(request).volumes.prune(host, all_unused=body["all"],
                                               label=body.get("label"), actor=actor(request))
    return json_response(result)


@routes.get(ONE, path_params=ONE_PARAMS, response=Volume, errors=(400, 404, 502))
async def get_volume(request: web.Request, *, path_params: dict[str, Any]
                     ) -> web.StreamResponse:
    """One volume, with its size and the containers using it."""
    return json_response(await core(request).volumes.get(path_params["host"],
                                                         path_params["name"]))


@routes.delete(ONE, path_params=ONE_PARAMS, query=REMOVE_QUERY, status=204,
               errors=(400, 403, 404, 409, 502))
async def delete_volume(request: web.Request, *, path_params: dict[str, Any],
                        query: dict[str, Any]) -> web.StreamResponse:
    """Delete a volume; one any container (running or stopped) uses is refused with 409,
    ``details.containers`` naming them."""
    host, name = path_params["host"], path_params["name"]
    require_whole_host(request, host)
    await core(request).volumes.remove(host, name, force=query["force"], actor=actor(request))
    return web.Response(status=204)
