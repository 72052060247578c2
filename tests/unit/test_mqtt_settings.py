"""MQTT settings: per-key validation (shared by the config file, the API and the service), the
config file's ``mqtt:`` section, and the service on a real SQLite database (the password stored
encrypted, a key that cannot decrypt it, the generated client id, listeners, audit)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from chrontainer_core import Actor
from chrontainer_core.audit import DbAuditTrail
from chrontainer_core.errors import ConfigError, Conflict, InvalidInput
from chrontainer_core.secrets import SecretBox
from chrontainer_core.settings import SettingsService
from chrontainer_core.store.db import Database
from chrontainer_core.store.tables import SettingRow
from chrontainer_mqtt.settings import (
    ControlMode,
    DiscoveryMode,
    MqttSettings,
    validate_changes,
    validate_file,
    validate_probe,
)
from chrontainer_mqtt.settings_service import (
    AUDIT_ACTION,
    SETTINGS_KEY,
    MqttSettingsService,
    MqttSettingsView,
)

from ..dbtemplate import migrated
from ..pki import make_pki

SECRET = "a-long-test-secret-key-for-mqtt"


@pytest.mark.parametrize(("key", "value", "normalized"), [
    ("host", "broker.lan", "broker.lan"),
    ("host", "mqtt", "mqtt"),
    ("host", "192.168.1.10", "192.168.1.10"),
    ("host", "::1", "::1"),
    ("host", "", ""),
    ("host", "a" * 63 + "." + "b" * 63, "a" * 63 + "." + "b" * 63),
    ("port", 1, 1),
    ("port", 65535, 65535),
    ("enabled", True, True),
    ("tls_insecure", False, False),
    ("username", "u" * 128, "u" * 128),
    ("password", "p" * 256, "p" * 256),
    ("base_topic", "home/chrontainer", "home/chrontainer"),
    ("discovery_prefix", "homeassistant", "homeassistant"),
    ("client_id", "", ""),
    ("client_id", "chrontainer-1a2b.c_d", "chrontainer-1a2b.c_d"),
    ("discovery_mode", "component", DiscoveryMode.COMPONENT),
    ("control", "labelled", ControlMode.LABELLED),
    ("removed_ttl_hours", 8760, 8760),
])
def test_valid_values(key: str, value: Any, normalized: Any) -> None:
    assert validate_changes({key: value}) == {key: normalized}
    assert validate_file({key: value}) == {key: normalized}


BAD = [
    ("host", "mqtt://broker.lan"),
    ("host", "broker.lan:1883"),
    ("host", "broker lan"),
    ("host", "a" * 254),
    ("host", "-broker"),
    ("host", "a..b"),
    ("host", 5),
    ("port", 0),
    ("port", 65536),
    ("port", "1883"),
    ("port", True),
    ("port", 1883.0),
    ("enabled", "yes"),
    ("enabled", 1),
    ("tls", None),
    ("username", "u" * 129),
    ("username", "a\nb"),
    ("password", "p" * 257),
    ("base_topic", ""),
    ("base_topic", "t" * 101),
    ("base_topic", "a/+/b"),
    ("base_topic", "a/#"),
    ("base_topic", "a b"),
    ("base_topic", "/a"),
    ("base_topic", "a/"),
    ("base_topic", "a//b"),
    ("base_topic", "$SYS"),
    ("discovery_prefix", "home+assistant"),
    ("client_id", "has space"),
    ("client_id", "x" * 65),
    ("client_id", "ü"),
    ("discovery_mode", "devices"),
    ("control", "on"),
    ("control", True),
    ("removed_ttl_hours", 0),
    ("removed_ttl_hours", 8761),
]


@pytest.mark.parametrize(("key", "value"), BAD)
def test_invalid_values_name_the_field(key: str, value: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_changes({key: value})
    assert info.value.details["field"] == key
    with pytest.raises(ConfigError) as err:
        validate_file({key: value})
    assert err.value.path == f"mqtt.{key}"


def test_update_and_probe_bodies() -> None:
    # null clears the password (API only; the file has no "clear").
    assert validate_changes({"password": None}) == {"password": None}
    with pytest.raises(InvalidInput):
        validate_changes({})  # an update changes something
    with pytest.raises(InvalidInput) as info:
        validate_changes({"colour": "blue"})
    assert info.value.details["field"] == "colour"
    with pytest.raises(InvalidInput):
        validate_changes(["host"])
    assert validate_probe({}) == {}  # a test of the stored settings
    assert validate_probe({"port": 8883, "tls": True}) == {"port": 8883, "tls": True}


def test_file_section_errors() -> None:
    with pytest.raises(ConfigError) as info:
        validate_file({"hostname": "x"})
    assert info.value.path == "mqtt.hostname"
    with pytest.raises(ConfigError) as info:
        validate_file(["host"])
    assert info.value.path == "mqtt"
    assert validate_file({}) == {}


def test_view_never_holds_the_password() -> None:
    view = MqttSettingsView.of(MqttSettings(host="b", password="hunter2"))
    assert view.password_set is True
    assert not hasattr(view, "password")
    assert "hunter2" not in repr(view)
    assert MqttSettingsView.of(MqttSettings()).password_set is False


# --- the service, on a real SQLite database ----------------------------------------------------


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'mqtt.db'}"
    migrated(url)
    database = Database(url)
    yield database
    await database.close()


def service_of(db: Database, secret: str = SECRET, **overrides: Any) -> MqttSettingsService:
    return MqttSettingsService(db, SecretBox(secret), DbAuditTrail(db), file_overrides=overrides)


async def stored_document(db: Database) -> dict[str, Any]:
    async with db.session() as session:
        row = await session.scalar(select(SettingRow).where(SettingRow.key == SETTINGS_KEY))
    assert row is not None
    document: dict[str, Any] = json.loads(row.value)
    return document


async def test_first_load_generates_and_keeps_a_client_id(db: Database) -> None:
    first = await service_of(db).load()
    assert re.fullmatch(r"chrontainer-[0-9a-f]{8}", first.client_id)
    assert (await stored_document(db))["client_id"] == first.client_id
    # A restart keeps it; another database would get another one.
    assert (await service_of(db).load()).client_id == first.client_id
    # The core's settings service shares the table and ignores the "mqtt" row.
    core = SettingsService(db, audit=DbAuditTrail(db))
    assert (await core.load()).instance_name == "Chrontainer"


async def test_update_stores_the_password_encrypted_and_audits_once(db: Database) -> None:
    service = service_of(db)
    await service.load()
    seen: list[frozenset[str]] = []
    service.on_change(seen.append)
    state = await service.update({"host": "broker.lan", "password": "hunter2",
                                  "control": "all", "enabled": True},
                                 actor=Actor.cli("alice"))
    assert state.settings.password_set and state.settings.host == "broker.lan"
    assert state.settings.control is ControlMode.ALL
    assert service.current.password == "hunter2" and service.current.configured
    assert seen == [frozenset({"host", "password", "control", "enabled"})]

    document = await stored_document(db)
    assert "hunter2" not in json.dumps(document) and "password" not in document
    assert SecretBox(SECRET).decrypt(document["password_token"]) == "hunter2"

    audit = DbAuditTrail(db)
    entries, total = await audit.list(action=AUDIT_ACTION)
    assert total == 1 and entries[0].target == "mqtt" and entries[0].actor.name == "alice"

    # Unchanged values write and audit nothing and call no listener.
    await service.update({"host": "broker.lan", "password": "hunter2"})
    assert (await audit.list(action=AUDIT_ACTION))[1] == 1 and len(seen) == 1

    # A restart reads the password back; null clears it.
    again = service_of(db)
    assert (await again.load()).password == "hunter2"
    cleared = await again.update({"password": None})
    assert not cleared.settings.password_set
    assert "password_token" not in await stored_document(db)


async def test_a_wrong_key_leaves_the_password_unset_with_a_warning(db: Database) -> None:
    await service_of(db).update({"host": "b", "password": "hunter2"})
    other = service_of(db, secret="another-secret-key-entirely")
    loaded = await other.load()
    assert loaded.password == "" and loaded.host == "b"
    state = other.state()
    assert not state.settings.password_set
    assert len(state.warnings) == 1 and "decrypt" in state.warnings[0]
    # Other changes keep the undecryptable token (the right key may come back) ...
    await other.update({"port": 8883})
    assert (await service_of(db).load()).password == "hunter2"
    # ... and entering the password again stores it under the current key.
    await other.update({"password": "new-one"})
    assert other.state().warnings == ()
    assert (await service_of(db, secret="another-secret-key-entirely").load()).password \
        == "new-one"


async def test_file_keys_win_and_are_read_only(db: Database) -> None:
    await service_of(db).update({"host": "from-db", "port": 1884})
    service = service_of(db, host="from-file", password="file-pw", client_id="fixed")
    loaded = await service.load()
    assert (loaded.host, loaded.port, loaded.password, loaded.client_id) == (
        "from-file", 1884, "file-pw", "fixed")
    assert service.read_only == ("host", "password", "client_id")
    for change in ({"host": "x"}, {"password": None}, {"client_id": "y", "port": 1}):
        with pytest.raises(Conflict) as info:
            await service.update(change)
        assert info.value.details["field"] in change
    assert service.current.port == 1884  # nothing of a refused update applied


async def test_empty_client_id_generates_a_new_one(db: Database) -> None:
    service = service_of(db)
    old = (await service.load()).client_id
    new = (await service.update({"client_id": ""})).settings.client_id
    assert new != old and re.fullmatch(r"chrontainer-[0-9a-f]{8}", new)


async def test_bad_stored_values_fall_back_to_defaults(db: Database) -> None:
    from datetime import UTC, datetime
    document = {"host": "mqtt://bad", "port": 99999, "control": "all", "future_key": 1}
    async with db.session() as session:
        session.add(SettingRow(key=SETTINGS_KEY, value=json.dumps(document),
                               updated_at=datetime.now(UTC)))
    loaded = await service_of(db).load()
    assert (loaded.host, loaded.port, loaded.control) == ("", 1883, ControlMode.ALL)


def test_invalid_file_section_fails_at_construction(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ConfigError) as info:
        service_of(db, port="1883")
    assert info.value.path == "mqtt.port"


# --- the broker's CA certificate (tls_ca_cert) ---------------------------------------------------


def test_ca_certificate_values() -> None:
    pki = make_pki()
    bundle = pki.ca.cert + pki.other_ca.cert
    for value in ("", pki.ca.cert, bundle):
        assert validate_changes({"tls_ca_cert": value}) == {"tls_ca_cert": value}
        assert validate_file({"tls_ca_cert": value}) == {"tls_ca_cert": value}
    truncated = pki.ca.cert[:120] + "\n-----END CERTIFICATE-----\n"
    bad = [
        ("not a certificate", "PEM form"),
        (pki.ca.key, "PEM form"),  # a key alone: no certificate block
        (pki.ca.cert + pki.ca.key, "private key"),  # would be stored in the clear
        (truncated, "does not parse"),
        (pki.ca.cert * 120, "too long"),  # over 64 KiB
        (5, "PEM form"),
        (None, "PEM form"),
    ]
    for value, words in bad:
        with pytest.raises(InvalidInput) as info:
            validate_changes({"tls_ca_cert": value})
        assert info.value.details["field"] == "tls_ca_cert"
        assert words in info.value.message, (words, info.value.message)
        with pytest.raises(ConfigError) as err:
            validate_file({"tls_ca_cert": value})
        assert err.value.path == "mqtt.tls_ca_cert"


async def test_the_ca_certificate_is_stored_and_shown(db: Database) -> None:
    pki = make_pki()
    service = service_of(db)
    await service.load()
    state = await service.update({"tls": True, "tls_ca_cert": pki.ca.cert})
    assert state.settings.tls_ca_cert == pki.ca.cert
    assert (await stored_document(db))["tls_ca_cert"] == pki.ca.cert  # not a secret
    assert (await service_of(db).load()).tls_ca_cert == pki.ca.cert
