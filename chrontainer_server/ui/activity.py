"""The activity page: who did what to which container, and how it ended.

A view of the audit trail's container actions (``container.*``), whoever did them: people,
API keys, schedules, webhooks. Rendered server-side with a plain GET filter form (host, kind of
actor, result) and limit/offset links, so it needs no script; the query is validated with the
API's own schema (``GET /api/v1/activity``), and bad values get the page back with status 400
and the field named, as the API would answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlencode

import voluptuous as vol
from aiohttp import web

from chrontainer_core import ActorKind
from chrontainer_core.errors import PermissionDenied
from chrontainer_core.validate import format_path

from ..api.activity import ACTIVITY_QUERY, RESULTS, activity_page, actor_label
from ..api.context import core, scope
from ..middlewares import status_for
from .rendering import render
from .schedule_pages import PAGE_HELPERS

__all__ = ["setup"]

LIMITS: Final = (25, 50, 100, 200)
DEFAULT_LIMIT: Final = 50
_FILTERS: Final = ("host", "actor_kind", "result")
_QUERY: Final = vol.Schema(ACTIVITY_QUERY)


def setup(app: web.Application) -> None:
    """Add the activity page's route."""
    app.router.add_get("/activity", activity)


def _parse(query: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """(valid query, the filters as given, field -> error) of the page's query string."""
    given = {key: query[key].strip() for key in (*_FILTERS, "limit", "offset")
             if query.get(key, "").strip()}
    values = {key: given[key] for key in _FILTERS if key in given}
    try:
        return _QUERY(given), values, {}
    except vol.MultipleInvalid as err:
        return {}, values, {format_path(e.path): e.msg for e in err.errors}


async def activity(request: web.Request) -> web.StreamResponse:
    """Container actions of every host, newest first, filtered and paged."""
    valid, values, errors = _parse(request.query)
    status = 400 if errors else 200
    entries: list[Any] = []
    total = 0
    limit, offset = valid.get("limit", DEFAULT_LIMIT), valid.get("offset", 0)
    if not errors:
        try:
            entries, total = await activity_page(request, valid)
        except PermissionDenied as err:
            errors["host"], status = err.message, status_for(err)

    def page_url(start: int) -> str:
        return "/activity?" + urlencode({**values, "limit": limit, "offset": start})

    key_scope = scope(request)
    hosts = [h.slug for h in core(request).hosts.states()
             if key_scope is None or key_scope.allows_whole_host(h.slug)]
    if values.get("host") and values["host"] not in hosts and "host" not in errors:
        hosts.append(values["host"])  # a removed host's actions stay in the trail
    context = {
        "entries": entries, "total": total, "values": values, "errors": errors,
        "limit": limit, "offset": offset, "limits": sorted({*LIMITS, limit}),
        "hosts": hosts, "actor_kinds": [k.value for k in ActorKind], "results": RESULTS,
        "filtered": bool(values), "actor_label": actor_label,
        "prev_url": page_url(max(offset - limit, 0)) if offset > 0 else None,
        "next_url": page_url(offset + limit) if offset + limit < total else None,
        **PAGE_HELPERS,
    }
    return render(request, "activity.html", context, status=status)
