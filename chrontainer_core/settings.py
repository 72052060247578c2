"""User-editable settings: a typed model, its validation, and where each value comes from.

Settings are what an admin changes in the UI (DESIGN §3c): the instance name, the session idle
timeout, whether 2FA is required, audit and metrics retention. Each lives as one row of the
``settings`` table (key, JSON value). A value set under ``settings:`` in the config file wins
over the database and is read-only: changing it through :meth:`SettingsService.update` raises
:class:`Conflict`, and UIs show it disabled with "set in config file".

One voluptuous validator per key (:data:`VALIDATORS`) is shared by the config file loader, the
HTTP API (:data:`UPDATE_SCHEMA`, which also produces the OpenAPI document) and the service, so
the three can never disagree about what a valid value is.

Example::

    ch.settings.current.session_idle_timeout_minutes          # 720 unless changed
    await ch.settings.update({"audit_retention_days": 30}, actor=actor)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import zoneinfo
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import voluptuous as vol
from sqlalchemy import select

from chrontainer_core.actor import Actor
from chrontainer_core.errors import ConfigError, Conflict, InvalidInput
from chrontainer_core.store.tables import SettingRow, utc_now
from chrontainer_core.validate import Boolean, Integer, format_path

if TYPE_CHECKING:  # annotations only: config.py imports this module, keep it light
    from chrontainer_core.audit import AuditTrail
    from chrontainer_core.store.db import Database

__all__ = [
    "AUDIT_ACTION",
    "FILE_SCHEMA",
    "METRICS_RETENTION_CHOICES",
    "READ_ONLY_REASON",
    "SETTING_KEYS",
    "UPDATE_SCHEMA",
    "VALIDATORS",
    "Settings",
    "SettingsService",
    "SettingsState",
    "refuse_read_only",
    "validate_changes",
]

log = logging.getLogger(__name__)

AUDIT_ACTION: Final = "setting.update"
READ_ONLY_REASON: Final = "set in config file"
METRICS_RETENTION_CHOICES: Final = (1, 7, 30, 90)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The effective value of every setting (defaults, then the database, then the file)."""

    instance_name: str = "Chrontainer"
    session_idle_timeout_minutes: int = 720
    require_2fa: bool = False
    audit_retention_days: int = 90
    metrics_retention_days: int = 7
    events_keep: int = 10_000
    default_timezone: str = "UTC"
    run_history_days: int = 30
    schedules_paused: bool = False
    notify_throttle_minutes: int = 10
    restart_loop_count: int = 5
    restart_loop_minutes: int = 10
    update_check_cron: str = "0 4 * * *"
    update_grace_seconds: int = 15
    # A volume restore's upload (the .tar.gz) and what it expands to: above either, 413 and
    # nothing is written. Uploads are spooled to the data directory's temporary space first.
    volume_restore_max_mb: int = 2048
    volume_restore_max_expanded_mb: int = 8192


SETTING_KEYS: Final = tuple(f.name for f in dataclasses.fields(Settings))
_DEFAULTS: Final = Settings()


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingsState:
    """The settings as a UI or the API shows them.

    Attributes:
        values: The effective values.
        read_only: Keys set in the config file, which cannot be changed at run time.
    """

    values: Settings
    read_only: tuple[str, ...]


class _TimeZone:
    """An IANA time zone name known to this machine ("Europe/Berlin", "UTC")."""

    json_schema: Final = {"type": "string", "minLength": 1, "maxLength": 64}

    def __call__(self, value: object) -> str:
        if not isinstance(value, str) or not 0 < len(value) <= 64:
            raise vol.Invalid("must be an IANA time zone name such as Europe/Berlin")
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
            raise vol.Invalid(f"unknown time zone '{value}' (use a name like Europe/Berlin)") \
                from err
        return value


class _CronOrOff:
    """A 5-field cron expression (in the default time zone), or "" for never."""

    json_schema: Final = {"type": "string", "maxLength": 100}

    def __call__(self, value: object) -> str:
        # Imported here: the cron module is the scheduler's, and this module stays light.
        from chrontainer_core.scheduling.cron import parse_cron

        if not isinstance(value, str) or len(value) > 100:
            raise vol.Invalid("must be a cron expression such as 0 4 * * *, or empty for never")
        text = " ".join(value.split())
        if text:
            try:
                parse_cron(text)
            except InvalidInput as err:
                raise vol.Invalid(err.message) from err
        return text


VALIDATORS: Final[Mapping[str, Callable[[Any], Any]]] = {
    "instance_name": vol.All(
        str, vol.Strip, vol.Length(min=1, max=100, msg="must be 1 to 100 characters")
    ),
    "session_idle_timeout_minutes": Integer(5, 43200, "minutes"),
    "require_2fa": Boolean(),
    "audit_retention_days": Integer(1, 3650, "days"),
    "metrics_retention_days": vol.All(
        Integer(),
        vol.In(METRICS_RETENTION_CHOICES,
               msg="must be one of " + ", ".join(map(str, METRICS_RETENTION_CHOICES))),
    ),
    "events_keep": Integer(100, 1_000_000, "events"),
    "default_timezone": _TimeZone(),
    "run_history_days": Integer(1, 3650, "days"),
    "schedules_paused": Boolean(),
    "notify_throttle_minutes": Integer(0, 1440, "minutes"),
    "restart_loop_count": Integer(2, 100, "starts"),
    "restart_loop_minutes": Integer(1, 1440, "minutes"),
    "update_check_cron": _CronOrOff(),
    "update_grace_seconds": Integer(0, 600, "seconds"),
    "volume_restore_max_mb": Integer(1, 1_048_576, "MiB"),
    "volume_restore_max_expanded_mb": Integer(1, 4_194_304, "MiB"),
}

_DESCRIPTIONS: Final = {
    "instance_name": "name shown in the page title and navigation",
    "session_idle_timeout_minutes": "a session unused this long ends (5 to 43200 minutes)",
    "require_2fa": "every user must set up two-factor authentication",
    "audit_retention_days": "days audit entries are kept (1 to 3650)",
    "metrics_retention_days": "days of metrics history kept: 1, 7, 30 or 90",
    "events_keep": "how many Docker events the events page keeps (100 to 1000000)",
    "default_timezone": "time zone of new schedules (an IANA name, e.g. Europe/Berlin)",
    "run_history_days": "days schedule run history is kept (1 to 3650)",
    "schedules_paused": "vacation mode: no schedule fires while set",
    "notify_throttle_minutes": "at most one notification per event and container in this many "
                               "minutes (0 to 1440; 0 sends every one)",
    "restart_loop_count": "starts of one container that make a restart loop (2 to 100) ...",
    "restart_loop_minutes": "... within this many minutes (1 to 1440)",
    "update_check_cron": "when every container is checked for a newer image (cron, in the "
                         "default time zone; empty: never)",
    "update_grace_seconds": "how long an updated container must stay up (and turn healthy, "
                            "when it has a healthcheck) before the old one is removed (0 to 600)",
    "volume_restore_max_mb": "largest volume backup (.tar.gz) a restore accepts, in MiB "
                             "(1 to 1048576)",
    "volume_restore_max_expanded_mb": "largest size a restored archive may expand to, in MiB "
                                      "(1 to 4194304)",
}

# The keys under ``settings:`` in the config file (the loader forbids extra keys).
FILE_SCHEMA: Final = {vol.Optional(key): VALIDATORS[key] for key in SETTING_KEYS}

# A partial update: any subset of the keys, at least one, nothing else.
UPDATE_SCHEMA: Final = vol.Schema(
    vol.All(
        {
            vol.Optional(key, description=_DESCRIPTIONS[key]): VALIDATORS[key]
            for key in SETTING_KEYS
        },
        vol.Length(min=1, msg="give at least one setting"),
    ),
    extra=vol.PREVENT_EXTRA,
)


def validate_changes(changes: object) -> dict[str, Any]:
    """Validate a partial update: known keys, valid values.

    Returns:
        The normalized values (e.g. a stripped instance name).

    Raises:
        InvalidInput: Not a mapping, empty, an unknown key or a bad value; ``field`` names it.
    """
    if not isinstance(changes, Mapping):
        raise InvalidInput("settings must be a mapping of key to value")
    try:
        valid: dict[str, Any] = UPDATE_SCHEMA(dict(changes))
    except vol.Invalid as err:
        field = format_path(err.path) or None
        message = "unknown setting" if err.msg == "extra keys not allowed" else err.msg
        raise InvalidInput(message, field=field) from err
    return valid


def refuse_read_only(keys: Iterable[str], overrides: Container[str]) -> None:
    """Refuse a change of a key the config file sets (shared with the MQTT settings).

    Raises:
        Conflict: The first such key (``details.field`` names it, ``details.reason`` says why).
    """
    for key in keys:
        if key in overrides:
            raise Conflict(
                f"{key} is {READ_ONLY_REASON} and cannot be changed here",
                details={"field": key, "reason": READ_ONLY_REASON},
            )


def _validate_file(overrides: Mapping[str, Any]) -> dict[str, Any]:
    try:
        valid: dict[str, Any] = vol.Schema(FILE_SCHEMA, extra=vol.PREVENT_EXTRA)(dict(overrides))
    except vol.Invalid as err:
        raise ConfigError(err.msg, path=format_path(["settings", *err.path])) from err
    return valid


class SettingsService:
    """Reads and changes settings; daemon mode only (library mode has no database).

    The effective values are held in memory (:attr:`current`) so that hot paths (a session's
    idle check on every request) never query the database; :meth:`load` fills them at start.

    Args:
        db: The database holding the ``settings`` table.
        audit: Where every change is recorded (action ``setting.update``, target the key).
        file_overrides: Values from the config file's ``settings:``; they win and are read-only.
        clock: Source of ``updated_at``; injectable for tests.

    Raises:
        ConfigError: An override is unknown or invalid (path ``settings.<key>``).
    """

    def __init__(
        self,
        db: Database,
        *,
        audit: AuditTrail,
        file_overrides: Mapping[str, Any] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._db = db
        self._audit = audit
        self._clock = clock
        self._overrides = _validate_file(file_overrides or {})
        self._stored = _DEFAULTS
        self._current = dataclasses.replace(_DEFAULTS, **self._overrides)
        self._listeners: list[Callable[[frozenset[str]], object]] = []

    def on_change(self, listener: Callable[[frozenset[str]], object]) -> None:
        """Call ``listener(changed_keys)`` after each update that changed something."""
        self._listeners.append(listener)

    @property
    def current(self) -> Settings:
        """The effective values, as of the last :meth:`load` or :meth:`update`."""
        return self._current

    @property
    def read_only(self) -> tuple[str, ...]:
        """Keys set in the config file, in model order."""
        return tuple(key for key in SETTING_KEYS if key in self._overrides)

    def state(self) -> SettingsState:
        """The effective values and which of them are read-only."""
        return SettingsState(values=self._current, read_only=self.read_only)

    async def load(self) -> Settings:
        """Read the stored values; a stored value that no longer validates keeps its default.

        Returns:
            The effective values.
        """
        async with self._db.session() as session:
            rows = (await session.scalars(select(SettingRow))).all()
        stored: dict[str, Any] = {}
        for row in rows:
            if row.key not in VALIDATORS:
                continue  # written by a newer version, or a key since removed
            try:
                stored[row.key] = VALIDATORS[row.key](json.loads(row.value))
            except (ValueError, vol.Invalid) as err:
                # Starting matters more than one bad row; the default applies until re-saved.
                log.warning("setting %s: ignoring stored value %.80r: %s", row.key, row.value, err)
        self._stored = dataclasses.replace(_DEFAULTS, **stored)
        self._current = dataclasses.replace(self._stored, **self._overrides)
        return self._current

    async def update(
        self, changes: Mapping[str, object], *, actor: Actor | None = None
    ) -> SettingsState:
        """Change some settings; unchanged values are neither written nor audited.

        Args:
            changes: Key to new value, any subset of :data:`SETTING_KEYS`.
            actor: Who asked; defaults to the library actor.

        Returns:
            The state after the change.

        Raises:
            InvalidInput: An unknown key or a bad value (``details.field`` names it).
            Conflict: A key is set in the config file (``details.field`` names it).
        """
        actor = actor or Actor.library()
        valid = validate_changes(changes)
        refuse_read_only(valid, self._overrides)
        changed = {k: v for k, v in valid.items() if getattr(self._stored, k) != v}
        if changed:
            async with contextlib.AsyncExitStack() as stack:
                # One audit row per key, each marked failed if the transaction fails.
                for key in changed:
                    await stack.enter_async_context(self._audit.track(actor, AUDIT_ACTION, key))
                await self._write(changed)
            self._stored = dataclasses.replace(self._stored, **changed)
            self._current = dataclasses.replace(self._stored, **self._overrides)
            log.info("settings changed by %s: %s", actor.label, ", ".join(sorted(changed)))
            for listener in self._listeners:
                listener(frozenset(changed))
        return self.state()

    async def _write(self, changed: Mapping[str, Any]) -> None:
        now = self._clock()
        async with self._db.session() as session:
            for key, value in changed.items():
                # merge: update the row when the key exists, insert it otherwise.
                await session.merge(SettingRow(key=key, value=json.dumps(value), updated_at=now))
