"""The daemon runs the audit retention job (its behaviour is unit-tested with a fake clock)."""

from __future__ import annotations

import pytest

from chrontainer_core import Chrontainer

pytestmark = pytest.mark.live


async def test_daemon_starts_the_retention_job(daemon: Chrontainer) -> None:
    assert daemon.retention is not None and daemon.retention.running


async def test_library_mode_has_no_retention_job() -> None:
    async with Chrontainer.connect(hosts=[]) as ch:
        assert ch.retention is None
