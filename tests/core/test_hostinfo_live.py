"""Disk usage is cached per host for the TTL (fake clock), then read again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chrontainer_core import Chrontainer
from chrontainer_core.hostinfo import HostInfoService

pytestmark = pytest.mark.live


async def test_disk_usage_ttl(library: Chrontainer) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    service = HostInfoService(library.hosts, ttl=300, clock=lambda: now[0])
    first = await service.disk_usage("remote")
    now[0] += timedelta(seconds=299)
    assert await service.disk_usage("remote") is first
    now[0] += timedelta(seconds=2)
    second = await service.disk_usage("remote")
    assert second is not first and second.read_at == now[0]
    assert await service.disk_usage("remote", refresh=True) is not second
    details = await service.details("remote")
    assert details.info.engine_version and details.host.slug == "remote"
