"""Registries as the rest of the core sees them (daemon mode: ``ch.registries``).

Users add Docker Hub, GHCR, Quay (fixed URLs), Harbor or any Registry v2 URL, with an optional
login. The password is stored encrypted and never returned; it is decrypted only to talk to
the registry (:meth:`RegistryService.test`, catalog, tags, search) or to hand an engine pull its
``X-Registry-Auth`` (:meth:`RegistryService.credentials_for`, the core's
:class:`~chrontainer_core.registries.auth.CredentialsLookup`). Each registry is known by its
canonical host (:func:`~chrontainer_core.registries.reference.normalize_registry`), unique among
registries, so ``docker.io``, ``index.docker.io`` and ``registry-1.docker.io`` are one.

Changes are audited as ``registry.create|update|delete`` (target ``registry/<id>``); no secret
reaches the audit trail or the log.
"""

from __future__ import annotations

import asyncio
import builtins
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import urlsplit

import aiohttp

from ..actor import Actor
from ..audit import AuditTrail
from ..errors import ChrontainerError, Conflict, InvalidInput, RegistryAuthFailed, RegistryError
from ..models import HubSearchResult
from ..secrets import SecretBox
from ..store.db import Database
from .auth import RegistryCredentials
from .client import DEFAULT_TIMEOUT, RegistryClient
from .models import (
    PRESET_URLS,
    CatalogPage,
    Registry,
    RegistryCheck,
    RegistryKind,
    RegistrySearch,
    RegistrySearchHit,
)
from .reference import DOCKER_HUB, DOCKER_HUB_API, ImageReference, normalize_registry
from .store import RegistryDraft, RegistryStore

__all__ = [
    "KEEP",
    "MAX_NAME",
    "MAX_PASSWORD",
    "MAX_QUERY",
    "MAX_USERNAME",
    "HubSearch",
    "Keep",
    "RegistryService",
    "check_name",
    "resolve_url",
]

log = logging.getLogger(__name__)

MAX_NAME: Final = 100
MAX_USERNAME: Final = 255
MAX_PASSWORD: Final = 4096
MAX_URL: Final = 255
MAX_QUERY: Final = 100
MAX_CATALOG_PAGE: Final = 1000
# Search reads at most this many catalog pages of MAX_CATALOG_PAGE names per registry: a
# registry with more repositories is searched in its first 10 000 (alphabetical) names.
SEARCH_PAGES: Final = 10
HUB_NAME: Final = "Docker Hub"

HubSearch = Callable[[str], Awaitable[list[HubSearchResult]]]


class Keep(enum.Enum):
    """The type of :data:`KEEP`: "leave this field as it is" in an update."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP


def _target(registry_id: int) -> str:
    return f"registry/{registry_id}"


def check_name(name: str) -> str:
    """A registry name without surrounding spaces.

    Raises:
        InvalidInput: Empty or longer than :data:`MAX_NAME` (``field`` is ``name``).
    """
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise InvalidInput(f"name: 1 to {MAX_NAME} characters", field="name")
    return name


def resolve_url(kind: RegistryKind, url: str | None) -> tuple[str, str]:
    """The API URL and canonical host of a registry of ``kind``.

    Presets (dockerhub, ghcr, quay) have a fixed URL; a URL given for one must name the same
    registry. Harbor and generic registries need an ``http://`` or ``https://`` URL of the
    registry's root (``http://127.0.0.1:5001``).

    Raises:
        InvalidInput: The URL is missing, malformed or does not fit the kind (``field`` url).
    """
    preset = PRESET_URLS.get(kind)
    if preset is not None:
        registry = normalize_registry(preset)
        if url is not None and url.strip() and normalize_registry(url) != registry:
            raise InvalidInput(f"url: a {kind.value} registry is always {preset}; use the "
                               "generic kind for another URL", field="url")
        return preset, registry
    if url is None or not url.strip():
        raise InvalidInput(f"url: a {kind.value} registry needs its URL, such as "
                           "https://registry.example.com", field="url")
    text = url.strip()
    if len(text) > MAX_URL:
        raise InvalidInput(f"url: at most {MAX_URL} characters", field="url")
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise InvalidInput("url: not a valid URL", field="url") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url: expected http:// or https:// and a host, such as "
                           "https://registry.example.com", field="url")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("url: put credentials in username and password, not in the URL",
                           field="url")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidInput("url: the registry's root URL, without a path (the Registry v2 "
                           "API lives at /v2/)", field="url")
    registry = normalize_registry(text)
    return f"{parts.scheme}://{parts.netloc.lower()}", registry


def _check_credentials(username: str | None, password: str | None
                       ) -> tuple[str | None, str | None]:
    username = username.strip() if username else None
    if username is not None and len(username) > MAX_USERNAME:
        raise InvalidInput(f"username: at most {MAX_USERNAME} characters", field="username")
    if password is not None and len(password) > MAX_PASSWORD:
        raise InvalidInput(f"password: at most {MAX_PASSWORD} characters", field="password")
    if password and username is None:
        raise InvalidInput("username: a password needs a username", field="username")
    return username or None, password or None


def _check_outcome(client: RegistryClient, username: str | None,
                   err: ChrontainerError | None) -> RegistryCheck:
    host = client.registry
    if err is None:
        if username is not None:
            return RegistryCheck(ok=True, message=f"Logged in as {username}")
        return RegistryCheck(ok=True, message=f"{host} answers (anonymous access)")
    if isinstance(err, RegistryAuthFailed):
        if username is not None:
            return RegistryCheck(ok=False, message=f"Credentials refused by {host}")
        return RegistryCheck(ok=False, message=f"{host} requires credentials")
    return RegistryCheck(ok=False, message=err.message)


class RegistryService:
    """Stored registries, login tests, catalogs, tags, search and pull credentials.

    Args:
        db: The database.
        secrets: Encrypts passwords at rest.
        audit: Where changes are recorded.
        http: The shared HTTP session every registry client uses.
        timeout: Bounds of each request to a registry.
    """

    def __init__(self, db: Database, secrets: SecretBox | None, audit: AuditTrail,
                 http: aiohttp.ClientSession, *,
                 timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT) -> None:
        self.store = RegistryStore(db, secrets)
        self._audit = audit
        self._http = http
        self._timeout = timeout
        # One client per registry keeps its bearer tokens between calls; a change to the
        # registry (updated_at) makes a new one.
        self._clients: dict[int, tuple[object, RegistryClient]] = {}
        # Anonymous clients of registries nobody configured, per (host, plain http), so a
        # check pass reuses their bearer tokens.
        self._anonymous: dict[tuple[str, bool], RegistryClient] = {}

    # -- CRUD ------------------------------------------------------------------------------

    async def list(self) -> builtins.list[Registry]:
        """Every registry, by name (never a password)."""
        return await self.store.list()

    async def get(self, registry_id: int) -> Registry:
        """One registry.

        Raises:
            NotFound: No registry has this id.
        """
        return await self.store.get(registry_id)

    async def create(self, *, name: str, kind: RegistryKind | str, url: str | None = None,
                     username: str | None = None, password: str | None = None,
                     actor: Actor | None = None) -> Registry:
        """Add a registry; its password is stored encrypted.

        Raises:
            InvalidInput: Bad name, kind, URL or credentials (``field`` names it).
            Conflict: Its canonical host is already configured.
        """
        actor = actor or Actor.library()
        async with self._audit.track(actor, "registry.create", "registry/new") as scope:
            kind = _kind(kind)
            api_url, registry = resolve_url(kind, url)
            username, password = _check_credentials(username, password)
            created = await self.store.add(RegistryDraft(
                name=check_name(name), kind=kind, url=api_url, registry=registry,
                username=username, password=password))
            scope.target = _target(created.id)
        log.info("registry %d (%s, %s) added", created.id, created.name, created.registry)
        return created

    async def update(self, registry_id: int, *, name: str | Keep = KEEP,
                     url: str | Keep | None = KEEP, username: str | Keep | None = KEEP,
                     password: str | Keep | None = KEEP,
                     actor: Actor | None = None) -> Registry:
        """Change a registry; fields left out (:data:`KEEP`) keep their value, and None or ""
        clears the username or password (clearing the username clears the password too).

        Raises:
            NotFound: No registry has this id.
            InvalidInput: Bad name, URL or credentials.
            Conflict: The new URL names a registry already configured.
        """
        actor = actor or Actor.library()
        async with self._audit.track(actor, "registry.update", _target(registry_id)):
            current = await self.store.get(registry_id)
            new_url = current.url if isinstance(url, Keep) else url
            api_url, registry = resolve_url(current.kind, new_url)
            new_user = current.username if isinstance(username, Keep) else username
            keep_password = isinstance(password, Keep) and bool(new_user)
            new_password = None if isinstance(password, Keep) else password
            new_user, new_password = _check_credentials(new_user, new_password)
            updated = await self.store.replace(registry_id, RegistryDraft(
                name=current.name if isinstance(name, Keep) else check_name(name),
                kind=current.kind, url=api_url, registry=registry, username=new_user,
                password=new_password), keep_password=keep_password)
        self._clients.pop(registry_id, None)
        return updated

    async def delete(self, registry_id: int, *, actor: Actor | None = None) -> None:
        """Delete a registry and its stored credentials.

        Raises:
            NotFound: No registry has this id.
        """
        actor = actor or Actor.library()
        async with self._audit.track(actor, "registry.delete", _target(registry_id)):
            await self.store.delete(registry_id)
        self._clients.pop(registry_id, None)

    # -- talking to registries ---------------------------------------------------------------

    async def _new_client(self, registry: Registry) -> RegistryClient:
        password = await self.store.password(registry.id) if registry.has_password else None
        return RegistryClient(self._http, url=registry.url, registry=registry.registry,
                              username=registry.username, password=password,
                              timeout=self._timeout)

    async def _client(self, registry: Registry) -> RegistryClient:
        key = (registry.updated_at, registry.url, registry.username)
        cached = self._clients.get(registry.id)
        if cached is not None and cached[0] == key:
            return cached[1]
        client = await self._new_client(registry)
        self._clients[registry.id] = (key, client)
        return client

    async def test(self, registry_id: int) -> RegistryCheck:
        """Log in to a stored registry's ``/v2/`` with its credentials.

        Raises:
            NotFound: No registry has this id.
        """
        registry = await self.store.get(registry_id)
        try:
            # A fresh client: a test must really log in, not reuse a cached token.
            client = await self._new_client(registry)
        except ChrontainerError as err:  # an undecryptable password: say so
            return RegistryCheck(ok=False, message=err.message)
        return await self._ping(client, registry.username)

    async def test_config(self, *, kind: RegistryKind | str, url: str | None = None,
                          username: str | None = None,
                          password: str | None = None) -> RegistryCheck:
        """Log in to an unsaved registry configuration (the form's "Test" button).

        Raises:
            InvalidInput: Bad kind, URL or credentials.
        """
        kind = _kind(kind)
        api_url, registry = resolve_url(kind, url)
        username, password = _check_credentials(username, password)
        client = RegistryClient(self._http, url=api_url, registry=registry, username=username,
                                password=password, timeout=self._timeout)
        return await self._ping(client, username)

    async def _ping(self, client: RegistryClient, username: str | None) -> RegistryCheck:
        try:
            await client.ping()
        except RegistryError as err:
            return _check_outcome(client, username, err)
        return _check_outcome(client, username, None)

    async def catalog(self, registry_id: int, *, n: int = 100,
                      last: str | None = None) -> CatalogPage:
        """One page of a registry's repositories; ``page.next`` is the ``last`` of the next.

        Raises:
            NotFound: No registry has this id.
            InvalidInput: ``n`` outside 1..1000.
            Conflict: Docker Hub has no catalog (search it instead).
            RegistryAuthFailed, RegistryUnreachable, RegistryError: The registry failed.
        """
        if not 1 <= n <= MAX_CATALOG_PAGE:
            raise InvalidInput(f"n: 1 to {MAX_CATALOG_PAGE}", field="n")
        registry = await self.store.get(registry_id)
        if registry.is_docker_hub:
            raise Conflict("Docker Hub has no catalog to browse: search it instead",
                           details={"registry": registry.registry})
        client = await self._client(registry)
        return await client.catalog(n=n, last=last or None)

    async def tags(self, registry_id: int, repository: str) -> builtins.list[str]:
        """Every tag of a repository (``nginx`` means ``library/nginx`` on Docker Hub).

        Raises:
            NotFound: No registry has this id.
            InvalidInput: Not a repository name.
            ImageNotFound: The registry has no such repository.
            RegistryAuthFailed, RegistryUnreachable, RegistryError: The registry failed.
        """
        registry = await self.store.get(registry_id)
        if not repository or any(c in repository for c in ":@") or repository.startswith("/"):
            raise InvalidInput("repository: a repository name such as team/app, without a tag",
                               field="repository")
        ref = ImageReference.parse(f"{registry.registry}/{repository}", field="repository")
        client = await self._client(registry)
        return await client.tags(ref.repository)

    async def search(self, query: str, *, hub: HubSearch | None = None) -> RegistrySearch:
        """Repositories whose name contains ``query`` (case-insensitive) on every registry with
        a catalog, and Docker Hub's hits through ``hub`` (an engine's search) when given.

        A registry that fails is reported in ``errors`` (by canonical host); the others' hits
        still come.

        Raises:
            InvalidInput: The query is empty or longer than :data:`MAX_QUERY`.
        """
        term = query.strip()
        if not 1 <= len(term) <= MAX_QUERY:
            raise InvalidInput(f"q: 1 to {MAX_QUERY} characters", field="q")
        registries = await self.store.list()
        searched = [r for r in registries if not r.is_docker_hub]
        hub_name = next((r.name for r in registries if r.is_docker_hub), HUB_NAME)
        jobs: builtins.list[Awaitable[builtins.list[RegistrySearchHit]]] = [
            self._search_catalog(r, term.lower()) for r in searched]
        hosts = [r.registry for r in searched]
        if hub is not None:
            jobs.append(_search_hub(hub, term, hub_name))
            hosts.append(DOCKER_HUB)
        results = await asyncio.gather(*jobs, return_exceptions=True)
        hits: builtins.list[RegistrySearchHit] = []
        errors: dict[str, str] = {}
        for host, result in zip(hosts, results, strict=True):
            if isinstance(result, ChrontainerError):
                errors[host] = result.message
            elif isinstance(result, BaseException):
                raise result
            else:
                hits.extend(result)
        return RegistrySearch(hits=tuple(hits), errors=errors)

    async def _search_catalog(self, registry: Registry,
                              term: str) -> builtins.list[RegistrySearchHit]:
        client = await self._client(registry)
        hits: builtins.list[RegistrySearchHit] = []
        last: str | None = None
        for _ in range(SEARCH_PAGES):
            page = await client.catalog(n=MAX_CATALOG_PAGE, last=last)
            hits.extend(
                RegistrySearchHit(registry=registry.registry, registry_name=registry.name,
                                  repository=name, reference=f"{registry.registry}/{name}")
                for name in page.repositories if term in name.lower())
            if page.next is None or page.next == last:
                break
            last = page.next
        return hits

    async def client_for(self, registry: str, *, insecure: bool) -> RegistryClient:
        """The client to ask about images on ``registry`` (a canonical host, as in
        ``ImageReference.registry``).

        A configured registry's own client (its URL and credentials, tokens cached); else an
        anonymous client of ``https://registry-1.docker.io`` for Docker Hub, ``https://<host>``,
        or ``http://<host>`` when ``insecure`` (the engine talks plain HTTP to it). ``insecure``
        does not apply to a configured registry: its stored URL says how to reach it.

        Raises:
            InvalidInput: ``registry`` names no host.
            SecretUnavailable: The stored password cannot be decrypted.
        """
        host = normalize_registry(registry)
        stored = await self.store.find(host)
        if stored is not None:
            return await self._client(stored)
        if host == DOCKER_HUB:
            insecure = False
        key = (host, insecure)
        client = self._anonymous.get(key)
        if client is None:
            url = (DOCKER_HUB_API if host == DOCKER_HUB
                   else f"{'http' if insecure else 'https'}://{host}")
            client = RegistryClient(self._http, url=url, registry=host, timeout=self._timeout)
            self._anonymous[key] = client
        return client

    # -- pulls -----------------------------------------------------------------------------

    async def credentials_for(self, registry: str) -> RegistryCredentials | None:
        """The stored login for a registry (canonical host; any Hub alias means docker.io).

        Raises:
            SecretUnavailable: The password cannot be decrypted (the secret key changed).
        """
        host = normalize_registry(registry)
        found = await self.store.find(host)
        if found is None or found.username is None:
            return None
        password = await self.store.password(found.id) if found.has_password else None
        return RegistryCredentials(registry=host, username=found.username,
                                   password=password or "")


def _kind(kind: RegistryKind | str) -> RegistryKind:
    try:
        return RegistryKind(kind)
    except ValueError:
        raise InvalidInput(f"kind: one of {', '.join(k.value for k in RegistryKind)}",
                           field="kind") from None


async def _search_hub(hub: HubSearch, term: str,
                      name: str) -> builtins.list[RegistrySearchHit]:
    results = await hub(term)
    hits = []
    for r in results:
        try:
            ref = ImageReference.parse(r.name, field="name")
        except InvalidInput:
            continue  # the Hub's name grammar is ours; a name that is not one is skipped
        hits.append(RegistrySearchHit(
            registry=DOCKER_HUB, registry_name=name, repository=ref.repository,
            reference=ref.engine_from_image, description=r.description, stars=r.stars,
            official=r.official))
    return hits
