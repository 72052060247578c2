"""Tags and web-UI links: the tag list, and a container key's tags and link.

Tags are attached to a container's stable key (DESIGN §3a), so they survive recreation; the
body schemas are the core's validators (:mod:`chrontainer_core.tag_rules`), so both refuse the
same input.

A scoped API key reaches only its containers: the auth middleware checks the ``{host}/{ref}``
routes; here, a tag it lists counts only its containers, and it may rename, recolour or delete a
tag only when no container outside its scope carries it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import voluptuous as vol
from aiohttp import web

from chrontainer_core.errors import NotFound
from chrontainer_core.models import ContainerMeta, Tag
from chrontainer_core.serialize import to_jsonable
from chrontainer_core.tag_rules import TAG_IDS, Colour, TagName, WebUrl
from chrontainer_core.tags import TagService
from chrontainer_server.auth.errors import Forbidden

from .context import actor, core, scope
from .spec import ApiRoutes, ListOf, json_response, jsonable_response

routes = ApiRoutes(tag="tags")

ONE = "/hosts/{host}/containers/{ref}"

TAG_ID: Final = {"id": vol.All(vol.Coerce(int), vol.Range(min=1, max=2**31 - 1))}
TAG_CREATE: Final = {
    vol.Required("name", description="1-64 characters, unique ignoring case"): TagName(),
    vol.Required("colour", description="#rrggbb (stored lowercase)"): Colour(),
}
TAG_UPDATE: Final = vol.All(
    {vol.Optional("name"): TagName(), vol.Optional("colour"): Colour()},
    vol.Length(min=1, msg="give name and/or colour"),
)
SET_TAGS: Final = {
    vol.Required("tags", description="ids of every tag the container should carry; [] clears"):
        TAG_IDS,
}
SET_LINK: Final = {
    vol.Required("url", description="http(s) URL of the container's web UI; null clears"):
        vol.Maybe(WebUrl()),
}
# A listed tag: the Tag model plus how many container keys carry it.
TAG_WITH_COUNT: Final = {
    "allOf": [
        Tag,
        {
            "type": "object",
            "properties": {"containers": {
                "type": "integer", "minimum": 0,
                "description": "container keys carrying it (kept for recreation: a removed "
                               "container's key counts too)",
            }},
            "required": ["containers"],
        },
    ]
}


def service(request: web.Request) -> TagService:
    """The tag service of the runtime; library-mode runtimes have none.

    Raises:
        NotFound: The runtime has no database (never the case under ``serve``).
    """
    tags = core(request).tags
    if tags is None:
        raise NotFound("this server keeps no tags (no database)")
    return tags


def _visible(request: web.Request, keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    key_scope = scope(request)
    if key_scope is None:
        return list(keys)
    return [(host, key) for host, key in keys if key_scope.allows_container(host, key)]


def _check_tag_scope(request: web.Request, tags: TagService, tag_id: int) -> None:
    """A scoped key may change a tag only when every container carrying it is in its scope."""
    if scope(request) is None:
        return
    carriers = tags.carriers(tags.get(tag_id).id)
    if len(_visible(request, carriers)) != len(carriers):
        raise Forbidden("this API key is not scoped to every container carrying this tag")


@routes.get("/tags", response=ListOf(TAG_WITH_COUNT), errors=(404,))
async def list_tags(request: web.Request) -> web.StreamResponse:
    """Every tag, sorted by name, with how many container keys carry it."""
    tags = service(request)
    items = [{**to_jsonable(t), "containers": len(_visible(request, tags.carriers(t.id)))}
             for t in tags.tags()]
    return jsonable_response({"items": items, "total": len(items)})


@routes.post("/tags", body=TAG_CREATE, response=Tag, status=201, errors=(404, 409))
async def create_tag(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Create a tag; 409 when the name is taken (ignoring case)."""
    tag = await service(request).create(body["name"], body["colour"], actor=actor(request))
    return json_response(tag, status=201)


@routes.patch("/tags/{id}", path_params=TAG_ID, body=TAG_UPDATE, response=Tag,
              errors=(403, 404, 409))
async def update_tag(request: web.Request, *, path_params: dict[str, Any],
                     body: dict[str, Any]) -> web.StreamResponse:
    """Rename a tag or change its colour; every container carrying it shows the change."""
    tags = service(request)
    _check_tag_scope(request, tags, path_params["id"])
    tag = await tags.update(path_params["id"], name=body.get("name"), colour=body.get("colour"),
                            actor=actor(request))
    return json_response(tag)


@routes.delete("/tags/{id}", path_params=TAG_ID, status=204, errors=(403, 404))
async def delete_tag(request: web.Request, *, path_params: dict[str, Any]) -> web.StreamResponse:
    """Delete a tag; it is removed from every container carrying it."""
    tags = service(request)
    _check_tag_scope(request, tags, path_params["id"])
    await tags.delete(path_params["id"], actor=actor(request))
    return web.Response(status=204)


@routes.put(ONE + "/tags", body=SET_TAGS, response=ContainerMeta, errors=(403, 404, 409, 502))
async def set_container_tags(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Replace the tags of a container (by its stable key, so they survive recreation).

    404 for an unknown host, container or tag id.
    """
    meta = await service(request).set_tags(
        request.match_info["host"], request.match_info["ref"], body["tags"],
        actor=actor(request),
    )
    return json_response(meta)


@routes.put(ONE + "/link", body=SET_LINK, response=ContainerMeta, errors=(403, 404, 409, 502))
async def set_container_link(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Set the web-UI link of a container (http or https), or clear it with null."""
    meta = await service(request).set_link(
        request.match_info["host"], request.match_info["ref"], body["url"],
        actor=actor(request),
    )
    return json_response(meta)
