"""What a valid tag name, tag colour and web-UI link are (the API schemas use the same checks).

Tag names are what people read in chips and filters; colours are CSS hex colours the tag
stylesheet writes out; web-UI links are opened from the dashboard by every role, so only plain
http(s) URLs without credentials are accepted.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final
from urllib.parse import urlsplit

import voluptuous as vol

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
MAX_URL_LENGTH: Final = 2048
MAX_TAGS_PER_CONTAINER: Final = 100
_MAX_ID: Final = 2**31 - 1
# C0 and C1 control characters (Unicode category Cc), as a JSON Schema character class.
_CONTROL_CLASS: Final = r"\x00-\x1f\x7f-\x9f"
_COLOUR_RE: Final = re.compile(r"#[0-9a-fA-F]{6}")
# Spelled out, not re.IGNORECASE: under it the long s (U+017F) would match "s".
_SCHEME_RE: Final = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://")


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" for ch in text)


class TagName:
    """Validate a tag name: stripped, 1-64 characters, no control characters."""

    json_schema: Final = {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_NAME_LENGTH,
        "pattern": f"^[^{_CONTROL_CLASS}]+$",
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
        if _has_control(value):
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
        "pattern": f"^{_SCHEME_RE.pattern}[^{_CONTROL_CLASS} ]+$",
        "description": "http:// or https:// URL with a host",
    }

    def __call__(self, value: object) -> str:
        """Return the URL unchanged.

        Raises:
            vol.Invalid: With a message saying what is wrong.
        """
        if not isinstance(value, str):
            raise vol.Invalid("must be a string")
        if len(value) > MAX_URL_LENGTH:
            raise vol.Invalid(f"must be at most {MAX_URL_LENGTH} characters")
        if any(ch.isspace() for ch in value) or _has_control(value):
            raise vol.Invalid("must not contain whitespace or control characters")
        if not _SCHEME_RE.match(value):
            raise vol.Invalid("must be an http:// or https:// URL")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - parsing the port is the check (ValueError when bad)
        except ValueError as err:
            raise vol.Invalid(f"is not a valid URL ({err})") from err
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
