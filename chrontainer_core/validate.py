"""Voluptuous validators shared by the config file, the CLI and the HTTP API.

Each decision about what a valid value looks like (a host slug, a Docker engine URL, a display
name) is taken here once, so the config loader and the API can never disagree.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from typing import Final
from urllib.parse import SplitResult, urlsplit

import voluptuous as vol

__all__ = ["DockerUrl", "HostName", "Slug", "format_path"]

_SLUG_RE: Final = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62})$")
_SLUG_MSG: Final = "must be lowercase letters, digits and '-'"
_DOCKER_URL_MSG: Final = "must be unix:///absolute/path/to/docker.sock or tcp://host:port"


class Slug:
    """Validate an immutable identifier: 1-63 of ``[a-z0-9-]``, not starting with ``-``."""

    # Read by the OpenAPI generator (chrontainer_server.api.jsonschema).
    json_schema: Final = {"type": "string", "pattern": _SLUG_RE.pattern}

    def __init__(self, msg: str | None = None) -> None:
        self.msg = msg or _SLUG_MSG

    def __call__(self, value: object) -> str:
        """Return ``value`` unchanged when it is a valid slug.

        Raises:
            vol.Invalid: ``value`` is not a string or not a slug.
        """
        # fullmatch, because "$" also matches before a trailing newline.
        if not isinstance(value, str) or not _SLUG_RE.fullmatch(value):
            raise vol.Invalid(self.msg)
        return value

    def __repr__(self) -> str:
        return "Slug()"


class DockerUrl:
    """Validate a Docker engine address: ``unix:///abs/path`` or ``tcp://host:port``.

    ``http://`` and ``https://`` are refused on purpose: Docker's own clients spell TCP engines
    ``tcp://``, and accepting both would give one engine two spellings in hosts and audit rows.
    """

    json_schema: Final = {"type": "string", "pattern": "^(unix|tcp)://"}

    def __init__(self, msg: str | None = None) -> None:
        self.msg = msg or _DOCKER_URL_MSG

    def __call__(self, value: object) -> str:
        """Return the stripped URL when it is a supported engine address.

        Raises:
            vol.Invalid: with a message saying which part is wrong.
        """
        if not isinstance(value, str) or not value.strip():
            raise vol.Invalid(f"is empty; {self.msg}")
        url = value.strip()
        try:
            parts = urlsplit(url)
        except ValueError as err:  # e.g. an unbalanced "[" in an IPv6 host
            raise vol.Invalid(f"is not a URL ({err}); {self.msg}") from err
        if parts.scheme == "unix":
            self._check_unix(parts)
        elif parts.scheme == "tcp":
            self._check_tcp(parts)
        else:
            scheme = f"'{parts.scheme}://'" if parts.scheme else "no scheme"
            raise vol.Invalid(f"has {scheme}; {self.msg}")
        return url

    def _check_unix(self, parts: SplitResult) -> None:
        # "unix://var/run/x.sock" would parse "var" as a host: insist on three slashes.
        if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
            raise vol.Invalid(f"needs an absolute socket path after unix://; {self.msg}")
        if parts.query or parts.fragment:
            raise vol.Invalid(f"must not have a query or fragment; {self.msg}")

    def _check_tcp(self, parts: SplitResult) -> None:
        if parts.username is not None or parts.password is not None:
            raise vol.Invalid(f"must not contain credentials; {self.msg}")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise vol.Invalid(f"must not have a path, query or fragment; {self.msg}")
        if not parts.hostname:
            raise vol.Invalid(f"has no host; {self.msg}")
        try:
            port = parts.port
        except ValueError as err:  # non-numeric or out of range
            raise vol.Invalid(f"has an invalid port; {self.msg}") from err
        if port is None or port == 0:
            raise vol.Invalid(f"needs a port (1-65535); {self.msg}")

    def __repr__(self) -> str:
        return "DockerUrl()"


# A display name: stripped first so that "   " counts as empty.
HostName: Final = vol.All(
    str,
    vol.Strip,
    vol.Length(min=1, max=100, msg="must be 1 to 100 characters"),
)


def format_path(path: Sequence[Hashable]) -> str:
    """Turn a voluptuous error path into the dotted form users see.

    Args:
        path: ``err.path`` of a ``vol.Invalid``, e.g. ``["hosts", 1, "url"]``.

    Returns:
        ``"hosts[1].url"``; an empty string for an empty path.
    """
    out = ""
    for element in path:
        if isinstance(element, int) and not isinstance(element, bool):
            out += f"[{element}]"
        else:
            # Missing required keys come as vol.Required markers; str() gives the key name.
            out += f".{element}" if out else str(element)
    return out
