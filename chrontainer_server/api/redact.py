"""What a viewer must not read: environment variable values (DESIGN §7).

Values of environment variables often hold passwords and tokens. Viewers see the names only,
wherever a container is shown: lists, details, inspect, the live stream and the UI. This module
is the one place deciding that; every route showing a container goes through it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chrontainer_server.auth.principal import principal_of
from chrontainer_server.auth.roles import Role

__all__ = ["hides_env_values", "redact_container", "redact_inspect"]


def hides_env_values(request: web.Request) -> bool:
    """True when the caller may see environment variable names but not their values."""
    principal = principal_of(request)
    return principal is None or principal.role is Role.VIEWER


def redact_container(doc: dict[str, Any]) -> dict[str, Any]:
    """A container's JSON form with every ``env[].value`` emptied (a copy; cached forms are
    shared and never modified)."""
    env = doc.get("env")
    if not env:
        return doc
    return {**doc, "env": [{**var, "value": ""} for var in env]}


def redact_inspect(document: dict[str, Any]) -> dict[str, Any]:
    """The engine's inspect document with ``Config.Env`` reduced to ``NAME=`` entries."""
    config = document.get("Config")
    if isinstance(config, dict) and isinstance(config.get("Env"), list):
        config["Env"] = [str(e).split("=", 1)[0] + "=" for e in config["Env"]]
    return document
