"""Live tests of container updates over the REST API: checking (GET /updates, POST
/updates/check, the container list's ``update``, the SSE ``update.status`` topic), updating one
container (POST .../update?wait) and several (POST /containers/update), the journal (GET
/updates/history), refusals (a container others join: 409 naming them), bad input (4xx, nothing
started), roles and API-key scopes.

A real server (daemon mode, both engines) checks against a local docker-registry: v1 of an image
is pushed, a container runs it, then v2 is pushed under the same tag.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.app import create_app
from chrontainer_server.auth.apikeys import KeyScope
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.service import AUTH

from ..accounts import admin_client
from ..http import core_of, error_of, ok
from ..images import build, drop
from ..live import TEST_LABEL, Engine, docker, run_container, unique, wait_for
from ..registry import TestRegistry
from .test_events_api_live import check_documented, open_stream

pytestmark = pytest.mark.live

V1 = "/api/v1"
CHECK = f"{V1}/updates/check"
BULK = f"{V1}/containers/update"
KINDS = ("container.update", "update.check")


@pytest.fixture
async def api(clean_engines: None, daemon_config) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    """The API server of tests/conftest.py with a 1 s grace period (an updated container must
    stay up that long) and no daily check firing during a test."""
    config = dataclasses.replace(daemon_config, settings={"update_grace_seconds": 1,
                                                          "update_check_cron": ""})
    async with admin_client(create_app(config), config.database_url) as client:
        yield client


@dataclasses.dataclass(frozen=True)
class Versions:
    """Two builds of one app; ``v1``/``v2`` are local tags, ``*_id`` their image ids."""

    v1: str
    v2: str
    v1_id: str
    v2_id: str
    broken: str  # a build whose entrypoint exits at once
    broken_id: str


@pytest.fixture(scope="module")
async def versions(local_engine: Engine) -> AsyncIterator[Versions]:
    tag = unique("ct-update-src")
    v1_id = await build(local_engine, f"{tag}:v1", "ENV APP_VERSION=1")
    v2_id = await build(local_engine, f"{tag}:v2", "ENV APP_VERSION=2")
    broken_id = await build(local_engine, f"{tag}:broken", 'ENTRYPOINT ["false"]')
    try:
        yield Versions(v1=f"{tag}:v1", v2=f"{tag}:v2", v1_id=v1_id, v2_id=v2_id,
                       broken=f"{tag}:broken", broken_id=broken_id)
    finally:
        await drop(local_engine, f"{tag}:v1", f"{tag}:v2", f"{tag}:broken", v1_id, v2_id,
                   broken_id)


async def run_image(engine: Engine, image: str, *options: str) -> str:
    """A labelled running container of ``image`` (pulled when missing); returns its name."""
    name = unique("upd")
    await docker(engine, "run", "-d", "--name", name, "--label", f"{TEST_LABEL}=1",
                 "--stop-timeout", "1", "--network", "none", *options, image, "sleep", "3600")
    return name


async def inspect(engine: Engine, name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(await docker(engine, "inspect", name))[0]
    return doc


async def cached(api: TestClient, host: str, name: str) -> None:
    await wait_for(lambda: any(c.name == name for c in core_of(api).hosts.get(host).containers()),
                   what=f"{host}/{name} in the cache")


async def check(api: TestClient, *names: str) -> dict[str, Any]:
    """Check these local containers now and wait for the summary."""
    done = await ok(await api.post(CHECK, params={"wait": "60"}, json={
        "targets": [{"host": "local", "ref": n} for n in names]}))
    assert (done["kind"], done["status"]) == ("update.check", "succeeded"), done
    return done  # type: ignore[no-any-return]


async def state_of(api: TestClient, name: str, **query: str) -> str | None:
    items = (await ok(await api.get(f"{V1}/updates", params=query)))["items"]
    found = [c["state"] for c in items if c["host"] == "local" and c["key"] == name]
    return found[0] if found else None


async def key_for(api: TestClient, role: Role, scope: KeyScope | None = None) -> dict[str, str]:
    """Headers of an API key of a new account with ``role`` (and the key's ``scope``)."""
    auth = api.app[AUTH]
    user = await auth.users.create(unique(role.value), "a-long-test-password", role)
    secret, _ = await auth.apikeys.create(user.id, name="tests", role_ceiling=role, scope=scope)
    return {"Authorization": f"Bearer {secret}"}


def operation_count(api: TestClient) -> int:
    return sum(len(core_of(api).operations.list(kind=k)) for k in KINDS)


async def test_a_published_image_is_detected_and_applied(
    api: TestClient, plain_registry: TestRegistry, local_engine: Engine, versions: Versions,
) -> None:
    repo = unique("updates/app")
    ref = await plain_registry.push(local_engine, versions.v1, repo, "v1")
    name = await run_image(local_engine, ref)
    try:
        await cached(api, "local", name)
        first = await check(api, name)
        assert first["result"]["checked"] == "1" and first["result"]["up_to_date"] == "1"
        assert await state_of(api, name, host="local") == "up_to_date"

        # v2 under the same tag: the next check finds it, and says so on the stream.
        await plain_registry.push(local_engine, versions.v2, repo, "v1")
        sse = await open_stream(api, "?topics=update.status")
        second = await check(api, name)
        assert second["result"]["available"] == "1", second
        _, event = await sse.until(lambda t, d: t == "update.status" and d["key"] == name,
                                   what="the new check result")
        assert event["host"] == "local" and event["check"]["state"] == "available"
        assert event["check"]["image"] == ref
        await check_documented(api, sse)
        assert await state_of(api, name, state="available") == "available"
        assert await state_of(api, name, state="up_to_date") is None
        listed = (await ok(await api.get(f"{V1}/containers", params={"name": name})))["items"]
        assert [c["update"]["state"] for c in listed] == ["available"]

        old = await inspect(local_engine, name)
        done = await ok(await api.post(f"{V1}/hosts/local/containers/{name}/update",
                                       params={"wait": "120"}))
        assert (done["kind"], done["status"], done["host"]) == (
            "container.update", "succeeded", "local"), done
        assert done["result"]["updated"] == "true"
        assert done["result"]["old_image_id"] == versions.v1_id
        assert done["result"]["new_image_id"] == versions.v2_id
        new = await inspect(local_engine, name)  # the same name: the new container
        assert new["Id"] != old["Id"] and new["Id"] == done["result"]["container_id"]
        assert new["Image"] == versions.v2_id and new["State"]["Running"]
        assert "APP_VERSION=2" in new["Config"]["Env"]
        assert await state_of(api, name) != "available"
        assert (await ok(await api.get(f"{V1}/operations/{done['id']}")))["status"] == "succeeded"

        history = await ok(await api.get(f"{V1}/updates/history", params={"host": "local"}))
        entries = [e for e in history["items"] if e["key"] == name]
        assert len(entries) == 1 and history["total"] >= 1
        assert (entries[0]["status"], entries[0]["new_image_id"]) == ("done", versions.v2_id)
        assert entries[0]["old_id"] == old["Id"] and entries[0]["name"] == name
        remote = await ok(await api.get(f"{V1}/updates/history", params={"host": "remote"}))
        assert name not in [e["key"] for e in remote["items"]]
    finally:
        await docker(local_engine, "rm", "-f", name, check=False)
        await drop(local_engine, ref)


async def test_a_new_container_that_exits_is_rolled_back(
    api: TestClient, plain_registry: TestRegistry, local_engine: Engine, versions: Versions,
) -> None:
    repo = unique("updates/broken")
    ref = await plain_registry.push(local_engine, versions.v1, repo, "v1")
    name = await run_image(local_engine, ref)
    try:
        await cached(api, "local", name)
        old = await inspect(local_engine, name)
        await plain_registry.push(local_engine, versions.broken, repo, "v1")
        done = await ok(await api.post(f"{V1}/hosts/local/containers/{name}/update",
                                       params={"wait": "120"}))
        assert (done["status"], done["error_code"]) == ("failed", "update_failed"), done
        assert "rolled back" in done["error"]
        now = await inspect(local_engine, name)  # the old container, running under its name
        assert now["Id"] == old["Id"] and now["Image"] == versions.v1_id
        assert now["State"]["Running"]
        history = await ok(await api.get(f"{V1}/updates/history"))
        entry = next(e for e in history["items"] if e["key"] == name)
        assert entry["status"] == "rolled_back" and entry["old_id"] == old["Id"]
        assert entry["new_image_id"] == versions.broken_id
        # The new container is gone: nothing is left behind under its temporary name.
        assert entry["new_id"]
        assert await docker(local_engine, "ps", "-aq", "--filter", f"id={entry['new_id']}") == ""
    finally:
        await docker(local_engine, "rm", "-f", name, check=False)
        await drop(local_engine, ref)


async def test_bulk_update_starts_one_operation_per_container(
    api: TestClient, plain_registry: TestRegistry, local_engine: Engine, versions: Versions,
) -> None:
    repo = unique("updates/bulk")
    ref = await plain_registry.push(local_engine, versions.v1, repo, "v1")
    names = [await run_image(local_engine, ref) for _ in range(2)]
    try:
        for name in names:
            await cached(api, "local", name)
        await plain_registry.push(local_engine, versions.v2, repo, "v1")
        missing = unique("no-such-container")
        answer = await ok(await api.post(BULK, json={"targets": [
            *({"host": "local", "ref": n} for n in names), {"host": "local", "ref": missing}]}),
            202)
        items = answer["items"]
        assert [(i["ref"], i["ok"]) for i in items] == [(names[0], True), (names[1], True),
                                                        (missing, False)]
        assert items[2]["operation"] is None and items[2]["error"]["code"] == "not_found"
        ops = [i["operation"]["id"] for i in items[:2]]
        assert all(i["operation"]["kind"] == "container.update" and i["error"] is None
                   for i in items[:2])

        async def ended() -> bool:
            states = [(await ok(await api.get(f"{V1}/operations/{op}")))["status"]
                      for op in ops]
            return "running" not in states

        await wait_for(ended, timeout=180, what="both updates to end")
        for op in ops:
            got = await ok(await api.get(f"{V1}/operations/{op}"))
            assert got["status"] == "succeeded" and got["result"]["updated"] == "true", got
        for name in names:
            assert (await inspect(local_engine, name))["Image"] == versions.v2_id
    finally:
        await docker(local_engine, "rm", "-f", *names, check=False)
        await drop(local_engine, ref)


async def test_a_container_others_join_is_not_updated(api: TestClient,
                                                      local_engine: Engine) -> None:
    a_id, a = await run_container(local_engine)
    b_id, b = await run_container(local_engine, options=("--network", f"container:{a_id}"))
    await cached(api, "local", b)
    before = operation_count(api)

    refused = await error_of(await api.post(f"{V1}/hosts/local/containers/{a}/update"), 409)
    assert refused["code"] == "conflict"
    assert b in refused["message"] or b in json.dumps(refused["details"]), refused
    bulk = await ok(await api.post(BULK, json={"targets": [{"host": "local", "ref": a}]}), 202)
    assert bulk["items"][0]["ok"] is False
    assert bulk["items"][0]["error"]["code"] == "conflict" and bulk["items"][0]["operation"] is None

    assert operation_count(api) == before
    for cid in (a_id, b_id):
        doc = await inspect(local_engine, cid)
        assert doc["State"]["Running"], doc["Name"]
    assert (await inspect(local_engine, a))["Id"] == a_id


# (method, url, query, body, status, details.field)
BAD_REQUESTS: list[tuple[str, str, dict[str, str], Any, int, str | None]] = [
    ("POST", f"{V1}/hosts/no-such-host/containers/x/update", {}, None, 404, None),
    ("POST", f"{V1}/hosts/local/containers/no-such-container-here/update", {}, None, 404, None),
    ("POST", f"{V1}/hosts/local/containers/x/update", {"wait": "301"}, None, 400, "wait"),
    ("POST", f"{V1}/hosts/local/containers/x/update", {"wait": "-1"}, None, 400, "wait"),
    ("POST", f"{V1}/hosts/local/containers/x/update", {"wait": "soon"}, None, 400, "wait"),
    ("POST", CHECK, {}, {"host": "no-such-host"}, 404, None),
    ("POST", CHECK, {}, {"host": "Not A Slug"}, 400, "host"),
    ("POST", CHECK, {}, {"targets": []}, 400, "targets"),
    ("POST", CHECK, {}, {"targets": [{"host": "local"}]}, 400, "targets[0].ref"),
    ("POST", CHECK, {}, {"targets": [{"host": "local", "ref": "x"}] * 101}, 400, "targets"),
    ("POST", CHECK, {}, {"host": "local", "targets": [{"host": "local", "ref": "x"}]}, 400,
     "targets"),
    ("POST", CHECK, {}, {"hosts": "local"}, 400, "hosts"),
    ("POST", CHECK, {"wait": "121"}, {"host": "local"}, 400, "wait"),
    ("POST", BULK, {}, {}, 400, "targets"),
    ("POST", BULK, {}, {"targets": []}, 400, "targets"),
    ("POST", BULK, {}, {"targets": [{"host": "local", "ref": ""}]}, 400, "targets[0].ref"),
    ("POST", BULK, {}, {"targets": [{"host": "local", "ref": "x"}] * 101}, 400, "targets"),
    ("POST", BULK, {}, {"targets": [{"host": "local", "ref": "x"}], "force": True}, 400,
     "force"),
    ("GET", f"{V1}/updates", {"state": "outdated"}, None, 400, "state"),
    ("GET", f"{V1}/updates", {"host": "no-such-host"}, None, 404, None),
    ("GET", f"{V1}/updates/history", {"limit": "0"}, None, 400, "limit"),
    ("GET", f"{V1}/updates/history", {"limit": "501"}, None, 400, "limit"),
    ("GET", f"{V1}/updates/history", {"offset": "-1"}, None, 400, "offset"),
    ("GET", f"{V1}/updates/history", {"host": "no-such-host"}, None, 404, None),
]


async def test_bad_requests_start_nothing(api: TestClient) -> None:
    # One server for every case: each is one request, a server per case would cost seconds.
    for method, url, params, body, status, field in BAD_REQUESTS:
        before = operation_count(api)
        error = await error_of(await api.request(method, url, params=params, json=body),
                               status)
        assert error["code"] == ("not_found" if status == 404 else "invalid_input"), \
            (method, url, params, error)
        if field is not None:
            assert error["details"]["field"] == field, (method, url, params, error)
        assert operation_count(api) == before, (method, url, params)


async def test_roles_and_scopes(api: TestClient, local_engine: Engine) -> None:
    _, mine = await run_container(local_engine)
    _, theirs = await run_container(local_engine)
    await cached(api, "local", mine)
    await cached(api, "local", theirs)
    await check(api, mine, theirs)  # local images: no registry asked
    assert await state_of(api, mine) == "local" and await state_of(api, theirs) == "local"
    before = operation_count(api)

    viewer = await key_for(api, Role.VIEWER)
    for url, body in ((f"{V1}/hosts/local/containers/{mine}/update", None),
                      (CHECK, {"host": "local"}),
                      (BULK, {"targets": [{"host": "local", "ref": mine}]})):
        refused = await error_of(await api.post(url, json=body, headers=viewer), 403)
        assert refused["code"] == "forbidden"
    seen = await ok(await api.get(f"{V1}/updates", headers=viewer))
    assert {mine, theirs} <= {c["key"] for c in seen["items"]}
    await ok(await api.get(f"{V1}/updates/history", headers=viewer))
    assert operation_count(api) == before

    scoped = await key_for(api, Role.OPERATOR, KeyScope(containers=(f"local/{mine}",)))
    for url, body in ((f"{V1}/hosts/local/containers/{theirs}/update", None),
                      (CHECK, {}),
                      (CHECK, {"host": "local"}),
                      (CHECK, {"targets": [{"host": "local", "ref": theirs}]}),
                      (CHECK, {"targets": [{"host": "remote", "ref": theirs}]}),
                      (BULK, {"targets": [{"host": "local", "ref": mine},
                                          {"host": "local", "ref": theirs}]})):
        refused = await error_of(await api.post(url, json=body, headers=scoped), 403)
        assert refused["code"] == "forbidden", (url, body)
    assert operation_count(api) == before
    seen = await ok(await api.get(f"{V1}/updates", headers=scoped))
    assert [c["key"] for c in seen["items"]] == [mine]
    assert (await ok(await api.get(f"{V1}/updates/history", headers=scoped)))["items"] == []
    # Within its scope the key checks.
    done = await ok(await api.post(CHECK, params={"wait": "60"}, headers=scoped,
                                   json={"targets": [{"host": "local", "ref": mine}]}))
    assert done["status"] == "succeeded" and done["result"]["checked"] == "1"
    assert done["result"]["local"] == "1"
