"""Live tests of GET /api/v1/activity: the audit trail's container actions, filtered and paged.

Container actions are done through the API on real containers of both engines; the feed must
list them (and nothing but container actions) with who did them and how they ended.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_core.store.db import Database
from chrontainer_server.api.context import CORE
from chrontainer_server.auth.apikeys import ApiKeyStore, KeyScope
from chrontainer_server.auth.passwords import Passwords
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.users import UserRepository

from ..accounts import ADMIN, bearer
from ..live import Engine, run_container

pytestmark = pytest.mark.live

V1 = "/api/v1"


async def key_of(client: TestClient, role: Role, scope: KeyScope | None = None) -> dict[str, str]:
    """Headers of a new API key of the test admin with ceiling ``role`` (and a scope)."""
    db = Database(client.app[CORE].config.database_url)
    try:
        user = (await UserRepository(db, Passwords()).find(ADMIN))[0]
        secret, _ = await ApiKeyStore(db).create(user.id, name=f"{role}-key", role_ceiling=role,
                                                 scope=scope)
        return bearer(secret)
    finally:
        await db.close()


async def activity(client: TestClient, status: int = 200, headers: dict[str, str] | None = None,
                   **params: Any) -> dict[str, Any]:
    resp = await client.get(f"{V1}/activity", params=params, headers=headers)
    body = await resp.json()
    assert resp.status == status, body
    return body


async def act(client: TestClient, host: str, ref: str, action: str, status: int = 200) -> None:
    resp = await client.post(f"{V1}/hosts/{host}/containers/{ref}/{action}")
    assert resp.status == status, await resp.text()


async def test_lists_container_actions_with_actor_and_result(
    api: TestClient, local_engine: Engine, remote_engine: Engine
) -> None:
    _, running = await run_container(local_engine)
    _, stopped = await run_container(remote_engine, start=False)
    await act(api, "local", running, "restart")
    await act(api, "remote", stopped, "pause", status=409)  # refused: audited as an error
    # Not a container action: the feed leaves it out.
    resp = await api.post(f"{V1}/tags", json={"name": "feed-test", "colour": "#123456"})
    assert resp.status == 201, await resp.text()

    body = await activity(api)
    actions = [(e["action"], e["target"], e["result"]) for e in body["items"]]
    assert ("container.restart", f"local/{running}", "ok") in actions
    assert ("container.pause", f"remote/{stopped}", "error") in actions
    assert all(e["action"].startswith("container.") for e in body["items"]), actions
    assert body["total"] == len(body["items"])
    restart = next(e for e in body["items"] if e["action"] == "container.restart")
    assert restart["actor_kind"] == "api_key" and restart["actor_name"] == f"{ADMIN}/tests"
    assert restart["error"] is None and restart["time"].endswith("Z")
    assert set(restart) == {"time", "actor_kind", "actor_id", "actor_name", "action", "target",
                            "result", "error"}
    paused = next(e for e in body["items"] if e["action"] == "container.pause")
    assert paused["error"], paused
    # Newest first.
    assert [e["time"] for e in body["items"]] == sorted((e["time"] for e in body["items"]),
                                                        reverse=True)


async def test_filters_and_paging(api: TestClient, local_engine: Engine,
                                  remote_engine: Engine) -> None:
    _, local_name = await run_container(local_engine)
    _, remote_name = await run_container(remote_engine)
    _, stopped = await run_container(remote_engine, start=False)
    for action in ("stop", "start", "restart"):
        await act(api, "local", local_name, action)
    await act(api, "remote", remote_name, "restart")
    await act(api, "remote", stopped, "kill", status=409)  # not running: an error

    local = await activity(api, host="local")
    assert local["total"] == 3
    assert {e["target"] for e in local["items"]} == {f"local/{local_name}"}
    remote = await activity(api, host="remote")
    assert remote["total"] == 2
    errors = await activity(api, result="error")
    assert [(e["action"], e["target"]) for e in errors["items"]] == [
        ("container.kill", f"remote/{stopped}")]
    ok = await activity(api, host="remote", result="ok")
    assert [e["action"] for e in ok["items"]] == ["container.restart"]
    assert (await activity(api, actor_kind="schedule"))["total"] == 0
    assert (await activity(api, actor_kind="api_key"))["total"] == 5
    assert (await activity(api, host="nowhere"))["items"] == []

    first = await activity(api, limit=2)
    second = await activity(api, limit=2, offset=2)
    third = await activity(api, limit=2, offset=4)
    assert first["total"] == second["total"] == third["total"] == 5
    assert [len(p["items"]) for p in (first, second, third)] == [2, 2, 1]
    pages = [e["action"] + e["target"] + e["time"]
             for p in (first, second, third) for e in p["items"]]
    assert len(set(pages)) == 5  # no entry twice, none missing


async def test_viewer_may_read_and_bad_input_is_refused(api: TestClient,
                                                        local_engine: Engine) -> None:
    _, name = await run_container(local_engine)
    await act(api, "local", name, "restart")
    viewer = await key_of(api, Role.VIEWER)
    seen = await activity(api, headers=viewer, host="local")
    assert [e["target"] for e in seen["items"]] == [f"local/{name}"]

    for params, field in (({"limit": "0"}, "limit"), ({"limit": "501"}, "limit"),
                          ({"offset": "-1"}, "offset"), ({"limit": "x"}, "limit"),
                          ({"host": "Not A Slug"}, "host"), ({"result": "maybe"}, "result"),
                          ({"actor_kind": "robot"}, "actor_kind")):
        body = await activity(api, 400, **params)
        assert body["error"]["details"]["field"] == field, (params, body)


async def test_a_scoped_key_sees_only_whole_hosts_of_its_scope(
    api: TestClient, local_engine: Engine, remote_engine: Engine
) -> None:
    _, local_name = await run_container(local_engine)
    _, remote_name = await run_container(remote_engine)
    await act(api, "local", local_name, "restart")
    await act(api, "remote", remote_name, "restart")
    host_key = await key_of(api, Role.VIEWER, KeyScope(hosts=("remote",)))
    seen = await activity(api, headers=host_key, host="remote")
    assert [e["target"] for e in seen["items"]] == [f"remote/{remote_name}"]
    # Another host, or no host named, would show containers outside the scope.
    for params in ({"host": "local"}, {}):
        body = await activity(api, 403, headers=host_key, **params)
        assert body["error"]["details"]["field"] == "host"
    container_key = await key_of(api, Role.VIEWER, KeyScope(containers=(f"local/{local_name}",)))
    await activity(api, 403, headers=container_key, host="local")
