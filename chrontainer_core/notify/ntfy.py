"""ntfy: the message as the body of a POST to ``{server}/{topic}``, everything else in headers.

Headers: ``Title``, ``Priority`` (1-5, the configured one), ``Tags`` (comma-separated: the
configured tags plus one for the severity, which ntfy shows as an emoji) and
``Authorization: Bearer <token>`` when a token is set. HTTP header values are Latin-1 on the
wire, so a title with other characters is sent as an RFC 2047 encoded word, which ntfy decodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.header import Header
from typing import Any, Final

import aiohttp
import voluptuous as vol

from .fields import IntRange, ServerUrl, Tags, Token, Topic
from .httpsend import post
from .models import Notification, NtfyConfig, SendResult, Severity
from .render import context_lines, message_text, one_line

__all__ = ["SCHEMA", "SEVERITY_TAGS", "request_headers", "send", "to_config"]

# ntfy turns tags that are emoji short codes into emoji before the title.
SEVERITY_TAGS: Final[dict[Severity, str]] = {
    Severity.ERROR: "rotating_light",
    Severity.WARNING: "warning",
    Severity.INFO: "information_source",
}

SCHEMA: Final[dict[Any, Any]] = {
    vol.Required("topic"): Topic(),
    vol.Optional("server", default="https://ntfy.sh"): ServerUrl(),
    vol.Optional("priority", default=3): IntRange(1, 5),
    vol.Optional("tags", default=list): Tags(),
    vol.Optional("token"): vol.Maybe(vol.Any("", Token())),
}


def to_config(values: Mapping[str, Any]) -> NtfyConfig:
    """Build the configuration from validated values (secrets already merged)."""
    return NtfyConfig(topic=values["topic"], server=values["server"],
                      priority=values["priority"], tags=tuple(values["tags"]),
                      token=values.get("token") or None)


def _header_text(text: str) -> str:
    text = one_line(text)
    if text.isascii():
        return text
    return Header(text, "utf-8").encode(maxlinelen=10_000)


def request_headers(config: NtfyConfig, n: Notification) -> dict[str, str]:
    """The headers ntfy receives for ``n``."""
    tags = [*config.tags, SEVERITY_TAGS[n.severity]]
    headers = {
        "Title": _header_text(n.title),
        "Priority": str(config.priority),
        "Tags": ",".join(dict.fromkeys(tags)),  # without duplicates, in order
        "Content-Type": "text/plain; charset=utf-8",
    }
    if config.token:
        headers["Authorization"] = f"Bearer {config.token}"
    return headers


async def send(config: NtfyConfig, n: Notification, *, http: aiohttp.ClientSession,
               timeout: float) -> SendResult:  # noqa: ASYNC109 - a per-send budget
    """Publish ``n`` to the topic; see the module docstring."""
    body = "\n".join([message_text(n), "", *context_lines(n)])
    return await post(http, f"{config.server}/{config.topic}", data=body.encode("utf-8"),
                      headers=request_headers(config, n), timeout=timeout,
                      secrets=[config.token] if config.token else [])
