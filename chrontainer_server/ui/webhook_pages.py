"""The webhooks page: every webhook, and (for operators and admins) the form that creates one.

Rendered here from the core's webhook service (``ch.webhooks``), never with a token: tokens are
only in the API's create and regenerate answers, which ``static/webhooks.js`` shows once, as
the full URL and an example ``curl`` call. Changes go through the JSON API
(``/api/v1/webhooks``); after one, the script fetches this page again and swaps the table.

Roles mirror the API's (DESIGN §7): viewers read; operators manage *locked* webhooks; only
admins create unlocked ones or touch an existing unlocked one, so other roles see those
without controls. A scoped API key sees only webhooks whose target it reaches.
"""

from __future__ import annotations

from aiohttp import web

from chrontainer_core.scheduling.jobs import TargetKind, Webhook
from chrontainer_core.scheduling.webhooks import DEFAULT_RATE_PER_MINUTE, MAX_RATE_PER_MINUTE

from ..api.context import core, scope
from ..api.schedules import reaches
from ..auth.principal import principal_of
from ..auth.roles import Role
from .rendering import render
from .schedule_pages import PAGE_HELPERS, may_operate, target_choices

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    """Add the webhooks page's route."""
    app.router.add_get("/webhooks", webhooks_page)


def _is_admin(request: web.Request) -> bool:
    principal = principal_of(request)
    return principal is not None and principal.role.allows(Role.ADMIN)


def _visible(request: web.Request, webhook: Webhook) -> bool:
    # As the API: an unlocked webhook reaches every target, so a scoped key never sees one.
    key_scope = scope(request)
    return key_scope is None or (webhook.target is not None and reaches(key_scope,
                                                                          webhook.target))


async def webhooks_page(request: web.Request) -> web.StreamResponse:
    """Every webhook the caller may see; the create form for operators and admins."""
    service = core(request).webhooks
    if service is None:  # library mode never serves pages; say so rather than crash
        raise web.HTTPServiceUnavailable(text="webhooks are not available in this mode")
    webhooks = [w for w in await service.list() if _visible(request, w)]
    operate, admin = may_operate(request), _is_admin(request)
    draft = {"kind": TargetKind.CONTAINER.value, "host": "", "key": "", "label": "", "image": "",
             "action": "restart"}
    choices = await target_choices(request) if operate else None
    if choices is not None and choices.hosts:
        draft["host"] = choices.hosts[0].slug
    context = {
        "webhooks": webhooks, "operate": operate, "admin": admin,
        # Who may change a given webhook: operators the locked ones, admins all of them.
        "manages": lambda w: operate and (w.locked or admin),
        "choices": choices, "draft": draft, "p": "wh",
        "default_rate": DEFAULT_RATE_PER_MINUTE, "max_rate": MAX_RATE_PER_MINUTE,
        **PAGE_HELPERS,
    }
    return render(request, "webhooks.html", context)
