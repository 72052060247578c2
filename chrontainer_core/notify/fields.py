"""What a valid value of a channel configuration field is (voluptuous validators).

Each validator documents itself for the OpenAPI document through ``json_schema`` (see
``chrontainer_server.api.jsonschema``). The checks are strict where a value ends up in a
request line, a header or an SMTP command: a CR or LF there would let a configured value
inject headers or commands, so control characters are refused everywhere.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Final

import voluptuous as vol

from ..validate import CONTROL_CLASS, HTTP_SCHEME_RE, MAX_URL_LENGTH, has_control, split_http_url

__all__ = [
    "MAX_HEADERS",
    "MAX_RECIPIENTS",
    "MAX_TAGS",
    "EmailAddress",
    "HeaderMap",
    "HostName",
    "IntRange",
    "Recipients",
    "SecretUrl",
    "ServerUrl",
    "Tags",
    "Text",
    "Token",
    "Topic",
]

MAX_TAGS: Final = 10
MAX_TAG_LENGTH: Final = 32
MAX_HEADERS: Final = 20
MAX_RECIPIENTS: Final = 20
MAX_TOKEN_LENGTH: Final = 512
_TOPIC_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
# ntfy tags are emoji short codes ("warning", "+1") or plain words; nothing that could end the
# comma-separated Tags header early.
_TAG_RE: Final = re.compile(r"[A-Za-z0-9_+.:-]{1,32}")
# RFC 7230 token: the characters a header name may have.
_HEADER_NAME_RE: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
_TOKEN_RE: Final = re.compile(rf"[!-~]{{1,{MAX_TOKEN_LENGTH}}}")
_LABEL_RE: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# Headers the sender sets itself: overriding them would break the request or its framing.
_RESERVED_HEADERS: Final = frozenset(
    {"content-type", "content-length", "host", "transfer-encoding", "connection"}
)


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise vol.Invalid("must be a string")
    return value


class IntRange:
    """Validate a JSON integer in ``[low, high]`` (``true`` is not 1)."""

    def __init__(self, low: int, high: int) -> None:
        self.low = low
        self.high = high

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of this range."""
        return {"type": "integer", "minimum": self.low, "maximum": self.high}

    def __call__(self, value: object) -> int:
        """Return ``value`` when it is an integer in range.

        Raises:
            vol.Invalid: Not an integer, or out of range.
        """
        if isinstance(value, bool) or not isinstance(value, int):
            raise vol.Invalid(f"must be an integer from {self.low} to {self.high}")
        if not self.low <= value <= self.high:
            raise vol.Invalid(f"must be from {self.low} to {self.high}")
        return value

    def __repr__(self) -> str:
        return f"IntRange({self.low}, {self.high})"


class Text:
    """Validate a short single-line text (a display name, a user name), stripped."""

    def __init__(self, max_length: int) -> None:
        self.max_length = max_length

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of this text."""
        return {"type": "string", "minLength": 1, "maxLength": self.max_length,
                "pattern": f"^[^{CONTROL_CLASS}]+$"}

    def __call__(self, value: object) -> str:
        """Return the stripped text.

        Raises:
            vol.Invalid: Not a string, blank, too long or holding control characters.
        """
        text = _string(value)
        if len(text) > self.max_length:
            raise vol.Invalid(f"must be 1 to {self.max_length} characters")
        if has_control(text):
            raise vol.Invalid("must not contain control characters")
        text = text.strip()
        if not text:
            raise vol.Invalid(f"must be 1 to {self.max_length} characters")
        return text

    def __repr__(self) -> str:
        return f"Text({self.max_length})"


def _check_url(value: object) -> tuple[str, Any]:
    url = _string(value)
    parts = split_http_url(url)
    if not parts.hostname:
        raise vol.Invalid("must name a host (https://host/...)")
    return url, parts


class ServerUrl:
    """Validate the base URL of a notification server (ntfy, Gotify): http(s), a host, an
    optional path prefix, no credentials, query or fragment (the sender appends its path)."""

    json_schema: Final = {
        "type": "string",
        "maxLength": MAX_URL_LENGTH,
        "pattern": f"^{HTTP_SCHEME_RE.pattern}[^{CONTROL_CLASS} ?#]+$",
        "description": "http:// or https:// URL of the server",
    }

    def __call__(self, value: object) -> str:
        """Return the URL without a trailing slash.

        Raises:
            vol.Invalid: With a message saying what is wrong.
        """
        url, parts = _check_url(value)
        # The server URL is shown to every admin: a password in it would leak.
        if parts.username is not None or parts.password is not None:
            raise vol.Invalid("must not contain a user name or password (use the token)")
        if parts.query or parts.fragment or "?" in url or "#" in url:
            raise vol.Invalid("must not have a query or fragment")
        return url.rstrip("/")

    def __repr__(self) -> str:
        return "ServerUrl()"


class SecretUrl:
    """Validate a URL that is itself a credential (a Discord webhook, a generic webhook):
    http(s) with a host; credentials and a query are allowed since it is stored encrypted."""

    json_schema: Final = {
        "type": "string",
        "maxLength": MAX_URL_LENGTH,
        "pattern": f"^{HTTP_SCHEME_RE.pattern}[^{CONTROL_CLASS} ]+$",
        "description": "http:// or https:// URL (secret: stored encrypted, never returned)",
        "writeOnly": True,
    }

    def __call__(self, value: object) -> str:
        """Return the URL unchanged.

        Raises:
            vol.Invalid: With a message saying what is wrong.
        """
        url, _ = _check_url(value)
        return url

    def __repr__(self) -> str:
        return "SecretUrl()"


class Topic:
    """Validate an ntfy topic: 1-64 of ``[A-Za-z0-9_-]``."""

    json_schema: Final = {"type": "string", "pattern": f"^{_TOPIC_RE.pattern}$"}

    def __call__(self, value: object) -> str:
        """Return the topic.

        Raises:
            vol.Invalid: Not a valid topic name.
        """
        # fullmatch, because "$" also matches before a trailing newline.
        if not isinstance(value, str) or not _TOPIC_RE.fullmatch(value):
            raise vol.Invalid("must be 1 to 64 letters, digits, '_' or '-'")
        return value

    def __repr__(self) -> str:
        return "Topic()"


class Tags:
    """Validate ntfy tags: at most 10, each 1-32 of ``[A-Za-z0-9_+.:-]``."""

    json_schema: Final = {
        "type": "array",
        "maxItems": MAX_TAGS,
        "items": {"type": "string", "pattern": f"^{_TAG_RE.pattern}$"},
    }

    def __call__(self, value: object) -> list[str]:
        """Return the tags as a list.

        Raises:
            vol.Invalid: Not a list, too many tags, or a bad tag (its index in the path).
        """
        if not isinstance(value, list):
            raise vol.Invalid("must be a list of tags")
        if len(value) > MAX_TAGS:
            raise vol.Invalid(f"at most {MAX_TAGS} tags")
        for i, tag in enumerate(value):
            if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
                raise vol.Invalid(f"a tag is 1 to {MAX_TAG_LENGTH} of A-Z a-z 0-9 _ + . : -",
                                  path=[i])
        return list(value)

    def __repr__(self) -> str:
        return "Tags()"


class Token:
    """Validate an access token: 1-512 printable ASCII characters, no spaces (it goes into a
    header or a query string)."""

    json_schema: Final = {
        "type": "string",
        "pattern": f"^{_TOKEN_RE.pattern}$",
        "description": "secret: stored encrypted, never returned",
        "writeOnly": True,
    }

    def __call__(self, value: object) -> str:
        """Return the token.

        Raises:
            vol.Invalid: Not a string of printable ASCII without spaces.
        """
        if not isinstance(value, str) or not _TOKEN_RE.fullmatch(value):
            raise vol.Invalid(
                f"must be 1 to {MAX_TOKEN_LENGTH} printable ASCII characters without spaces")
        return value

    def __repr__(self) -> str:
        return "Token()"


class HeaderMap:
    """Validate extra HTTP headers: at most 20, names RFC 7230 tokens, values without control
    characters (no CR/LF), and none of the headers the sender sets itself."""

    json_schema: Final = {
        "type": "object",
        "maxProperties": MAX_HEADERS,
        "propertyNames": {"pattern": f"^{_HEADER_NAME_RE.pattern}$"},
        "additionalProperties": {"type": "string", "maxLength": 4096,
                                 "pattern": f"^[^{CONTROL_CLASS}]*$"},
        "description": "extra request headers (secret: stored encrypted, never returned)",
        "writeOnly": True,
    }

    def __call__(self, value: object) -> list[tuple[str, str]]:
        """Return the headers as (name, value) pairs in the order given.

        Raises:
            vol.Invalid: With the header name in the path when a value is bad.
        """
        if not isinstance(value, dict):
            raise vol.Invalid("must be an object of header name to value")
        if len(value) > MAX_HEADERS:
            raise vol.Invalid(f"at most {MAX_HEADERS} headers")
        pairs: list[tuple[str, str]] = []
        for name, text in value.items():
            if not isinstance(name, str) or not _HEADER_NAME_RE.fullmatch(name):
                raise vol.Invalid(f"{str(name)[:64]!r} is not a valid header name")
            if name.lower() in _RESERVED_HEADERS:
                raise vol.Invalid(f"{name} is set by Chrontainer and cannot be overridden")
            if not isinstance(text, str) or len(text) > 4096:
                raise vol.Invalid("must be a string of at most 4096 characters", path=[name])
            if has_control(text):
                raise vol.Invalid("must not contain control characters (CR, LF, ...)",
                                  path=[name])
            pairs.append((name, text))
        return pairs

    def __repr__(self) -> str:
        return "HeaderMap()"


class EmailAddress:
    """Validate a plausible email address: one ``@``, a local part and a domain, no spaces or
    control characters, at most 254 characters (a bare address, no display name)."""

    json_schema: Final = {
        "type": "string",
        "maxLength": 254,
        "pattern": f"^[^@\\s{CONTROL_CLASS}]+@[^@\\s{CONTROL_CLASS}]+$",
    }

    def __call__(self, value: object) -> str:
        """Return the address.

        Raises:
            vol.Invalid: Not a plausible address.
        """
        text = _string(value)
        local, at, domain = text.partition("@")
        if (not at or not local or not domain or "@" in domain or len(text) > 254
                or any(ch.isspace() for ch in text) or has_control(text)
                or domain.startswith(".") or domain.endswith(".")):
            raise vol.Invalid("must be an email address (name@example.org)")
        return text

    def __repr__(self) -> str:
        return "EmailAddress()"


class Recipients:
    """Validate 1 to 20 recipient addresses."""

    json_schema: Final = {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_RECIPIENTS,
        "items": EmailAddress.json_schema,
    }

    def __call__(self, value: object) -> list[str]:
        """Return the addresses as a list.

        Raises:
            vol.Invalid: Not a list, empty, too long, or a bad address (its index in the path).
        """
        if not isinstance(value, list):
            raise vol.Invalid("must be a list of email addresses")
        if not 1 <= len(value) <= MAX_RECIPIENTS:
            raise vol.Invalid(f"must list 1 to {MAX_RECIPIENTS} recipients")
        check = EmailAddress()
        out: list[str] = []
        for i, address in enumerate(value):
            try:
                out.append(check(address))
            except vol.Invalid as err:
                raise vol.Invalid(err.msg, path=[i]) from err
        return out

    def __repr__(self) -> str:
        return "Recipients()"


class HostName:
    """Validate a server host: a DNS name or an IPv4/IPv6 address (without brackets)."""

    json_schema: Final = {"type": "string", "minLength": 1, "maxLength": 253,
                          "pattern": "^[A-Za-z0-9.:-]+$"}

    def __call__(self, value: object) -> str:
        """Return the host.

        Raises:
            vol.Invalid: Neither a host name nor an IP address.
        """
        text = _string(value)
        try:
            # No "%zone" suffix: a link-local scope means nothing to a mail relay setting.
            if "%" in text:
                raise ValueError(text)
            ipaddress.ip_address(text)
        except ValueError:
            name = text[:-1] if text.endswith(".") else text
            if not name or len(name) > 253 or not all(
                    _LABEL_RE.fullmatch(label) for label in name.split(".")):
                raise vol.Invalid("must be a host name or an IP address") from None
        return text

    def __repr__(self) -> str:
        return "HostName()"
