"""Host details: machine info on request, disk use cached.

``/system/df`` walks every layer, container and volume on the engine and can take seconds on a
NAS with many images, so its result is kept for ``ttl`` seconds (at least five minutes by
default) per host; ``refresh=True`` asks again. ``/info`` is cheap and always fresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from .hosts import HostManager
from .models import DiskUsage, HostDetails

Clock = Callable[[], datetime]

DEFAULT_DISK_USAGE_TTL = 300.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class HostInfoService:
    """Reads host info and disk use, caching the latter per (host slug, engine URL).

    Args:
        hosts: the host manager.
        ttl: seconds a disk-usage reading stays valid.
        clock: injectable clock (tests).
    """

    def __init__(
        self, hosts: HostManager, *, ttl: float = DEFAULT_DISK_USAGE_TTL, clock: Clock = _utc_now
    ) -> None:
        self._hosts = hosts
        self._ttl = timedelta(seconds=ttl)
        self._clock = clock
        self._disk: dict[tuple[str, str], DiskUsage] = {}
        # One reading at a time per host: concurrent page loads share it.
        self._locks: dict[str, asyncio.Lock] = {}

    async def details(self, slug: str, *, refresh: bool = False) -> HostDetails:
        """State, machine info and disk use of one host (HostUnreachable when offline)."""
        watcher = self._hosts.get(slug)
        info = await watcher.host.info()
        return HostDetails(
            host=watcher.state(), info=info, disk_usage=await self.disk_usage(slug, refresh=refresh)
        )

    async def disk_usage(self, slug: str, *, refresh: bool = False) -> DiskUsage:
        """The cached disk use of a host, read again when older than the TTL or asked to."""
        watcher = self._hosts.get(slug)
        key = (slug, watcher.host.spec.url)
        async with self._locks.setdefault(slug, asyncio.Lock()):
            cached = self._disk.get(key)
            if cached is not None and not refresh and self._clock() - cached.read_at < self._ttl:
                return cached
            usage = await watcher.host.disk_usage()
            # Stamp with our clock so the TTL and the reading agree even with a fake clock.
            usage = replace(usage, read_at=self._clock())
            self._disk[key] = usage
            return usage
