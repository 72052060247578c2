"""Container updates: what the last checks found, checking now, the safe update of one container
or of several, and the update journal (history).

``POST /updates/check`` and ``POST /hosts/{host}/containers/{ref}/update`` start long operations
(kinds ``update.check`` and ``container.update``): 202 with the running operation, or 200 with the
finished one when it ended within ``?wait=`` seconds (a failed update is a finished operation too:
``error_code`` ``update_failed`` when it was rolled back, a registry error code when the pull
failed and the container was left untouched). Progress rides the SSE ``operation`` topic; check
results the ``update.status`` topic.

A scoped API key sees the checks and the history of its containers only, updates only its
containers (the auth middleware checks the single-container route; the bulk and check routes
check here) and checks only whole hosts or containers of its scope: without a host or targets a
check covers every container of every host, which no scoped key may ask for.
"""

from __future__ import annotations

from typing import Any, Final

import voluptuous as vol
from aiohttp import web

from chrontainer_core import BulkTarget
from chrontainer_core.errors import InvalidInput
from chrontainer_core.models import Operation, OperationStatus
from chrontainer_core.updates.models import JournalEntry, UpdateCheck, UpdateState
from chrontainer_core.updates.service import BulkUpdateItem
from chrontainer_core.validate import Slug
from chrontainer_server.auth.apikeys import KeyScope
from chrontainer_server.auth.errors import Forbidden

from .context import actor, core, require_targets_in_scope, scope
from .spec import ApiRoutes, ListOf, json_response, list_response

__all__ = ["routes"]

routes = ApiRoutes(tag="updates")

MAX_TARGETS: Final = 100
MAX_CHECK_WAIT: Final = 120
MAX_UPDATE_WAIT: Final = 300
MAX_HISTORY: Final = 500
# A scoped key's history is filtered here, so the journal is read in pages of this size.

REF = vol.All(str, vol.Length(min=1, max=512))
TARGETS = vol.All(
    [{vol.Required("host"): Slug(), vol.Required("ref"): REF}],
    vol.Length(min=1, max=MAX_TARGETS),
)

LIST_QUERY: Final = {
    vol.Optional("host"): Slug(),
    vol.Optional("state"): vol.In([s.value for s in UpdateState]),
}
CHECK_BODY: Final = {
    vol.Optional("host", description="check every container of this host"): Slug(),
    vol.Optional("targets", description="check these containers (not with host); without "
                                        "host and targets: every container of every host"):
        TARGETS,
}
CHECK_QUERY: Final = {
    vol.Optional("wait", default=0, description="seconds to wait for the check to end "
                                                 "(200 when it did, else 202)"):
        vol.All(vol.Coerce(int), vol.Range(min=0, max=MAX_CHECK_WAIT)),
}
UPDATE_QUERY: Final = {
    vol.Optional("wait", default=0, description="seconds to wait for the update to end "
                                                 "(200 when it did, else 202)"):
        vol.All(vol.Coerce(int), vol.Range(min=0, max=MAX_UPDATE_WAIT)),
}
BULK_BODY: Final = {vol.Required("targets"): TARGETS}
BULK_RESULT: Final = {"type": "object",
                      "properties": {"items": {"type": "array", "items": BulkUpdateItem}},
                      "required": ["items"], "additionalProperties": False}
HISTORY_QUERY: Final = {
    vol.Optional("host"): Slug(),
    vol.Optional("limit", default=50): vol.All(vol.Coerce(int), vol.Range(min=1,
                                                                           max=MAX_HISTORY)),
    vol.Optional("offset", default=0): vol.All(vol.Coerce(int),
                                               vol.Range(min=0, max=2**31 - 1)),
}


def _known_host(request: web.Request, host: str | None) -> None:
    """An unknown host in a filter is a 404, as on the container list."""
    if host is not None:
        core(request).hosts.get(host)  # raises NotFound


def _targets(body: dict[str, Any]) -> list[BulkTarget] | None:
    raw = body.get("targets")
    return None if raw is None else [BulkTarget(host=t["host"], ref=t["ref"]) for t in raw]


async def _waited(request: web.Request, op: Operation, wait: int) -> web.StreamResponse:
    if wait > 0:
        op = await core(request).operations.wait(op.id, wait)
    return json_response(op, status=202 if op.status is OperationStatus.RUNNING else 200)


@routes.get("/updates", query=LIST_QUERY, response=ListOf(UpdateCheck), errors=(404,))
async def list_updates(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """The last update check of every container (by host and container key), sorted by host
    and key; ``state=available`` lists the containers a newer image is published for."""
    host = query.get("host")
    _known_host(request, host)
    items = core(request).updates.statuses(host)
    state = query.get("state")
    key_scope = scope(request)
    items = [c for c in items
             if (state is None or c.state.value == state)
             and (key_scope is None or key_scope.allows_container(c.host, c.key))]
    return list_response(items)


@routes.post("/updates/check", body=CHECK_BODY, query=CHECK_QUERY, response=Operation,
             status=202, also={200: Operation}, errors=(403, 404))
async def check_updates(request: web.Request, *, body: dict[str, Any],
                        query: dict[str, Any]) -> web.StreamResponse:
    """Ask the registries now whether newer images are published: for every container, the
    containers of ``host``, or ``targets``; one registry request per image reference.

    The operation's ``result`` is the summary (counts as strings: checked, available,
    up_to_date, pinned, local, errors, registry_requests).
    """
    host, targets = body.get("host"), _targets(body)
    if host is not None and targets is not None:
        raise InvalidInput("give host or targets, not both", field="targets")
    key_scope: KeyScope | None = scope(request)
    if key_scope is not None:
        if host is None and targets is None:
            raise Forbidden("this API key is scoped: name a host or targets within its scope")
        if host is not None and not key_scope.allows_whole_host(host):
            raise Forbidden(f"this API key is not scoped to the whole host '{host}'")
    _known_host(request, host)
    if targets is not None:
        await require_targets_in_scope(request, targets)
    op = await core(request).updates.start_check(host=host, targets=targets,
                                                 actor=actor(request))
    return await _waited(request, op, query["wait"])


@routes.post("/hosts/{host}/containers/{ref}/update", query=UPDATE_QUERY, response=Operation,
             status=202, also={200: Operation}, errors=(403, 404, 409), tag="containers")
async def update_container(request: web.Request, *,
                           query: dict[str, Any]) -> web.StreamResponse:
    """Update a container to the newest image of its own reference, safely: pull first, then
    recreate it with the same settings, and roll back when the new one does not stay up.

    409 when the update is refused: Chrontainer's own container, a container others join with
    ``network_mode: container:...`` (``details`` names them), or an update of it already
    running.
    """
    op = await core(request).updates.start(request.match_info["host"],
                                           request.match_info["ref"], actor=actor(request))
    return await _waited(request, op, query["wait"])


@routes.post("/containers/update", body=BULK_BODY, response=BULK_RESULT, status=202,
             errors=(403,), tag="containers")
async def update_containers(request: web.Request, *,
                            body: dict[str, Any]) -> web.StreamResponse:
    """Start the update of several containers; each item has its operation, or why it was
    refused (``error``: code, message, details)."""
    targets = _targets(body) or []
    await require_targets_in_scope(request, targets)
    items = await core(request).updates.start_many(targets, actor=actor(request))
    return json_response({"items": items}, status=202)


@routes.get("/updates/history", query=HISTORY_QUERY, response=ListOf(JournalEntry),
            errors=(403, 404))
async def update_history(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """The update journal, newest first: each update's steps, outcome and error."""
    host, limit, offset = query.get("host"), query["limit"], query["offset"]
    _known_host(request, host)
    key_scope = scope(request)
    if key_scope is not None and host is not None and not key_scope.allows_host(host):
        raise Forbidden(f"this API key is not scoped to host '{host}'")
    items, total = await core(request).updates.history(
        host=host, limit=limit, offset=offset,
        visible=key_scope.allows_container if key_scope is not None else None)
    return list_response(items, total=total)
