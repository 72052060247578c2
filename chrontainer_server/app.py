"""The aiohttp application: middlewares, API routes, UI pages, and the core's lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

from aiohttp import web

from chrontainer_core import Chrontainer
from chrontainer_core.config import Config
from chrontainer_mqtt.bridge import MqttBridge
from chrontainer_mqtt.settings_service import MqttSettingsService

from . import ui
from .api import (
    activity,
    apikeys,
    auth,
    containers,
    events,
    health,
    hosts,
    images,
    mqtt,
    networks,
    notifications,
    openapi,
    operations,
    registries,
    schedules,
    settings,
    tags,
    totp,
    updates,
    users,
    volume_backups,
    volume_browser,
    volumes,
    webhooks,
)
from .api.context import CORE
from .api.mqtt import MQTT_BRIDGE, MQTT_SETTINGS
from .auth.middleware import auth_middleware
from .auth.principal import TRUSTED_PROXIES
from .auth.service import AUTH, AuthService
from .auth.sessions import DEFAULT_IDLE_TIMEOUT
from .middlewares import add_security_headers, error_middleware

# Request bodies are small JSON documents; uploads get their own limits where they exist.
MAX_BODY = 1024 * 1024


def create_app(config: Config, *, core: Chrontainer | None = None) -> web.Application:
    """Build the web application around a core runtime (made from ``config`` when omitted).

    The app starts the core on startup and stops it on cleanup, so ``serve`` and tests share
    one lifecycle.
    """
    # Errors outermost, so that the auth middleware's refusals become JSON errors too.
    app = web.Application(middlewares=[error_middleware, auth_middleware],
                          client_max_size=MAX_BODY)
    app.on_response_prepare.append(add_security_headers)
    runtime = app[CORE] = core if core is not None else Chrontainer.from_config(config)
    app[TRUSTED_PROXIES] = tuple(config.trusted_proxies)
    app[AUTH] = _auth_service(runtime)
    app[MQTT_SETTINGS], app[MQTT_BRIDGE] = _mqtt(runtime, config)
    for module in (health, auth, totp, users, apikeys, hosts, containers, images, operations,
                   updates, volumes, volume_browser, volume_backups, networks, tags, events,
                   activity, schedules, webhooks, notifications, registries, settings,
                   mqtt, openapi):
        module.routes.register(app)
    events.setup(app)  # open SSE streams end on shutdown
    ui.setup(app)
    app.cleanup_ctx.append(_core_lifecycle)
    app.cleanup_ctx.append(_setup_link(f"http://{config.bind_host}:{config.port}"))
    return app


def _auth_service(runtime: Chrontainer) -> AuthService:
    if runtime.db is None:
        raise ValueError("the server needs a daemon-mode runtime (Chrontainer.from_config)")

    def idle_timeout() -> timedelta:
        # Read per lookup: a changed setting applies to the next request.
        if runtime.settings is None:
            return DEFAULT_IDLE_TIMEOUT
        return timedelta(minutes=runtime.settings.current.session_idle_timeout_minutes)

    def require_2fa() -> bool:
        return runtime.settings is not None and runtime.settings.current.require_2fa

    return AuthService(runtime.db, runtime.audit, idle_timeout=idle_timeout,
                       secrets=runtime.secrets, require_2fa=require_2fa)


def _mqtt(runtime: Chrontainer, config: Config) -> tuple[MqttSettingsService, MqttBridge]:
    if runtime.db is None or runtime.secrets is None:
        raise ValueError("the server needs a daemon-mode runtime (Chrontainer.from_config)")
    # Validates the config file's mqtt: section now: a bad one fails `serve` with a ConfigError
    # naming the key (mqtt.port), before anything starts.
    settings = MqttSettingsService(runtime.db, runtime.secrets, runtime.audit,
                                   file_overrides=config.mqtt)
    return settings, MqttBridge(runtime, settings)


def _setup_link(base_url: str) -> Callable[[web.Application], AsyncIterator[None]]:
    async def log_setup_link(app: web.Application) -> AsyncIterator[None]:
        # After the core started (so the schema is there): logs the link only with no users.
        await app[AUTH].setup.prepare(base_url)
        yield

    return log_setup_link


async def _core_lifecycle(app: web.Application) -> AsyncIterator[None]:
    runtime = app[CORE]
    await runtime.start()
    try:
        # After the core (the settings live in its database; the bridge follows its events).
        await app[MQTT_SETTINGS].load()
        await app[MQTT_BRIDGE].start()
        yield
    finally:
        # The bridge publishes "offline" and lets go of the core before the core stops.
        try:
            await app[MQTT_BRIDGE].stop()
        finally:
            await runtime.stop()
