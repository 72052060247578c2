"""Webhooks over HTTP, against the real engines: a locked webhook restarts a real container when
its URL is called (no credentials needed, a session cookie without CSRF token does not get in
the way), locked webhooks refuse other targets, the CIDR allowlist, the rate limit, GET only
when allowed, disabled webhooks, unknown and regenerated tokens, roles (unlocked webhooks are
for admins), bad input, and no token in any log line or listing."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from chrontainer_core.config import Config
from chrontainer_core.scheduling.webhooks import hash_token
from chrontainer_server.accesslog import RedactingAccessLogger
from chrontainer_server.api.context import CORE
from chrontainer_server.app import create_app
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.service import AUTH
from chrontainer_server.auth.sessions import COOKIE_NAME

from ..accounts import admin_api_key, bearer
from ..http import core_of, error_of, ok
from ..live import Engine, docker, run_container, unique, wait_for, wait_synced

pytestmark = pytest.mark.live

V1 = "/api/v1"
# Ends on SIGTERM (a bare sleep as PID 1 ignores it: every restart would wait the kill timeout).
SLEEPER = "trap 'exit 0' TERM; while true; do sleep 1; done"


@pytest.fixture
async def api(clean_engines: None, daemon_config: Config) -> AsyncIterator[TestClient]:
    """A real HTTP server with the access logger ``serve`` uses, and an admin API-key client."""
    app = create_app(daemon_config)
    headers = bearer(await admin_api_key(daemon_config.database_url))
    server = TestServer(app)
    # Started here: TestServer drops runner options given to its constructor.
    await server.start_server(access_log_class=RedactingAccessLogger)
    async with TestClient(server, headers=headers) as client:
        await wait_synced(app[CORE])
        yield client





async def key_for(api: TestClient, role: Role) -> dict[str, str]:
    """Headers of an API key of a new account with ``role``."""
    auth = api.app[AUTH]
    user = await auth.users.create(unique(role.value), "a-long-test-password", role)
    secret, _ = await auth.apikeys.create(user.id, name="tests", role_ceiling=role)
    return bearer(secret)


async def container(api: TestClient, engine: Engine) -> str:
    """A running test container on ``engine``, in the cache; returns its name (= its key)."""
    _, name = await run_container(engine, "sh", "-c", SLEEPER, name=unique("hook"))
    await wait_for(lambda: any(c.name == name
                               for c in core_of(api).hosts.get(engine.slug).containers()),
                   what=f"{engine.slug}/{name} in the cache")
    return name


async def started_at(engine: Engine, name: str) -> str:
    return await docker(engine, "inspect", "-f", "{{.State.StartedAt}}", name)


def locked(engine: Engine, key: str, action: str = "restart", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": f"deploy {key}", "action": action,
                            "target": {"kind": "container", "host": engine.slug, "key": key}}
    body.update(changes)
    return body


async def create(api: TestClient, body: dict[str, Any],
                 headers: dict[str, str] | None = None) -> tuple[dict[str, Any], str]:
    created = await ok(await api.post(f"{V1}/webhooks", json=body, headers=headers or {}), 201)
    assert created["url_path"] == f"{V1}/webhooks/trigger/{created['token']}"
    return created["webhook"], created["token"]


async def call(api: TestClient, token: str, *, method: str = "POST", wait: int | None = None,
               **kwargs: Any) -> aiohttp.ClientResponse:
    """Call a webhook URL like an outside sender: no API key, no cookie, unless given."""
    params = {"wait": str(wait)} if wait is not None else {}
    async with aiohttp.ClientSession() as anonymous:
        resp = await anonymous.request(method, api.make_url(f"{V1}/webhooks/trigger/{token}"),
                                       params=params, **kwargs)
        await resp.read()
        return resp


async def json_of(resp: aiohttp.ClientResponse, status: int) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json()


# -------------------------------------------------------------------------------------------------


async def test_a_locked_webhook_restarts_a_real_container_and_keeps_its_token_secret(
        api: TestClient, local_engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, every level: the token must be in none
    web = await container(api, local_engine)
    bystander = await container(api, local_engine)
    hook, token = await create(api, locked(local_engine, web))
    assert hook["locked"] and hook["enabled"] and hook["token_prefix"] == token[:8]
    assert (hook["trigger_count"], hook["last_triggered_at"]) == (0, None)
    assert hook["target"] == {"kind": "container", "host": local_engine.slug, "key": web,
                              "label": None, "image": None}
    # Shown once: no listing or read shows it again, and the database holds only its hash.
    for path in ("/webhooks", f"/webhooks/{hook['id']}"):
        resp = await api.get(V1 + path)
        assert resp.status == 200 and token not in await resp.text()
    core = core_of(api)
    assert core.db is not None
    async with core.db.session() as session:
        rows = (await session.execute(text("SELECT * FROM webhooks"))).all()
    stored = " ".join(str(v) for row in rows for v in row)
    assert token not in stored and hash_token(token) in stored

    before, other_before = await started_at(local_engine, web), await started_at(
        local_engine, bystander)
    # Another target in the body: refused, naming the bound one, and nothing restarts.
    err = await json_of(await call(api, token, wait=10, json={
        "action": "restart",
        "target": {"kind": "container", "host": local_engine.slug, "key": bystander}}), 403)
    assert f"locked to restart on container {web} on {local_engine.slug}" in err["error"][
        "message"]
    err = await json_of(await call(api, token, json={"action": "stop"}), 403)
    assert err["error"]["code"] == "permission_denied"

    # A real call: no credentials; extra payload keys (a registry's push event) are ignored.
    run = await json_of(await call(api, token, wait=10,
                                   json={"push_data": {"tag": "latest"}, "action": "restart"}),
                        200)
    assert (run["result"], run["trigger"], run["webhook_id"], run["schedule_id"]) == (
        "ok", "webhook", hook["id"], None)
    assert (run["action"], run["target"], run["detail"]) == (
        "restart", f"container {web} on {local_engine.slug}", f"restarted {web}")
    assert await started_at(local_engine, web) != before
    assert await started_at(local_engine, bystander) == other_before

    runs = await ok(await api.get(f"{V1}/webhooks/{hook['id']}/runs"))
    assert runs["total"] == 1 and runs["items"][0]["id"] == run["id"]
    assert (await ok(await api.get(f"{V1}/runs/{run['id']}")))["result"] == "ok"
    after = await ok(await api.get(f"{V1}/webhooks/{hook['id']}"))
    assert after["trigger_count"] == 1 and after["last_triggered_at"] is not None
    audit = await ok(await api.get(f"{V1}/audit", params={"actor_kind": "webhook"}))
    [entry] = audit["items"]
    assert (entry["action"], entry["target"], entry["result"]) == (
        "container.restart", f"{local_engine.slug}/{web}", "ok")
    assert (entry["actor"]["id"], entry["actor"]["name"]) == (str(hook["id"]), hook["name"])
    assert entry["actor"]["source_ip"] == "127.0.0.1"
    changes = await ok(await api.get(f"{V1}/audit", params={"action": "webhook.create"}))
    assert changes["items"][0]["target"] == f"webhook/{hook['id']}"

    # A browser's session cookie, without the CSRF header, neither blocks nor changes the call.
    auth = api.app[AUTH]
    found = await auth.users.find("admin")
    assert found is not None
    cookie, _ = await auth.sessions.create(found[0].id)
    run2 = await json_of(await call(api, token, headers={"Cookie": f"{COOKIE_NAME}={cookie}"}),
                         202)
    assert run2["result"] == "running"
    await wait_for(lambda: core.runs is not None and core.runs.running == 0,
                   what="the second run ended", timeout=30)
    audit = await ok(await api.get(f"{V1}/audit", params={"actor_kind": "webhook"}))
    assert audit["total"] == 2  # acted as the webhook, not as the cookie's user

    logged = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert "aiohttp.access" in logged and "/webhooks/trigger/<redacted>" in logged
    assert token not in logged and token not in caplog.text


async def test_refusals_cidr_rate_limit_get_disabled_unknown_and_regenerated(
        api: TestClient, local_engine: Engine) -> None:
    web = await container(api, local_engine)
    # "start" on a running container changes nothing: these calls test the gate, not Docker.
    fenced, fenced_token = await create(api, locked(local_engine, web, "start",
                                                    allowed_cidrs=["10.9.9.0/24"]))
    assert fenced["allowed_cidrs"] == ["10.9.9.0/24"]
    err = await json_of(await call(api, fenced_token), 403)
    assert "127.0.0.1 is not allowed" in err["error"]["message"]
    await ok(await api.patch(f"{V1}/webhooks/{fenced['id']}",
                             json={"allowed_cidrs": ["10.9.9.0/24", "127.0.0.0/8"]}))
    await json_of(await call(api, fenced_token, wait=10), 200)

    once, once_token = await create(api, locked(local_engine, web, "start",
                                                rate_limit_per_minute=1))
    await json_of(await call(api, once_token, wait=10), 200)
    resp = await call(api, once_token)
    err = await json_of(resp, 429)
    assert err["error"]["code"] == "rate_limited"
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    assert (await ok(await api.get(f"{V1}/webhooks/{once['id']}")))["trigger_count"] == 1

    hook, token = await create(api, locked(local_engine, web, "start"))
    err = await json_of(await call(api, token, method="GET"), 405)
    assert err["error"]["code"] == "method_not_allowed"
    await ok(await api.patch(f"{V1}/webhooks/{hook['id']}", json={"allow_get": True}))
    run = await json_of(await call(api, token, method="GET", wait=10), 200)
    assert (run["result"], run["detail"]) == ("ok", f"{web} was already started")

    await ok(await api.patch(f"{V1}/webhooks/{hook['id']}", json={"enabled": False}))
    assert "disabled" in (await json_of(await call(api, token), 403))["error"]["message"]
    await ok(await api.patch(f"{V1}/webhooks/{hook['id']}", json={"enabled": True}))

    for junk in ("nope", "x" * 500, token[:-1]):
        err = await json_of(await call(api, junk), 404)
        assert err["error"]["code"] == "not_found"

    renewed = await ok(await api.post(f"{V1}/webhooks/{hook['id']}/regenerate"))
    new_token = renewed["token"]
    assert new_token != token and renewed["webhook"]["token_prefix"] == new_token[:8]
    await json_of(await call(api, token), 404)
    await json_of(await call(api, new_token, wait=10), 200)
    await ok(await api.delete(f"{V1}/webhooks/{hook['id']}"), 204)
    await json_of(await call(api, new_token), 404)
    await error_of(await api.get(f"{V1}/webhooks/{hook['id']}"), 404)


async def test_unlocked_webhooks_are_for_admins_and_take_the_target_from_the_body(
        api: TestClient, local_engine: Engine, remote_engine: Engine) -> None:
    operator, viewer = await key_for(api, Role.OPERATOR), await key_for(api, Role.VIEWER)
    web = await container(api, local_engine)
    far = await container(api, remote_engine)

    err = await error_of(await api.post(f"{V1}/webhooks", json={"name": "any", "locked": False},
                                        headers=operator), 403)
    assert err["code"] == "forbidden"
    await error_of(await api.post(f"{V1}/webhooks", json=locked(local_engine, web),
                                  headers=viewer), 403)
    assert (await ok(await api.get(f"{V1}/webhooks", headers=viewer)))["total"] == 0

    # Operators manage locked webhooks...
    mine, _ = await create(api, locked(local_engine, web, "start"), headers=operator)
    await ok(await api.patch(f"{V1}/webhooks/{mine['id']}", json={"name": "renamed"},
                             headers=operator))
    await ok(await api.post(f"{V1}/webhooks/{mine['id']}/regenerate", headers=operator))
    # ...but may not unlock one, nor touch an unlocked one.
    await error_of(await api.patch(f"{V1}/webhooks/{mine['id']}", json={"locked": False},
                                   headers=operator), 403)
    anything, token = await create(api, {"name": "anything", "locked": False})
    assert (anything["action"], anything["target"]) == (None, None)
    for method, path, body in (("PATCH", "", {"name": "mine now"}), ("POST", "/regenerate", None),
                               ("DELETE", "", None)):
        await error_of(await api.request(method, f"{V1}/webhooks/{anything['id']}{path}",
                                         json=body, headers=operator), 403)
    assert (await ok(await api.get(f"{V1}/webhooks/{anything['id']}")))["name"] == "anything"
    listed = await ok(await api.get(f"{V1}/webhooks", headers=viewer))
    assert {w["id"] for w in listed["items"]} == {mine["id"], anything["id"]}

    # An unlocked webhook needs both in the body, and acts on what the body names.
    err = (await json_of(await call(api, token, json={"action": "stop"}), 400))["error"]
    assert err["details"]["field"] == "target"
    err = (await json_of(await call(api, token, json={
        "action": "prune_images", "target": {"kind": "container", "host": remote_engine.slug,
                                             "key": far}}), 400))["error"]
    assert err["details"]["field"] == "action"
    run = await json_of(await call(api, token, wait=10, json={
        "action": "stop", "target": {"kind": "container", "host": remote_engine.slug,
                                     "key": far}}), 200)
    assert (run["result"], run["detail"]) == ("ok", f"stopped {far}")
    assert await docker(remote_engine, "inspect", "-f", "{{.State.Running}}", far) == "false"
    assert await docker(local_engine, "inspect", "-f", "{{.State.Running}}", web) == "true"

    # An admin may lock it again (binding it) or delete it.
    relocked = await ok(await api.patch(f"{V1}/webhooks/{anything['id']}", json={
        "locked": True, "action": "start",
        "target": {"kind": "container", "host": remote_engine.slug, "key": far}}))
    assert relocked["locked"] and relocked["action"] == "start"
    await ok(await api.delete(f"{V1}/webhooks/{anything['id']}"), 204)


async def test_bad_input_is_refused_and_creates_nothing(
        api: TestClient, local_engine: Engine) -> None:
    web = await container(api, local_engine)
    host = {"kind": "host", "host": local_engine.slug}
    cases: list[tuple[dict[str, Any], str]] = [
        (locked(local_engine, web, target={"kind": "container", "host": "nowhere", "key": web}),
         "target.host"),
        (locked(local_engine, web, "prune_images"), "action"),
        (locked(local_engine, web, "pause", target=host), "action"),
        (locked(local_engine, web, allowed_cidrs=["10.0.0.0/33"]), "allowed_cidrs[0]"),
        (locked(local_engine, web, rate_limit_per_minute=0), "rate_limit_per_minute"),
        (locked(local_engine, web, rate_limit_per_minute=601), "rate_limit_per_minute"),
        ({"name": "no target", "action": "restart"}, "target"),
        ({"name": "no action", "target": host}, "action"),
        (locked(local_engine, web, name=""), "name"),
        (locked(local_engine, web, target={"kind": "container", "host": local_engine.slug}),
         "target.key"),
        (locked(local_engine, web, surprise=True), "surprise"),
        ({"name": "unlocked but bound", "locked": False, "action": "restart"}, "action"),
    ]
    for body, field in cases:
        err = await error_of(await api.post(f"{V1}/webhooks", json=body), 400)
        assert err["details"]["field"] == field, (body, err)
    assert (await ok(await api.get(f"{V1}/webhooks")))["total"] == 0
    audit = await ok(await api.get(f"{V1}/audit", params={"action": "webhook.create"}))
    assert audit["total"] >= 1 and all(e["result"] == "error" for e in audit["items"])

    hook, _ = await create(api, locked(local_engine, web))
    for body, field in (({}, None), ({"allowed_cidrs": ["::/200"]}, "allowed_cidrs[0]"),
                        ({"action": "prune_images"}, "action"), ({"locked": "yes"}, "locked")):
        err = await error_of(await api.patch(f"{V1}/webhooks/{hook['id']}", json=body), 400)
        assert err["details"].get("field") == field, (body, err)
    assert await ok(await api.get(f"{V1}/webhooks/{hook['id']}")) == hook
    await error_of(await api.patch(f"{V1}/webhooks/999999", json={"name": "x"}), 404)
    await error_of(await api.get(f"{V1}/webhooks/999999/runs"), 404)
