"""Live tests of the event-driven cache (daemon mode) and host management."""

from __future__ import annotations

import asyncio
import sys

import pytest

from chrontainer_core import Chrontainer, ContainerChanged, ContainerState, HostSpec, HostStatus
from chrontainer_core.bus import ContainerRenamed
from chrontainer_core.config import Config
from chrontainer_core.store.hosts import HostRepository

from ..dbtemplate import migrated
from ..live import Engine, docker, run_container, unique, wait_for

pytestmark = pytest.mark.live


def cached(ch: Chrontainer, host: str) -> dict[str, str]:
    """name -> state of the host's cache."""
    return {c.name: c.state.value for c in ch.hosts.get(host).containers()}


async def engine_view(engine: Engine) -> dict[str, str]:
    out = await docker(engine, "ps", "-a", "--format", "{{.Names}} {{.State}}")
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


async def engine_triples(engine: Engine) -> set[tuple[str, str, str]]:
    """(id, name, state) of every container, as the engine's containers/json?all=1 says."""
    out = await docker(engine, "ps", "-a", "--no-trunc", "--format",
                       "{{.ID}} {{.Names}} {{.State}}")
    return {tuple(line.split(" ", 2)) for line in out.splitlines() if line}  # type: ignore[misc]


def cached_triples(ch: Chrontainer, host: str) -> set[tuple[str, str, str]]:
    return {(c.id, c.name, c.state.value) for c in ch.hosts.get(host).containers()}


@pytest.mark.parametrize("which", ["local", "remote"])
async def test_cache_converges_on_cli_changes(
    daemon: Chrontainer, local_engine: Engine, remote_engine: Engine, which: str
) -> None:
    engine = local_engine if which == "local" else remote_engine
    with daemon.bus.subscribe(["container.changed", "container.renamed"]) as sub:
        cid, name = await run_container(engine)
        await wait_for(lambda: cached(daemon, which).get(name) == "running", what="create")
        await docker(engine, "stop", "-t", "0", name)
        await wait_for(lambda: cached(daemon, which).get(name) == "exited", what="stop")
        await docker(engine, "rename", name, name + "-x")
        await wait_for(lambda: cached(daemon, which).get(name + "-x") == "exited", what="rename")
        assert name not in cached(daemon, which)
        await docker(engine, "rm", name + "-x")
        await wait_for(lambda: name + "-x" not in cached(daemon, which), what="rm")
        assert cached(daemon, which) == await engine_view(engine)
        seen, renames = [], []
        while not sub._queue.empty():
            ev = sub._queue.get_nowait()
            if isinstance(ev, ContainerChanged) and ev.id == cid:
                seen.append(ev.container.state.value if ev.container else "removed")
            if isinstance(ev, ContainerRenamed) and ev.id == cid:
                renames.append((ev.host, ev.old_key, ev.new_key))
        assert seen[0] == "running" and seen[-1] == "removed" and "exited" in seen
        # The CLI rename moves whatever refers to the container's key (tags, links, ...).
        assert renames == [(which, name, name + "-x")]


async def test_healthcheck_exec_noise_does_not_reinspect(
    daemon: Chrontainer, local_engine: Engine
) -> None:
    _, name = await run_container(
        local_engine, options=("--health-cmd", "true", "--health-interval", "1s")
    )
    await wait_for(
        lambda: any(c.name == name and c.health and c.health.value == "healthy"
                    for c in daemon.hosts.get("local").containers()),
        what="healthy",
    )
    with daemon.bus.subscribe(["container.changed"]) as sub:
        # Healthchecks keep running exec_* events; none must become a container change.
        await asyncio.sleep(2.5)
        assert sub._queue.empty()


async def test_action_reads_its_own_write(daemon: Chrontainer, remote_engine: Engine) -> None:
    _, name = await run_container(remote_engine)
    result = await daemon.containers.action("remote", name, "stop", timeout=0)
    assert result.container and result.container.state is ContainerState.EXITED
    listing = await daemon.containers.list()
    assert [c.state for c in listing.items if c.name == name] == [ContainerState.EXITED]


async def test_offline_host_marks_containers_stale(daemon: Chrontainer) -> None:
    # A TCP port nothing listens on: the host goes offline, the rest keeps working.
    await daemon.hosts.add(HostSpec(slug="gone", name="Gone", url="tcp://127.0.0.1:9"))
    await wait_for(lambda: daemon.hosts.get("gone").status is HostStatus.OFFLINE, what="offline")
    listing = await daemon.containers.list()
    assert listing.hosts["gone"].status is HostStatus.OFFLINE
    assert listing.hosts["gone"].error
    assert listing.hosts["local"].status is HostStatus.ONLINE


async def test_first_start_adds_local_host(tmp_path, local_engine: Engine) -> None:  # type: ignore[no-untyped-def]
    config = Config(data_dir=tmp_path, default_docker_url=local_engine.url)
    migrated(config.database_url)
    async with Chrontainer.from_config(config) as ch:
        assert [h.slug for h in ch.hosts.states()] == ["local"]
        assert await ch.hosts.get("local").wait_synced(15)
        entries, _ = await ch.audit.list(action="host.add")
        assert entries[0].actor.kind.value == "system"
    # a second start keeps the host and adds nothing
    async with Chrontainer.from_config(config) as ch:
        assert [h.slug for h in ch.hosts.states()] == ["local"]


async def test_cli_added_host_reaches_running_daemon(
    daemon: Chrontainer, daemon_config: Config, remote_engine: Engine
) -> None:
    env = {"CHRONTAINER_DATA_DIR": str(daemon_config.data_dir)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chrontainer_server", "hosts", "add", "second", remote_engine.url,
        "--name", "Second", env={**env, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await wait_for(lambda: "second" in daemon.hosts, timeout=10, what="cli host")
    # The design promises 2 s; the poll interval here is 0.2 s, so this is generous.
    assert loop.time() - started < 10
    assert await daemon.hosts.get("second").wait_synced(15)
    repo = HostRepository(daemon.db)  # type: ignore[arg-type]
    assert (await repo.get("second")).name == "Second"


async def test_host_update_and_remove(daemon: Chrontainer, remote_engine: Engine) -> None:
    await daemon.hosts.add(HostSpec(slug="extra", name="Extra", url=remote_engine.url))
    state = await daemon.hosts.update("extra", name="Renamed")
    assert state.name == "Renamed"
    await daemon.hosts.remove("extra")
    assert "extra" not in daemon.hosts
    repo = HostRepository(daemon.db)  # type: ignore[arg-type]
    assert [s.slug for s in await repo.list()] == ["local", "remote"]
    assert unique()  # names stay unique per test run


async def test_reconnect_resyncs_after_an_outage(
    daemon: Chrontainer, remote_engine: Engine
) -> None:
    from urllib.parse import urlsplit

    from ..live import TcpProxy

    target = urlsplit(remote_engine.url)
    proxy = TcpProxy(target.hostname or "127.0.0.1", target.port or 0)
    await proxy.start()
    try:
        await daemon.hosts.add(HostSpec(slug="via-proxy", name="Proxy", url=proxy.url))
        watcher = daemon.hosts.get("via-proxy")
        assert await watcher.wait_synced(15)
        _, kept = await run_container(remote_engine)
        _, doomed = await run_container(remote_engine)
        await wait_for(lambda: {kept, doomed} <= {c.name for c in watcher.containers()},
                       what="seen through the proxy")

        await proxy.cut()
        await wait_for(lambda: watcher.status is HostStatus.OFFLINE, what="offline")
        listing = await daemon.containers.list()
        assert listing.hosts["via-proxy"].status is HostStatus.OFFLINE
        assert all(c.stale for c in listing.items if c.host == "via-proxy")
        assert not any(c.stale for c in listing.items if c.host == "remote")
        # Changes made while the host is unreachable ...
        await docker(remote_engine, "stop", "-t", "0", kept)
        await docker(remote_engine, "rm", "-f", doomed)
        _, born = await run_container(remote_engine)

        await proxy.start()
        # ... are all there after the reconnect's resync.
        await wait_for(lambda: watcher.status is HostStatus.ONLINE, timeout=60, what="online")
        assert cached_triples(daemon, "via-proxy") == await engine_triples(remote_engine)
        assert cached(daemon, "via-proxy")[kept] == "exited"
        assert born in cached(daemon, "via-proxy") and doomed not in cached(daemon, "via-proxy")
        assert not any(c.stale for c in watcher.containers())
    finally:
        await proxy.cut()
