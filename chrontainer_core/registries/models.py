"""What the registries core hands out: stored registries, login checks, catalog pages, search hits.

A registry's password never appears in these models: :class:`Registry` only says whether one is
stored (``has_password``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from .reference import DOCKER_HUB, DOCKER_HUB_API

__all__ = [
    "PRESET_URLS",
    "CatalogPage",
    "Registry",
    "RegistryCheck",
    "RegistryKind",
    "RegistrySearch",
    "RegistrySearchHit",
]


class RegistryKind(enum.StrEnum):
    """The kinds of registry a user can add; the first three have a fixed URL."""

    DOCKERHUB = "dockerhub"
    GHCR = "ghcr"
    QUAY = "quay"
    HARBOR = "harbor"
    GENERIC = "generic"


# Where each preset's Registry v2 API answers; harbor and generic take the user's URL.
PRESET_URLS: Final[dict[RegistryKind, str]] = {
    RegistryKind.DOCKERHUB: DOCKER_HUB_API,
    RegistryKind.GHCR: "https://ghcr.io",
    RegistryKind.QUAY: "https://quay.io",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Registry:
    """A configured registry.

    Attributes:
        url: Where its Registry v2 API answers (``https://registry-1.docker.io`` for the Hub).
        registry: The canonical host image references name (``docker.io``, ``ghcr.io``,
            ``127.0.0.1:5001``); unique among registries.
        username: The login, if any.
        has_password: Whether a password (or token) is stored; it is never returned.
    """

    id: int
    name: str
    kind: RegistryKind
    url: str
    registry: str
    username: str | None
    has_password: bool
    created_at: datetime
    updated_at: datetime

    @property
    def is_docker_hub(self) -> bool:
        """Docker Hub has no catalog: it is searched through an engine instead."""
        return self.registry == DOCKER_HUB


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryCheck:
    """The outcome of a login test: ``ok`` and a sentence for people."""

    ok: bool
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogPage:
    """One page of a registry's repositories; ``next`` is the ``last`` to ask for the next page
    (None on the last page)."""

    repositories: tuple[str, ...]
    next: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrySearchHit:
    """A repository matching a search.

    Attributes:
        registry: The canonical host of the registry it is on.
        registry_name: That registry's name (``Docker Hub`` for Hub hits of no stored registry).
        repository: The repository as the registry names it (``team/app``, ``library/nginx``).
        reference: What to pull, in familiar form (``127.0.0.1:5001/team/app``, ``nginx``).
    """

    registry: str
    registry_name: str
    repository: str
    reference: str
    description: str = ""
    stars: int | None = None
    official: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrySearch:
    """Hits from every registry searched; ``errors`` maps the canonical host of each registry
    that could not be searched to why (one failing registry does not fail the search)."""

    hits: tuple[RegistrySearchHit, ...]
    errors: dict[str, str] = field(default_factory=dict)
