"""Where each MQTT setting comes from, and changes: defaults, then the database, then the
config file's ``mqtt:`` section (which wins and is read-only).

The values are one JSON document in the ``settings`` table (key ``mqtt``); the password is
stored encrypted with the installation's :class:`SecretBox`, never in the clear.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import voluptuous as vol
from sqlalchemy import select

from chrontainer_core.actor import Actor
from chrontainer_core.errors import SecretUnavailable
from chrontainer_core.settings import refuse_read_only
from chrontainer_core.store.tables import SettingRow, utc_now

from .settings import (
    SETTING_KEYS,
    VALIDATORS,
    ControlMode,
    DiscoveryMode,
    MqttSettings,
    validate_changes,
    validate_file,
)

if TYPE_CHECKING:
    from chrontainer_core.audit import AuditTrail
    from chrontainer_core.secrets import SecretBox
    from chrontainer_core.store.db import Database

__all__ = [
    "AUDIT_ACTION",
    "SETTINGS_KEY",
    "MqttSettingsService",
    "MqttSettingsState",
    "MqttSettingsView",
]

log = logging.getLogger(__name__)

AUDIT_ACTION: Final = "mqtt.settings.update"
AUDIT_TARGET: Final = "mqtt"
# The row of the ``settings`` table holding the MQTT settings as one JSON document. The core's
# SettingsService skips keys it does not know, so the two share the table without clashing.
SETTINGS_KEY: Final = "mqtt"
# Where the encrypted password lives inside that document (never the clear text).
_PASSWORD_TOKEN: Final = "password_token"  # noqa: S105 - a key name, not a secret
_DEFAULTS: Final = MqttSettings()


def _new_client_id() -> str:
    return f"chrontainer-{secrets.token_hex(4)}"



@dataclass(frozen=True, slots=True, kw_only=True)
class MqttSettingsView:
    """The MQTT settings as the API and the UI show them: never the password, only whether
    one is set."""

    enabled: bool
    host: str
    port: int
    tls: bool
    tls_insecure: bool
    tls_ca_cert: str
    username: str
    password_set: bool
    base_topic: str
    discovery_prefix: str
    client_id: str
    discovery_mode: DiscoveryMode
    control: ControlMode
    removed_ttl_hours: int

    @classmethod
    def of(cls, settings: MqttSettings) -> MqttSettingsView:
        """The view of ``settings``."""
        values = {key: getattr(settings, key) for key in SETTING_KEYS if key != "password"}
        return cls(**values, password_set=bool(settings.password))


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttSettingsState:
    """The MQTT settings, which of them are read-only, and what needs attention.

    Attributes:
        settings: The effective values, password left out.
        read_only: Keys set in the config file, which cannot be changed at run time.
        warnings: Problems for people, e.g. a stored password that cannot be decrypted.
    """

    settings: MqttSettingsView
    read_only: tuple[str, ...]
    warnings: tuple[str, ...]


_UNDECRYPTABLE: Final = ("The stored MQTT password cannot be decrypted with this server's "
                         "secret key (CHRONTAINER_SECRET_KEY or secret.key changed): enter it "
                         "again.")


def _cleared_password(values: Mapping[str, Any]) -> dict[str, Any]:
    """``password: null`` in a body means "no password", which the model holds as ""."""
    out = dict(values)
    if "password" in out and out["password"] is None:
        out["password"] = ""
    return out


class MqttSettingsService:
    """Reads and changes the MQTT settings; the config file's ``mqtt:`` section wins.

    The values are one JSON document in the ``settings`` table (key ``mqtt``); the password is
    stored encrypted with the installation's :class:`SecretBox`. A password that cannot be
    decrypted (the secret key changed) counts as unset and shows as a warning: never a crash.

    Args:
        db: The database holding the ``settings`` table.
        secrets: Encrypts the password at rest.
        audit: Where every change is recorded (``mqtt.settings.update``, target ``mqtt``).
        file_overrides: The config file's ``mqtt:`` section; its keys are read-only.
        clock: Source of ``updated_at``; injectable for tests.

    Raises:
        ConfigError: An override is unknown or invalid (path ``mqtt.<key>``).
    """

    def __init__(
        self,
        db: Database,
        secrets: SecretBox,
        audit: AuditTrail,
        *,
        file_overrides: Mapping[str, Any],
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._db = db
        self._secrets = secrets
        self._audit = audit
        self._clock = clock
        self._overrides = validate_file(file_overrides)
        self._stored = _DEFAULTS
        self._current = dataclasses.replace(_DEFAULTS, **self._overrides)
        self._warnings: tuple[str, ...] = ()
        # A stored password token this key cannot decrypt: kept as it is (the right key may
        # come back) until a password is entered or cleared.
        self._lost_token: str | None = None
        self._listeners: list[Callable[[frozenset[str]], object]] = []

    @property
    def current(self) -> MqttSettings:
        """The effective values, as of the last :meth:`load` or :meth:`update`."""
        return self._current

    def laid_over(self, values: Mapping[str, Any]) -> MqttSettings:
        """The current settings with validated ``values`` laid over them, unsaved (what a
        connection test of an unsaved form uses); ``password`` None means no password."""
        return dataclasses.replace(self._current, **_cleared_password(values))

    @property
    def read_only(self) -> tuple[str, ...]:
        """Keys set in the config file, in model order."""
        return tuple(key for key in SETTING_KEYS if key in self._overrides)

    def on_change(self, listener: Callable[[frozenset[str]], object]) -> None:
        """Call ``listener(changed_keys)`` after each update that changed something (awaited
        when it returns an awaitable)."""
        self._listeners.append(listener)

    def state(self) -> MqttSettingsState:
        """The effective values without the password, the read-only keys and the warnings."""
        return MqttSettingsState(settings=MqttSettingsView.of(self._current),
                                 read_only=self.read_only, warnings=self._warnings)

    async def load(self) -> MqttSettings:
        """Read the stored values; a client id is generated and stored when there is none.

        A stored value that no longer validates keeps its default (logged); a password that
        cannot be decrypted is treated as unset, with a warning in :meth:`state`.

        Returns:
            The effective values.
        """
        await self._secrets.ready()  # derives the key off the event loop (once)
        document = await self._read()
        stored: dict[str, Any] = {}
        for key, raw in document.items():
            if key not in VALIDATORS or key == "password":
                continue  # written by a newer version, or a key since removed
            try:
                stored[key] = VALIDATORS[key](raw)
            except vol.Invalid as err:
                # Starting matters more than one bad value; the default applies until re-saved.
                log.warning("mqtt setting %s: ignoring the stored value: %s", key, err.msg)
        warnings: list[str] = []
        self._lost_token = None
        token = document.get(_PASSWORD_TOKEN)
        if isinstance(token, str) and token:
            try:
                stored["password"] = self._secrets.decrypt(token)
            except SecretUnavailable:
                self._lost_token = token
                log.warning("mqtt: the stored broker password cannot be decrypted: the secret "
                            "key changed; it is treated as unset until entered again")
                warnings.append(_UNDECRYPTABLE)
        self._stored = dataclasses.replace(_DEFAULTS, **stored)
        self._warnings = tuple(warnings)
        if not self._stored.client_id and "client_id" not in self._overrides:
            # Unique per instance from the first start on, so two Chrontainers sharing a
            # broker never kick each other off (a broker drops the older of two equal ids).
            self._stored = dataclasses.replace(self._stored, client_id=_new_client_id())
            await self._write(self._stored, lost_token=self._lost_token)
            log.info("mqtt: generated the client id %s", self._stored.client_id)
        self._current = dataclasses.replace(self._stored, **self._overrides)
        return self._current

    async def update(
        self, changes: Mapping[str, object], *, actor: Actor | None = None
    ) -> MqttSettingsState:
        """Change some settings; unchanged values are neither written nor audited.

        Args:
            changes: Key to new value, any subset of the settings; ``password`` None clears
                it; ``client_id`` "" generates a new one.
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
        valid = _cleared_password(valid)
        if valid.get("client_id") == "":
            valid["client_id"] = _new_client_id()
        changed = {k: v for k, v in valid.items() if getattr(self._stored, k) != v}
        if "password" in valid and self._lost_token is not None:
            changed["password"] = valid["password"]  # re-entered (or cleared): store it anew
        if not changed:
            return self.state()
        new = dataclasses.replace(self._stored, **changed)
        lost = None if "password" in changed else self._lost_token
        async with self._audit.track(actor, AUDIT_ACTION, AUDIT_TARGET):
            await self._write(new, lost_token=lost)
        self._stored = new
        if "password" in changed:
            self._lost_token = None
            self._warnings = ()
        self._current = dataclasses.replace(self._stored, **self._overrides)
        # Key names only: the values (the password above all) never reach the log.
        log.info("mqtt settings changed by %s: %s", actor.label, ", ".join(sorted(changed)))
        keys = frozenset(changed)
        for listener in self._listeners:
            result = listener(keys)
            if inspect.isawaitable(result):
                await result
        return self.state()

    async def _read(self) -> dict[str, Any]:
        async with self._db.session() as session:
            row = await session.scalar(select(SettingRow).where(SettingRow.key == SETTINGS_KEY))
        if row is None:
            return {}
        try:
            document = json.loads(row.value)
        except ValueError:
            log.warning("mqtt settings: the stored document is not JSON; using the defaults")
            return {}
        if not isinstance(document, dict):
            log.warning("mqtt settings: the stored document is not an object; using defaults")
            return {}
        return document

    async def _write(self, settings: MqttSettings, *, lost_token: str | None) -> None:
        document: dict[str, Any] = {
            key: getattr(settings, key) for key in SETTING_KEYS if key != "password"
        }
        if settings.password:
            document[_PASSWORD_TOKEN] = self._secrets.encrypt(settings.password)
        elif lost_token is not None:
            document[_PASSWORD_TOKEN] = lost_token
        async with self._db.session() as session:
            # merge: update the row when it exists, insert it otherwise.
            await session.merge(SettingRow(key=SETTINGS_KEY, value=json.dumps(document),
                                           updated_at=self._clock()))
