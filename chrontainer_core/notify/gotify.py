"""Gotify: a JSON message posted to ``{server}/message?token=<application token>``.

The body is ``{"title", "message", "priority"}`` with the configured priority (0-10).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import aiohttp
import voluptuous as vol

from .fields import IntRange, ServerUrl, Token
from .httpsend import post
from .models import GotifyConfig, Notification, SendResult
from .render import context_lines, message_text

__all__ = ["SCHEMA", "payload", "send", "to_config"]

SCHEMA: Final[dict[Any, Any]] = {
    vol.Required("server"): ServerUrl(),
    vol.Optional("token"): vol.Maybe(Token()),
    vol.Optional("priority", default=5): IntRange(0, 10),
}


def to_config(values: Mapping[str, Any]) -> GotifyConfig:
    """Build the configuration from validated values (secrets already merged)."""
    return GotifyConfig(server=values["server"], token=values["token"],
                        priority=values["priority"])


def payload(config: GotifyConfig, n: Notification) -> dict[str, Any]:
    """The JSON body Gotify receives for ``n``."""
    message = "\n".join([message_text(n), "", *context_lines(n)])
    return {"title": n.title, "message": message, "priority": config.priority}


async def send(config: GotifyConfig, n: Notification, *, http: aiohttp.ClientSession,
               timeout: float) -> SendResult:  # noqa: ASYNC109 - a per-send budget
    """Push ``n`` to the application; see the module docstring."""
    return await post(http, f"{config.server}/message", params={"token": config.token},
                      json=payload(config, n), timeout=timeout, secrets=[config.token])
