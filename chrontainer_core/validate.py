"""Voluptuous validators shared by the config file, the CLI and the HTTP API.

Each decision about what a valid value looks like (a host slug, a Docker engine URL, a display
name, TLS certificates and keys) is taken here once, so the config loader, the CLI, the API and
the core can never disagree.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Hashable, Sequence
from typing import Any, Final
from urllib.parse import SplitResult, urlsplit

import voluptuous as vol
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from .errors import InvalidInput

__all__ = [
    "CONTROL_CLASS",
    "HTTP_SCHEME_RE",
    "MAX_URL_LENGTH",
    "Boolean",
    "DockerUrl",
    "HostName",
    "Integer",
    "PemCertificates",
    "PemPrivateKey",
    "Slug",
    "check_label_filter",
    "format_path",
    "has_control",
    "key_matches_certificate",
    "split_http_url",
]

MAX_URL_LENGTH: Final = 2048
# C0 and C1 control characters (Unicode category Cc), as a JSON Schema character class.
CONTROL_CLASS: Final = r"\x00-\x1f\x7f-\x9f"
# Spelled out, not re.IGNORECASE: under it the long s (U+017F) would match "s".
HTTP_SCHEME_RE: Final = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://")


# A label filter of a list or prune: "key" or "key=value", as the engine's filters take them.
_LABEL_FILTER: Final = re.compile(r"[^=\x00-\x1f\x7f]{1,255}(=[^\x00-\x1f\x7f]{0,1024})?")


def check_label_filter(label: str | None) -> str | None:
    """A label filter (``key`` or ``key=value``), or None; raises ``InvalidInput`` with
    ``field="label"`` otherwise."""
    if label is not None and not _LABEL_FILTER.fullmatch(label):
        raise InvalidInput("label: expected 'key' or 'key=value'", field="label")
    return label


def has_control(text: str) -> bool:
    """True when ``text`` holds a control character (Unicode category Cc)."""
    return any(unicodedata.category(ch) == "Cc" for ch in text)


def split_http_url(url: str) -> SplitResult:
    """The parts of an http(s) URL that is short, free of whitespace and control characters,
    and has a parseable port; what else it must have (a host, no user info) is the caller's.

    Raises:
        vol.Invalid: With a message saying what is wrong.
    """
    if len(url) > MAX_URL_LENGTH:
        raise vol.Invalid(f"must be at most {MAX_URL_LENGTH} characters")
    if any(ch.isspace() for ch in url) or has_control(url):
        raise vol.Invalid("must not contain whitespace or control characters")
    if not HTTP_SCHEME_RE.match(url):
        raise vol.Invalid("must be an http:// or https:// URL")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check (ValueError when bad)
    except ValueError as err:
        raise vol.Invalid(f"is not a valid URL ({err})") from err
    return parts

_SLUG_RE: Final = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62})$")
_SLUG_MSG: Final = "must be lowercase letters, digits and '-'"
_DOCKER_URL_MSG: Final = "must be unix:///absolute/path/to/docker.sock or tcp://host:port"
# Certificates and keys are a few KiB; the bound keeps parsing cheap whatever a client sends.
_PEM_MAX: Final = 64 * 1024


class Integer:
    """A JSON integer, within ``low``..``high`` when both are given: ``True`` is an ``int`` in
    Python, but never a number of anything.

    Args:
        low: The smallest value allowed (with ``high``).
        high: The largest value allowed (with ``low``).
        unit: Said after the range in the message ("must be 1 to 8760 hours").
    """

    def __init__(self, low: int | None = None, high: int | None = None, unit: str = "") -> None:
        if (low is None) != (high is None):
            raise ValueError("give both bounds or none")
        self.low, self.high, self.unit = low, high, unit

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of the value (read by the OpenAPI generator)."""
        schema: dict[str, Any] = {"type": "integer"}
        if self.low is not None:
            schema |= {"minimum": self.low, "maximum": self.high}
        return schema

    def __call__(self, value: object) -> int:
        """Return ``value`` when it is a whole number in range.

        Raises:
            vol.Invalid: Not an integer (a bool is not), or out of range.
        """
        if isinstance(value, bool) or not isinstance(value, int):
            raise vol.Invalid("must be a whole number")
        if self.low is not None and self.high is not None and not self.low <= value <= self.high:
            unit = f" {self.unit}" if self.unit else ""
            raise vol.Invalid(f"must be {self.low} to {self.high}{unit}")
        return value

    def __repr__(self) -> str:
        return f"Integer({self.low}, {self.high})"


class Boolean:
    """A real boolean; ``vol.Boolean`` would also take ``"no"`` or ``0`` from an API body."""

    json_schema: Final = {"type": "boolean"}

    def __call__(self, value: object) -> bool:
        """Return ``value`` when it is True or False.

        Raises:
            vol.Invalid: Anything else.
        """
        if not isinstance(value, bool):
            raise vol.Invalid("must be true or false")
        return value

    def __repr__(self) -> str:
        return "Boolean()"


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


def _pem_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.isascii() or "-----BEGIN " not in value:
        raise vol.Invalid(f"must be {what} in PEM form (-----BEGIN ...)")
    if len(value) > _PEM_MAX:
        raise vol.Invalid(f"is too long for {what} (more than {_PEM_MAX} characters)")
    return value


class PemCertificates:
    """Validate PEM text holding one or more X.509 certificates (a CA bundle or a chain)."""

    json_schema: Final = {
        "type": "string",
        "contentMediaType": "application/x-pem-file",
        "maxLength": _PEM_MAX,
    }

    def __call__(self, value: object) -> str:
        """Return ``value`` unchanged when every PEM block in it is a certificate.

        Raises:
            vol.Invalid: Not PEM text, or a block that does not parse as a certificate.
        """
        text = _pem_text(value, "a certificate")
        try:
            x509.load_pem_x509_certificates(text.encode("ascii"))
        except ValueError as err:
            raise vol.Invalid(
                "is not a PEM certificate (-----BEGIN CERTIFICATE-----) or does not parse"
            ) from err
        return text

    def __repr__(self) -> str:
        return "PemCertificates()"


class PemPrivateKey:
    """Validate an unencrypted PEM private key (PKCS#8, or the traditional RSA/EC forms)."""

    json_schema: Final = {
        "type": "string",
        "contentMediaType": "application/x-pem-file",
        "maxLength": _PEM_MAX,
        "writeOnly": True,
    }

    def __call__(self, value: object) -> str:
        """Return ``value`` unchanged when it is a private key that needs no passphrase.

        Raises:
            vol.Invalid: Not PEM text, encrypted, or not a private key.
        """
        text = _pem_text(value, "a private key")
        try:
            serialization.load_pem_private_key(text.encode("ascii"), password=None)
        except TypeError as err:  # cryptography's way to say "it needs a password"
            raise vol.Invalid(
                "is encrypted with a passphrase: give the key without one "
                "(openssl pkey -in key.pem -out plain.pem)"
            ) from err
        except (ValueError, UnsupportedAlgorithm) as err:
            raise vol.Invalid(
                "is not a PEM private key (-----BEGIN PRIVATE KEY-----) or does not parse"
            ) from err
        return text

    def __repr__(self) -> str:
        return "PemPrivateKey()"


def key_matches_certificate(cert_pem: str, key_pem: str) -> bool:
    """Whether a (valid) private key belongs to the first certificate of a (valid) chain.

    Args:
        cert_pem: Checked with :class:`PemCertificates` already.
        key_pem: Checked with :class:`PemPrivateKey` already.
    """
    cert = x509.load_pem_x509_certificates(cert_pem.encode("ascii"))[0]
    key = serialization.load_pem_private_key(key_pem.encode("ascii"), password=None)
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


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
