"""Hosts: the set of Docker engines Chrontainer manages, each with its watcher and cache.

In daemon mode the set is persisted (``store.hosts.HostRepository``) and followed for changes
made by the CLI in another process; in library mode it lives only in memory and no watcher
runs (readers sync on demand).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import voluptuous as vol

from .actor import Actor
from .audit import AuditTrail
from .bus import Bus, HostChanged, HostRemoved
from .docker.events import HostWatcher
from .docker.host import DockerHost
from .errors import Conflict, InvalidInput, NotFound
from .models import UNCHANGED, EngineVersion, HostSpec, HostState, HostTLS, Unchanged
from .tasks import cancel_and_wait
from .validate import (
    DockerUrl,
    HostName,
    PemCertificates,
    PemPrivateKey,
    Slug,
    key_matches_certificate,
)

if TYPE_CHECKING:
    from .store.hosts import HostRepository

log = logging.getLogger(__name__)


def validate_spec(spec: HostSpec) -> HostSpec:
    """Check a host spec with the shared validators; InvalidInput names the field."""
    values: dict[str, str] = {}
    for field, validator in (("slug", Slug()), ("name", HostName), ("url", DockerUrl())):
        try:
            values[field] = validator(getattr(spec, field))
        except vol.Invalid as err:
            raise InvalidInput(f"{field} {err.msg}", field=field) from err
    tls = spec.tls
    if tls is not None:
        if not values["url"].startswith("tcp://"):
            raise InvalidInput("tls applies to tcp:// engines only", field="tls")
        # Material whose key could not be decrypted is kept as it is until it is re-entered.
        if tls.key_error is None:
            validate_tls(tls)
    return HostSpec(slug=values["slug"], name=values["name"], url=values["url"], tls=tls)


def validate_tls(tls: HostTLS) -> None:
    """Check that the PEMs parse and that the client key belongs to the client certificate.

    Raises:
        InvalidInput: ``field`` is ``tls.ca_cert``, ``tls.client_cert`` or ``tls.client_key``.
    """
    for field, validator in (
        ("ca_cert", PemCertificates()),
        ("client_cert", PemCertificates()),
        ("client_key", PemPrivateKey()),
    ):
        try:
            validator(getattr(tls, field))
        except vol.Invalid as err:
            raise InvalidInput(f"tls.{field} {err.msg}", field=f"tls.{field}") from err
    if not key_matches_certificate(tls.client_cert, tls.client_key):
        raise InvalidInput(
            "tls.client_key is not the key of tls.client_cert", field="tls.client_key"
        )


class HostManager:
    """Owns every host's DockerHost + HostWatcher.

    Args:
        bus: where host and container changes are published.
        audit: the audit trail for add/update/remove.
        repo: persistence (daemon mode) or None (library mode).
        live: start a watcher loop per host (daemon mode).
        connect_timeout / request_timeout: per-host engine timeouts in seconds.
        heartbeat: seconds between liveness checks of a host with a quiet events stream.
    """

    def __init__(
        self,
        bus: Bus,
        audit: AuditTrail,
        *,
        repo: HostRepository | None = None,
        live: bool = False,
        connect_timeout: float = 5.0,
        request_timeout: float = 30.0,
        heartbeat: float = 10.0,
    ) -> None:
        self._bus = bus
        self._audit = audit
        self._repo = repo
        self._live = live
        self._timeouts = (connect_timeout, request_timeout)
        self._heartbeat = heartbeat
        self._watchers: dict[str, HostWatcher] = {}
        self._repo_version: int | None = None
        self._poller: asyncio.Task[None] | None = None

    # -- reading --------------------------------------------------------------------------------

    def get(self, slug: str) -> HostWatcher:
        """The watcher of a host; NotFound for an unknown slug."""
        try:
            return self._watchers[slug]
        except KeyError:
            raise NotFound(f"unknown host '{slug}'", details={"host": slug}) from None

    def watchers(self) -> list[HostWatcher]:
        return [self._watchers[slug] for slug in sorted(self._watchers)]

    def states(self) -> list[HostState]:
        return [w.state() for w in self.watchers()]

    def __contains__(self, slug: object) -> bool:
        return slug in self._watchers

    # -- changing ------------------------------------------------------------------------------

    def _attach(self, spec: HostSpec) -> HostWatcher:
        connect, request = self._timeouts
        watcher = HostWatcher(
            DockerHost(spec, connect_timeout=connect, request_timeout=request),
            self._bus,
            heartbeat=self._heartbeat,
        )
        self._watchers[spec.slug] = watcher
        if self._live:
            watcher.start()
        return watcher

    async def _detach(self, slug: str) -> None:
        watcher = self._watchers.pop(slug, None)
        if watcher is not None:
            await watcher.stop()

    async def add(self, spec: HostSpec, *, actor: Actor | None = None) -> HostState:
        """Add a host; Conflict when the slug is taken."""
        actor = actor or Actor.library()
        async with self._audit.track(actor, "host.add", spec.slug):
            spec = validate_spec(spec)
            if spec.slug in self._watchers:
                raise Conflict(f"host '{spec.slug}' already exists", details={"host": spec.slug})
            if self._repo is not None:
                await self._repo.add(spec)
            watcher = self._attach(spec)
        return watcher.state()

    async def update(
        self,
        slug: str,
        *,
        name: str | None = None,
        url: str | None = None,
        tls: HostTLS | Unchanged | None = UNCHANGED,
        actor: Actor | None = None,
    ) -> HostState:
        """Change a host's display name, URL and/or TLS material (the slug never changes).

        Args:
            slug: The host.
            name: New display name, or None to keep it.
            url: New engine URL, or None to keep it.
            tls: New TLS material, None to remove TLS, or UNCHANGED to keep it (re-entering
                the material is how a key that can no longer be decrypted is repaired).
            actor: Who asks.
        """
        actor = actor or Actor.library()
        async with self._audit.track(actor, "host.update", slug):
            old = self.get(slug).host.spec
            spec = validate_spec(
                HostSpec(slug=slug, name=name if name is not None else old.name,
                         url=url if url is not None else old.url,
                         tls=old.tls if isinstance(tls, Unchanged) else tls)
            )
            if self._repo is not None:
                await self._repo.update(slug, name=spec.name, url=spec.url, tls=tls)
            await self._replace(spec)
        return self.get(slug).state()

    async def _replace(self, spec: HostSpec) -> None:
        old = self._watchers.get(spec.slug)
        if old is not None and old.host.spec == spec:
            return
        if old is not None and (old.host.spec.url, old.host.spec.tls) == (spec.url, spec.tls):
            # Only the display name changed: keep the connection and the cache.
            old.host.spec = spec
            self._bus.publish(HostChanged(host=old.state()))
            return
        await self._detach(spec.slug)
        self._attach(spec)

    async def remove(self, slug: str, *, actor: Actor | None = None) -> None:
        """Forget a host (its containers are untouched on the engine)."""
        actor = actor or Actor.library()
        async with self._audit.track(actor, "host.remove", slug):
            self.get(slug)
            if self._repo is not None:
                await self._repo.remove(slug)
            await self._detach(slug)
        self._bus.publish(HostRemoved(slug=slug))

    async def test(self, spec: HostSpec) -> EngineVersion:
        """Connect to an engine once and return its version (HostUnreachable when it fails)."""
        spec = validate_spec(spec)
        connect, request = self._timeouts
        host = DockerHost(spec, connect_timeout=connect, request_timeout=request)
        try:
            return await host.version()
        finally:
            await host.close()

    # -- persistence ------------------------------------------------------------------------------

    async def load(self) -> None:
        """Make the in-memory set equal the stored one (start-up, and after CLI changes)."""
        if self._repo is None:
            return
        self._repo_version = await self._repo.version()
        stored = {spec.slug: spec for spec in await self._repo.list()}
        for slug in set(self._watchers) - set(stored):
            log.info("host %s: removed from the store", slug)
            await self._detach(slug)
            self._bus.publish(HostRemoved(slug=slug))
        for spec in stored.values():
            if spec.slug not in self._watchers:
                log.info("host %s: added (%s)", spec.slug, spec.url)
            await self._replace(spec)

    def follow_store(self, interval: float) -> None:
        """Poll the store's change counter so CLI changes reach this process quickly."""
        if self._repo is not None and self._poller is None:
            self._poller = asyncio.create_task(self._poll(interval), name="hosts:poll")

    async def _poll(self, interval: float) -> None:
        assert self._repo is not None
        while True:
            await asyncio.sleep(interval)
            try:
                if await self._repo.version() != self._repo_version:
                    await self.load()
            except Exception:  # supervision: keep following the store
                log.exception("hosts: reading the store failed")

    async def close(self) -> None:
        """Stop polling and every watcher."""
        poller, self._poller = self._poller, None
        await cancel_and_wait(poller)
        for slug in list(self._watchers):
            await self._detach(slug)
