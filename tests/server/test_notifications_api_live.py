"""/api/v1/notifications over HTTP on a live server: the event registry, channel CRUD that never
returns a secret, "send test" reporting the real outcome (a receiver's status, a dead port's
error), the routing matrix round trip, bad input (400 with details.field), roles (admins only)
and the delivery log with each delivery's attempts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_core.notify.models import (
    EVENTS,
    Notification,
    NotificationEvent,
    NtfyConfig,
    Severity,
)
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.service import AUTH

from ..accounts import bearer
from ..http import core_of, error_of, ok
from ..live import unique
from ..notify_receivers import HttpReceiver, free_port

pytestmark = pytest.mark.live

V1 = "/api/v1"
N = f"{V1}/notifications"
TOKEN = "tk_secret-5d4c3b2a19"
T = TypeVar("T")


async def key_for(api: TestClient, role: Role) -> dict[str, str]:
    """Headers of an API key of a new account with ``role``."""
    auth = api.app[AUTH]
    user = await auth.users.create(unique(role.value), "a-long-test-password", role)
    secret, _ = await auth.apikeys.create(user.id, name="tests", role_ceiling=role)
    return bearer(secret)


def ntfy(**config: Any) -> dict[str, Any]:
    return {"name": "phone", "kind": "ntfy",
            "config": {"topic": "chrontainer", "server": "https://ntfy.example",
                       "priority": 4, "tags": ["whale"], "token": TOKEN, **config}}


def webhook(rx_url: str, name: str = "hook") -> dict[str, Any]:
    return {"name": name, "kind": "webhook", "config": {"url": f"{rx_url}/hook/{TOKEN}"}}


async def until(read: Callable[[], Awaitable[T]], check: Callable[[T], bool], what: str,
                timeout: float = 10.0) -> T:
    """Read a state until ``check`` accepts it (polling; never a fixed wait)."""
    try:
        async with asyncio.timeout(timeout):
            while not check(value := await read()):  # noqa: ASYNC110 - a database state
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None
    return value


async def create(api: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    return await ok(await api.post(f"{N}/channels", json=body), 201)  # type: ignore[no-any-return]


async def test_the_event_registry(api: TestClient) -> None:
    body = await ok(await api.get(f"{N}/events"))
    assert body["total"] == len(EVENTS) == len(body["items"])
    died = next(item for item in body["items"] if item["event"] == "container.died")
    info = EVENTS[NotificationEvent.CONTAINER_DIED]
    assert died == {"event": "container.died", "label": info.label, "severity": "error",
                    "description": info.description}


async def test_channel_crud_never_returns_a_secret(api: TestClient) -> None:
    created = await create(api, ntfy())
    assert created["name"] == "phone" and created["kind"] == "ntfy" and created["enabled"]
    assert created["secrets_error"] is None and created["created_at"].endswith("Z")
    assert created["config"] == {"topic": "chrontainer", "server": "https://ntfy.example",
                                 "priority": 4, "tags": ["whale"], "secrets_set": ["token"]}
    cid = created["id"]
    texts = [await (await api.get(f"{N}/channels")).text(),
             await (await api.get(f"{N}/channels/{cid}")).text()]
    assert json.loads(texts[0]) == {"items": [created], "total": 1}
    assert json.loads(texts[1]) == created

    # Editing the settings without the token keeps it.
    edited = await ok(await api.patch(f"{N}/channels/{cid}", json={
        "name": "my phone", "kind": "ntfy", "enabled": False,
        "config": {"topic": "other", "server": "https://ntfy.example"}}))
    texts.append(json.dumps(edited))
    assert (edited["name"], edited["enabled"]) == ("my phone", False)
    assert edited["config"]["topic"] == "other" and edited["config"]["secrets_set"] == ["token"]
    stored = await core_of(api).notifications.channel(cid)  # type: ignore[union-attr]
    assert stored.config == NtfyConfig(topic="other", server="https://ntfy.example",
                                       token=TOKEN)
    # An empty string clears an optional secret.
    cleared = await ok(await api.patch(f"{N}/channels/{cid}", json={
        "config": {"topic": "other", "token": ""}}))
    assert cleared["config"]["secrets_set"] == []
    assert all(TOKEN not in text for text in texts)

    error = await error_of(await api.patch(f"{N}/channels/{cid}", json={"kind": "gotify"}), 400)
    assert error["details"]["field"] == "kind"
    await ok(await api.delete(f"{N}/channels/{cid}"), 204)
    assert (await error_of(await api.get(f"{N}/channels/{cid}"), 404))["code"] == "not_found"
    await error_of(await api.delete(f"{N}/channels/{cid}"), 404)
    await error_of(await api.patch(f"{N}/channels/{cid}", json={"name": "x"}), 404)


async def test_send_test_reports_the_real_outcome(api: TestClient) -> None:
    async with HttpReceiver() as rx:
        channel = await create(api, webhook(rx.url))
        result = await ok(await api.post(f"{N}/channels/{channel['id']}/test"))
        assert result["ok"] is True and result["status"] == 204
        [request] = await rx.wait_for(1)
        assert request.path == f"/hook/{TOKEN}"
        assert request.json["title"] == "Chrontainer test notification"

        rx.respond(500, "receiver broke")
        result = await ok(await api.post(f"{N}/channels/{channel['id']}/test"))
        assert result["ok"] is False and result["status"] == 500 and "500" in result["detail"]
        assert TOKEN not in json.dumps(result)

    dead = await create(api, webhook(f"http://127.0.0.1:{free_port()}", name="dead"))
    result = await ok(await api.post(f"{N}/channels/{dead['id']}/test"))
    assert result["ok"] is False and result["status"] is None and result["detail"]
    assert TOKEN not in result["detail"]
    await error_of(await api.post(f"{N}/channels/999999/test"), 404)

    entries, _ = await core_of(api).audit.list(action="notification.channel.test")
    assert [(e.target, e.result) for e in entries] == [
        (f"channel/{dead['id']}", "error"), (f"channel/{channel['id']}", "error"),
        (f"channel/{channel['id']}", "ok")]


async def test_routes_round_trip(api: TestClient) -> None:
    empty = await ok(await api.get(f"{N}/routes"))
    assert empty == {"routes": {event.value: [] for event in NotificationEvent}}
    a = (await create(api, ntfy()))["id"]
    b = (await create(api, ntfy(topic="second")))["id"]
    matrix = {"container.died": [b, a, a], "host.offline": [a]}
    saved = await ok(await api.put(f"{N}/routes", json={"routes": matrix}))
    expected = {**empty["routes"], "container.died": sorted([a, b]), "host.offline": [a]}
    assert saved == {"routes": expected}
    assert await ok(await api.get(f"{N}/routes")) == saved
    # Deleting a channel takes it out of the matrix.
    await ok(await api.delete(f"{N}/channels/{a}"), 204)
    after = await ok(await api.get(f"{N}/routes"))
    assert after["routes"]["container.died"] == [b] and after["routes"]["host.offline"] == []
    # PUT replaces the whole matrix.
    assert (await ok(await api.put(f"{N}/routes", json={"routes": {}})))["routes"] == \
        empty["routes"]


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "/channels", {"name": "x", "kind": "ntfy"}, "config"),
    ("POST", "/channels", {"name": "x", "kind": "slack", "config": {}}, "kind"),
    ("POST", "/channels", {"name": "", "kind": "ntfy", "config": {"topic": "t"}}, "name"),
    ("POST", "/channels", {"name": "   ", "kind": "ntfy", "config": {"topic": "t"}}, "name"),
    ("POST", "/channels", {"name": "x", "kind": "ntfy", "config": {}}, "config.topic"),
    ("POST", "/channels", {"name": "x", "kind": "ntfy", "config": {"topic": "t", "x": 1}},
     "config.x"),
    ("POST", "/channels", {"name": "x", "kind": "gotify",
                           "config": {"server": "https://g.example"}}, "config.token"),
    ("POST", "/channels", {"name": "x", "kind": "ntfy", "config": "topic"}, "config"),
    ("POST", "/channels", {"name": "x", "kind": "ntfy", "enabled": "yes",
                           "config": {"topic": "t"}}, "enabled"),
    ("PATCH", "/channels/1", {}, None),
    ("PATCH", "/channels/abc", {"name": "x"}, "id"),
    ("PUT", "/routes", {"routes": {"container.died": [999999]}}, "routes.container.died"),
    ("PUT", "/routes", {"routes": {"nope": []}}, "routes.nope"),
    ("PUT", "/routes", {"routes": {"container.died": ["1"]}}, "routes.container.died[0]"),
    ("PUT", "/routes", {}, "routes"),
    ("GET", "/deliveries?status=lost", None, "status"),
    ("GET", "/deliveries?limit=0", None, "limit"),
    ("GET", "/deliveries?channel=x", None, "channel"),
    ("GET", "/deliveries/0", None, "id"),
])
async def test_bad_input_is_refused_with_the_field(api: TestClient, method: str, path: str,
                                                   body: Any, field: str | None) -> None:
    if method == "PATCH":
        await create(api, ntfy())  # channel 1 exists: the refusal is about the body
    error = await error_of(await api.request(method, N + path, json=body), 400)
    assert error["code"] == "invalid_input"
    assert error["details"].get("field") == field
    assert (await ok(await api.get(f"{N}/channels")))["total"] == (1 if method == "PATCH" else 0)


async def test_only_admins_reach_notifications(api: TestClient) -> None:
    channel = await create(api, ntfy())
    calls = [("GET", "/events", None), ("GET", "/channels", None),
             ("POST", "/channels", ntfy()), ("GET", f"/channels/{channel['id']}", None),
             ("PATCH", f"/channels/{channel['id']}", {"name": "x"}),
             ("DELETE", f"/channels/{channel['id']}", None),
             ("POST", f"/channels/{channel['id']}/test", None), ("GET", "/routes", None),
             ("PUT", "/routes", {"routes": {}}), ("GET", "/deliveries", None),
             ("GET", "/deliveries/1", None)]
    for role in (Role.VIEWER, Role.OPERATOR):
        headers = await key_for(api, role)
        for method, path, body in calls:
            resp = await api.request(method, N + path, json=body, headers=headers)
            assert (await error_of(resp, 403))["code"] == "forbidden", (role, method, path)
    assert await ok(await api.get(f"{N}/channels/{channel['id']}")) == channel  # unchanged


async def test_the_delivery_log_shows_each_attempt(api: TestClient) -> None:
    notifications = core_of(api).notifications
    assert notifications is not None
    async with HttpReceiver() as rx:
        rx.respond(500, "not now")
        channel = await create(api, webhook(rx.url, name="flaky hook"))
        await ok(await api.put(f"{N}/routes", json={"routes": {"container.died": [channel["id"]]}}))
        n = Notification(event=NotificationEvent.CONTAINER_DIED, title="local/web died",
                         message="exit code 3", severity=Severity.ERROR,
                         time=datetime.now(UTC), subject="local/web")
        assert await notifications.emit(n) == 1
        await rx.wait_for(1)

        await until(lambda: notifications.deliveries(10),
                    lambda page: bool(page[0]) and page[0][0].attempts == 1,
                    "the first attempt recorded")

    page = await ok(await api.get(f"{N}/deliveries"))
    assert page["total"] == 1
    [item] = page["items"]
    assert item["channel_id"] == channel["id"] and item["channel_name"] == "flaky hook"
    assert (item["event"], item["subject"], item["title"]) == (
        "container.died", "local/web", "local/web died")
    assert (item["status"], item["attempts"], item["suppressed"]) == ("pending", 1, 0)
    assert "500" in item["last_error"] and item["next_attempt_at"].endswith("Z")
    filtered = f"{N}/deliveries?status=pending&channel={channel['id']}&limit=5&offset=0"
    assert (await ok(await api.get(filtered)))["items"] == [item]
    assert (await ok(await api.get(f"{N}/deliveries?status=sent")))["total"] == 0
    assert (await ok(await api.get(f"{N}/deliveries?offset=1")))["items"] == []

    detail = await ok(await api.get(f"{N}/deliveries/{item['id']}"))
    assert detail["delivery"] == item
    [attempt] = detail["attempts"]
    assert (attempt["ok"], attempt["status"], attempt["delivery_id"]) == (False, 500, item["id"])
    assert "500" in attempt["detail"] and attempt["duration_ms"] >= 0
    assert attempt["at"].endswith("Z")
    await error_of(await api.get(f"{N}/deliveries/999999"), 404)
