"""One slow or broken host never hurts the others: timeouts, heartbeat, stale containers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from aiohttp.test_utils import TestClient, TestServer

from chrontainer_core import HostStatus
from chrontainer_core.config import Config
from chrontainer_server.api.context import CORE
from chrontainer_server.app import create_app

from ..accounts import admin_api_key, bearer
from ..live import Engine, TcpProxy, run_container, wait_for

pytestmark = pytest.mark.live

V1 = "/api/v1"


@pytest.fixture
async def fast_api(clean_engines: None, daemon_config: Config) -> AsyncIterator[TestClient]:
    """The API with short engine timeouts and heartbeat, so outages show quickly."""
    config = replace(daemon_config, docker_connect_timeout=1.0, docker_request_timeout=1.5,
                     docker_heartbeat_interval=0.3)
    headers = bearer(await admin_api_key(config.database_url))
    async with TestClient(TestServer(create_app(config)), headers=headers) as client:
        for w in client.app[CORE].hosts.watchers():
            assert await w.wait_synced(15)
        yield client


async def test_hung_host_does_not_delay_lists_or_health(fast_api: TestClient) -> None:
    blackhole = TcpProxy("127.0.0.1", 9)
    await blackhole.start()
    blackhole.freeze()  # accepts connections, never answers
    try:
        resp = await fast_api.post(f"{V1}/hosts", json={"slug": "hung", "url": blackhole.url})
        assert resp.status == 201
        watcher = fast_api.app[CORE].hosts.get("hung")
        # The host's first request is still waiting for an answer, and yet both calls return:
        # they read the cache and never wait on an engine.
        resp = await fast_api.get(f"{V1}/containers")
        body = await resp.json()
        assert body["hosts"]["hung"]["status"] == "unknown"
        assert watcher.status is HostStatus.UNKNOWN
        assert body["hosts"]["local"]["status"] == "online"
        resp = await fast_api.get(f"{V1}/health")
        assert resp.status == 200
        await wait_for(lambda: watcher.status is HostStatus.OFFLINE, what="timed out -> offline")
        assert watcher.error and "did not answer in time" in watcher.error
        assert (await (await fast_api.get(f"{V1}/health")).json()) == {"status": "degraded"}
        host = await (await fast_api.get(f"{V1}/hosts/hung")).json()
        assert host["status"] == "offline" and "did not answer" in host["error"]
    finally:
        await blackhole.cut()


async def test_host_that_hangs_later_goes_offline_and_its_containers_stale(
    fast_api: TestClient, proxy: TcpProxy, remote_engine: Engine
) -> None:
    resp = await fast_api.post(f"{V1}/hosts", json={"slug": "flaky", "url": proxy.url})
    assert resp.status == 201
    watcher = fast_api.app[CORE].hosts.get("flaky")
    assert await watcher.wait_synced(15)
    _, name = await run_container(remote_engine)
    await wait_for(lambda: any(c.name == name for c in watcher.containers()), what="seen")

    proxy.freeze()  # connections stay open, nothing answers: only the heartbeat can tell
    await wait_for(lambda: watcher.status is HostStatus.OFFLINE, what="heartbeat -> offline")
    body = await (await fast_api.get(f"{V1}/containers", params={"host": "flaky"})).json()
    assert body["hosts"]["flaky"]["status"] == "offline"
    assert body["items"] and all(c["stale"] for c in body["items"])
    assert name in [c["name"] for c in body["items"]]
    # the same engine through its direct host is untouched
    body = await (await fast_api.get(f"{V1}/containers", params={"host": "remote"})).json()
    assert body["items"] and not any(c["stale"] for c in body["items"])

    await proxy.cut()
    await proxy.start()
    await wait_for(lambda: watcher.status is HostStatus.ONLINE, timeout=60, what="back online")
    body = await (await fast_api.get(f"{V1}/containers", params={"host": "flaky"})).json()
    assert not any(c["stale"] for c in body["items"])


async def test_host_info_and_cached_disk_usage(api: TestClient) -> None:
    resp = await api.get(f"{V1}/hosts/local/info")
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    info, disk = body["info"], body["disk_usage"]
    assert info["cpus"] >= 1 and info["memory"] > 0 and info["kernel"] and info["os"]
    assert info["engine_version"] == body["host"]["engine_version"]
    assert info["images"] >= 1 and disk["images"]["count"] >= 1 and disk["images"]["size"] > 0
    for category in ("containers", "volumes", "build_cache"):
        assert disk[category]["reclaimable"] <= disk[category]["size"]
    again = await (await api.get(f"{V1}/hosts/local/info")).json()
    assert again["disk_usage"]["read_at"] == disk["read_at"]  # served from the cache
    fresh = await (await api.get(f"{V1}/hosts/local/info", params={"refresh": "true"})).json()
    assert fresh["disk_usage"]["read_at"] > disk["read_at"]
    resp = await api.get(f"{V1}/hosts/nowhere/info")
    assert resp.status == 404
