"""/api/v1/webhooks: manage webhooks, and the public URL that triggers one.

``POST /webhooks/trigger/{token}`` is public (the role table says so): the token in the path
is the credential, so no session or API key is needed, and one that comes along is ignored
(a browser's session cookie does not make the CSRF check refuse the call: public routes run
before it). ``GET`` on the same path triggers too, but only for a webhook with ``allow_get``
(405 otherwise). ``?wait=N`` (0-30) waits for the run: 200 with the finished run, or 202 with
the run still going. The body may carry ``action`` and ``target`` (an unlocked webhook needs
them; a locked one accepts only its own); any other keys are ignored, so services that post
their own payloads (a registry's push event) can call a webhook as they are.

Roles (DESIGN §7): operators manage *locked* webhooks; only admins create unlocked ones, unlock
a locked one, or change, regenerate or delete an unlocked one (403 otherwise). A scoped API key
manages and sees only webhooks whose target it reaches; unlocked webhooks reach every target,
so never those. The token is in the create and regenerate responses only: never listed, never
logged (the access log redacts it, see :mod:`chrontainer_server.accesslog`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import voluptuous as vol
from aiohttp import web

from chrontainer_core.errors import NotFound
from chrontainer_core.models import UNCHANGED
from chrontainer_core.scheduling.jobs import ScheduleAction, ScheduleRun, Target, Webhook
from chrontainer_core.scheduling.service import new_target
from chrontainer_core.scheduling.webhooks import (
    DEFAULT_RATE_PER_MINUTE,
    MAX_CIDRS,
    MAX_RATE_PER_MINUTE,
    WebhookService,
)
from chrontainer_server.auth.errors import Forbidden
from chrontainer_server.auth.principal import principal_of, request_ip
from chrontainer_server.auth.roles import Role

from .context import actor, core, scope
from .schedules import ACTION, ID, MAX_WAIT, RUNS_QUERY, TARGET, reaches
from .spec import API_PREFIX, ApiRoutes, Integer, ListOf, json_response, list_response

__all__ = ["TRIGGER_PATH", "routes"]

routes = ApiRoutes(tag="webhooks")

TRIGGER_PATH: Final = "/webhooks/trigger/{token}"

_NAME: Final = vol.All(str, vol.Length(min=1, max=100))
_CIDRS: Final = vol.All([vol.All(str, vol.Length(min=1, max=64))], vol.Length(max=MAX_CIDRS))
_RATE: Final = vol.All(Integer(), vol.Range(min=1, max=MAX_RATE_PER_MINUTE))
_FIELDS: Final[Mapping[str, tuple[str, Any]]] = {
    # key: (description, schema)
    "locked": ("true: always runs its action on its target; false (admins only): takes "
               "both from each call", bool),
    "action": ("what it does (required when locked; null when unlocked)", vol.Maybe(ACTION)),
    "target": ("what it acts on (required when locked; null when unlocked)",
               vol.Maybe(TARGET)),
    "enabled": ("a disabled webhook refuses every call (403)", bool),
    "allow_get": ("also trigger on GET (for senders that cannot POST)", bool),
    "allowed_cidrs": ("client networks allowed to call it (CIDR); [] allows any", _CIDRS),
    "rate_limit_per_minute": (f"calls accepted per minute, 1-{MAX_RATE_PER_MINUTE}", _RATE),
}
_DEFAULTS: Final[Mapping[str, Any]] = {
    "locked": True, "action": None, "target": None, "enabled": True, "allow_get": False,
    "allowed_cidrs": [], "rate_limit_per_minute": DEFAULT_RATE_PER_MINUTE,
}
WEBHOOK_CREATE: Final = {
    vol.Required("name", description="1-100 characters"): _NAME,
    **{vol.Optional(key, default=_DEFAULTS[key], description=text): schema
       for key, (text, schema) in _FIELDS.items()},
}
WEBHOOK_UPDATE: Final = vol.All(
    {
        vol.Optional("name"): _NAME,
        **{vol.Optional(key, description=text): schema
           for key, (text, schema) in _FIELDS.items()},
    },
    vol.Length(min=1, msg="give at least one field to change"),
)
WITH_TOKEN: Final = {
    "type": "object",
    "properties": {
        "webhook": Webhook,
        "token": {"type": "string", "description": "the secret: shown this once only"},
        "url_path": {"type": "string",
                     "description": "the path to call (POST), token included"},
    },
    "required": ["webhook", "token", "url_path"],
    "additionalProperties": False,
}
WAIT_QUERY: Final = {
    vol.Optional("wait", default=0, description="seconds to wait for the run to end "
                                                 "(200 when it did, else 202)"):
        vol.All(vol.Coerce(int), vol.Range(min=0, max=MAX_WAIT)),
}
# Other keys pass and are dropped: callers (registries, CI) often post payloads of their own.
TRIGGER_BODY: Final = vol.Schema(
    {
        vol.Optional("action", description="an unlocked webhook's action (a locked one "
                                           "accepts only its own)"): vol.Maybe(ACTION),
        vol.Optional("target", description="an unlocked webhook's target (a locked one "
                                           "accepts only its own)"): vol.Maybe(TARGET),
    },
    extra=vol.REMOVE_EXTRA,
)


def service(request: web.Request) -> WebhookService:
    """The webhook service of the runtime.

    Raises:
        NotFound: The runtime has no database (never the case under ``serve``).
    """
    webhooks = core(request).webhooks
    if webhooks is None:
        raise NotFound("this server keeps no webhooks (no database)")
    return webhooks


def _target(data: Mapping[str, Any] | None) -> Target | None:
    if data is None:
        return None
    return new_target(data["kind"], data["host"], key=data.get("key"), label=data.get("label"),
                      image=data.get("image"))


def _action(value: str | None) -> ScheduleAction | None:
    return ScheduleAction(value) if value is not None else None


def _with_token(webhook: Webhook, token: str, status: int = 200) -> web.Response:
    return json_response({"webhook": webhook, "token": token,
                          "url_path": f"{API_PREFIX}/webhooks/trigger/{token}"}, status=status)


# -- who may touch which webhook --------------------------------------------------------------


def _is_admin(request: web.Request) -> bool:
    principal = principal_of(request)
    return principal is not None and principal.role is Role.ADMIN


def _require_admin_for_unlocked(request: web.Request, what: str) -> None:
    if not _is_admin(request):
        raise Forbidden(f"{what} an unlocked webhook needs the admin role",
                        details={"required": Role.ADMIN.value})


def _visible(request: web.Request, webhook: Webhook) -> bool:
    """Whether the caller's API-key scope (if any) reaches the webhook's target."""
    key_scope = scope(request)
    if key_scope is None:
        return True
    return webhook.target is not None and reaches(key_scope, webhook.target)


def _check_reach(request: web.Request, webhook: Webhook) -> None:
    if not _visible(request, webhook):
        raise Forbidden("this API key's scope does not reach this webhook's target")


def _check_new_target(request: web.Request, target: Target | None) -> None:
    key_scope = scope(request)
    if key_scope is not None and (target is None or not reaches(key_scope, target)):
        raise Forbidden("this API key's scope does not reach that target")


def _guard(request: web.Request, what: str, *,
           unlocking: bool = False) -> Callable[[Webhook], None]:
    """The check the core runs on the stored webhook before a change (same transaction)."""

    def check(current: Webhook) -> None:
        _check_reach(request, current)
        if not current.locked or unlocking:
            _require_admin_for_unlocked(request, what)

    return check


# -- triggering (declared first: /webhooks/trigger/x must never match /webhooks/{id}/x) -------


async def _trigger(request: web.Request, wait: int, *, action: ScheduleAction | None = None,
                   target: Target | None = None,
                   guard: Callable[[Webhook], None] | None = None) -> web.Response:
    run = await service(request).trigger(
        request.match_info["token"], source_ip=request_ip(request), action=action,
        target=target, wait=float(wait), guard=guard)
    return json_response(run, status=200 if run.finished else 202)


@routes.post(TRIGGER_PATH, public=True, body=TRIGGER_BODY, query=WAIT_QUERY,
             response=ScheduleRun, status=202, also={200: ScheduleRun},
             errors=(403, 404, 429))
async def trigger_webhook(request: web.Request, *, body: dict[str, Any],
                          query: dict[str, Any]) -> web.StreamResponse:
    """Trigger a webhook (the token is the credential): 202 with its run, or 200 with the
    finished run when it ended within ``wait`` seconds."""
    return await _trigger(request, query["wait"], action=_action(body.get("action")),
                          target=_target(body.get("target")))


def _get_allowed(webhook: Webhook) -> None:
    if not webhook.allow_get:
        raise web.HTTPMethodNotAllowed("GET", ["POST"])


@routes.get(TRIGGER_PATH, public=True, query=WAIT_QUERY, response=ScheduleRun, status=202,
            also={200: ScheduleRun}, errors=(403, 404, 405, 429),
            operation_id="trigger_webhook_get")
async def trigger_webhook_by_get(request: web.Request, *,
                                 query: dict[str, Any]) -> web.StreamResponse:
    """Trigger a webhook with GET, for senders that cannot POST: only when its ``allow_get``
    is on (405 otherwise)."""
    return await _trigger(request, query["wait"], guard=_get_allowed)


# -- managing ---------------------------------------------------------------------------------


@routes.get("/webhooks", response=ListOf(Webhook), errors=(404,))
async def list_webhooks(request: web.Request) -> web.StreamResponse:
    """Every webhook (that the caller's key reaches), by id; never their tokens."""
    return list_response([w for w in await service(request).list() if _visible(request, w)])


@routes.post("/webhooks", body=WEBHOOK_CREATE, response=WITH_TOKEN, status=201, errors=(404,))
async def create_webhook(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Create a webhook; the token (and the URL path holding it) is shown in this response
    only. Unlocked webhooks need the admin role."""
    if not body["locked"]:
        _require_admin_for_unlocked(request, "creating")
    target = _target(body["target"])
    _check_new_target(request, target)
    webhook, token = await service(request).create(
        body["name"], locked=body["locked"], action=_action(body["action"]), target=target,
        enabled=body["enabled"], allow_get=body["allow_get"],
        allowed_cidrs=body["allowed_cidrs"],
        rate_limit_per_minute=body["rate_limit_per_minute"], actor=actor(request))
    return _with_token(webhook, token, status=201)


@routes.get("/webhooks/{id}", path_params=ID, response=Webhook, errors=(404,))
async def get_webhook(request: web.Request, *, path_params: dict[str, Any]) -> web.StreamResponse:
    """One webhook (never its token)."""
    webhook = await service(request).get(path_params["id"])
    _check_reach(request, webhook)
    return json_response(webhook)


@routes.patch("/webhooks/{id}", path_params=ID, body=WEBHOOK_UPDATE, response=Webhook,
              errors=(404,))
async def update_webhook(request: web.Request, *, path_params: dict[str, Any],
                         body: dict[str, Any]) -> web.StreamResponse:
    """Change some fields of a webhook (its token stays); ``locked: false`` drops the binding.

    Changing an unlocked webhook, or unlocking one, needs the admin role."""
    changes: dict[str, Any] = {k: v for k, v in body.items()
                               if k not in ("action", "target")}
    if "action" in body:
        changes["action"] = _action(body["action"])
    if "target" in body:
        changes["target"] = _target(body["target"])
        _check_new_target(request, changes["target"])
    guard = _guard(request, "changing", unlocking=body.get("locked") is False)
    webhook = await service(request).update(
        path_params["id"], actor=actor(request), guard=guard,
        **{key: changes.get(key, UNCHANGED) for key in (*_FIELDS, "name")})
    return json_response(webhook)


@routes.delete("/webhooks/{id}", path_params=ID, status=204, errors=(404,))
async def delete_webhook(request: web.Request, *,
                         path_params: dict[str, Any]) -> web.StreamResponse:
    """Delete a webhook and its run history; its URL stops working at once."""
    await service(request).delete(path_params["id"], actor=actor(request),
                                  guard=_guard(request, "deleting"))
    return web.Response(status=204)


@routes.post("/webhooks/{id}/regenerate", path_params=ID, response=WITH_TOKEN, errors=(404,))
async def regenerate_webhook(request: web.Request, *,
                             path_params: dict[str, Any]) -> web.StreamResponse:
    """Give a webhook a new token, shown in this response only; the old URL stops working."""
    webhook, token = await service(request).regenerate(
        path_params["id"], actor=actor(request), guard=_guard(request, "regenerating"))
    return _with_token(webhook, token)


@routes.get("/webhooks/{id}/runs", path_params=ID, query=RUNS_QUERY,
            response=ListOf(ScheduleRun), errors=(404,))
async def list_webhook_runs(request: web.Request, *, path_params: dict[str, Any],
                            query: dict[str, Any]) -> web.StreamResponse:
    """A webhook's runs, newest first."""
    webhooks = service(request)
    _check_reach(request, await webhooks.get(path_params["id"]))
    runs, total = await webhooks.runs(path_params["id"], limit=query["limit"],
                                      offset=query["offset"])
    return list_response(runs, total=total)
