"""Channels as one interface: send a notification, validate a configuration, show it safely.

- :func:`send` delivers one notification through any channel kind and never raises for a
  delivery failure: a refused, unreachable, failing or slow channel is ``SendResult(ok=False)``
  with a detail fit for the delivery log (no secret in it).
- :func:`parse_config` validates API input for a kind (:data:`CONFIG_SCHEMAS`, which also
  produce the OpenAPI document). Secret fields (each config class's ``SECRETS``) left out or
  null keep their value from the channel being edited, so an edit never needs the secrets
  again; an empty string clears an optional secret (an ntfy token, an SMTP password), an
  empty object clears webhook headers.
- :func:`public_config` is what the API may show: the non-secret fields and the names of the
  secrets that are set.

One module per kind (:mod:`.discord`, :mod:`.ntfy`, :mod:`.gotify`, :mod:`.webhook`,
:mod:`.email`) knows its wire format, its schema and how to build its config.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import aiohttp
import voluptuous as vol

from chrontainer_core.errors import InvalidInput
from chrontainer_core.serialize import to_jsonable
from chrontainer_core.validate import format_path

from . import discord, email, gotify, ntfy, webhook
from .httpsend import scrub
from .models import (
    CONFIG_BY_KIND,
    ChannelConfig,
    ChannelKind,
    DiscordConfig,
    EmailConfig,
    GotifyConfig,
    Notification,
    NtfyConfig,
    SendResult,
    WebhookConfig,
)

__all__ = ["CONFIG_SCHEMAS", "DEFAULT_TIMEOUT", "parse_config", "public_config", "send"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Final = 15.0

# Voluptuous schema dicts of each kind's API input (the OpenAPI document is made from them).
CONFIG_SCHEMAS: Final[dict[ChannelKind, dict[Any, Any]]] = {
    ChannelKind.DISCORD: discord.SCHEMA,
    ChannelKind.NTFY: ntfy.SCHEMA,
    ChannelKind.GOTIFY: gotify.SCHEMA,
    ChannelKind.WEBHOOK: webhook.SCHEMA,
    ChannelKind.EMAIL: email.SCHEMA,
}

_BUILDERS: Final[dict[ChannelKind, Callable[[Mapping[str, Any]], ChannelConfig]]] = {
    ChannelKind.DISCORD: discord.to_config,
    ChannelKind.NTFY: ntfy.to_config,
    ChannelKind.GOTIFY: gotify.to_config,
    ChannelKind.WEBHOOK: webhook.to_config,
    ChannelKind.EMAIL: email.to_config,
}


async def send(config: ChannelConfig, n: Notification, *, http: aiohttp.ClientSession,
               timeout: float = DEFAULT_TIMEOUT) -> SendResult:  # noqa: ASYNC109 - a per-send budget
    """Deliver one notification through one channel.

    Args:
        config: The channel's configuration, secrets included.
        n: What to say.
        http: The shared client session (unused by email).
        timeout: Seconds the whole attempt may take.

    Returns:
        How it went; a failure is a result, never an exception.
    """
    match config:
        case DiscordConfig():
            result = await discord.send(config, n, http=http, timeout=timeout)
        case NtfyConfig():
            result = await ntfy.send(config, n, http=http, timeout=timeout)
        case GotifyConfig():
            result = await gotify.send(config, n, http=http, timeout=timeout)
        case WebhookConfig():
            result = await webhook.send(config, n, http=http, timeout=timeout)
        case EmailConfig():
            result = await email.send(config, n, http=http, timeout=timeout)
    # Last line of defence: whatever a receiver answered, no secret reaches the log or the UI.
    result = dataclasses.replace(result, detail=scrub(result.detail, _secret_values(config)))
    log.debug("%s notification for host %s container %s (%s) via %s: %s",
              n.event.value, n.host or "-", n.container or "-", n.subject,
              type(config).__name__, result.detail)
    return result


def _secret_values(config: ChannelConfig) -> Iterator[str]:
    for name in config.SECRETS:
        value = getattr(config, name)
        if isinstance(value, str):
            yield value
        elif isinstance(value, tuple):  # webhook headers: (name, value) pairs
            for _, text in value:
                yield text
                yield text.rsplit(" ", 1)[-1]  # the credential of "Bearer <token>"


def parse_config(kind: ChannelKind, data: Mapping[str, Any], *,
                 keep: ChannelConfig | None = None) -> ChannelConfig:
    """Validate a channel configuration from the API.

    Args:
        kind: The channel's kind.
        data: The ``config`` object of the request.
        keep: The configuration being edited; its secrets fill in the ones left out (only
            when it is of the same kind).

    Returns:
        The configuration, secrets included.

    Raises:
        InvalidInput: ``field`` names the offending input (``config.topic``,
            ``config.recipients[1]``); a required secret is missing on a new channel.
    """
    if not isinstance(data, Mapping):
        raise InvalidInput("config: must be an object", field="config")
    schema = vol.Schema(CONFIG_SCHEMAS[kind], extra=vol.PREVENT_EXTRA)
    try:
        values: dict[str, Any] = schema(dict(data))
    except vol.Invalid as err:
        path = format_path(["config", *err.path])
        message = "unknown field" if err.msg == "extra keys not allowed" else err.msg
        raise InvalidInput(f"{path}: {message}", field=path) from err
    cls = CONFIG_BY_KIND[kind]
    previous = keep if isinstance(keep, cls) else None
    for name in cls.SECRETS:
        if values.get(name) is None:
            if previous is not None and getattr(previous, name) is not None:
                values[name] = getattr(previous, name)
            else:
                values.pop(name, None)
    for field in dataclasses.fields(cls):
        required = (field.default is dataclasses.MISSING
                    and field.default_factory is dataclasses.MISSING)
        if required and field.name in cls.SECRETS and not values.get(field.name):
            path = f"config.{field.name}"
            raise InvalidInput(f"{path}: required", field=path)
    return _BUILDERS[kind](values)


def public_config(config: ChannelConfig) -> dict[str, Any]:
    """What the API shows of a configuration: the non-secret fields, and ``secrets_set``
    naming the secret fields that have a value (never the values)."""
    out: dict[str, Any] = {
        field.name: to_jsonable(getattr(config, field.name))
        for field in dataclasses.fields(config)
        if field.name not in config.SECRETS
    }
    out["secrets_set"] = [name for name in config.SECRETS if getattr(config, name)]
    return out
