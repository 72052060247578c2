"""Images: cross-host list, inspect, history, delete (single and bulk), tag, prune, disk use
per repository, and Docker Hub search (through an engine).

``{ref}`` is an image id (``sha256:...`` or bare hex, a unique prefix of >= 12), or a reference
(``nginx``, ``team/app:v1``, ``127.0.0.1:5999/team/app:v1``, ``repo@sha256:...``). References
contain ``/``: clients percent-encode it as ``%2F`` in the path (aiohttp decodes the segment
after routing, so ``/hosts/local/images/127.0.0.1:5999%2Fteam%2Fapp:v1`` addresses that tag).

The disk use lives at ``/hosts/{host}/images-disk``, not below ``/images/``, where ``disk``
would be read as an image named ``disk``.

A scoped API key reads the images of the hosts it reaches, but changes images (delete, tag,
prune) only on hosts it reaches as a whole: images are shared by every container of a host.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

import voluptuous as vol
from aiohttp import web

from chrontainer_core.images import SORT_KEYS, BulkImageResult, ImageFilter
from chrontainer_core.models import (
    HostState,
    HostStatus,
    HubSearchResult,
    Image,
    ImageDiskUsage,
    ImageHistoryEntry,
    ImageRemoval,
    PruneResult,
)
from chrontainer_core.serialize import to_jsonable
from chrontainer_core.validate import Slug
from chrontainer_server.auth.errors import Forbidden

from .context import actor, core, require_whole_host, scope
from .redact import hides_env_values, redact_inspect
from .spec import ApiRoutes, ListOf, json_response, jsonable_response

__all__ = ["routes"]

routes = ApiRoutes(tag="images")

ONE: Final = "/hosts/{host}/images/{ref}"
MAX_BULK: Final = 100
_MAX_BYTES: Final = 2**62
_MAX_DAYS: Final = 36_500
SIZE = vol.All(vol.Coerce(int), vol.Range(min=0, max=_MAX_BYTES))
DAYS = vol.All(vol.Coerce(int), vol.Range(min=0, max=_MAX_DAYS))
SORTS: Final = [*SORT_KEYS, *(f"-{k}" for k in SORT_KEYS)]
REF = vol.All(str, vol.Length(min=1, max=512))

LIST_QUERY = {
    vol.Optional("host"): Slug(),
    vol.Optional("repository", description="case-insensitive substring of a repository"):
        vol.All(str, vol.Length(min=1, max=256)),
    vol.Optional("tag", description="case-insensitive substring of a tag"):
        vol.All(str, vol.Length(min=1, max=128)),
    vol.Optional("dangling", description="true: only untagged images; false: only tagged"):
        vol.Boolean(),
    vol.Optional("min_size", description="bytes"): SIZE,
    vol.Optional("max_size", description="bytes"): SIZE,
    vol.Optional("min_age_days", description="created at least this many days ago"): DAYS,
    vol.Optional("max_age_days", description="created at most this many days ago"): DAYS,
    vol.Optional("sort", default="repository",
                 description="a leading '-' sorts descending"): vol.In(SORTS),
}
# A listed image: the Image model plus the 12-hex short id people know from `docker images`.
IMAGE_ITEM = {
    "allOf": [
        Image,
        {"type": "object", "properties": {"id_short": {"type": "string"}},
         "required": ["id_short"]},
    ]
}
LISTING = ListOf(IMAGE_ITEM,
                 extra={"hosts": {"type": "object", "additionalProperties": HostState}})
REMOVE_QUERY = {vol.Optional("force", default=False,
                             description="also remove an image only stopped containers use, "
                                         "or an id tagged in several repositories"):
                vol.Boolean()}
BULK_BODY = {
    vol.Required("targets"): vol.All(
        [{vol.Required("host"): Slug(), vol.Required("ref"): REF}],
        vol.Length(min=1, max=MAX_BULK),
    ),
    vol.Optional("force", default=False): bool,
}
BULK_RESULT = {"type": "object",
               "properties": {"items": {"type": "array", "items": BulkImageResult}},
               "required": ["items"], "additionalProperties": False}
PRUNE_BODY = {
    vol.Optional("dangling_only", default=True,
                 description="true (default): untagged images only; false: every image no "
                             "container uses"): bool,
    vol.Optional("label", description="only images carrying this label: 'key' or "
                                      "'key=value'"):
        vol.All(str, vol.Match(r"^[^=\x00-\x1f\x7f]{1,255}(=[^\x00-\x1f\x7f]{0,1024})?$")),
}
TAG_BODY = {
    vol.Required("repository", description="e.g. team/app or 127.0.0.1:5999/team/app"):
        vol.All(str, vol.Length(min=1, max=255)),
    vol.Required("tag"): vol.All(str, vol.Length(min=1, max=128)),
}
SEARCH_QUERY = {
    vol.Required("term"): vol.All(str, vol.Length(min=1, max=255)),
    vol.Optional("host", description="the engine that asks Docker Hub; default: the first "
                                     "online host"): Slug(),
    vol.Optional("limit", default=25): vol.All(vol.Coerce(int), vol.Range(min=1, max=100)),
}
HISTORY = {"type": "object",
           "properties": {"items": {"type": "array", "items": ImageHistoryEntry}},
           "required": ["items"], "additionalProperties": False}
SEARCH_RESULT = {"type": "object",
                 "properties": {"items": {"type": "array", "items": HubSearchResult}},
                 "required": ["items"], "additionalProperties": False}


def _host_ref(request: web.Request) -> tuple[str, str]:
    return request.match_info["host"], request.match_info["ref"]


def _item(image: Image) -> dict[str, Any]:
    doc: dict[str, Any] = to_jsonable(image)
    doc["id_short"] = image.id.removeprefix("sha256:")[:12]
    return doc




def _filter(query: dict[str, Any]) -> ImageFilter:
    now = datetime.now(UTC)
    min_age, max_age = query.get("min_age_days"), query.get("max_age_days")
    return ImageFilter(
        host=query.get("host"),
        repository=query.get("repository"),
        tag=query.get("tag"),
        dangling=query.get("dangling"),
        min_size=query.get("min_size"),
        max_size=query.get("max_size"),
        created_before=now - timedelta(days=min_age) if min_age is not None else None,
        created_after=now - timedelta(days=max_age) if max_age is not None else None,
    )


@routes.get("/images", query=LIST_QUERY, response=LISTING, errors=(404,))
async def list_images(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """Every image of every host (or of ``host``), filtered and sorted.

    An offline host contributes no images; ``hosts`` tells its status and error.
    """
    listing = await core(request).images.list(_filter(query), sort=query["sort"])
    items, hosts = listing.items, listing.hosts
    key_scope = scope(request)
    if key_scope is not None:
        items = [i for i in items if key_scope.allows_host(i.host)]
        hosts = {slug: st for slug, st in hosts.items() if key_scope.allows_host(slug)}
    docs = [_item(i) for i in items]
    return jsonable_response({"items": docs, "total": len(docs), "hosts": to_jsonable(hosts)})


@routes.get(ONE, response={"type": "object"}, errors=(400, 404, 409, 502))
async def inspect_image(request: web.Request) -> web.StreamResponse:
    """The engine's inspect document of an image, unmodified, except for viewers.

    Viewers see environment variable names but not their values (``Config.Env`` and the
    build's ``ContainerConfig.Env``), like in a container's inspect.
    """
    document = await core(request).images.inspect(*_host_ref(request))
    if hides_env_values(request):
        document = redact_inspect(document)
        build = document.get("ContainerConfig")
        if isinstance(build, dict):
            redact_inspect({"Config": build})  # redacts in place
    return jsonable_response(document)


@routes.get(ONE + "/history", response=HISTORY, errors=(400, 404, 409, 502))
async def image_history(request: web.Request) -> web.StreamResponse:
    """An image's layers, newest first."""
    return json_response({"items": await core(request).images.history(*_host_ref(request))})


@routes.delete(ONE, query=REMOVE_QUERY, response=ImageRemoval, errors=(403, 404, 409, 502))
async def delete_image(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """Delete an image, or untag it when ``ref`` is one of its several tags.

    An image that containers use is refused with 409, ``details.containers`` naming them
    (with ``force``, only running ones still block).
    """
    host, ref = _host_ref(request)
    require_whole_host(request, host)
    removal = await core(request).images.remove(host, ref, force=query["force"],
                                                actor=actor(request))
    return json_response(removal)


@routes.post("/images/delete", body=BULK_BODY, response=BULK_RESULT, errors=(403,))
async def delete_images(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Delete several images; each item reports its own result."""
    targets = [(t["host"], t["ref"]) for t in body["targets"]]
    for host, _ in targets:
        require_whole_host(request, host)
    items = await core(request).images.bulk_remove(targets, force=body["force"],
                                                   actor=actor(request))
    return json_response({"items": items})


@routes.post("/hosts/{host}/images/prune", body=PRUNE_BODY, response=PruneResult,
             errors=(403, 404, 502))
async def prune_images(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Remove unused images of a host and report the bytes reclaimed."""
    host = request.match_info["host"]
    require_whole_host(request, host)
    result = await core(request).images.prune(host, dangling_only=body["dangling_only"],
                                              label=body.get("label"), actor=actor(request))
    return json_response(result)


@routes.post(ONE + "/tag", body=TAG_BODY, response=IMAGE_ITEM, status=201,
             errors=(403, 404, 409, 502))
async def tag_image(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Add a tag (``repository:tag``) to an image; the tagged image comes back."""
    host, ref = _host_ref(request)
    require_whole_host(request, host)
    image = await core(request).images.tag(host, ref, body["repository"], body["tag"],
                                           actor=actor(request))
    return jsonable_response(_item(image), status=201)


@routes.get("/hosts/{host}/images-disk", response=ImageDiskUsage, errors=(404, 502))
async def image_disk_usage(request: web.Request) -> web.StreamResponse:
    """Disk use of a host's images per repository: size and what removing unused images
    would free (``total`` counts shared layers once)."""
    return json_response(await core(request).images.disk_usage(request.match_info["host"]))


@routes.get("/images/search", query=SEARCH_QUERY, response=SEARCH_RESULT,
            errors=(403, 404, 502))
async def search_images(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """Search Docker Hub through an engine; 502 ``registry_unreachable`` when it is offline."""
    host = query.get("host")
    key_scope = scope(request)
    if key_scope is not None:
        if host is not None and not key_scope.allows_host(host):
            raise Forbidden(f"this API key is not scoped to host '{host}'")
        if host is None:
            allowed = [s for s in core(request).hosts.states() if key_scope.allows_host(s.slug)]
            if not allowed:
                raise Forbidden("this API key reaches no host")
            online = [s for s in allowed if s.status is HostStatus.ONLINE]
            host = (online or allowed)[0].slug
    results = await core(request).images.search_hub(host, query["term"], limit=query["limit"])
    return json_response({"items": results})

