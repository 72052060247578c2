"""Settings: the model, per-key validation, the config file's ``settings:``, the service."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from chrontainer_core import Actor
from chrontainer_core.audit import DbAuditTrail
from chrontainer_core.config import Config, load_config
from chrontainer_core.errors import ConfigError, Conflict, InvalidInput
from chrontainer_core.settings import (
    AUDIT_ACTION,
    SETTING_KEYS,
    Settings,
    SettingsService,
    validate_changes,
)
from chrontainer_core.store.db import Database
from chrontainer_core.store.tables import SettingRow

from ..dbtemplate import migrated

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def test_defaults() -> None:
    s = Settings()
    assert (s.instance_name, s.session_idle_timeout_minutes, s.require_2fa,
            s.audit_retention_days, s.metrics_retention_days, s.events_keep,
            s.default_timezone, s.run_history_days, s.schedules_paused,
            s.notify_throttle_minutes, s.restart_loop_count, s.restart_loop_minutes,
            s.update_check_cron, s.update_grace_seconds, s.volume_restore_max_mb,
            s.volume_restore_max_expanded_mb) == (
                "Chrontainer", 720, False, 90, 7, 10_000, "UTC", 30, False, 10, 5, 10,
                "0 4 * * *", 15, 2048, 8192)
    assert SETTING_KEYS == ("instance_name", "session_idle_timeout_minutes", "require_2fa",
                            "audit_retention_days", "metrics_retention_days", "events_keep",
                            "default_timezone", "run_history_days", "schedules_paused",
                            "notify_throttle_minutes", "restart_loop_count",
                            "restart_loop_minutes", "update_check_cron",
                            "update_grace_seconds", "volume_restore_max_mb",
                            "volume_restore_max_expanded_mb")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"instance_name": "  Home lab  "}, {"instance_name": "Home lab"}),
        ({"session_idle_timeout_minutes": 5}, {"session_idle_timeout_minutes": 5}),
        ({"session_idle_timeout_minutes": 43200}, {"session_idle_timeout_minutes": 43200}),
        ({"require_2fa": True, "audit_retention_days": 3650},
         {"require_2fa": True, "audit_retention_days": 3650}),
        ({"metrics_retention_days": 90}, {"metrics_retention_days": 90}),
        ({"notify_throttle_minutes": 0, "restart_loop_count": 2, "restart_loop_minutes": 1440},
         {"notify_throttle_minutes": 0, "restart_loop_count": 2, "restart_loop_minutes": 1440}),
        ({"default_timezone": "Europe/Berlin", "run_history_days": 1, "schedules_paused": True},
         {"default_timezone": "Europe/Berlin", "run_history_days": 1, "schedules_paused": True}),
        ({"default_timezone": "America/Argentina/Buenos_Aires"},
         {"default_timezone": "America/Argentina/Buenos_Aires"}),
        ({"events_keep": 100}, {"events_keep": 100}),
        ({"update_check_cron": " 30  3 * * 1-5 ", "update_grace_seconds": 0},
         {"update_check_cron": "30 3 * * 1-5", "update_grace_seconds": 0}),
        ({"update_check_cron": "", "update_grace_seconds": 600},
         {"update_check_cron": "", "update_grace_seconds": 600}),
        ({"volume_restore_max_mb": 1, "volume_restore_max_expanded_mb": 4_194_304},
         {"volume_restore_max_mb": 1, "volume_restore_max_expanded_mb": 4_194_304}),
    ],
)
def test_valid_changes(changes: dict[str, object], expected: dict[str, object]) -> None:
    assert validate_changes(changes) == expected


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"nope": 1}, "nope"),
        ({"instance_name": ""}, "instance_name"),
        ({"instance_name": "   "}, "instance_name"),
        ({"instance_name": "x" * 101}, "instance_name"),
        ({"instance_name": 5}, "instance_name"),
        ({"session_idle_timeout_minutes": 4}, "session_idle_timeout_minutes"),
        ({"session_idle_timeout_minutes": 43201}, "session_idle_timeout_minutes"),
        ({"session_idle_timeout_minutes": True}, "session_idle_timeout_minutes"),
        ({"session_idle_timeout_minutes": "60"}, "session_idle_timeout_minutes"),
        ({"session_idle_timeout_minutes": 60.5}, "session_idle_timeout_minutes"),
        ({"require_2fa": "yes"}, "require_2fa"),
        ({"require_2fa": 1}, "require_2fa"),
        ({"audit_retention_days": 0}, "audit_retention_days"),
        ({"audit_retention_days": 3651}, "audit_retention_days"),
        ({"metrics_retention_days": 14}, "metrics_retention_days"),
        ({"metrics_retention_days": True}, "metrics_retention_days"),
        ({"events_keep": 99}, "events_keep"),
        ({"default_timezone": "Mars/Olympus"}, "default_timezone"),
        ({"default_timezone": "../../etc/passwd"}, "default_timezone"),
        ({"default_timezone": ""}, "default_timezone"),
        ({"default_timezone": 1}, "default_timezone"),
        ({"run_history_days": 0}, "run_history_days"),
        ({"schedules_paused": "on"}, "schedules_paused"),
        ({"notify_throttle_minutes": -1}, "notify_throttle_minutes"),
        ({"restart_loop_count": 1}, "restart_loop_count"),
        ({"restart_loop_minutes": 0}, "restart_loop_minutes"),
        ({"update_check_cron": "every day"}, "update_check_cron"),
        ({"update_check_cron": "61 4 * * *"}, "update_check_cron"),
        ({"update_check_cron": 4}, "update_check_cron"),
        ({"update_grace_seconds": 601}, "update_grace_seconds"),
        ({"update_grace_seconds": -1}, "update_grace_seconds"),
    ],
)
def test_invalid_changes_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_changes(changes)
    assert info.value.field == field
    if field == "nope":
        assert info.value.message == "unknown setting"


@pytest.mark.parametrize("changes", [{}, [], "x", None])
def test_empty_or_not_a_mapping(changes: object) -> None:
    with pytest.raises(InvalidInput):
        validate_changes(changes)


# --- the config file's settings: ---------------------------------------------------------------


def _load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "chrontainer.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, environ={})


def test_config_settings(tmp_path: Path) -> None:
    cfg = _load(tmp_path, "settings:\n  audit_retention_days: 30\n  require_2fa: yes\n"
                          "  instance_name: ' NAS '\n  metrics_retention_days:\n")
    assert cfg.settings == {"audit_retention_days": 30, "require_2fa": True,
                            "instance_name": "NAS"}
    assert _load(tmp_path, "port: 5001\n").settings == {}
    hash(cfg)  # the mapping is left out of the hash; a Config stays hashable


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("settings:\n  audit_retention_days: 0\n", "settings.audit_retention_days"),
        ("settings:\n  metrics_retention_days: 14\n", "settings.metrics_retention_days"),
        ("settings:\n  session_idle_timeout_minutes: '60'\n",
         "settings.session_idle_timeout_minutes"),
        ("settings:\n  require_2fa: maybe\n", "settings.require_2fa"),
        ("settings:\n  colour: blue\n", "settings.colour"),
        ("settings: 7\n", "settings"),
    ],
)
def test_config_settings_errors(tmp_path: Path, text: str, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    assert info.value.path == path


# --- the service, on a real SQLite database ----------------------------------------------------


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'settings.db'}"
    migrated(url)
    database = Database(url)
    yield database
    await database.close()


async def test_update_persists_and_audits(db: Database) -> None:
    audit = DbAuditTrail(db)
    service = SettingsService(db, audit=audit, clock=lambda: NOW)
    assert await service.load() == Settings()
    actor = Actor.cli("alice")
    state = await service.update({"instance_name": "Lab", "audit_retention_days": 30,
                                  "require_2fa": False}, actor=actor)
    assert state.values.instance_name == "Lab" and state.values.audit_retention_days == 30
    assert state.read_only == ()

    # Stored one row per key as JSON; the unchanged require_2fa was not written.
    async with db.session() as session:
        rows = {r.key: r for r in (await session.scalars(select(SettingRow))).all()}
    assert {k: json.loads(r.value) for k, r in rows.items()} == {
        "instance_name": "Lab", "audit_retention_days": 30}

    entries, total = await audit.list(action=AUDIT_ACTION)
    assert total == 2
    assert sorted(e.target for e in entries) == ["audit_retention_days", "instance_name"]
    assert all(e.result == "ok" and e.actor.name == "alice" for e in entries)

    # A second service (a restart) reads the same values; a no-op update audits nothing.
    again = SettingsService(db, audit=audit)
    assert (await again.load()).instance_name == "Lab"
    await again.update({"instance_name": "Lab"})
    assert (await audit.list(action=AUDIT_ACTION))[1] == 2


async def test_file_overrides_win_and_are_read_only(db: Database) -> None:
    audit = DbAuditTrail(db)
    await SettingsService(db, audit=audit).update({"audit_retention_days": 10})
    service = SettingsService(db, audit=audit, file_overrides={"audit_retention_days": 30})
    assert (await service.load()).audit_retention_days == 30
    assert service.read_only == ("audit_retention_days",)
    with pytest.raises(Conflict) as info:
        await service.update({"audit_retention_days": 40, "instance_name": "x"})
    assert info.value.details["field"] == "audit_retention_days"
    # Nothing of the refused request was applied.
    assert service.current.instance_name == "Chrontainer"
    assert (await service.update({"metrics_retention_days": 30})).values.audit_retention_days == 30


async def test_bad_stored_value_falls_back_to_default(db: Database) -> None:
    async with db.session() as session:
        session.add(SettingRow(key="audit_retention_days", value="-3", updated_at=NOW))
        session.add(SettingRow(key="instance_name", value="not json", updated_at=NOW))
        session.add(SettingRow(key="from_the_future", value="1", updated_at=NOW))
    loaded = await SettingsService(db, audit=DbAuditTrail(db)).load()
    assert loaded == Settings()


def test_invalid_file_override_is_a_config_error(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ConfigError) as info:
        SettingsService(db, audit=DbAuditTrail(db), file_overrides={"require_2fa": "no"})
    assert info.value.path == "settings.require_2fa"
