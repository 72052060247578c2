"""The Registries section of Settings (admins only, like the API behind it):
``/settings/registries``.

Rendered here from the core's registry service (``ch.registries``): the list of configured
registries (never a password: only whether one is stored) and the form that adds and edits one.
Everything else happens in ``static/registries.js`` through the JSON API: add, edit, test a
login (stored or typed in the form), delete, browse a registry's catalog and tags, and search
across every configured registry. Browsing and search lead to the Images page's pull dialog
(``/images?pull=<reference>``). After a change the script fetches this page again and swaps the
list, so the server stays the one renderer of a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from aiohttp import web

from chrontainer_core.registries.models import PRESET_URLS, Registry, RegistryKind

if TYPE_CHECKING:
    from chrontainer_core.registries.service import RegistryService

from ..api.context import core
from .rendering import render

__all__ = ["CATALOG_PAGE", "KIND_LABELS", "KindChoice", "RegistryRow", "setup"]

KIND_LABELS: Final[dict[RegistryKind, str]] = {
    RegistryKind.DOCKERHUB: "Docker Hub",
    RegistryKind.GHCR: "GitHub Container Registry",
    RegistryKind.QUAY: "Quay",
    RegistryKind.HARBOR: "Harbor",
    RegistryKind.GENERIC: "Other",
}

# Repositories per page of a catalog ("More" asks for the next page).
CATALOG_PAGE: Final = 50

# What the form says under the URL field of each kind.
_URL_HELP: Final[dict[RegistryKind, str]] = {
    RegistryKind.DOCKERHUB: "Docker Hub's address is fixed. Use an access token as the password.",
    RegistryKind.GHCR: "GitHub's address is fixed. Use a personal access token (read:packages) "
                       "as the password.",
    RegistryKind.QUAY: "Quay's address is fixed. A robot account's token works as the password.",
    RegistryKind.HARBOR: "Your Harbor server, e.g. https://harbor.example.com.",
    RegistryKind.GENERIC: "Any Registry v2 server, e.g. https://registry.example.com or "
                          "http://127.0.0.1:5001.",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class KindChoice:
    """One choice of the form's kind select: a preset's URL is filled in and locked."""

    value: str
    label: str
    preset_url: str | None
    help: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistryRow:
    """A registry as the list shows it: whether a password is stored, never the password."""

    id: int
    name: str
    kind: str
    kind_label: str
    url: str
    registry: str
    username: str | None
    has_password: bool
    is_docker_hub: bool


def _row(registry: Registry) -> RegistryRow:
    return RegistryRow(
        id=registry.id, name=registry.name, kind=registry.kind.value,
        kind_label=KIND_LABELS[registry.kind], url=registry.url, registry=registry.registry,
        username=registry.username, has_password=registry.has_password,
        is_docker_hub=registry.is_docker_hub)


KINDS: Final[tuple[KindChoice, ...]] = tuple(
    KindChoice(value=kind.value, label=KIND_LABELS[kind], preset_url=PRESET_URLS.get(kind),
               help=_URL_HELP[kind])
    for kind in RegistryKind)


def setup(app: web.Application) -> None:
    """Add the registries page's route."""
    app.router.add_get("/settings/registries", registries_page)


def _service(request: web.Request) -> RegistryService:
    service = core(request).registries
    if service is None:  # library mode never serves pages; say so rather than crash
        raise web.HTTPServiceUnavailable(text="registries are not available in this mode")
    return service


async def registries_page(request: web.Request) -> web.StreamResponse:
    """The configured registries, the form that adds and edits one, browse and search."""
    service = _service(request)
    rows = [_row(r) for r in await service.list()]
    hub_configured = any(r.is_docker_hub for r in rows)
    # Docker Hub is what most people add first; there can be only one Hub entry.
    default = RegistryKind.GENERIC if hub_configured else RegistryKind.DOCKERHUB
    context = {"registries": rows, "kinds": KINDS, "default_kind": default.value,
               "catalog_page": CATALOG_PAGE}
    return render(request, "registries.html", context)
