"""GET/PATCH /api/v1/settings over a real HTTP server."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from chrontainer_core.settings import AUDIT_ACTION
from chrontainer_server.api.context import CORE
from chrontainer_server.app import create_app

from ..accounts import admin_api_key, bearer
from ..http import error_of

pytestmark = pytest.mark.live

URL = "/api/v1/settings"



@pytest.fixture
async def pinned(clean_engines: None, daemon_config) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    """A server whose config file sets ``audit_retention_days`` (so it is read-only)."""
    config = dataclasses.replace(daemon_config, settings={"audit_retention_days": 30})
    headers = bearer(await admin_api_key(config.database_url))
    async with TestClient(TestServer(create_app(config)), headers=headers) as client:
        yield client


async def test_get_and_patch(api: TestClient) -> None:
    body = await (await api.get(URL)).json()
    assert body["values"] == {
        "instance_name": "Chrontainer", "session_idle_timeout_minutes": 720,
        "require_2fa": False, "audit_retention_days": 90, "metrics_retention_days": 7,
        "events_keep": 10_000, "default_timezone": "UTC", "run_history_days": 30,
        "schedules_paused": False, "notify_throttle_minutes": 10, "restart_loop_count": 5,
        "restart_loop_minutes": 10, "update_check_cron": "0 4 * * *", "update_grace_seconds": 15,
        "volume_restore_max_mb": 2048, "volume_restore_max_expanded_mb": 8192,
    }
    assert body["read_only"] == []
    props = body["schema"]["properties"]
    assert props["metrics_retention_days"]["enum"] == [1, 7, 30, 90]
    assert props["session_idle_timeout_minutes"]["minimum"] == 5
    assert body["schema"]["additionalProperties"] is False

    resp = await api.patch(URL, json={"instance_name": "Lab", "metrics_retention_days": 30})
    assert resp.status == 200, await resp.text()
    values = (await resp.json())["values"]
    assert values["instance_name"] == "Lab" and values["metrics_retention_days"] == 30
    assert (await (await api.get(URL)).json())["values"]["instance_name"] == "Lab"

    entries, total = await api.app[CORE].audit.list(action=AUDIT_ACTION)
    assert total == 2
    assert {e.target for e in entries} == {"instance_name", "metrics_retention_days"}


async def test_patch_errors(api: TestClient) -> None:
    err = await error_of(await api.patch(URL, json={"colour": "blue"}), 400)
    assert err["code"] == "invalid_input" and err["details"]["field"] == "colour"
    err = await error_of(await api.patch(URL, json={"audit_retention_days": 0}), 400)
    assert err["details"]["field"] == "audit_retention_days"
    err = await error_of(await api.patch(URL, json={"metrics_retention_days": 14}), 400)
    assert err["details"]["field"] == "metrics_retention_days"
    err = await error_of(await api.patch(URL, json={"update_check_cron": "0 25 * * *"}), 400)
    assert err["details"]["field"] == "update_check_cron"
    err = await error_of(await api.patch(URL, json={"require_2fa": "yes"}), 400)
    assert err["details"]["field"] == "require_2fa"
    await error_of(await api.patch(URL, json={}), 400)
    # Nothing was changed by the refused requests.
    assert (await (await api.get(URL)).json())["values"]["audit_retention_days"] == 90


async def test_read_only_key(pinned: TestClient) -> None:
    body = await (await pinned.get(URL)).json()
    assert body["read_only"] == ["audit_retention_days"]
    assert body["values"]["audit_retention_days"] == 30
    err = await error_of(await pinned.patch(URL, json={"audit_retention_days": 60}), 409)
    assert err["code"] == "conflict" and err["details"]["field"] == "audit_retention_days"
    resp = await pinned.patch(URL, json={"require_2fa": True})
    assert resp.status == 200 and (await resp.json())["values"]["require_2fa"] is True
