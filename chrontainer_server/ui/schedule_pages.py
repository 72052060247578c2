"""The schedules pages: the list, the create/edit form, and one schedule with its run history.

Everything is rendered here from the core's schedule service (``ch.schedules``); the scripts
(``static/schedules*.js``) change things only through the JSON API (``/api/v1/schedules``) and
re-fetch server-rendered HTML afterwards: a list row from ``/fragments/schedules/{id}/row``, the
history table from the page itself. Live run updates arrive through the tab's one SSE stream
(``schedule.run``).

- ``/schedules`` (viewer): every schedule the caller may see, with its next run, last result
  and, for operators and admins, enable toggle, run now, edit and delete.
- ``/schedules/new`` and ``/schedules/{id}/edit`` (operator): one form. ``/schedules/new?host=
  <slug>&key=<container key>`` comes pre-filled (restart, every day at 03:00) so that the
  dashboard's "Schedule…" row action needs only a click on Save.
- ``/schedules/{id}`` (viewer): the schedule's settings and its runs, newest first, 25 a page.

A scoped API key sees what the API would show it: container targets it may reach, and label or
host targets only on hosts it wholly reaches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from chrontainer_core.errors import ChrontainerError, InvalidInput, NotFound
from chrontainer_core.models import Container, HostState
from chrontainer_core.scheduling.cron import parse_cron
from chrontainer_core.scheduling.cron_text import describe
from chrontainer_core.scheduling.jobs import (
    ACTIONS_BY_TARGET,
    Schedule,
    ScheduleAction,
    ScheduleRun,
    Target,
    TargetKind,
    TriggerKind,
)
from chrontainer_core.scheduling.service import ScheduleService
from chrontainer_core.serialize import format_datetime

from ..api.context import core, scope
from ..api.schedules import reaches
from ..auth.principal import principal_of
from ..auth.roles import Role
from ..middlewares import status_for
from .rendering import render
from .update_pages import system_context

__all__ = [
    "COMMON_ZONES",
    "CRON_PRESETS",
    "HISTORY_PAGE",
    "PAGE_HELPERS",
    "action_label",
    "may_operate",
    "setup",
    "target_choices",
]

HISTORY_PAGE: Final = 25
# (label, expression) offered above the custom expression field.
CRON_PRESETS: Final = (
    ("Every hour", "0 * * * *"),
    ("Every day at 03:00", "0 3 * * *"),
    ("Every Monday at 03:00", "0 3 * * 1"),
    ("First of the month", "0 3 1 * *"),
    ("Every 15 minutes", "*/15 * * * *"),
)
DEFAULT_CRON: Final = "0 3 * * *"
# Suggestions for the time zone field; any IANA name is accepted.
COMMON_ZONES: Final = (
    "UTC", "Europe/London", "Europe/Dublin", "Europe/Lisbon", "Europe/Paris", "Europe/Berlin",
    "Europe/Amsterdam", "Europe/Brussels", "Europe/Zurich", "Europe/Vienna", "Europe/Rome",
    "Europe/Madrid", "Europe/Stockholm", "Europe/Oslo", "Europe/Copenhagen", "Europe/Helsinki",
    "Europe/Warsaw", "Europe/Prague", "Europe/Athens", "Europe/Istanbul", "Europe/Kyiv",
    "Europe/Moscow", "America/New_York", "America/Chicago", "America/Denver",
    "America/Phoenix", "America/Los_Angeles", "America/Anchorage", "America/Toronto",
    "America/Vancouver", "America/Mexico_City", "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires", "Pacific/Honolulu", "Africa/Johannesburg", "Africa/Lagos",
    "Africa/Cairo", "Asia/Dubai", "Asia/Kolkata", "Asia/Bangkok", "Asia/Singapore",
    "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Tokyo", "Asia/Seoul", "Australia/Perth",
    "Australia/Sydney", "Australia/Melbourne", "Pacific/Auckland",
)
_ACTION_LABELS: Final = {ScheduleAction.PRUNE_IMAGES: "prune unused images",
                         ScheduleAction.PULL: "pull"}
_TRIGGER_LABELS: Final = {"schedule": "schedule", "run_now": "run now", "webhook": "webhook"}
_ID: Final = r"{id:\d{1,10}}"


def setup(app: web.Application) -> None:
    """Add the schedules pages' routes."""
    app.router.add_get("/schedules", list_page)
    app.router.add_get("/schedules/new", new_page)
    app.router.add_get(f"/schedules/{_ID}", detail_page)
    app.router.add_get(f"/schedules/{_ID}/edit", edit_page)
    app.router.add_get(f"/fragments/schedules/{_ID}/row", row_fragment)


# -- helpers shared with the webhooks page ------------------------------------------------------


def may_operate(request: web.Request) -> bool:
    """Operators and admins change schedules (mirrors ROUTE_ROLES of the schedule routes)."""
    principal = principal_of(request)
    return principal is not None and principal.role.allows(Role.OPERATOR)


def action_label(action: ScheduleAction | str | None) -> str:
    """An action as a person reads it: ``restart``, ``prune unused images``."""
    if action is None:
        return ""
    return _ACTION_LABELS.get(ScheduleAction(action), str(action))


def _utc_text(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def _seconds(value: timedelta) -> int:
    return int(value.total_seconds())


PAGE_HELPERS: Final[Mapping[str, Any]] = {
    "iso": format_datetime, "utc_text": _utc_text, "action_label": action_label,
    "seconds": _seconds, "trigger_label": lambda t: _TRIGGER_LABELS.get(str(t), str(t)),
}


def _may_see(request: web.Request, target: Target) -> bool:
    return reaches(scope(request), target)


def _hosts(request: web.Request) -> list[HostState]:
    key_scope = scope(request)
    return [h for h in core(request).hosts.states()
            if key_scope is None or key_scope.allows_host(h.slug)]


def _service(request: web.Request) -> ScheduleService:
    service = core(request).schedules
    if service is None:  # library mode never serves pages; say so rather than crash
        raise web.HTTPServiceUnavailable(text="scheduling is not available in this mode")
    return service


def _describe(service: ScheduleService, schedule: Schedule) -> str:
    trigger = schedule.trigger
    try:
        if trigger.kind is TriggerKind.CRON:
            # The sentence alone: no need for the fire times preview() would compute too.
            return describe(parse_cron(trigger.cron or ""))
        return service.preview(trigger, count=1).description
    except InvalidInput as err:  # e.g. a zone removed from tzdata since it was saved
        return f"(cannot be described: {err.message})"


@dataclass(frozen=True, slots=True)
class ScheduleView:
    """One schedule as a page shows it."""

    schedule: Schedule
    description: str
    last_run: ScheduleRun | None


async def _view(request: web.Request, schedule_id: int) -> ScheduleView:
    service = _service(request)
    schedule = await service.get(schedule_id)
    if not _may_see(request, schedule.target):
        raise NotFound(f"no schedule {schedule_id}", details={"id": schedule_id})
    runs, _ = await service.runs(schedule_id, limit=1)
    return ScheduleView(schedule, _describe(service, schedule), runs[0] if runs else None)


def _missing(request: web.Request, err: ChrontainerError) -> web.Response:
    return render(request, "schedules_missing.html", {"message": err.message},
                  status=status_for(err))


# -- the list -------------------------------------------------------------------------------------


async def list_page(request: web.Request) -> web.StreamResponse:
    """Every schedule the caller may see, by name."""
    service = _service(request)
    last = await service.last_runs()
    views = [ScheduleView(s, _describe(service, s), last.get(s.id))
             for s in await service.list() if _may_see(request, s.target)]
    views.sort(key=lambda v: (v.schedule.name.lower(), v.schedule.id))
    paused = core(request).settings
    context = {
        "views": views, "operate": may_operate(request),
        "paused": paused is not None and paused.current.schedules_paused,
        **PAGE_HELPERS, **system_context(request),
    }
    return render(request, "schedules.html", context)


async def row_fragment(request: web.Request) -> web.StreamResponse:
    """One schedule's list row (404 when it is gone)."""
    try:
        view = await _view(request, int(request.match_info["id"]))
    except NotFound as err:
        return web.Response(status=404, text=err.message)
    context = {"view": view, "operate": may_operate(request), **PAGE_HELPERS}
    return render(request, "schedules_row.html", context)


# -- one schedule and its runs ------------------------------------------------------------------


def _offset(value: str | None) -> int:
    try:
        return min(max(int(value or 0), 0), 2**31 - 1)
    except ValueError:
        return 0


async def detail_page(request: web.Request) -> web.StreamResponse:
    """A schedule's settings and its run history, newest first, paged."""
    schedule_id = int(request.match_info["id"])
    try:
        view = await _view(request, schedule_id)
    except NotFound as err:
        return _missing(request, err)
    offset = _offset(request.query.get("offset"))
    runs, total = await _service(request).runs(schedule_id, limit=HISTORY_PAGE, offset=offset)

    def page_url(start: int) -> str:
        return f"/schedules/{schedule_id}?" + urlencode({"offset": start})

    context = {
        "view": view, "s": view.schedule, "runs": runs, "total": total, "offset": offset,
        "operate": may_operate(request),
        "prev_url": page_url(max(offset - HISTORY_PAGE, 0)) if offset > 0 else None,
        "next_url": page_url(offset + HISTORY_PAGE) if offset + HISTORY_PAGE < total else None,
        **PAGE_HELPERS,
    }
    return render(request, "schedules_detail.html", context)


# -- the form -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetChoices:
    """What the target fields offer: hosts, each host's containers by key, actions per kind.

    Attributes:
        hosts: The hosts the caller may see.
        containers: Host slug -> its container keys (sorted), with the container names.
        actions: Every action with the target kinds it applies to (space-separated).
    """

    hosts: Sequence[HostState]
    containers: Mapping[str, Sequence[tuple[str, str]]]
    actions: Sequence[tuple[str, str, str]]


async def target_choices(request: web.Request, *, keep: Target | None = None) -> TargetChoices:
    """The target fields' choices; ``keep``'s container key is offered even when the container
    is gone (a schedule outlives its container: keys are stable across recreation)."""
    hosts = _hosts(request)
    listing = await core(request).containers.list()
    key_scope = scope(request)
    by_host: dict[str, dict[str, str]] = {h.slug: {} for h in hosts}
    for c in listing.items:
        if c.host in by_host and (key_scope is None or key_scope.allows_container(c.host, c.key)):
            by_host[c.host].setdefault(c.key, _container_text(c))
    if keep is not None and keep.key and keep.host in by_host:
        by_host[keep.host].setdefault(keep.key, f"{keep.key} (not found now)")
    actions = [(a.value, action_label(a),
                " ".join(k.value for k in TargetKind if a in ACTIONS_BY_TARGET[k]))
               for a in ScheduleAction]
    return TargetChoices(
        hosts=hosts,
        containers={slug: sorted(keys.items()) for slug, keys in by_host.items()},
        actions=actions,
    )


def _container_text(c: Container) -> str:
    return c.key if c.key == c.name else f"{c.key} ({c.name})"


def _local_input(at: datetime | None, zone: str) -> str:
    """A one-time trigger's instant as a datetime-local value in its own zone."""
    if at is None:
        return ""
    try:
        return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")
    except (ValueError, KeyError):
        return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


async def new_page(request: web.Request) -> web.StreamResponse:
    """The form for a new schedule; ``?host=&key=`` pre-fills a container's daily restart,
    ``?host=&image=`` a daily pull of an image (the images page links here)."""
    host, key = request.query.get("host", ""), request.query.get("key", "").strip()[:255]
    image = request.query.get("image", "").strip()[:255]
    hosts = {h.slug for h in _hosts(request)}
    draft: dict[str, Any] = {
        "name": "", "kind": TargetKind.CONTAINER.value, "host": "", "key": "", "label": "",
        "image": "", "action": ScheduleAction.RESTART.value, "trigger": TriggerKind.CRON.value,
        "cron": DEFAULT_CRON, "at": "", "timezone": _service(request).default_timezone,
        "enabled": True, "misfire": "skip", "grace": 600, "timeout": 300, "retries": 0,
        "backoff": 30, "jitter": 0,
        "auto_name": True,  # the form names it after its action and target until one types
    }
    if host in hosts:
        draft["host"] = host
        if key:
            draft.update(key=key, name=f"Restart {key}"[:100])
        elif image:
            draft.update(kind=TargetKind.IMAGE.value, image=image,
                         action=ScheduleAction.PULL.value, name=f"Pull {image}"[:100])
    keep = Target(kind=TargetKind.CONTAINER, host=host, key=key) if host in hosts and key else None
    return await _form(request, draft, None, keep)


async def edit_page(request: web.Request) -> web.StreamResponse:
    """The form filled with a schedule's settings."""
    try:
        view = await _view(request, int(request.match_info["id"]))
    except NotFound as err:
        return _missing(request, err)
    s = view.schedule
    draft = {
        "name": s.name, "kind": s.target.kind.value, "host": s.target.host,
        "key": s.target.key or "", "label": s.target.label or "", "image": s.target.image or "",
        "action": s.action.value,
        "trigger": s.trigger.kind.value, "cron": s.trigger.cron or DEFAULT_CRON,
        "at": _local_input(s.trigger.at, s.trigger.timezone), "timezone": s.trigger.timezone,
        "enabled": s.enabled, "misfire": s.misfire.value, "grace": _seconds(s.grace),
        "timeout": _seconds(s.timeout), "retries": s.retry.retries,
        "backoff": int(s.retry.backoff), "jitter": _seconds(s.jitter), "auto_name": False,
    }
    return await _form(request, draft, s, s.target)


async def _form(request: web.Request, draft: Mapping[str, Any], schedule: Schedule | None,
                keep: Target | None) -> web.Response:
    choices = await target_choices(request, keep=keep)
    if not draft["host"] and choices.hosts:
        draft = {**draft, "host": choices.hosts[0].slug}
    zones = list(COMMON_ZONES)
    if draft["timezone"] not in zones:
        zones.insert(0, draft["timezone"])
    context = {
        "draft": draft, "schedule": schedule, "choices": choices, "presets": CRON_PRESETS,
        "preset": next((expr for _, expr in CRON_PRESETS if expr == draft["cron"]), ""),
        "zones": zones, **PAGE_HELPERS,
    }
    return render(request, "schedules_form.html", context)
