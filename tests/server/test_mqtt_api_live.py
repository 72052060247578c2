"""/api/v1/mqtt over HTTP on a live server, with real Mosquitto brokers (tests/mqtt/broker.py).

Proves: GET/PATCH with a write-only password (never in a response, encrypted in the raw row,
absent from the audit trail and its one ``mqtt.settings.update`` row); bad input is a 400
naming the field with nothing changed; keys of the config file's ``mqtt:`` section are
read-only (409) and a bad section fails create_app with a ConfigError; operators and viewers
get 403 (API and page); ``POST /mqtt/test`` logs in to a password broker with the right
password, reports the wrong one and an unused port; over TLS it verifies the broker with the
given CA certificate (stored like any setting, shown read-only when the file sets it) and
reports a certificate that does not verify; enabling the bridge through PATCH connects it (the
status says so) and disabling it stops it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from chrontainer_core.errors import ConfigError
from chrontainer_core.store.tables import AuditRow, SettingRow
from chrontainer_mqtt.settings_service import AUDIT_ACTION, SETTINGS_KEY
from chrontainer_server.app import create_app
from chrontainer_server.auth.roles import Role

from ..accounts import admin_client
from ..http import core_of, error_of, ok
from ..live import free_port, unique, wait_for
from ..mqtt.broker import PASSWORD, USERNAME, Mosquitto
from ..mqtt.conftest import own_broker, tls_broker  # noqa: F401 - fixtures
from ..pki import make_pki
from .test_notifications_api_live import key_for

pytestmark = pytest.mark.live

URL = "/api/v1/mqtt"


async def raw_row(api: TestClient) -> str:
    db = core_of(api).db
    assert db is not None
    async with db.session() as session:
        row = await session.scalar(select(SettingRow).where(SettingRow.key == SETTINGS_KEY))
    assert row is not None
    return row.value


async def audit_rows(api: TestClient) -> list[AuditRow]:
    db = core_of(api).db
    assert db is not None
    async with db.session() as session:
        return list((await session.scalars(select(AuditRow))).all())


async def test_get_patch_and_the_password_never_comes_out(api: TestClient) -> None:
    body = await ok(await api.get(URL))
    settings = body["settings"]
    assert "password" not in settings and settings["password_set"] is False
    assert re.fullmatch(r"chrontainer-[0-9a-f]{8}", settings["client_id"])
    assert (settings["enabled"], settings["host"], settings["port"], settings["control"],
            settings["discovery_mode"], settings["base_topic"]) == (
                False, "", 1883, "off", "device", "chrontainer")
    assert body["read_only"] == [] and body["warnings"] == []
    assert body["status"]["state"] == "disabled"

    secret = f"pw-{unique()}"
    change = {"host": "broker.example", "port": 1884, "username": "ha", "password": secret,
              "base_topic": "lab/chrontainer", "control": "all", "removed_ttl_hours": 48}
    resp = await api.patch(URL, json=change)
    text = await resp.text()
    assert resp.status == 200, text
    assert secret not in text
    settings = json.loads(text)["settings"]
    assert settings["password_set"] is True
    assert {k: settings[k] for k in change if k != "password"} == {
        k: v for k, v in change.items() if k != "password"}
    again = await api.get(URL)
    assert secret not in await again.text()
    assert (await again.json())["settings"] == settings

    # Stored encrypted: the row holds a token, never the clear text.
    row = await raw_row(api)
    assert secret not in row and json.loads(row)["password_token"]
    # One audit row for the whole update, naming no value.
    entries, total = await core_of(api).audit.list(action=AUDIT_ACTION)
    assert total == 1 and entries[0].target == "mqtt" and entries[0].result == "ok"
    assert not any(secret in json.dumps([r.target, r.error, r.action])
                   for r in await audit_rows(api))

    # null clears the password; absent keeps it.
    kept = await ok(await api.patch(URL, json={"port": 1885}))
    assert kept["settings"]["password_set"] is True
    cleared = await ok(await api.patch(URL, json={"password": None}))
    assert cleared["settings"]["password_set"] is False
    assert "password_token" not in json.loads(await raw_row(api))


BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"host": "mqtt://broker.lan"}, "host"),
    ({"host": "broker:1883"}, "host"),
    ({"port": 0}, "port"),
    ({"port": "1883"}, "port"),
    ({"enabled": "yes"}, "enabled"),
    ({"username": "u" * 129}, "username"),
    ({"password": "p" * 257}, "password"),
    ({"password": 5}, "password"),
    ({"base_topic": "a/+/b"}, "base_topic"),
    ({"base_topic": "a//b"}, "base_topic"),
    ({"discovery_prefix": "/ha"}, "discovery_prefix"),
    ({"client_id": "with space"}, "client_id"),
    ({"discovery_mode": "entities"}, "discovery_mode"),
    ({"control": "on"}, "control"),
    ({"removed_ttl_hours": 0}, "removed_ttl_hours"),
    ({"colour": "blue"}, "colour"),
    ({"host": "ok.lan", "port": 70000}, "port"),
    ({"tls_ca_cert": "my CA"}, "tls_ca_cert"),
    ({"tls_ca_cert": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
     "tls_ca_cert"),
    ({"tls_ca_cert": 5}, "tls_ca_cert"),
]


async def test_bad_input_is_refused_and_changes_nothing(api: TestClient) -> None:
    before = await ok(await api.get(URL))
    row = await raw_row(api)
    for body, field in BAD_BODIES:
        err = await error_of(await api.patch(URL, json=body), 400)
        assert err["code"] == "invalid_input" and err["details"]["field"] == field, body
        err = await error_of(await api.post(URL + "/test", json=body), 400)
        assert err["details"]["field"] == field, body
    await error_of(await api.patch(URL, json={}), 400)
    await error_of(await api.patch(URL, json=["host"]), 400)
    assert await ok(await api.get(URL)) == before
    assert await raw_row(api) == row
    assert (await core_of(api).audit.list(action=AUDIT_ACTION))[1] == 0


@pytest.fixture
async def pinned(clean_engines: None, daemon_config) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    """A server whose config file sets the broker host and password (so they are read-only)."""
    mqtt = {"host": "127.0.0.1", "password": "file-pw", "tls_ca_cert": make_pki().ca.cert}
    config = dataclasses.replace(daemon_config, mqtt=mqtt)
    async with admin_client(create_app(config), config.database_url) as client:
        yield client


async def test_config_file_keys_are_read_only(pinned: TestClient) -> None:
    body = await ok(await pinned.get(URL))
    assert body["read_only"] == ["host", "tls_ca_cert", "password"]
    assert body["settings"]["host"] == "127.0.0.1" and body["settings"]["password_set"] is True
    assert "file-pw" not in json.dumps(body)
    for change, field in (({"host": "other"}, "host"), ({"password": None}, "password"),
                          ({"port": 1884, "password": "x"}, "password")):
        err = await error_of(await pinned.patch(URL, json=change), 409)
        assert err["code"] == "conflict" and err["details"]["field"] == field
    assert (await ok(await pinned.get(URL)))["settings"]["port"] == 1883
    changed = await ok(await pinned.patch(URL, json={"port": 1884}))
    assert changed["settings"]["port"] == 1884
    # The page shows them disabled with "set in config file", the others editable.
    resp = await pinned.get("/settings/mqtt")
    html = await resp.text()
    assert resp.status == 200 and "file-pw" not in html
    assert re.search(r'<input type="text" id="mq-host"[^>]* disabled', html)
    assert re.search(r'<input type="password" id="mq-password"[^>]* disabled', html)
    assert re.search(r'<textarea id="mq-tls_ca_cert"[^>]* disabled[^>]*>-----BEGIN CERTIFICATE',
                     html)
    assert not re.search(r'<input type="number" id="mq-port"[^>]* disabled', html)
    assert html.count('class="locked"') == 3


def test_a_bad_mqtt_section_fails_at_create_app(daemon_config) -> None:  # type: ignore[no-untyped-def]
    config = dataclasses.replace(daemon_config, mqtt={"port": "1883"})
    with pytest.raises(ConfigError) as info:
        create_app(config)
    assert info.value.path == "mqtt.port"


async def test_only_admins_reach_mqtt(api: TestClient) -> None:
    calls = [("GET", URL, None), ("PATCH", URL, {"port": 1884}),
             ("POST", URL + "/test", {}), ("GET", "/settings/mqtt", None),
             ("GET", "/fragments/mqtt/status", None)]
    for role in (Role.VIEWER, Role.OPERATOR):
        headers = await key_for(api, role)
        for method, path, body in calls:
            resp = await api.request(method, path, json=body, headers=headers)
            assert resp.status == 403, (role, method, path, await resp.text())
    assert (await ok(await api.get(URL)))["settings"]["port"] == 1883
    assert (await core_of(api).audit.list(action=AUDIT_ACTION))[1] == 0


async def test_connection_test(api: TestClient, own_broker: Mosquitto) -> None:  # noqa: F811
    broker = {"host": own_broker.host, "port": own_broker.port, "username": USERNAME}
    right = await ok(await api.post(URL + "/test", json={**broker, "password": PASSWORD}))
    assert right == {"ok": True, "error": None}

    resp = await api.post(URL + "/test", json={**broker, "password": "wrong-password"})
    wrong = await ok(resp)
    assert wrong["ok"] is False and "not authorized" in wrong["error"].lower()

    unused = await ok(await api.post(URL + "/test", json={**broker, "port": free_port()}))
    assert unused["ok"] is False and "refused" in unused["error"].lower()

    # Without a body: the stored settings (none yet: no host), then the stored password.
    nothing = await ok(await api.post(URL + "/test"))
    assert nothing["ok"] is False and "host" in nothing["error"]
    await ok(await api.patch(URL, json={**broker, "password": PASSWORD}))
    stored = await ok(await api.post(URL + "/test", json={}))
    assert stored == {"ok": True, "error": None}
    # The body's null password lays "no password" over the stored one.
    anonymous = await ok(await api.post(URL + "/test", json={"password": None}))
    assert anonymous["ok"] is False and PASSWORD not in json.dumps(anonymous)
    # A test changes nothing.
    assert (await core_of(api).audit.list(action=AUDIT_ACTION))[1] == 1


async def test_connection_test_over_tls(api: TestClient, tls_broker: Mosquitto) -> None:  # noqa: F811
    assert tls_broker.tls is not None
    ca = tls_broker.tls.ca.cert
    broker = {"host": tls_broker.host, "port": tls_broker.port, "tls": True}
    right = await ok(await api.post(URL + "/test", json={**broker, "tls_ca_cert": ca}))
    assert right == {"ok": True, "error": None}
    for ca_given in ({}, {"tls_ca_cert": tls_broker.tls.other_ca.cert}):
        wrong = await ok(await api.post(URL + "/test", json={**broker, **ca_given}))
        assert wrong["ok"] is False and "certificate verify failed" in wrong["error"]
    insecure = await ok(await api.post(URL + "/test", json={**broker, "tls_insecure": True}))
    assert insecure == {"ok": True, "error": None}
    plain = await ok(await api.post(URL + "/test", json={**broker, "tls": False}))
    assert plain["ok"] is False

    # Stored like any other setting (it is no secret), then the test uses the stored one.
    saved = await ok(await api.patch(URL, json={**broker, "tls_ca_cert": ca}))
    assert saved["settings"]["tls_ca_cert"] == ca
    assert json.loads(await raw_row(api))["tls_ca_cert"] == ca
    assert await ok(await api.post(URL + "/test", json={})) == {"ok": True, "error": None}


async def test_enabling_connects_the_bridge(api: TestClient, own_broker: Mosquitto) -> None:  # noqa: F811
    async def state() -> str:
        return str((await ok(await api.get(URL)))["status"]["state"])

    change = {"enabled": True, "host": own_broker.host, "port": own_broker.port,
              "username": USERNAME, "password": PASSWORD, "base_topic": unique("ctb"),
              "discovery_prefix": unique("ha")}
    await ok(await api.patch(URL, json=change))

    async def connected() -> bool:
        return await state() == "connected"

    await wait_for(connected, what="the bridge connected")
    status = (await ok(await api.get(URL)))["status"]
    assert status["broker"] == f"{own_broker.host}:{own_broker.port}"
    assert status["error"] is None and status["commands"] is False

    await ok(await api.patch(URL, json={"enabled": False}))

    async def disabled() -> bool:
        return await state() == "disabled"

    await wait_for(disabled, what="the bridge stopped")
