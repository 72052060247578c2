"""The activity feed: the audit trail's container actions, with who did them and how they ended.

``GET /activity`` is the viewer's window on the audit trail (the full trail at ``/audit`` is
for admins): only ``container.*`` actions, whoever did them (a user, an API key, a schedule, a
webhook, ...), filtered by host, actor kind and result, newest first. Container actions are
audited with target ``<host>/<container key>``, so the host filter is a target prefix.

A scoped API key sees only whole hosts of its scope: it must name one with ``host=`` (a key
scoped to single containers gets 403), as a feed of other hosts' containers would leak them.
The activity page (``ui/activity.py``) uses the same filters through :func:`activity_page`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import voluptuous as vol
from aiohttp import web

from chrontainer_core import ActorKind
from chrontainer_core.audit import RESULT_ERROR, RESULT_OK
from chrontainer_core.models import AuditEntry
from chrontainer_core.validate import Slug
from chrontainer_server.auth.errors import Forbidden

from .context import core, scope
from .spec import ApiRoutes, ListOf, list_response

__all__ = [
    "ACTION_PREFIX",
    "ACTIVITY_QUERY",
    "ActivityEntry",
    "activity_page",
    "actor_label",
    "routes",
]

routes = ApiRoutes(tag="activity")

# Container actions only (DESIGN: "the audit trail filtered to container actions").
ACTION_PREFIX: Final = "container."
RESULTS: Final = (RESULT_OK, RESULT_ERROR)
MAX_LIMIT: Final = 500

ACTIVITY_QUERY: Final = {
    vol.Optional("host", description="only this host's containers"): Slug(),
    vol.Optional("actor_kind", description="only actions of this kind of actor"):
        vol.In([k.value for k in ActorKind]),
    vol.Optional("result"): vol.In(RESULTS),
    vol.Optional("limit", default=50): vol.All(vol.Coerce(int), vol.Range(min=1, max=MAX_LIMIT)),
    vol.Optional("offset", default=0): vol.All(vol.Coerce(int), vol.Range(min=0, max=2**31 - 1)),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivityEntry:
    """One container action as the activity feed shows it.

    Attributes:
        time: When it was done (UTC).
        actor_kind: ``user``, ``api_key``, ``schedule``, ``webhook``, ...
        actor_id: The actor's id (user name, key id, schedule id, ...).
        actor_name: The actor's name (``alice``, ``nightly restart``).
        action: ``container.restart``, ...
        target: ``<host>/<container key>``.
        result: ``ok`` or ``error``.
        error: Why it failed.
    """

    time: datetime
    actor_kind: str
    actor_id: str
    actor_name: str
    action: str
    target: str
    result: str
    error: str | None = None

    @classmethod
    def of(cls, entry: AuditEntry) -> ActivityEntry:
        """The feed's form of an audit entry (the actor flattened, no source address)."""
        return cls(time=entry.time, actor_kind=entry.actor.kind.value, actor_id=entry.actor.id,
                   actor_name=entry.actor.name, action=entry.action, target=entry.target,
                   result=entry.result, error=entry.error)


def actor_label(entry: ActivityEntry) -> str:
    """How a person reads the actor: ``user: alice``, ``schedule: nightly restart``."""
    return f"{entry.actor_kind.replace('_', ' ')}: {entry.actor_name or entry.actor_id}"


async def activity_page(
    request: web.Request, query: Mapping[str, Any]
) -> tuple[list[ActivityEntry], int]:
    """One page of the feed for a validated :data:`ACTIVITY_QUERY`, and the filtered total.

    Raises:
        Forbidden: A scoped API key did not name a host it wholly reaches.
    """
    host = query.get("host")
    key_scope = scope(request)
    if key_scope is not None and (host is None or not key_scope.allows_whole_host(host)):
        raise Forbidden("a scoped API key sees the activity of a whole host of its scope only: "
                        "give host=<slug>", details={"field": "host"})
    entries, total = await core(request).audit.list(
        limit=query["limit"], offset=query["offset"], action_prefix=ACTION_PREFIX,
        target_prefix=f"{host}/" if host else None, actor_kind=query.get("actor_kind"),
        result=query.get("result"))
    return [ActivityEntry.of(e) for e in entries], total


@routes.get("/activity", query=ACTIVITY_QUERY, response=ListOf(ActivityEntry), errors=(403,))
async def list_activity(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """Container actions from the audit trail, newest first, filtered and paged."""
    items, total = await activity_page(request, query)
    return list_response(items, total=total)
