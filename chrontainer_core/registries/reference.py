"""Image references and registry names: the one place that decides which registry an image
reference lives on, and what its canonical repository is.

Follows the grammar of the distribution project's ``reference`` package: a first component that
contains a ``.`` or a ``:`` or is ``localhost`` names the registry; otherwise the image is on
Docker Hub, where a name without a namespace lives under ``library/`` (``nginx`` ->
``docker.io/library/nginx:latest``). Docker Hub answers to three host names (``docker.io``,
``index.docker.io``, ``registry-1.docker.io``): :func:`normalize_registry` folds them into one,
so stored credentials for any of them apply to every Hub image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from ..errors import InvalidInput

__all__ = [
    "DOCKER_HUB",
    "DOCKER_HUB_API",
    "DOCKER_HUB_AUTH_ADDRESS",
    "ImageReference",
    "normalize_registry",
]

DOCKER_HUB: Final = "docker.io"
# Where Docker Hub's Registry v2 API answers (docker.io itself only redirects).
DOCKER_HUB_API: Final = "https://registry-1.docker.io"
# The server address engines expect in X-Registry-Auth for Docker Hub (a legacy v1 URL).
DOCKER_HUB_AUTH_ADDRESS: Final = "https://index.docker.io/v1/"
_HUB_ALIASES: Final = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})

MAX_REFERENCE: Final = 255
_COMPONENT: Final = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN: Final = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?")
_TAG: Final = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST: Final = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}")


def normalize_registry(value: str) -> str:
    """The canonical host[:port] of a registry given as a host or a URL; Hub aliases fold into
    ``docker.io``. Lower-cases the host (host names are case-insensitive).

    Raises:
        InvalidInput: ``field="url"`` when nothing usable is left.
    """
    text = value.strip()
    if "://" in text:
        parts = urlsplit(text)
        host = parts.netloc.rsplit("@", 1)[-1]
    else:
        host = text.split("/", 1)[0]
    host = host.lower()
    if not host or not _DOMAIN.fullmatch(host):
        raise InvalidInput(f"url: {value[:80]!r} names no registry host", field="url")
    return DOCKER_HUB if host in _HUB_ALIASES else host


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageReference:
    """A parsed image reference: ``registry`` (canonical, see :func:`normalize_registry`),
    ``repository`` (``library/nginx`` on the Hub), and a ``tag`` and/or ``digest``."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str, *, field: str = "image") -> ImageReference:
        """Parse ``nginx``, ``user/app:1.2``, ``ghcr.io/o/app@sha256:...``,
        ``127.0.0.1:5001/team/app:v2``; no tag and no digest means ``latest``.

        Raises:
            InvalidInput: not a valid reference (``field`` names the input).
        """
        if not text or len(text) > MAX_REFERENCE or text != text.strip():
            raise InvalidInput(f"{field}: expected an image reference such as nginx:1.27",
                               field=field)
        rest, digest = text, None
        if "@" in rest:
            rest, digest = rest.split("@", 1)
            if not _DIGEST.fullmatch(digest):
                raise InvalidInput(f"{field}: {digest[:80]!r} is not a digest "
                                   "(algorithm:hex)", field=field)
        tag = None
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > slash:
            rest, tag = rest[:colon], rest[colon + 1:]
            if not _TAG.fullmatch(tag):
                raise InvalidInput(f"{field}: {tag[:80]!r} is not a valid tag", field=field)
        first, sep, remainder = rest.partition("/")
        if sep and ("." in first or ":" in first or first == "localhost"):
            if not _DOMAIN.fullmatch(first):
                raise InvalidInput(f"{field}: {first[:80]!r} is not a registry host",
                                   field=field)
            registry, path = normalize_registry(first), remainder
        else:
            registry, path = DOCKER_HUB, rest
        components = path.split("/")
        if not path or not all(_COMPONENT.fullmatch(c) for c in components):
            raise InvalidInput(
                f"{field}: {path[:80]!r} is not a repository name (lower-case letters, digits "
                "and . _ - separators, components split by /)", field=field)
        if registry == DOCKER_HUB and len(components) == 1:
            path = f"library/{path}"
        if tag is None and digest is None:
            tag = "latest"
        return cls(registry=registry, repository=path, tag=tag, digest=digest)

    @property
    def name(self) -> str:
        """The full name without tag or digest (``docker.io/library/nginx``)."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar(self) -> str:
        """The short form people type and ``docker images`` shows (``nginx:latest``,
        ``user/app:1``, ``ghcr.io/o/app:2``)."""
        if self.registry == DOCKER_HUB:
            name = self.repository.removeprefix("library/")
        else:
            name = self.name
        return name + self.suffix

    @property
    def canonical(self) -> str:
        """The fully qualified form (``docker.io/library/nginx:latest``)."""
        return self.name + self.suffix

    @property
    def suffix(self) -> str:
        """``:tag``, ``@digest`` or ``:tag@digest``."""
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def engine_from_image(self) -> str:
        """What ``POST /images/create?fromImage=`` takes: the name (familiar for the Hub)."""
        if self.registry == DOCKER_HUB:
            return self.repository.removeprefix("library/")
        return self.name

    @property
    def engine_tag(self) -> str:
        """What ``POST /images/create?tag=`` takes: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"
