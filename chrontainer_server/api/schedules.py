"""/api/v1/schedules and /api/v1/runs: manage schedules, run them now, read their history, and
preview a trigger ("At 03:00 on Monday" and its next due times) before saving it.

Bodies are validated by the voluptuous schemas below (which also document them) and converted
at once to the core's dataclasses: durations travel as whole seconds in JSON and as
``timedelta`` in the core. ``details.field`` of a refusal always names the offending body key
(``trigger.cron``, ``target.host``, ``timeout_seconds``...), including the refusals that come
from the core's own checks.

A scoped API key reaches a schedule only when it reaches the schedule's target: a container
target through its container scope, a label or host target only when it may reach the whole
host. The schedule routes carry no ``{host}`` in their paths, so the auth middleware cannot
check this; the handlers here do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import voluptuous as vol
from aiohttp import web

from chrontainer_core.errors import InvalidInput, NotFound
from chrontainer_core.scheduling.jobs import (
    MisfirePolicy,
    RetryPolicy,
    Schedule,
    ScheduleAction,
    ScheduleRun,
    Target,
    TargetKind,
    Trigger,
    TriggerKind,
)
from chrontainer_core.scheduling.policy import MAX_GRACE
from chrontainer_core.scheduling.service import (
    MAX_JITTER,
    MAX_TIMEOUT,
    PREVIEW_COUNT,
    SchedulePreview,
    ScheduleService,
    new_target,
)
from chrontainer_core.validate import Slug
from chrontainer_server.auth.apikeys import KeyScope
from chrontainer_server.auth.errors import Forbidden

from .context import actor, core, scope
from .spec import ApiRoutes, Integer, ListOf, json_response, list_response

__all__ = ["ScheduleView", "routes"]

routes = ApiRoutes(tag="schedules")

MAX_WAIT: Final = 30
MAX_RUNS_PAGE: Final = 200
_INT32: Final = 2**31 - 1

# RFC 3339 date-time, as the document's "format: date-time" promises (fromisoformat alone
# also takes dates, week dates and other shapes the document does not allow).
_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")
# Instants a schedule can sensibly name; the bounds keep time-zone arithmetic in range.
_EARLIEST: Final = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST: Final = datetime(9000, 1, 1, tzinfo=UTC)


class Instant:
    """Validate an RFC 3339 date-time with an offset (``Z`` or ``+02:00``); returns it in UTC."""

    json_schema: Final = {"type": "string", "format": "date-time"}

    def __call__(self, value: object) -> datetime:
        if not isinstance(value, str) or not _RFC3339.fullmatch(value):
            raise vol.Invalid("give an ISO 8601 date and time with an offset, "
                              "e.g. 2030-01-31T03:00:00Z")
        # fromisoformat takes at most 6 fractional digits: extra digits say nothing a
        # schedule could use.
        text = re.sub(r"(\.\d{6})\d+", r"\1", value.upper())
        try:
            at = datetime.fromisoformat(text).astimezone(UTC)
        except (ValueError, OverflowError) as err:
            raise vol.Invalid(f"not a valid date and time ({err})") from err
        if not _EARLIEST <= at < _LATEST:
            raise vol.Invalid("must be between the years 1970 and 9000")
        return at


def _text(max_length: int, *, min_length: int = 1) -> vol.All:
    return vol.All(str, vol.Length(min=min_length, max=max_length))


def _seconds(low: timedelta, high: timedelta) -> vol.All:
    return vol.All(Integer(), vol.Range(min=int(low.total_seconds()),
                                        max=int(high.total_seconds())))


TARGET: Final = {
    vol.Required("kind", description="container, label, host or image"):
        vol.In([k.value for k in TargetKind]),
    vol.Required("host", description="host slug"): Slug(),
    vol.Optional("key", description="container key (container targets only)"):
        vol.Maybe(_text(255)),
    vol.Optional("label", description="key or key=value (label targets only)"):
        vol.Maybe(_text(255)),
    vol.Optional("image", description="image reference to pull, e.g. nginx:1.27 (image "
                                      "targets only)"):
        vol.Maybe(_text(255)),
}
TRIGGER: Final = {
    vol.Required("kind", description="cron, or once at an instant"):
        vol.In([k.value for k in TriggerKind]),
    vol.Optional("cron", description="5-field cron expression (cron triggers only)"):
        vol.Maybe(_text(200)),
    vol.Optional("at", description="the instant of a one-time trigger"): vol.Maybe(Instant()),
    vol.Optional("timezone", description="IANA time zone (default: the default_timezone "
                                         "setting; when editing: the schedule's)"):
        _text(64),
}
ACTION: Final = vol.In([a.value for a in ScheduleAction])
# Keys of a schedule besides name, target, action and trigger, with their create defaults.
POLICY_DEFAULTS: Final[Mapping[str, Any]] = {
    "enabled": True, "misfire": MisfirePolicy.SKIP.value, "grace_seconds": 600,
    "timeout_seconds": 300, "retries": 0, "retry_backoff_seconds": 30, "jitter_seconds": 0,
}
POLICY: Final[Mapping[str, Any]] = {
    "enabled": bool,
    "misfire": vol.In([m.value for m in MisfirePolicy]),
    "grace_seconds": _seconds(timedelta(0), MAX_GRACE),
    "timeout_seconds": _seconds(timedelta(seconds=1), MAX_TIMEOUT),
    "retries": vol.All(Integer(), vol.Range(min=0, max=10)),
    "retry_backoff_seconds": _seconds(timedelta(seconds=1), timedelta(
        seconds=RetryPolicy().max_backoff)),
    "jitter_seconds": _seconds(timedelta(0), MAX_JITTER),
}
SCHEDULE_CREATE: Final = {
    vol.Required("name", description="1-100 characters"): _text(100),
    vol.Required("target"): TARGET,
    vol.Required("action", description="what the target kind allows (ACTIONS_BY_TARGET)"):
        ACTION,
    vol.Required("trigger"): TRIGGER,
    **{vol.Optional(key, default=POLICY_DEFAULTS[key]): schema for key, schema in POLICY.items()},
}
SCHEDULE_UPDATE: Final = vol.All(
    {
        vol.Optional("name"): _text(100),
        vol.Optional("target", description="replaces the whole target"): TARGET,
        vol.Optional("action"): ACTION,
        vol.Optional("trigger", description="replaces the whole trigger"): TRIGGER,
        **{vol.Optional(key): schema for key, schema in POLICY.items()},
    },
    vol.Length(min=1, msg="give at least one field to change"),
)
PREVIEW: Final = {
    vol.Required("trigger"): TRIGGER,
    vol.Optional("count", default=PREVIEW_COUNT, description="how many due times"):
        vol.All(Integer(), vol.Range(min=1, max=20)),
}
ID: Final = {"id": vol.All(vol.Coerce(int), vol.Range(min=1, max=_INT32))}
LIST_QUERY: Final = {
    vol.Optional("host", description="only schedules acting on this host"): str,
    vol.Optional("key", description="only schedules of this container key"): str,
}
RUN_QUERY: Final = {
    vol.Optional("wait", default=0, description="seconds to wait for the run to end "
                                                 "(200 when it did, else 202)"):
        vol.All(vol.Coerce(int), vol.Range(min=0, max=MAX_WAIT)),
}
RUNS_QUERY: Final = {
    vol.Optional("limit", default=50): vol.All(vol.Coerce(int), vol.Range(min=1,
                                                                           max=MAX_RUNS_PAGE)),
    vol.Optional("offset", default=0): vol.All(vol.Coerce(int), vol.Range(min=0, max=_INT32)),
}

# The core names a few fields after its own attributes; the API names them after body keys.
_API_FIELDS: Final = {
    "grace": "grace_seconds", "timeout": "timeout_seconds", "jitter": "jitter_seconds",
    "retry_backoff": "retry_backoff_seconds", "timezone": "trigger.timezone",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleView:
    """A schedule as the API shows it: durations in whole seconds, the trigger in English, and
    its newest run."""

    id: int
    name: str
    enabled: bool
    target: Target
    action: ScheduleAction
    trigger: Trigger
    misfire: MisfirePolicy
    grace_seconds: int
    timeout_seconds: int
    retries: int
    retry_backoff_seconds: int
    jitter_seconds: int
    next_run_at: datetime | None
    description: str  # e.g. "At 03:00 on Monday"
    last_run: ScheduleRun | None


def service(request: web.Request) -> ScheduleService:
    """The schedule service of the runtime; library-mode runtimes have none.

    Raises:
        NotFound: The runtime has no database (never the case under ``serve``).
    """
    schedules = core(request).schedules
    if schedules is None:
        raise NotFound("this server keeps no schedules (no database)")
    return schedules


@contextmanager
def _api_field_names() -> Iterator[None]:
    """Re-raise the core's InvalidInput with ``field`` named as the API's body key."""
    try:
        yield
    except InvalidInput as err:
        renamed = _API_FIELDS.get(err.field or "")
        if renamed is None:
            raise
        raise InvalidInput(err.message, field=renamed,
                           details={**err.details, "field": renamed}) from None


# -- conversions ------------------------------------------------------------------------------


def _target(data: Mapping[str, Any]) -> Target:
    return new_target(data["kind"], data["host"], key=data.get("key"), label=data.get("label"),
                      image=data.get("image"))


def _trigger(data: Mapping[str, Any], default_timezone: str) -> Trigger:
    kind = TriggerKind(data["kind"])
    # A field of the other kind is a mistake worth saying, not something to drop silently.
    unused = "at" if kind is TriggerKind.CRON else "cron"
    if data.get(unused) is not None:
        raise InvalidInput(f"trigger.{unused}: not used by a {kind.value} trigger",
                           field=f"trigger.{unused}")
    return Trigger(kind=kind, cron=data.get("cron"), at=data.get("at"),
                   timezone=data.get("timezone") or default_timezone)


def _policies(base: Schedule, body: Mapping[str, Any]) -> Schedule:
    """``base`` with the policy keys of ``body`` applied (those absent keep base's values)."""
    changes: dict[str, Any] = {}
    if "enabled" in body:
        changes["enabled"] = body["enabled"]
    if "misfire" in body:
        changes["misfire"] = MisfirePolicy(body["misfire"])
    for key, attribute in (("grace_seconds", "grace"), ("timeout_seconds", "timeout"),
                           ("jitter_seconds", "jitter")):
        if key in body:
            changes[attribute] = timedelta(seconds=body[key])
    if "retries" in body or "retry_backoff_seconds" in body:
        changes["retry"] = replace(
            base.retry, retries=body.get("retries", base.retry.retries),
            backoff=float(body.get("retry_backoff_seconds", base.retry.backoff)))
    return replace(base, **changes)


def _draft(body: Mapping[str, Any], default_timezone: str) -> Schedule:
    base = Schedule(id=0, name=body["name"], enabled=True, target=_target(body["target"]),
                    action=ScheduleAction(body["action"]),
                    trigger=_trigger(body["trigger"], default_timezone))
    return _policies(base, body)


def _merged(current: Schedule, body: Mapping[str, Any]) -> Schedule:
    """The stored schedule with the fields of a PATCH body over it."""
    merged = replace(
        current,
        name=body.get("name", current.name),
        target=_target(body["target"]) if "target" in body else current.target,
        action=ScheduleAction(body["action"]) if "action" in body else current.action,
        # An edited trigger keeps the schedule's zone unless it names another.
        trigger=(_trigger(body["trigger"], current.trigger.timezone) if "trigger" in body
                 else current.trigger),
    )
    return _policies(merged, body)


def _view(schedule: Schedule, describe: Callable[[Trigger], str],
          last_run: ScheduleRun | None) -> ScheduleView:
    return ScheduleView(
        id=schedule.id, name=schedule.name, enabled=schedule.enabled, target=schedule.target,
        action=schedule.action, trigger=schedule.trigger, misfire=schedule.misfire,
        grace_seconds=int(schedule.grace.total_seconds()),
        timeout_seconds=int(schedule.timeout.total_seconds()),
        retries=schedule.retry.retries, retry_backoff_seconds=round(schedule.retry.backoff),
        jitter_seconds=int(schedule.jitter.total_seconds()),
        next_run_at=schedule.next_run_at, description=describe(schedule.trigger),
        last_run=last_run,
    )


async def _one(schedules: ScheduleService, schedule: Schedule) -> web.Response:
    last = (await schedules.last_runs()).get(schedule.id)
    return json_response(_view(schedule, schedules.describe, last))


# -- key scopes -------------------------------------------------------------------------------


def reaches(key_scope: KeyScope | None, target: Target) -> bool:
    """Whether an API key's scope (None: unscoped) reaches a schedule's target."""
    if key_scope is None:
        return True
    if target.kind is TargetKind.CONTAINER and target.key is not None:
        return key_scope.allows_container(target.host, target.key)
    return key_scope.allows_whole_host(target.host)


def _check_reach(request: web.Request, target: Target) -> None:
    if not reaches(scope(request), target):
        raise Forbidden(f"this API key is not scoped to {target.describe()}")


async def _reachable_schedule(request: web.Request, schedule_id: int) -> Schedule:
    schedule = await service(request).get(schedule_id)
    _check_reach(request, schedule.target)
    return schedule


# -- routes -----------------------------------------------------------------------------------


@routes.get("/schedules", query=LIST_QUERY, response=ListOf(ScheduleView), errors=(404,))
async def list_schedules(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """Every schedule (that the caller's key reaches), by id, with its newest run."""
    schedules = service(request)
    key_scope = scope(request)
    found = [s for s in await schedules.list()
             if ("host" not in query or s.target.host == query["host"])
             and ("key" not in query or s.target.key == query["key"])
             and reaches(key_scope, s.target)]
    last_runs = await schedules.last_runs()  # one query for the whole list
    describe = schedules.describe
    return list_response([_view(s, describe, last_runs.get(s.id)) for s in found])


@routes.post("/schedules", body=SCHEDULE_CREATE, response=ScheduleView, status=201,
             errors=(404,))
async def create_schedule(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Create a schedule; its next due time is computed from now."""
    schedules = service(request)
    with _api_field_names():
        draft = _draft(body, schedules.default_timezone)
        _check_reach(request, draft.target)
        created = await schedules.create(draft, actor=actor(request))
    return json_response(_view(created, schedules.describe, None), status=201)


@routes.post("/schedules/preview", body=PREVIEW, response=SchedulePreview, errors=(404,))
async def preview_schedule(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Describe a trigger in English and list its next due times (nothing is saved)."""
    schedules = service(request)
    with _api_field_names():
        trigger = _trigger(body["trigger"], schedules.default_timezone)
        return json_response(schedules.preview(trigger, count=body["count"]))


@routes.get("/schedules/{id}", path_params=ID, response=ScheduleView, errors=(404,))
async def get_schedule(request: web.Request, *, path_params: dict[str, Any]) -> web.StreamResponse:
    """One schedule with its newest run."""
    schedule = await _reachable_schedule(request, path_params["id"])
    return await _one(service(request), schedule)


@routes.patch("/schedules/{id}", path_params=ID, body=SCHEDULE_UPDATE, response=ScheduleView,
              errors=(404,))
async def update_schedule(request: web.Request, *, path_params: dict[str, Any],
                          body: dict[str, Any]) -> web.StreamResponse:
    """Change some fields of a schedule; ``target`` and ``trigger`` are replaced whole.

    The next due time restarts from now; ``enabled`` alone just enables or disables.
    """
    schedules = service(request)
    current = await _reachable_schedule(request, path_params["id"])
    with _api_field_names():
        if set(body) == {"enabled"}:
            stored = await schedules.set_enabled(current.id, body["enabled"],
                                                 actor=actor(request))
        else:
            draft = _merged(current, body)
            _check_reach(request, draft.target)
            stored = await schedules.update(draft, actor=actor(request))
    return await _one(schedules, stored)


@routes.delete("/schedules/{id}", path_params=ID, status=204, errors=(404,))
async def delete_schedule(request: web.Request, *,
                          path_params: dict[str, Any]) -> web.StreamResponse:
    """Delete a schedule and its run history."""
    schedule = await _reachable_schedule(request, path_params["id"])
    await service(request).delete(schedule.id, actor=actor(request))
    return web.Response(status=204)


@routes.post("/schedules/{id}/run", path_params=ID, query=RUN_QUERY, response=ScheduleRun,
             status=202, also={200: ScheduleRun}, errors=(404, 409))
async def run_schedule(request: web.Request, *, path_params: dict[str, Any],
                       query: dict[str, Any]) -> web.StreamResponse:
    """Run a schedule now (enabled or not): 202 with the running run, or 200 with the finished
    run when it ended within ``wait`` seconds."""
    schedules = service(request)
    schedule = await _reachable_schedule(request, path_params["id"])
    run = await schedules.run_now(schedule.id, actor=actor(request))
    if query["wait"] > 0:
        run = await schedules.wait_run(run.id, query["wait"])
    return json_response(run, status=200 if run.finished else 202)


@routes.get("/schedules/{id}/runs", path_params=ID, query=RUNS_QUERY,
            response=ListOf(ScheduleRun), errors=(404,))
async def list_schedule_runs(request: web.Request, *, path_params: dict[str, Any],
                             query: dict[str, Any]) -> web.StreamResponse:
    """A schedule's run history, newest first."""
    schedule = await _reachable_schedule(request, path_params["id"])
    runs, total = await service(request).runs(schedule.id, limit=query["limit"],
                                              offset=query["offset"])
    return list_response(runs, total=total)


@routes.get("/runs/{id}", path_params=ID, response=ScheduleRun, errors=(404,))
async def get_run(request: web.Request, *, path_params: dict[str, Any]) -> web.StreamResponse:
    """One run, of a schedule or of a webhook."""
    schedules = service(request)
    run = await schedules.get_run(path_params["id"])
    if scope(request) is not None:
        if run.schedule_id is None:
            # A webhook run names its target only in words: a scoped key cannot be shown to
            # reach it.
            raise Forbidden("this API key is scoped; webhook runs are not in its scope")
        await _reachable_schedule(request, run.schedule_id)
    return json_response(run)
