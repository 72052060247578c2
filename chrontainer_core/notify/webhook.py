"""Generic webhook: the notification as one JSON object, POSTed with the configured headers.

The body is ``{"event", "title", "message", "severity", "time", "subject", "host",
"container", "suppressed"}``: the notification's own fields, ``time`` ISO 8601 UTC, ``message``
as written (the receiver has ``suppressed`` to word the held-back count itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import voluptuous as vol

from chrontainer_core.serialize import format_datetime

from .fields import HeaderMap, SecretUrl
from .httpsend import post
from .models import Notification, SendResult, WebhookConfig

__all__ = ["SCHEMA", "payload", "send", "to_config"]

SCHEMA: Final[dict[Any, Any]] = {
    vol.Optional("url"): vol.Maybe(SecretUrl()),
    vol.Optional("headers"): vol.Maybe(HeaderMap()),
}


def to_config(values: Mapping[str, Any]) -> WebhookConfig:
    """Build the configuration from validated values (secrets already merged)."""
    return WebhookConfig(url=values["url"], headers=tuple(values.get("headers") or ()))


def payload(n: Notification) -> dict[str, Any]:
    """The JSON body the receiver gets for ``n``."""
    return {
        "event": n.event.value,
        "title": n.title,
        "message": n.message,
        "severity": n.severity.value,
        "time": format_datetime(n.time),
        "subject": n.subject,
        "host": n.host,
        "container": n.container,
        "suppressed": n.suppressed,
    }


def _secrets(config: WebhookConfig) -> list[str]:
    parts = urlsplit(config.url)
    values = [config.url]
    for _, value in config.headers:
        # "Bearer <token>": a receiver may quote the credential without its scheme.
        values += [value, value.rsplit(" ", 1)[-1]]
    if parts.password:
        values.append(parts.password)
    return values


async def send(config: WebhookConfig, n: Notification, *, http: aiohttp.ClientSession,
               timeout: float) -> SendResult:  # noqa: ASYNC109 - a per-send budget
    """Post ``n`` as JSON; see the module docstring."""
    headers = {name: value for name, value in config.headers}
    headers["Content-Type"] = "application/json"
    return await post(http, config.url, json=payload(n), headers=headers, timeout=timeout,
                      secrets=_secrets(config))
