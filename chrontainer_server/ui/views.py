"""Page handlers: server-rendered Jinja2 templates around the same core calls the API makes.

Every page extends ``base.html`` (navigation, theme toggle, vendored htmx). Pages are rendered
server-side and work without JavaScript; scripts only enhance. The Content-Security-Policy
(``middlewares.py``) allows no inline script or style, so templates never contain ``<script>``
bodies, ``style=""`` or ``on*=`` attributes; behaviour lives in ``static/*.js`` modules.

Routes (see :func:`setup`): ``/`` (redirects), ``/settings`` (GET and POST), the containers
dashboard of :mod:`.dashboard`, the images pages of :mod:`.image_pages`, the volumes pages of
:mod:`.volume_pages`, the networks page of :mod:`.network_pages`, the updates page of
:mod:`.update_pages`, the container pages (logs, inspect, processes) of
:mod:`.container_pages`, the hosts and events pages of
:mod:`.hosts_events`, the schedules pages of :mod:`.schedule_pages`, the webhooks page of
:mod:`.webhook_pages`, the activity page of :mod:`.activity`, the notifications pages of
:mod:`.notification_pages`, the account pages of :mod:`.accounts` (``/login``, ``/setup``,
``/profile``, ``/users``, ``/audit``) and ``/static/...``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

import jinja2
from aiohttp import web

from chrontainer_core.errors import Conflict, InvalidInput

from ..api.context import actor
from ..api.settings import service as settings_service
from . import (
    accounts,
    activity,
    container_pages,
    dashboard,
    hosts_events,
    image_pages,
    mqtt_pages,
    network_pages,
    notification_pages,
    registry_pages,
    schedule_pages,
    update_pages,
    volume_pages,
    webhook_pages,
)
from .assets import STATIC_PREFIX, Assets
from .rendering import UI_STATE, UiState, render
from .settings_form import SECTIONS, parse_form

__all__ = ["setup"]

_HERE: Final = Path(__file__).parent


class _CompiledTemplates(jinja2.BytecodeCache):
    """Compiled templates kept for the life of the process, keyed by name and source checksum.

    Compiling every template takes most of a second; an application built again in the same
    process (the test suite builds hundreds) then loads them instead. A changed template has
    another checksum, so it is compiled again.
    """

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


_COMPILED: Final = _CompiledTemplates()


def setup(app: web.Application) -> None:
    """Add the UI's routes to ``app``; templates and assets are loaded when it starts."""
    assets = Assets(_HERE / "static")
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("chrontainer_server.ui", "templates"),
        bytecode_cache=_COMPILED,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,  # a typo in a template fails the tests, not silently
    )
    env.globals["static"] = assets.url
    app[UI_STATE] = UiState(env=env, assets=assets)
    app.cleanup_ctx.append(_load)
    app.router.add_get("/", index)
    app.router.add_get("/settings", settings_page)
    app.router.add_post("/settings", save_settings)
    dashboard.setup(app)
    image_pages.setup(app)
    volume_pages.setup(app)
    network_pages.setup(app)
    update_pages.setup(app)
    container_pages.setup(app)
    hosts_events.setup(app)
    schedule_pages.setup(app)
    webhook_pages.setup(app)
    activity.setup(app)
    notification_pages.setup(app)
    registry_pages.setup(app)
    mqtt_pages.setup(app)
    accounts.setup(app, render)
    app.router.add_get(STATIC_PREFIX + "{path:.+}", _static)


async def _load(app: web.Application) -> AsyncIterator[None]:
    state = app[UI_STATE]
    # File reads, hashing, gzip and template compilation block: do them once, in a thread.
    await asyncio.to_thread(_load_sync, state)
    yield


def _load_sync(state: UiState) -> None:
    state.assets.load()
    for name in state.env.list_templates(extensions=["html"]):
        state.env.get_template(name)


async def _static(request: web.Request) -> web.StreamResponse:
    return request.app[UI_STATE].assets.handler(request)


async def index(request: web.Request) -> web.StreamResponse:
    """``/``: the containers page is the home page."""
    raise web.HTTPFound("/containers")


async def settings_page(request: web.Request) -> web.StreamResponse:
    """The settings form."""
    state = settings_service(request).state()
    return _settings_form(request, asdict(state.values), state.read_only, {},
                          saved="saved" in request.query)


async def save_settings(request: web.Request) -> web.StreamResponse:
    """Save the settings form, then show the saved form, or what is wrong (400/409).

    htmx posts the form (it alone can add the ``X-CSRF-Token`` header the auth middleware
    wants from a session) and swaps the answer's ``<main>`` in; a plain form post, e.g. with
    an API key, gets a post/redirect/get instead.
    """
    service = settings_service(request)
    form = await request.post()
    posted = {key: value for key, value in form.items() if isinstance(value, str)}
    read_only = service.read_only
    changes, errors = parse_form(posted, read_only)
    status = 400
    if not errors:
        try:
            await service.update(changes, actor=actor(request))
        except InvalidInput as err:
            errors[err.field or ""] = err.message
        except Conflict as err:
            # The config file pinned a key while the form was open (a restart in between).
            errors[str(err.details.get("field", ""))] = err.message
            status = 409
        else:
            if request.headers.get("HX-Request") != "true":
                raise web.HTTPSeeOther("/settings?saved=1")
            return _settings_form(request, asdict(service.current), read_only, {}, saved=True)
    values = {**asdict(service.current), **{k: posted.get(k, v) for k, v in changes.items()}}
    return _settings_form(request, values, read_only, errors, status=status)


def _settings_form(
    request: web.Request,
    values: Mapping[str, Any],
    read_only: tuple[str, ...],
    errors: Mapping[str, str],
    *,
    saved: bool = False,
    status: int = 200,
) -> web.Response:
    context = {
        "sections": SECTIONS, "values": values, "read_only": read_only, "errors": errors,
        "saved": saved,
    }
    return render(request, "settings.html", context, status=status)
