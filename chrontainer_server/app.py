"""The aiohttp application: middlewares, API routes, and the core's lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from chrontainer_core import Chrontainer
from chrontainer_core.config import Config

from .api import containers, health, hosts, openapi
from .api.context import CORE
from .middlewares import add_security_headers, error_middleware

# Request bodies are small JSON documents; uploads get their own limits where they exist.
MAX_BODY = 1024 * 1024


def create_app(config: Config, *, core: Chrontainer | None = None) -> web.Application:
    """Build the web application around a core runtime (made from ``config`` when omitted).

    The app starts the core on startup and stops it on cleanup, so ``serve`` and tests share
    one lifecycle.
    """
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY)
    app.on_response_prepare.append(add_security_headers)
    app[CORE] = core if core is not None else Chrontainer.from_config(config)
    for module in (health, hosts, containers, openapi):
        module.routes.register(app)
    app.cleanup_ctx.append(_core_lifecycle)
    return app


async def _core_lifecycle(app: web.Application) -> AsyncIterator[None]:
    runtime = app[CORE]
    await runtime.start()
    yield
    await runtime.stop()
