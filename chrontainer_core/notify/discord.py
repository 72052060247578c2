"""Discord: one embed posted to a channel webhook ("Execute Webhook").

The body is ``{"username"?, "embeds": [{"title", "description", "color", "timestamp",
"fields"?}]}``; ``color`` is an integer RGB value by severity and ``timestamp`` ISO 8601. Discord
answers 204 (or 200 when ``?wait=true`` is in the URL). A 429 carries ``retry_after`` (seconds)
in its JSON body and in the ``Retry-After`` header; the detail reports it so the delivery log
explains the wait. Discord's embed limits (title 256, description 4096, field value 1024
characters) are applied by cutting, never by failing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import voluptuous as vol

from chrontainer_core.serialize import format_datetime

from .fields import SecretUrl, Text
from .httpsend import post
from .models import DiscordConfig, Notification, SendResult, Severity
from .render import message_text

__all__ = ["SCHEMA", "SEVERITY_COLOURS", "payload", "send", "to_config"]

SEVERITY_COLOURS: Final[dict[Severity, int]] = {
    Severity.ERROR: 0xE74C3C,  # red
    Severity.WARNING: 0xF1A104,  # amber
    Severity.INFO: 0x3498DB,  # blue
}
_TITLE_MAX: Final = 256
_DESCRIPTION_MAX: Final = 4096
_FIELD_MAX: Final = 1024

SCHEMA: Final[dict[Any, Any]] = {
    vol.Optional("webhook_url"): vol.Maybe(SecretUrl()),
    vol.Optional("username"): vol.Maybe(Text(80)),
}


def to_config(values: Mapping[str, Any]) -> DiscordConfig:
    """Build the configuration from validated values (secrets already merged)."""
    return DiscordConfig(webhook_url=values["webhook_url"], username=values.get("username"))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def payload(config: DiscordConfig, n: Notification) -> dict[str, Any]:
    """The JSON body Discord receives for ``n``."""
    embed: dict[str, Any] = {
        "title": _cut(n.title, _TITLE_MAX),
        "description": _cut(message_text(n), _DESCRIPTION_MAX),
        "color": SEVERITY_COLOURS[n.severity],
        "timestamp": format_datetime(n.time),
    }
    fields = [{"name": name, "value": _cut(value, _FIELD_MAX), "inline": True}
              for name, value in (("Host", n.host), ("Container", n.container)) if value]
    if fields:
        embed["fields"] = fields
    body: dict[str, Any] = {"embeds": [embed]}
    if config.username:
        body["username"] = config.username
    return body


def _rate_limited(status: int, body: str, headers: Mapping[str, str]) -> str | None:
    if status != 429:
        return None
    retry_after: object = None
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        retry_after = data.get("retry_after")
    if not isinstance(retry_after, (int, float)) or isinstance(retry_after, bool):
        try:
            retry_after = float(headers.get("Retry-After", ""))
        except ValueError:
            return "HTTP 429: rate limited by Discord"
    return f"HTTP 429: rate limited by Discord, retry after {float(retry_after):g} s"


def _secrets(config: DiscordConfig) -> list[str]:
    # The token is the last path segment; scrub it on its own too in case a reply quotes it.
    token = urlsplit(config.webhook_url).path.rstrip("/").rpartition("/")[2]
    return [config.webhook_url, token]


async def send(config: DiscordConfig, n: Notification, *, http: aiohttp.ClientSession,
               timeout: float) -> SendResult:  # noqa: ASYNC109 - a per-send budget
    """Post ``n`` as an embed to the webhook; see the module docstring."""
    return await post(http, config.webhook_url, json=payload(config, n), timeout=timeout,
                      secrets=_secrets(config), interpret=_rate_limited)
