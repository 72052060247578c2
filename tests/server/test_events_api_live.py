"""Live tests of GET /api/v1/events and the SSE stream GET /api/v1/events/stream.

A real server (daemon mode, both engines) with the sampler every second and pings every 0.2 s,
so that a metrics round and a client's disconnect are seen quickly; the docker CLI makes the
changes, as a user would behind Chrontainer's back.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import aiohttp
import jsonschema
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from chrontainer_core.bus import ContainerMetaChanged
from chrontainer_core.config import Config
from chrontainer_core.store.db import Database
from chrontainer_server.api.context import CORE
from chrontainer_server.api.events import QUEUE_SIZE, SSE_PING_INTERVAL
from chrontainer_server.app import create_app
from chrontainer_server.auth.apikeys import ApiKeyStore, KeyScope
from chrontainer_server.auth.passwords import Passwords
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.users import UserRepository

from ..accounts import ADMIN, admin_api_key, admin_client, bearer
from ..live import TEST_LABEL, Engine, docker, run_container, unique, wait_for

pytestmark = pytest.mark.live

V1 = "/api/v1"
STREAM = f"{V1}/events/stream"


def make_app(config: Config) -> web.Application:
    app = create_app(replace(config, metrics_interval=1.0))
    app[SSE_PING_INTERVAL] = 0.2
    return app


@pytest.fixture
async def client(clean_engines: None, daemon_config: Config) -> AsyncIterator[TestClient]:
    async with admin_client(make_app(daemon_config), daemon_config.database_url) as test_client:
        yield test_client


async def key_of(client: TestClient, role: Role, scope: KeyScope | None = None) -> dict[str, str]:
    """Headers of an API key of the test admin with ceiling ``role`` (and a scope)."""
    db = Database(client.app[CORE].config.database_url)
    try:
        user = (await UserRepository(db, Passwords()).find(ADMIN))[0]
        secret, _ = await ApiKeyStore(db).create(user.id, name=str(role), role_ceiling=role,
                                                 scope=scope)
    finally:
        await db.close()
    return bearer(secret)


async def ok(resp: aiohttp.ClientResponse) -> Any:
    body = await resp.json()
    assert resp.status == 200, body
    return body


class Sse:
    """Reads an SSE response message by message."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp
        self.seen: list[tuple[str, Any]] = []

    async def block(self) -> list[str]:
        """The lines of the next block (up to a blank line); [] at the end of the stream."""
        lines: list[str] = []
        while True:
            raw = await self.resp.content.readline()
            if not raw:
                return lines
            line = raw.decode().rstrip("\n")
            if not line:
                if lines:
                    return lines
                continue
            lines.append(line)

    async def next(self) -> tuple[str, Any]:
        """The next message (comments and retry blocks skipped)."""
        while True:
            lines = await self.block()
            assert lines, "the stream ended"
            fields = dict(line.split(": ", 1) for line in lines if not line.startswith(":"))
            if "event" in fields:
                message = fields["event"], json.loads(fields["data"])
                self.seen.append(message)
                return message

    async def until(self, want: Callable[[str, Any], bool], *, timeout: float = 30.0,
                    what: str = "") -> tuple[str, Any]:
        """The first message, already read or read now, that satisfies ``want``.

        Messages come in publishing order, which differs between topics (a docker.event is
        published before the re-inspect that publishes container.changed), hence the look back.
        The timeout is a safety net.
        """
        for topic, data in self.seen:
            if want(topic, data):
                return topic, data
        try:
            async with asyncio.timeout(timeout):
                while True:
                    topic, data = await self.next()
                    if want(topic, data):
                        return topic, data
        except TimeoutError:
            raise AssertionError(f"no SSE message {what} within {timeout} s; got "
                                 f"{[t for t, _ in self.seen][-20:]}") from None


async def open_stream(client: TestClient, query: str = "",
                      headers: dict[str, str] | None = None) -> Sse:
    resp = await client.get(STREAM + query, headers=headers or {})
    assert resp.status == 200, await resp.text()
    first = await asyncio.wait_for(Sse(resp).block(), 15)
    assert first == ["retry: 3000"]  # sent at once, before any event
    return Sse(resp)


async def check_documented(client: TestClient, sse: Sse) -> None:
    """Every message read so far matches the stream's schema in the OpenAPI document."""
    doc = await ok(await client.get(f"{V1}/openapi.json"))
    media = doc["paths"][STREAM]["get"]["responses"]["200"]["content"]["text/event-stream"]
    data_schemas = {branch["properties"]["event"]["const"]:
                    branch["properties"]["data"]["contentSchema"]
                    for branch in media["schema"]["oneOf"]}
    assert sse.seen
    for topic, data in sse.seen:
        jsonschema.Draft202012Validator(
            {**data_schemas[topic], "components": doc["components"]}).validate(data)


def running(name: str) -> Callable[[str, Any], bool]:
    def want(topic: str, data: Any) -> bool:
        c = data.get("container") if topic == "container.changed" else None
        return c is not None and c["name"] == name and c["state"] == "running"

    return want


# --- GET /events -------------------------------------------------------------------------------


async def test_cli_changes_are_listed_filtered_and_paged(
    client: TestClient, local_engine: Engine, remote_engine: Engine
) -> None:
    tag = unique("evapi")
    cid, name = await run_container(local_engine, name=f"{tag}-c")
    await docker(local_engine, "rm", "-f", name)
    try:
        await docker(local_engine, "volume", "create", "--label", f"{TEST_LABEL}=1", f"{tag}-v")
        await docker(local_engine, "volume", "rm", f"{tag}-v")
        net_id = await docker(local_engine, "network", "create", "--label", f"{TEST_LABEL}=1",
                              f"{tag}-n")
        await docker(local_engine, "network", "rm", f"{tag}-n")
    finally:
        await docker(local_engine, "volume", "rm", "-f", f"{tag}-v", check=False)
        await docker(local_engine, "network", "rm", f"{tag}-n", check=False)
    rid, rname = await run_container(remote_engine, name=f"{tag}-r")
    await docker(remote_engine, "rm", "-f", rname)

    async def listed(**params: str) -> dict[str, Any]:
        body: dict[str, Any] = await ok(await client.get(f"{V1}/events",
                                                         params={"limit": "500", **params}))
        return body

    async def complete() -> bool:
        body = await listed(name=tag)
        got = {(e["host"], e["type"], e["name"], e["action"]) for e in body["items"]}
        return {("local", "container", name, "destroy"), ("local", "volume", f"{tag}-v",
                                                         "destroy"),
                ("local", "network", f"{tag}-n", "destroy"),
                ("remote", "container", rname, "destroy")} <= got

    # Generous: the machine may be busy; the log writes within about a second otherwise.
    await wait_for(complete, timeout=60, what="every object's destroy event listed")
    everything = await listed(name=tag)
    items = everything["items"]
    assert everything["total"] == len(items) >= 12
    assert [e["time"] for e in items] == sorted((e["time"] for e in items), reverse=True)
    for e in items:
        assert set(e) == {"id", "time", "host", "type", "action", "object_id", "name",
                          "attributes"}
        assert isinstance(e["id"], int) and e["time"].endswith("Z")
        assert TEST_LABEL not in e["attributes"]

    local_c = await listed(name=name)
    assert {(e["host"], e["type"], e["object_id"]) for e in local_c["items"]} == {
        ("local", "container", cid)}
    assert {"create", "start", "die", "destroy"} <= {e["action"] for e in local_c["items"]}
    remote = await listed(name=tag, host="remote")
    assert {(e["type"], e["object_id"]) for e in remote["items"]} == {("container", rid)}
    volumes = await listed(name=tag, type="volume")
    assert {(e["name"], e["object_id"], e["action"]) for e in volumes["items"]} == {
        (f"{tag}-v", f"{tag}-v", "create"), (f"{tag}-v", f"{tag}-v", "destroy")}
    networks = await listed(name=tag.upper(), type="network")  # names match ignoring case
    assert {(e["object_id"], e["action"]) for e in networks["items"]} == {
        (net_id, "create"), (net_id, "destroy")}
    destroyed = await listed(name=tag, action="destroy")
    assert {e["name"] for e in destroyed["items"]} == {name, rname, f"{tag}-v", f"{tag}-n"}
    by_object = await listed(object=cid[:12])
    assert {e["name"] for e in by_object["items"]} == {name}
    assert (await listed(name=tag, host="nowhere"))["total"] == 0

    # Paging: consecutive pages are slices of the whole list, total unchanged.
    pages: list[dict[str, Any]] = []
    for offset in range(0, len(items), 5):
        page = await listed(name=tag, limit="5", offset=str(offset))
        assert page["total"] == len(items) and len(page["items"]) <= 5
        pages += page["items"]
    assert [e["id"] for e in pages] == [e["id"] for e in items]
    beyond = await listed(name=tag, offset=str(len(items)))
    assert beyond == {"items": [], "total": len(items)}


@pytest.mark.parametrize(("param", "value"), [
    ("host", "NOT A SLUG"), ("type", "daemon"), ("action", ""), ("action", "x" * 65),
    ("name", "x" * 257), ("object", ""), ("object", "x" * 256), ("limit", "0"),
    ("limit", "501"), ("limit", "ten"), ("offset", "-1"),
])
async def test_bad_list_query_is_400(client: TestClient, param: str, value: str) -> None:
    resp = await client.get(f"{V1}/events", params={param: value})
    body = await resp.json()
    assert resp.status == 400, body
    assert body["error"]["code"] == "invalid_input"
    assert body["error"]["details"]["field"] == param


@pytest.mark.parametrize("topics", ["nope", "container.changed,nope", "container.changed,",
                                    " docker.event", "docker.event,,lagged"])
async def test_unknown_topic_is_400(client: TestClient, topics: str) -> None:
    resp = await client.get(STREAM, params={"topics": topics})
    body = await resp.json()
    assert resp.status == 400, body
    assert body["error"]["details"]["field"] == "topics"


async def test_scoped_key_lists_only_its_hosts(
    client: TestClient, local_engine: Engine, remote_engine: Engine
) -> None:
    tag = unique("evscope")
    _, local_name = await run_container(local_engine, name=f"{tag}-l")
    _, remote_name = await run_container(remote_engine, name=f"{tag}-r")
    try:
        async def both_listed() -> bool:
            body = await ok(await client.get(f"{V1}/events", params={"name": tag}))
            return {e["host"] for e in body["items"]} == {"local", "remote"}

        await wait_for(both_listed, timeout=60, what="events of both hosts")
        scoped = await key_of(client, Role.VIEWER, KeyScope(hosts=("remote",)))
        body = await ok(await client.get(f"{V1}/events", params={"name": tag}, headers=scoped))
        assert body["total"] > 0 and {e["host"] for e in body["items"]} == {"remote"}
        body = await ok(await client.get(f"{V1}/events", params={"host": "local"},
                                         headers=scoped))
        assert body == {"items": [], "total": 0}
        # A key scoped to one container reads the events of that container's host.
        one = await key_of(client, Role.VIEWER, KeyScope(containers=(f"local/{local_name}",)))
        body = await ok(await client.get(f"{V1}/events", params={"name": tag}, headers=one))
        assert {e["host"] for e in body["items"]} == {"local"}
    finally:
        await docker(local_engine, "rm", "-f", local_name, check=False)
        await docker(remote_engine, "rm", "-f", remote_name, check=False)


# --- the SSE stream ----------------------------------------------------------------------------


async def test_stream_delivers_changes_made_with_the_cli(
    client: TestClient, local_engine: Engine
) -> None:
    resp = await client.get(STREAM, params={"topics": "container.changed,docker.event"})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/event-stream"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Accel-Buffering"] == "no"
    assert "Content-Encoding" not in resp.headers
    assert await asyncio.wait_for(Sse(resp).block(), 15) == ["retry: 3000"]
    sse = Sse(resp)
    cid, name = await run_container(local_engine, name=unique("evsse"))
    try:
        # The container shows as running within 10 s of `docker run` (a safety net).
        _, changed = await sse.until(running(name), timeout=10, what="container running")
        assert changed["host"] == "local" and changed["id"] == cid
        assert changed["key"] == name and changed["container"]["id"] == cid

        def started(topic: str, data: Any) -> bool:
            return topic == "docker.event" and data["name"] == name and data["action"] == "start"

        _, event = await sse.until(started, what="docker.event start")
        assert event["host"] == "local" and event["type"] == "container"
        assert event["object_id"] == cid and event["id"] is None  # not stored yet
        await docker(local_engine, "rm", "-f", name)

        def removed(topic: str, data: Any) -> bool:
            return topic == "container.changed" and data["id"] == cid and data[
                "container"] is None

        _, gone = await sse.until(removed, what="container removed")
        assert gone["key"] == name
        assert {t for t, _ in sse.seen} <= {"container.changed", "docker.event"}
        await check_documented(client, sse)
    finally:
        await docker(local_engine, "rm", "-f", name, check=False)
        resp.close()


async def test_stream_carries_metrics_rounds_and_host_topics_only_when_asked(
    client: TestClient, local_engine: Engine
) -> None:
    sse = await open_stream(client, "?topics=metrics.sampled")
    cid, name = await run_container(local_engine, name=unique("evmet"))
    try:
        def sampled(topic: str, data: Any) -> bool:
            return topic == "metrics.sampled" and cid in data["items"]

        _, data = await sse.until(sampled, timeout=60, what="a metrics round with the container")
        assert data["host"] == "local"
        assert data["items"][cid]["memory_used"] > 0
        assert {t for t, _ in sse.seen} == {"metrics.sampled"}
        await check_documented(client, sse)
    finally:
        await docker(local_engine, "rm", "-f", name, check=False)
        sse.resp.close()


async def test_viewer_stream_has_env_values_emptied(
    client: TestClient, local_engine: Engine
) -> None:
    viewer = await open_stream(client, "?topics=container.changed",
                               headers=await key_of(client, Role.VIEWER))
    admin = await open_stream(client, "?topics=container.changed")
    _, name = await run_container(local_engine, name=unique("evenv"),
                                  options=("-e", "DB_PASSWORD=hunter2"))
    try:
        _, seen_by_admin = await admin.until(running(name), what="admin: running")
        _, seen_by_viewer = await viewer.until(running(name), what="viewer: running")
        env = {e["name"]: e["value"] for e in seen_by_admin["container"]["env"]}
        assert env["DB_PASSWORD"] == "hunter2"
        env = {e["name"]: e["value"] for e in seen_by_viewer["container"]["env"]}
        assert env["DB_PASSWORD"] == "" and all(v == "" for v in env.values())
        await check_documented(client, viewer)
    finally:
        await docker(local_engine, "rm", "-f", name, check=False)
        viewer.resp.close()
        admin.resp.close()


async def test_scoped_key_stream_gets_only_its_hosts(
    client: TestClient, local_engine: Engine, remote_engine: Engine
) -> None:
    scoped = await open_stream(client, "?topics=container.changed,docker.event,host.changed",
                               headers=await key_of(client, Role.VIEWER,
                                                    KeyScope(hosts=("remote",))))
    core = client.app[CORE]
    _, local_name = await run_container(local_engine, name=unique("evscl"))
    _, remote_name = await run_container(remote_engine, name=unique("evscr"))
    try:
        # Published (so queued for the scoped stream too) before the remote container's.
        await wait_for(lambda: any(c.name == local_name
                                   for c in core.hosts.get("local").containers()),
                       what="the local container in the cache")
        await scoped.until(running(remote_name), what="remote container running")
        hosts = {data["host"] if t != "host.changed" else data["host"]["slug"]
                 for t, data in scoped.seen}
        assert hosts == {"remote"}
        await check_documented(client, scoped)
    finally:
        await docker(local_engine, "rm", "-f", local_name, check=False)
        await docker(remote_engine, "rm", "-f", remote_name, check=False)
        scoped.resp.close()


async def test_idle_stream_pings_and_a_client_going_away_leaves_the_bus(
    client: TestClient
) -> None:
    bus = client.app[CORE].bus
    before = bus.subscriber_count
    sse = await open_stream(client, "?topics=container.meta")  # a topic nobody changes here
    assert bus.subscriber_count == before + 1
    assert await asyncio.wait_for(sse.block(), 15) == [": ping"]
    sse.resp.close()
    # The next ping (every 0.2 s here) finds the connection gone.
    await wait_for(lambda: bus.subscriber_count == before, what="the stream's subscription gone")


async def test_shutdown_ends_open_streams(daemon_config: Config, clean_engines: None) -> None:
    app = make_app(daemon_config)
    app[SSE_PING_INTERVAL] = 3600.0  # only the shutdown can end these streams
    headers = bearer(await admin_api_key(daemon_config.database_url))
    server = TestServer(app)
    await server.start_server()
    closed = False
    try:
        async with aiohttp.ClientSession(headers=headers) as session:
            responses = [await session.get(server.make_url(STREAM)) for _ in range(3)]
            for resp in responses:
                assert resp.status == 200
                assert await asyncio.wait_for(Sse(resp).block(), 15) == ["retry: 3000"]
            rest = [asyncio.ensure_future(resp.content.read()) for resp in responses]
            # Safety nets: without the shutdown handler both would wait for the 60 s
            # graceful-shutdown timeout, and the streams would not end before it.
            await asyncio.wait_for(server.close(), 30)
            closed = True
            for tail in rest:
                await asyncio.wait_for(tail, 10)
            assert all(resp.content.at_eof() for resp in responses)
    finally:
        if not closed:
            await server.close()


async def test_a_client_falling_behind_gets_lagged(client: TestClient) -> None:
    sse = await open_stream(client, "?topics=container.meta")
    bus = client.app[CORE].bus
    # Published without yielding to the loop, so the stream cannot drain its queue meanwhile.
    for n in range(QUEUE_SIZE + 100):
        bus.publish(ContainerMetaChanged(host="local", key=f"burst-{n}"))
    bus.publish(ContainerMetaChanged(host="local", key="after"))
    try:
        _, lagged = await sse.until(lambda t, _: t == "lagged", what="lagged")
        assert lagged["dropped"] > 0
        # It goes on: the newest events come after the marker.
        _, after = await sse.until(lambda t, d: t == "container.meta" and d["key"] == "after",
                                   what="the event after the lag")
        assert after == {"host": "local", "key": "after"}
        topics = [t for t, _ in sse.seen]
        assert topics.index("lagged") < len(topics) - 1
        assert len(topics) < QUEUE_SIZE + 101  # some were dropped, as the marker says
        await check_documented(client, sse)
    finally:
        sse.resp.close()
