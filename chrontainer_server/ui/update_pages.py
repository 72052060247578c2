"""The updates page, and the system update-check schedule as the pages show it.

- ``GET /updates`` (viewer): when the next scheduled check runs; the containers a newer image
  is published for (with Update and Update all for operators); the other results of the last
  checks (pinned, local-only, errors); the update journal, newest first, 25 a page
  (``?offset=``). With the header ``X-Fragment: sections`` only the sections region is
  rendered: ``static/updates.js`` swaps it in after an ``update.status`` event, the end of an
  update or a check, or a lagged or reconnected live stream.

Every action (check, update, update all) goes through the JSON API from the page's script,
with the dashboard's ``static/container_updates.js``; this handler only reads.

:func:`system_check` describes the system schedule (the ``update_check_cron`` setting) for this
page and the schedules page: it is not a stored schedule and has no buttons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web

from chrontainer_core.errors import ChrontainerError
from chrontainer_core.models import Container
from chrontainer_core.scheduling.cron import next_fire, parse_cron
from chrontainer_core.scheduling.cron_text import describe
from chrontainer_core.serialize import format_datetime
from chrontainer_core.updates.models import JournalEntry, JournalStatus, UpdateCheck, UpdateState

from ..api.context import core, scope
from ..auth.principal import principal_of
from ..auth.roles import Role
from .rendering import render

__all__ = ["HISTORY_PAGE", "SystemCheck", "setup", "system_check", "system_context"]

HISTORY_PAGE: Final = 25
NO_STORE: Final = "no-store"
_OUTCOMES: Final = {
    JournalStatus.DONE: "done", JournalStatus.ROLLED_BACK: "rolled back",
    JournalStatus.FAILED: "failed", JournalStatus.RUNNING: "running",
}


def setup(app: web.Application) -> None:
    """Add the updates page's route."""
    app.router.add_get("/updates", updates_page)


# -- the system schedule --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SystemCheck:
    """The system schedule checking every container for updates, as people read it.

    Attributes:
        expression: The ``update_check_cron`` setting ("" when scheduled checks are off).
        zone: The time zone it runs in (the ``default_timezone`` setting).
        description: The expression in English ("" when off, or why it cannot be read).
        next_due: The next scheduled check, or None when there is none.
    """

    expression: str
    zone: str
    description: str
    next_due: datetime | None

    @property
    def off(self) -> bool:
        """Whether scheduled checks are off."""
        return not self.expression


def system_check(request: web.Request) -> SystemCheck:
    """The system update-check schedule of the server handling ``request``."""
    ch = core(request)
    settings = ch.settings
    if settings is None:  # library mode runs no schedule
        return SystemCheck(expression="", zone="UTC", description="", next_due=None)
    expression = settings.current.update_check_cron.strip()
    zone = settings.current.default_timezone
    if not expression:
        return SystemCheck(expression="", zone=zone, description="", next_due=None)
    planned = ch.updates.schedule.next_due if ch.updates.schedule is not None else None
    try:
        parsed = parse_cron(expression)
        description = describe(parsed)
        # The schedule re-plans a changed setting on its own task: until it has, say what the
        # setting means rather than a time the old setting planned.
        due = planned or next_fire(parsed, zone, datetime.now(UTC))
    except ChrontainerError as err:
        return SystemCheck(expression=expression, zone=zone,
                           description=f"(cannot be described: {err.message})", next_due=None)
    return SystemCheck(expression=expression, zone=zone, description=description, next_due=due)


def system_context(request: web.Request) -> dict[str, Any]:
    """What ``updates_schedule.html`` needs besides ``iso`` and ``utc_text``: the schedule
    and whether to link to the settings (admins)."""
    return {"system": system_check(request), "is_admin": _roles(request)["is_admin"]}


# -- the page -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckRow:
    """One container's last check as the page shows it.

    Attributes:
        container: The container now holding the key, or None when it is gone.
        name: Its name (the key when it is gone).
        ref: How the API and the container pages address it (a 12-hex id prefix).
    """

    check: UpdateCheck
    container: Container | None
    name: str
    ref: str
    local_short: str
    remote_short: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryRow:
    """One update of the journal as the page shows it."""

    entry: JournalEntry
    outcome: str
    old_short: str
    new_short: str


def _short(digest: str | None) -> str:
    """``sha256:0123…`` as its first 12 hex digits."""
    if not digest:
        return ""
    return digest.split(":", 1)[-1][:12]


def _roles(request: web.Request) -> dict[str, bool]:
    principal = principal_of(request)
    return {
        "can_operate": principal is not None and principal.role.allows(Role.OPERATOR),
        "is_admin": principal is not None and principal.role.allows(Role.ADMIN),
    }


def _utc_text(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def _check_rows(request: web.Request, checks: Sequence[UpdateCheck]) -> list[CheckRow]:
    hosts = core(request).hosts
    by_key: dict[tuple[str, str], Container] = {}
    for slug in {c.host for c in checks}:
        if slug in hosts:
            for c in hosts.get(slug).containers():
                by_key.setdefault((c.host, c.key), c)
    rows = []
    for check in checks:
        found = by_key.get((check.host, check.key))
        rows.append(CheckRow(
            check=check, container=found, name=found.name if found else check.key,
            ref=found.id[:12] if found else check.key, local_short=_short(check.local_digest),
            remote_short=_short(check.remote_digest),
        ))
    rows.sort(key=lambda r: (r.check.host, r.name.lower()))
    return rows


async def _history(request: web.Request, offset: int) -> tuple[list[JournalEntry], int]:
    key_scope = scope(request)
    # A scoped API key sees its containers' updates only (as GET /api/v1/updates/history).
    return await core(request).updates.history(
        limit=HISTORY_PAGE, offset=offset,
        visible=key_scope.allows_container if key_scope is not None else None)


def _offset(value: str | None) -> int:
    try:
        return min(max(int(value or 0), 0), 2**31 - 1)
    except ValueError:
        return 0


async def _sections(request: web.Request) -> dict[str, Any]:
    key_scope = scope(request)
    checks = [c for c in core(request).updates.statuses()
              if key_scope is None or key_scope.allows_container(c.host, c.key)]
    rows = _check_rows(request, checks)
    offset = _offset(request.query.get("offset"))
    entries, total = await _history(request, offset)

    def page_url(start: int) -> str:
        return "/updates?" + urlencode({"offset": start})

    return {
        "available": [r for r in rows if r.check.state is UpdateState.AVAILABLE],
        "others": [r for r in rows if r.check.state in
                   (UpdateState.PINNED, UpdateState.LOCAL, UpdateState.ERROR)],
        "last_checked": max((c.checked_at for c in checks), default=None),
        "history": [HistoryRow(entry=e, outcome=_OUTCOMES.get(e.status, e.status.value),
                               old_short=_short(e.old_image_id),
                               new_short=_short(e.new_image_id)) for e in entries],
        "total": total, "offset": offset, "page_size": HISTORY_PAGE,
        "prev_url": page_url(max(offset - HISTORY_PAGE, 0)) if offset > 0 else None,
        "next_url": page_url(offset + HISTORY_PAGE) if offset + HISTORY_PAGE < total else None,
        "iso": format_datetime, "utc_text": _utc_text,
        **_roles(request),
    }


async def updates_page(request: web.Request) -> web.StreamResponse:
    """Available updates, the other check results and the update history."""
    context = await _sections(request)
    partial = request.headers.get("X-Fragment") == "sections"
    if not partial:
        context.update(system_context(request))
    response = render(request, "updates_sections.html" if partial else "updates.html", context)
    response.headers["Cache-Control"] = NO_STORE
    return response
