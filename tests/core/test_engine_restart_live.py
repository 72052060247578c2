"""A real engine stopped and started under a running daemon (a dedicated engine, DESIGN §5).

While the engine is down, the test changes it through its control socket with the TCP listener
off, so Chrontainer provably sees those changes only through the resync after reconnecting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chrontainer_core import Chrontainer, HostSpec, HostStatus
from chrontainer_core.config import Config

from .. import live
from ..dbtemplate import migrated
from ..engines import DedicatedEngine, reap_stale
from ..live import docker, run_container, wait_for

pytestmark = pytest.mark.live

# Reconnect backoff grows to 30 s between attempts: generous, never a measure.
TIMEOUT = 90


@pytest.fixture
async def engine() -> AsyncIterator[DedicatedEngine]:
    await reap_stale()
    engine = DedicatedEngine("restart")
    try:
        await engine.start()
        await engine.load_image(live.test_image())
        yield engine
    finally:
        await engine.close()


def cached(ch: Chrontainer, slug: str) -> dict[str, str]:
    return {c.name: c.state.value for c in ch.hosts.get(slug).containers()}


async def engine_view(engine: DedicatedEngine) -> dict[str, str]:
    out = await docker(engine.control, "ps", "-a", "--format", "{{.Names}} {{.State}}")
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


async def test_engine_restart_goes_offline_and_resyncs(
    tmp_path: Path, engine: DedicatedEngine
) -> None:
    config = Config(
        data_dir=tmp_path,
        hosts=(HostSpec(slug="dedicated", name="Dedicated", url=engine.url),),
        host_poll_interval=0.2,
    )
    migrated(config.database_url)
    _, kept = await run_container(engine.control, start=False)
    _, doomed = await run_container(engine.control, start=False)

    async with Chrontainer.from_config(config) as ch:
        watcher = ch.hosts.get("dedicated")
        assert await watcher.wait_synced(30), watcher.error
        assert {kept, doomed} <= set(cached(ch, "dedicated"))

        await engine.stop()
        await wait_for(lambda: watcher.status is HostStatus.OFFLINE, timeout=TIMEOUT,
                       what="offline after the engine stopped")
        assert watcher.error
        assert all(c.stale for c in watcher.containers())

        # Changes while Chrontainer cannot reach the engine (no TCP listener) ...
        await engine.start(listen_tcp=False)
        _, born = await run_container(engine.control, start=False)
        await docker(engine.control, "rm", "-f", doomed)
        await engine.stop()
        assert watcher.status is HostStatus.OFFLINE

        # ... are all there once it is back.
        await engine.start()
        await wait_for(lambda: watcher.status is HostStatus.ONLINE, timeout=TIMEOUT,
                       what="online after the engine came back")
        await wait_for(lambda: born in cached(ch, "dedicated"), timeout=TIMEOUT, what="resync")
        assert cached(ch, "dedicated") == await engine_view(engine)
        assert doomed not in cached(ch, "dedicated") and kept in cached(ch, "dedicated")
        assert watcher.error is None
        assert not any(c.stale for c in watcher.containers())
