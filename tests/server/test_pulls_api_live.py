"""Live tests of image pulls over the REST API: POST /hosts/{host}/images/pull (202, or 200
with ?wait), following the operation with GET /operations/{id}, the list and its filters, the
SSE ``operation`` topic, cancel (409 once finished), bad input refused with nothing started, and
the roles (a viewer follows operations but cannot pull or cancel).

A real server (daemon mode, both engines) pulls from a local docker-registry on the remote
engine, which does not have the image.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.service import AUTH

from ..http import error_of, ok
from ..live import Engine, docker, unique
from ..registry import TestRegistry, build_random_image
from .test_events_api_live import open_stream

pytestmark = pytest.mark.live

V1 = "/api/v1"
PULL = f"{V1}/hosts/remote/images/pull"


@pytest.fixture(scope="module")
async def image_ref(plain_registry: TestRegistry, local_engine: Engine,
                    remote_engine: Engine) -> AsyncIterator[str]:
    """An image with two random layers on the plain registry (not on the remote engine)."""
    tag = f"ct-pull-src/{unique('api')}:v1"
    await build_random_image(local_engine, tag, layers=2, layer_bytes=300_000)
    repo = f"pulls/{unique('api')}"
    try:
        yield await plain_registry.push(local_engine, tag, repo, "v1")
    finally:
        await docker(local_engine, "rmi", "-f", tag, check=False)
        await docker(remote_engine, "rmi", "-f", plain_registry.ref(repo, "v1"), check=False)


async def key_for(api: TestClient, role: Role) -> dict[str, str]:
    """Headers of an API key of a new account with ``role``."""
    auth = api.app[AUTH]
    user = await auth.users.create(unique(role.value), "a-long-test-password", role)
    secret, _ = await auth.apikeys.create(user.id, name="tests", role_ceiling=role)
    return {"Authorization": f"Bearer {secret}"}


async def operations(api: TestClient, **query: str) -> list[dict[str, Any]]:
    body = await ok(await api.get(f"{V1}/operations", params=query))
    return body["items"]  # type: ignore[no-any-return]


async def test_pull_is_accepted_followed_and_finished(api: TestClient, image_ref: str,
                                                      remote_engine: Engine) -> None:
    sse = await open_stream(api, "?topics=operation")
    started = await ok(await api.post(PULL, json={"image": image_ref}), 202)
    assert (started["status"], started["kind"], started["host"], started["target"]) == (
        "running", "image.pull", "remote", image_ref)
    assert started["actor"].startswith("api_key:")
    op_id = started["id"]

    # The SSE stream carries the Operation JSON, progress included, up to the end.
    _, first = await sse.until(lambda t, d: t == "operation" and d["id"] == op_id,
                               what="the start")
    assert first["status"] == "running"
    _, last = await sse.until(
        lambda t, d: t == "operation" and d["id"] == op_id and d["status"] != "running",
        timeout=120, what="the end of the pull")
    assert last["status"] == "succeeded", last
    assert last["layers"] and all(layer["status"] in ("Pull complete", "Already exists")
                                  for layer in last["layers"])

    got = await ok(await api.get(f"{V1}/operations/{op_id}"))
    assert got == last
    engine_id = await docker(remote_engine, "image", "inspect", "--format", "{{.Id}}",
                             image_ref)
    assert got["result"]["image_id"] == engine_id
    assert got["result"]["updated"] == "true" and got["percent"] == 100.0

    assert op_id in [o["id"] for o in await operations(api, host="remote", kind="image.pull",
                                                       status="succeeded")]
    assert op_id not in [o["id"] for o in await operations(api, status="running")]
    assert op_id not in [o["id"] for o in await operations(api, host="local")]

    refused = await error_of(await api.post(f"{V1}/operations/{op_id}/cancel"), 409)
    assert refused["code"] == "conflict" and "already ended" in refused["message"]
    assert (await ok(await api.get(f"{V1}/operations/{op_id}")))["status"] == "succeeded"

    # Within ?wait the answer is 200 with the finished operation: up to date this time.
    again = await ok(await api.post(PULL, params={"wait": "30"}, json={"image": image_ref}))
    assert again["status"] == "succeeded" and again["result"]["updated"] == "false"


async def test_failed_pull_is_a_finished_operation(api: TestClient, plain_registry: TestRegistry,
                                                   ) -> None:
    ref = plain_registry.ref(unique("pulls/none"), "v1")
    done = await ok(await api.post(PULL, params={"wait": "30"}, json={"image": ref}))
    assert (done["status"], done["error_code"]) == ("failed", "image_not_found")
    assert f"image {ref} not found on registry {plain_registry.host}" in done["error"]


@pytest.mark.parametrize(("url", "params", "body", "status", "field"), [
    (PULL, {}, {}, 400, "image"),
    (PULL, {}, {"image": ""}, 400, "image"),
    (PULL, {}, {"image": 42}, 400, "image"),
    (PULL, {}, {"image": "Not A/Reference!"}, 400, "image"),
    (PULL, {}, {"image": "busybox", "extra": 1}, 400, "extra"),
    (PULL, {"wait": "31"}, {"image": "busybox"}, 400, "wait"),
    (PULL, {"wait": "-1"}, {"image": "busybox"}, 400, "wait"),
    (PULL, {"wait": "soon"}, {"image": "busybox"}, 400, "wait"),
    (f"{V1}/hosts/no-such-host/images/pull", {}, {"image": "busybox"}, 404, None),
])
async def test_bad_pull_requests_start_nothing(api: TestClient, url: str, params: dict[str, str],
                                               body: dict[str, Any], status: int,
                                               field: str | None) -> None:
    before = await operations(api)
    error = await error_of(await api.post(url, params=params, json=body), status)
    if field is not None:
        assert error["details"]["field"] == field, error
    assert await operations(api) == before


async def test_unknown_and_malformed_operation_ids(api: TestClient) -> None:
    assert (await error_of(await api.get(f"{V1}/operations/nope"), 404))["code"] == "not_found"
    await error_of(await api.post(f"{V1}/operations/nope/cancel"), 404)
    await error_of(await api.get(f"{V1}/operations/{'x' * 65}"), 400)
    await error_of(await api.get(f"{V1}/operations", params={"status": "exploded"}), 400)
    await error_of(await api.get(f"{V1}/operations", params={"host": "Not A Slug"}), 400)


async def test_viewer_follows_but_cannot_pull_or_cancel(api: TestClient, image_ref: str) -> None:
    viewer = await key_for(api, Role.VIEWER)
    before = await operations(api)
    refused = await error_of(await api.post(PULL, json={"image": image_ref}, headers=viewer),
                             403)
    assert refused["code"] == "forbidden"
    assert await operations(api) == before
    mine = await ok(await api.post(PULL, params={"wait": "30"}, json={"image": image_ref}))
    listed = await ok(await api.get(f"{V1}/operations", headers=viewer))
    assert mine["id"] in [o["id"] for o in listed["items"]]
    seen = await ok(await api.get(f"{V1}/operations/{mine['id']}", headers=viewer))
    assert seen["status"] == mine["status"]
    await error_of(await api.post(f"{V1}/operations/{mine['id']}/cancel", headers=viewer), 403)
    operator = await key_for(api, Role.OPERATOR)
    await error_of(await api.post(f"{V1}/operations/{mine['id']}/cancel", headers=operator),
                   409)


@pytest.mark.parametrize("which", ["htpasswd_registry", "token_registry"])
async def test_a_stored_registry_login_is_used_for_its_pulls(
        api: TestClient, which: str, request: pytest.FixtureRequest, local_engine: Engine,
        remote_engine: Engine) -> None:
    registry: TestRegistry = request.getfixturevalue(which)
    tag = f"ct-pull-src/{unique('login')}:v1"
    await build_random_image(local_engine, tag, layers=1, layer_bytes=100_000)
    reference = await registry.push(local_engine, tag, f"private/{unique('app')}", "v1")
    try:
        # Without a stored login the registry refuses, and the operation says where to fix it.
        refused = await ok(await api.post(PULL, params={"wait": "30"},
                                          json={"image": reference}))
        assert (refused["status"], refused["error_code"]) == ("failed", "registry_auth_failed")
        assert "Registries" in refused["error"]

        # Stored through the API (the password is never returned), it is used by the pull.
        created = await ok(await api.post(f"{V1}/registries", json={
            "name": unique("reg"), "kind": "generic", "url": registry.url,
            "username": registry.username, "password": registry.password}), 201)
        assert "password" not in created and created["has_password"] is True
        pulled = await ok(await api.post(PULL, params={"wait": "30"},
                                         json={"image": reference}))
        assert pulled["status"] == "succeeded", pulled
        inspected = await docker(remote_engine, "image", "inspect", "-f", "{{.Id}}", reference)
        assert pulled["result"]["image_id"] == inspected
    finally:
        await docker(local_engine, "rmi", "-f", tag, check=False)
        await docker(remote_engine, "rmi", "-f", reference, check=False)
