"""The metrics sampler against the real engines: CPU of busy and idle containers, paused and
stopped containers, and the metrics in the REST API's container list.

The sampler runs with a short interval so tests see several rounds quickly; every wait polls
(tests/live.py wait_for) and no test asserts a duration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import jsonschema
import pytest
from aiohttp.test_utils import TestClient, TestServer

from chrontainer_core import Chrontainer, ContainerFilter, ContainerMetrics
from chrontainer_core.config import Config

from ..live import Engine, docker, run_container, wait_for

pytestmark = pytest.mark.live

INTERVAL = 0.5
BUSY = ("sh", "-c", "while :; do :; done")
V1 = "/api/v1"


@pytest.fixture
def sampling_config(daemon_config: Config) -> Config:
    return replace(daemon_config, metrics_interval=INTERVAL, metrics_concurrency=2)


@pytest.fixture
async def sampling(clean_engines: None, sampling_config: Config) -> AsyncIterator[Chrontainer]:
    """A daemon-mode runtime whose sampler takes a round every INTERVAL seconds."""
    async with Chrontainer.from_config(sampling_config) as ch:
        for w in ch.hosts.watchers():
            assert await w.wait_synced(15), f"host {w.slug} did not sync: {w.error}"
        yield ch


def _metrics(ch: Chrontainer, host: str, cid: str) -> ContainerMetrics | None:
    assert ch.metrics is not None
    return ch.metrics.latest(host, cid)


async def _known_cpu(ch: Chrontainer, host: str, cid: str) -> ContainerMetrics:
    """Wait for a metrics reading with a CPU figure (the container's second sample)."""
    try:
        await wait_for(
            lambda: (m := _metrics(ch, host, cid)) is not None and m.cpu_percent is not None,
            timeout=30, what=f"CPU % of {cid[:12]} on {host}",
        )
    except AssertionError as err:
        cached = ch.hosts.get(host).get(cid)
        state = cached.state.value if cached else "gone from the cache"
        raise AssertionError(
            f"{err} (container {state}, metrics {_metrics(ch, host, cid)})"
        ) from None
    found = _metrics(ch, host, cid)
    assert found is not None
    return found


@pytest.mark.parametrize("which", ["local", "remote"])
async def test_busy_and_idle_cpu(
    sampling: Chrontainer, which: str, local_engine: Engine, remote_engine: Engine
) -> None:
    engine = local_engine if which == "local" else remote_engine
    busy, _ = await run_container(engine, *BUSY)
    idle, _ = await run_container(engine, "sleep", "3600")
    try:
        cold = await _known_cpu(sampling, engine.slug, idle)
        # Both engines share this machine's cores with everything else running on it, so a
        # single reading of the busy loop may be starved; it must read > 50 % once it runs.
        await wait_for(lambda: ((m := _metrics(sampling, engine.slug, busy)) is not None
                                and (m.cpu_percent or 0) > 50),
                       timeout=30, what="the busy loop above 50 % CPU")
        hot = await _known_cpu(sampling, engine.slug, busy)
    finally:
        await docker(engine, "rm", "-f", busy)  # no busy loop may outlive its test
    assert cold.cpu_percent is not None and cold.cpu_percent < 5, cold
    for m in (hot, cold):
        assert m.memory_used > 0 and m.memory_limit > 0 and 0 <= m.memory_percent < 100
        assert m.pids >= 1
        # Known once there are two samples; the remote's containers have no network: 0 B/s.
        assert m.net_rx_rate is not None and m.net_rx_rate >= 0
        assert m.block_read_rate is not None and m.block_write_rate is not None
    if engine.network == "none":
        assert hot.net_rx_rate == 0.0 and hot.net_tx_rate == 0.0
    # The typed listing carries the same metrics beside each container.
    listing = await sampling.containers.list(ContainerFilter(host=engine.slug))
    by_id = dict(zip((c.id for c in listing.items), listing.metrics, strict=True))
    assert by_id[idle] is not None and by_id[idle].read_at >= cold.read_at
    # The removed busy loop is forgotten by the next round.
    await wait_for(lambda: _metrics(sampling, engine.slug, busy) is None, what="removed forgotten")


async def test_paused_and_stopped_containers_get_no_metrics(
    sampling: Chrontainer, local_engine: Engine
) -> None:
    host = local_engine.slug
    witness, _ = await run_container(local_engine)
    paused, _ = await run_container(local_engine)
    stopped, _ = await run_container(local_engine)
    never, _ = await run_container(local_engine, start=False)
    for cid in (witness, paused, stopped):
        await _known_cpu(sampling, host, cid)

    await docker(local_engine, "pause", paused)
    await docker(local_engine, "stop", "-t", "0", stopped)
    await wait_for(lambda: _metrics(sampling, host, paused) is None, what="paused forgotten")
    await wait_for(lambda: _metrics(sampling, host, stopped) is None, what="stopped forgotten")
    # Rounds go on (the witness gets newer readings) and still skip both.
    before = _metrics(sampling, host, witness)
    assert before is not None
    await wait_for(
        lambda: (m := _metrics(sampling, host, witness)) is not None and m.read_at > before.read_at,
        what="another round",
    )
    for cid in (paused, stopped, never):
        assert _metrics(sampling, host, cid) is None
    await docker(local_engine, "unpause", paused)
    await wait_for(lambda: _metrics(sampling, host, paused) is not None, what="unpaused sampled")


@pytest.fixture
async def sampling_api(
    clean_engines: None, sampling_config: Config
) -> AsyncIterator[TestClient[Any, Any]]:
    """A real HTTP server over a daemon whose sampler takes a round every INTERVAL seconds."""
    from chrontainer_server.api.context import CORE
    from chrontainer_server.app import create_app

    from ..accounts import admin_api_key, bearer

    app = create_app(sampling_config)
    headers = bearer(await admin_api_key(sampling_config.database_url))
    async with TestClient(TestServer(app), headers=headers) as client:
        for w in app[CORE].hosts.watchers():
            assert await w.wait_synced(15), f"host {w.slug} did not sync: {w.error}"
        yield client


def _validator(doc: dict[str, Any], path: str) -> jsonschema.Draft202012Validator:
    """A validator for the 200 response of GET ``path`` in the OpenAPI document."""
    schema = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    return jsonschema.Draft202012Validator(
        {**schema["schema"], "components": doc["components"]}
    )


async def test_api_lists_metrics_of_running_containers(
    sampling_api: TestClient[Any, Any], local_engine: Engine, remote_engine: Engine
) -> None:
    api = sampling_api
    running_id, running = await run_container(remote_engine, *BUSY)
    try:
        await _check_api_metrics(api, running, local_engine)
    finally:
        await docker(remote_engine, "rm", "-f", running_id)  # no busy loop may outlive its test


async def _check_api_metrics(api: TestClient[Any, Any], running: str, local_engine: Engine) -> None:
    _, exited = await run_container(local_engine, "true")
    await docker(local_engine, "wait", exited)

    async def listed() -> dict[str, dict[str, Any]]:
        body = await (await api.get(f"{V1}/containers")).json()
        return {c["name"]: c for c in body["items"]}

    async def running_has_cpu() -> bool:
        item = (await listed()).get(running)
        return bool(item and item["metrics"] and item["metrics"]["cpu_percent"] is not None)

    await wait_for(running_has_cpu, timeout=30, what="metrics in the API list")
    # A single reading may be starved by other load on the machine (see above).
    await wait_for(lambda: _busy_in_list(api, running), timeout=30, what="busy above 50 %")
    doc = await (await api.get(f"{V1}/openapi.json")).json()
    body = await (await api.get(f"{V1}/containers")).json()
    _validator(doc, f"{V1}/containers").validate(body)
    items = {c["name"]: c for c in body["items"]}
    metrics = items[running]["metrics"]
    assert metrics["cpu_percent"] is not None and metrics["read_at"].endswith("Z")
    assert set(metrics) == {
        "read_at", "cpu_percent", "memory_used", "memory_limit", "memory_percent",
        "net_rx_rate", "net_tx_rate", "block_read_rate", "block_write_rate", "pids",
    }
    assert items[exited]["metrics"] is None and items[exited]["state"] == "exited"

    # The details of one container carry its metrics too.
    resp = await api.get(f"{V1}/hosts/remote/containers/{running}")
    detail = await resp.json()
    _validator(doc, f"{V1}/hosts/{{host}}/containers/{{ref}}").validate(detail)
    assert detail["name"] == running and detail["metrics"]["pids"] >= 1
    resp = await api.get(f"{V1}/hosts/local/containers/{exited}")
    assert (await resp.json())["metrics"] is None


async def _busy_in_list(api: TestClient[Any, Any], name: str) -> bool:
    body = await (await api.get(f"{V1}/containers", params={"name": name})).json()
    metrics = body["items"][0]["metrics"] if body["items"] else None
    return bool(metrics and (metrics["cpu_percent"] or 0) > 50)
