"""``GET /health``: public, and says only ok or degraded (per-host detail needs a login)."""

from __future__ import annotations

from aiohttp import web

from chrontainer_core import HostStatus

from .context import core
from .spec import ApiRoutes, json_response

routes = ApiRoutes(tag="health")

HEALTH_SCHEMA = {
    "type": "object",
    "properties": {"status": {"type": "string", "enum": ["ok", "degraded"]}},
    "required": ["status"],
    "additionalProperties": False,
}


@routes.get("/health", response=HEALTH_SCHEMA, public=True)
async def get_health(request: web.Request) -> web.StreamResponse:
    """Liveness: ``ok``, or ``degraded`` while any host is offline."""
    offline = any(s.status is HostStatus.OFFLINE for s in core(request).hosts.states())
    return json_response({"status": "degraded" if offline else "ok"})
