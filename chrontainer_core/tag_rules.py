"""What a valid tag name, tag colour and web-UI link are (the API schemas use the same checks).

Tag names are what people read in chips and filters; colours are CSS hex colours the tag
stylesheet writes out; web-UI links are opened from the dashboard by every role, so only plain
http(s) URLs without credentials are accepted.
"""

from __future__ import annotations

import re
from typing import Final

import voluptuous as vol

from .validate import CONTROL_CLASS, HTTP_SCHEME_RE, MAX_URL_LENGTH, has_control, split_http_url

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_TAGS_PER_CONTAINER",
    "MAX_URL_LENGTH",
    "TAG_IDS",
    "Colour",
    "TagId",
    "TagName",
    "WebUrl",
]

MAX_NAME_LENGTH: Final = 64
MAX_TAGS_PER_CONTAINER: Final = 100
_MAX_ID: Final = 2**31 - 1
_COLOUR_RE: Final = re.compile(r"#[0-9a-fA-F]{6}")


class TagName:
    """Validate a tag name: stripped, 1-64 characters, no control characters."""

    json_schema: Final = {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_NAME_LENGTH,
        "pattern": f"^[^{CONTROL_CLASS}]+$",
    }

    def __call__(self, value: object) -> str:
        """Return the stripped name.

        Raises:
            vol.Invalid: Not a string, blank, too long or holding control characters.
        """
        if not isinstance(value, str):
            raise vol.Invalid("must be a string")
        # The raw length is bounded too, so a padded 65-character name is refused as the
        # published schema (maxLength) says, not accepted once stripped.
        if len(value) > MAX_NAME_LENGTH:
            raise vol.Invalid(f"must be 1 to {MAX_NAME_LENGTH} characters")
        if has_control(value):
            raise vol.Invalid("must not contain control characters")
        name = value.strip()
        if not name:
            raise vol.Invalid(f"must be 1 to {MAX_NAME_LENGTH} characters")
        return name

    def __repr__(self) -> str:
        return "TagName()"


class Colour:
    """Validate a ``#rrggbb`` colour; returns it lowercased."""

    json_schema: Final = {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$",
                          "description": "#rrggbb"}

    def __call__(self, value: object) -> str:
        """Return the colour lowercased.

        Raises:
            vol.Invalid: Not a string of the form ``#rrggbb``.
        """
        # fullmatch, because "$" would also match before a trailing newline.
        if not isinstance(value, str) or not _COLOUR_RE.fullmatch(value):
            raise vol.Invalid("must be a colour of the form #rrggbb")
        return value.lower()

    def __repr__(self) -> str:
        return "Colour()"


class WebUrl:
    """Validate a web-UI link: an http or https URL with a host, at most 2048 characters.

    Refused: other schemes (``javascript:``, ``data:``, ``ftp:``; the link becomes a button
    in the UI), whitespace and control characters anywhere (no stripping: what is stored is
    what was sent), and a user name or password (viewers see links).
    """

    json_schema: Final = {
        "type": "string",
        "maxLength": MAX_URL_LENGTH,
        "pattern": f"^{HTTP_SCHEME_RE.pattern}[^{CONTROL_CLASS} ]+$",
        "description": "http:// or https:// URL with a host",
    }

    def __call__(self, value: object) -> str:
        """Return the URL unchanged.

        Raises:
            vol.Invalid: With a message saying what is wrong.
        """
        if not isinstance(value, str):
            raise vol.Invalid("must be a string")
        parts = split_http_url(value)
        if not parts.hostname:
            raise vol.Invalid("must name a host (http://host/...)")
        if parts.username is not None or parts.password is not None:
            raise vol.Invalid("must not contain a user name or password")
        return value

    def __repr__(self) -> str:
        return "WebUrl()"


class TagId:
    """Validate a tag id: a positive JSON integer (``true`` is not 1)."""

    json_schema: Final = {"type": "integer", "minimum": 1, "maximum": _MAX_ID}

    def __call__(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_ID:
            raise vol.Invalid("must be a tag id (a positive integer)")
        return value

    def __repr__(self) -> str:
        return "TagId()"


# A container's whole tag set (duplicates are tolerated and folded).
TAG_IDS: Final = vol.All(
    [TagId()],
    vol.Length(max=MAX_TAGS_PER_CONTAINER,
               msg=f"at most {MAX_TAGS_PER_CONTAINER} tags per container"),
)
