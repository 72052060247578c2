"""/api/v1/operations and image pulls: long operations started by one request and followed by
others (or by the SSE stream's ``operation`` topic).

``POST /hosts/{host}/images/pull`` validates the reference and the host, starts the pull and
answers 202 with the RUNNING operation; ``?wait=N`` (0-30) waits for it: 200 with the finished
operation, or 202 still running. ``GET /operations/{id}`` follows it (progress per layer,
outcome in ``result``, or ``error``/``error_code``), ``POST /operations/{id}/cancel`` stops it
(409 once it has ended). Finished operations are kept an hour.

A scoped API key pulls only on hosts it reaches whole (the auth middleware checks the
``{host}`` of the pull path), and sees and cancels only operations of such hosts (here, as the
operation routes carry no host).
"""

from __future__ import annotations

from typing import Any, Final

import voluptuous as vol
from aiohttp import web

from chrontainer_core.models import Operation, OperationStatus
from chrontainer_core.operations import OperationManager
from chrontainer_core.registries.reference import MAX_REFERENCE
from chrontainer_core.validate import Slug
from chrontainer_server.auth.errors import Forbidden

from .context import actor, core, scope
from .spec import ApiRoutes, ListOf, json_response, list_response

__all__ = ["routes"]

routes = ApiRoutes(tag="operations")

MAX_WAIT: Final = 30

ID: Final = {"id": vol.All(str, vol.Match(r"^[A-Za-z0-9_-]{1,64}\Z"))}
PULL_BODY: Final = {
    vol.Required("image", description="image reference, e.g. nginx:1.27 or "
                                      "ghcr.io/owner/app@sha256:..."):
        vol.All(str, vol.Length(min=1, max=MAX_REFERENCE)),
}
PULL_QUERY: Final = {
    vol.Optional("wait", default=0, description="seconds to wait for the pull to end "
                                                 "(200 when it did, else 202)"):
        vol.All(vol.Coerce(int), vol.Range(min=0, max=MAX_WAIT)),
}
LIST_QUERY: Final = {
    vol.Optional("kind", description="e.g. image.pull"): vol.All(str, vol.Length(min=1,
                                                                                 max=64)),
    vol.Optional("host", description="host slug"): Slug(),
    vol.Optional("status"): vol.In([s.value for s in OperationStatus]),
}


def _operations(request: web.Request) -> OperationManager:
    return core(request).operations


def _reachable(request: web.Request, op: Operation, *, change: bool = False) -> Operation:
    """Refuse a scoped key an operation of a host it may not read (or, to change it, reach
    whole)."""
    key_scope = scope(request)
    if key_scope is not None:
        allowed = (key_scope.allows_whole_host(op.host) if change
                   else key_scope.allows_host(op.host))
        if not allowed:
            raise Forbidden(f"this API key is not scoped to host '{op.host}'")
    return op


@routes.post("/hosts/{host}/images/pull", body=PULL_BODY, query=PULL_QUERY, response=Operation,
             status=202, also={200: Operation}, errors=(404,), tag="images")
async def pull_image(request: web.Request, *, body: dict[str, Any],
                     query: dict[str, Any]) -> web.StreamResponse:
    """Pull an image on a host: 202 with the running operation, or 200 with the finished one
    when it ended within ``wait`` seconds (a failed pull is a finished operation too)."""
    runtime = core(request)
    op = runtime.pulls.start(request.match_info["host"], body["image"], actor=actor(request))
    if query["wait"] > 0:
        op = await runtime.operations.wait(op.id, query["wait"])
    return json_response(op, status=202 if op.status is OperationStatus.RUNNING else 200)


@routes.get("/operations", query=LIST_QUERY, response=ListOf(Operation))
async def list_operations(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """Running operations and those finished within the last hour, newest first."""
    items = _operations(request).list(kind=query.get("kind"), host=query.get("host"),
                                      status=query.get("status"))
    key_scope = scope(request)
    if key_scope is not None:
        items = [op for op in items if key_scope.allows_host(op.host)]
    return list_response(items)


@routes.get("/operations/{id}", path_params=ID, response=Operation, errors=(404,))
async def get_operation(request: web.Request, *,
                        path_params: dict[str, Any]) -> web.StreamResponse:
    """One operation: its progress, or how it ended."""
    op = _operations(request).get(path_params["id"])
    return json_response(_reachable(request, op))


@routes.post("/operations/{id}/cancel", path_params=ID, response=Operation, errors=(404, 409))
async def cancel_operation(request: web.Request, *,
                           path_params: dict[str, Any]) -> web.StreamResponse:
    """Cancel a running operation; answers once it has stopped (409 when it had ended)."""
    operations = _operations(request)
    op = _reachable(request, operations.get(path_params["id"]), change=True)
    return json_response(await operations.cancel(op.id, actor=actor(request)))
