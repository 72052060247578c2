"""The MQTT bridge's settings: the model, its validation and where each value comes from.

CONTRACT (written by the lead): the :class:`MqttSettings` model, the enums and the labels are
fixed; the helper owning this module adds the validators, the file-section check and
``MqttSettingsService`` below them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import inspect
import ipaddress
import json
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import voluptuous as vol
from sqlalchemy import select

from chrontainer_core.actor import Actor
from chrontainer_core.errors import ConfigError, Conflict, InvalidInput, SecretUnavailable
from chrontainer_core.store.tables import SettingRow, utc_now
from chrontainer_core.validate import format_path

if TYPE_CHECKING:
    from chrontainer_core.audit import AuditTrail
    from chrontainer_core.secrets import SecretBox
    from chrontainer_core.store.db import Database

__all__ = [
    "AUDIT_ACTION",
    "CONTROL_LABEL",
    "PROTECTED_LABEL",
    "READ_ONLY_REASON",
    "SETTINGS_KEY",
    "SETTING_KEYS",
    "TEST_SCHEMA",
    "UPDATE_SCHEMA",
    "VALIDATORS",
    "ControlMode",
    "DiscoveryMode",
    "MqttSettings",
    "MqttSettingsService",
    "MqttSettingsState",
    "MqttSettingsView",
    "validate_changes",
    "validate_file",
    "validate_probe",
]

# Per-container control (see ControlMode): "true" opts a container in under LABELLED,
# "false" opts it out under ALL.
CONTROL_LABEL: Final = "chrontainer.mqtt.control"
# A container labelled chrontainer.protected=true offers no power switch and refuses commands.
PROTECTED_LABEL: Final = "chrontainer.protected"


class DiscoveryMode(enum.StrEnum):
    """How discovery is published: one config per device (Home Assistant 2024.12+), or the
    older one config per entity."""

    DEVICE = "device"
    COMPONENT = "component"


class ControlMode(enum.StrEnum):
    """Whether MQTT commands act on containers.

    OFF (the default): no command is obeyed and no command entity is offered. ALL: every
    container except those labelled ``chrontainer.mqtt.control=false``. LABELLED: only
    containers labelled ``chrontainer.mqtt.control=true``. Protected containers never obey.
    Schedules obey under ALL and LABELLED.
    """

    OFF = "off"
    ALL = "all"
    LABELLED = "labelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttSettings:
    """The effective MQTT settings (defaults, then the database, then the config file)."""

    enabled: bool = False
    host: str = ""
    port: int = 1883
    tls: bool = False
    # Accept a broker certificate that does not verify (a self-signed home broker).
    tls_insecure: bool = False
    username: str = ""
    # Stored encrypted (SecretBox); never returned by the API nor logged.
    password: str = field(default="", repr=False)
    base_topic: str = "chrontainer"
    discovery_prefix: str = "homeassistant"
    # Unique per instance: generated once ("chrontainer-<8 hex>") and stored when left empty.
    client_id: str = ""
    discovery_mode: DiscoveryMode = DiscoveryMode.DEVICE
    control: ControlMode = ControlMode.OFF
    # A removed container's entities go unavailable at once and are removed after this long.
    removed_ttl_hours: int = 24

    @property
    def configured(self) -> bool:
        """Whether the bridge should run: enabled and a broker named."""
        return self.enabled and bool(self.host)


# ---------------------------------------------------------------------------------------------
# Validation: one validator per key, shared by the config file, the HTTP API and the service,
# so the three never disagree about what a valid value is (as chrontainer_core.settings does).

log = logging.getLogger(__name__)

AUDIT_ACTION: Final = "mqtt.settings.update"
AUDIT_TARGET: Final = "mqtt"
READ_ONLY_REASON: Final = "set in config file"
# The row of the ``settings`` table holding the MQTT settings as one JSON document. The core's
# SettingsService skips keys it does not know, so the two share the table without clashing.
SETTINGS_KEY: Final = "mqtt"
# Where the encrypted password lives inside that document (never the clear text).
_PASSWORD_TOKEN: Final = "password_token"  # noqa: S105 - a key name, not a secret
SETTING_KEYS: Final = tuple(f.name for f in dataclasses.fields(MqttSettings))
_DEFAULTS: Final = MqttSettings()

_HOST_LABEL: Final = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_CLIENT_ID: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_TOPIC_FORBIDDEN: Final = re.compile(r"[+#\s\x00-\x1f\x7f]")


class _Integer:
    """A JSON integer: ``True`` is an ``int`` in Python, but never a port."""

    def __init__(self, low: int, high: int, unit: str) -> None:
        self.low, self.high, self.unit = low, high, unit

    def json_schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.low, "maximum": self.high}

    def __call__(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise vol.Invalid("must be a whole number")
        if not self.low <= value <= self.high:
            raise vol.Invalid(f"must be {self.low} to {self.high}{self.unit}")
        return value


class _Boolean:
    """A real boolean; ``vol.Boolean`` would also take ``"no"`` or ``0`` from an API body."""

    json_schema: Final = {"type": "boolean"}

    def __call__(self, value: object) -> bool:
        if not isinstance(value, bool):
            raise vol.Invalid("must be true or false")
        return value


class _Text:
    """A string of at most ``maximum`` characters, without control characters."""

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "maxLength": self.maximum}

    def __call__(self, value: object) -> str:
        if not isinstance(value, str) or len(value) > self.maximum:
            raise vol.Invalid(f"must be text of at most {self.maximum} characters")
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            raise vol.Invalid("must not contain control characters")
        return value


class _BrokerHost:
    """The broker's host name or IP address, without a scheme or port; "" for none yet."""

    json_schema: Final = {"type": "string", "maxLength": 253}

    def __call__(self, value: object) -> str:
        if not isinstance(value, str) or len(value) > 253:
            raise vol.Invalid("must be a host name or IP address of at most 253 characters")
        if not value:
            return value
        if "://" in value:
            raise vol.Invalid("give the host name or IP address only, without a scheme "
                              "such as mqtt://")
        with contextlib.suppress(ValueError):
            return str(ipaddress.ip_address(value))
        name = value.removesuffix(".")
        if not name or not all(_HOST_LABEL.match(label) for label in name.split(".")):
            hint = " (give the port in its own field)" if ":" in value else ""
            raise vol.Invalid(f"must be a host name or IP address{hint}")
        return value


class _Topic:
    """An MQTT topic prefix: levels separated by "/", no wildcards, no empty level."""

    json_schema: Final = {"type": "string", "minLength": 1, "maxLength": 100}

    def __call__(self, value: object) -> str:
        if not isinstance(value, str) or not 0 < len(value) <= 100:
            raise vol.Invalid("must be 1 to 100 characters")
        if _TOPIC_FORBIDDEN.search(value):
            raise vol.Invalid("must not contain +, #, spaces or control characters")
        if value.startswith("$"):
            raise vol.Invalid("must not start with $ (reserved by brokers)")
        if value.startswith("/") or value.endswith("/") or "//" in value:
            raise vol.Invalid("must not start or end with / nor contain an empty level (//)")
        return value


class _ClientId:
    """An MQTT client id: 1 to 64 of A-Z a-z 0-9 _ . -, or "" to have one generated."""

    json_schema: Final = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{0,64}$"}

    def __call__(self, value: object) -> str:
        if not isinstance(value, str) or (value and not _CLIENT_ID.match(value)):
            raise vol.Invalid("must be up to 64 letters, digits, _ . or -, or empty to have "
                              "one generated")
        return value


class _Choice:
    """One value of a string enum, returned as the enum member."""

    def __init__(self, choices: type[DiscoveryMode] | type[ControlMode]) -> None:
        self.choices = choices

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": [c.value for c in self.choices]}

    def __call__(self, value: object) -> enum.StrEnum:
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            return self.choices(value)
        except ValueError as err:
            allowed = ", ".join(c.value for c in self.choices)
            raise vol.Invalid(f"must be one of {allowed}") from err


VALIDATORS: Final[Mapping[str, Callable[[Any], Any]]] = {
    "enabled": _Boolean(),
    "host": _BrokerHost(),
    "port": _Integer(1, 65535, ""),
    "tls": _Boolean(),
    "tls_insecure": _Boolean(),
    "username": _Text(128),
    "password": _Text(256),
    "base_topic": _Topic(),
    "discovery_prefix": _Topic(),
    "client_id": _ClientId(),
    "discovery_mode": _Choice(DiscoveryMode),
    "control": _Choice(ControlMode),
    "removed_ttl_hours": _Integer(1, 8760, " hours"),
}

_DESCRIPTIONS: Final[Mapping[str, str]] = {
    "enabled": "run the bridge (it also needs a host)",
    "host": "the broker's host name or IP address (no scheme, no port)",
    "port": "the broker's port, 1-65535 (1883; 8883 with TLS)",
    "tls": "connect with TLS",
    "tls_insecure": "accept a broker certificate that does not verify (self-signed)",
    "username": "the broker login, at most 128 characters (empty: anonymous)",
    "password": "write-only, at most 256 characters; null clears it",
    "base_topic": "the prefix of every Chrontainer topic (no wildcards, no empty level)",
    "discovery_prefix": "Home Assistant's discovery prefix (homeassistant)",
    "client_id": "unique per instance; empty generates one (chrontainer-<8 hex>)",
    "discovery_mode": "device: one config per device (Home Assistant 2024.12+); component: "
                      "one per entity",
    "control": "whether MQTT commands act: off, all (except containers labelled "
               "chrontainer.mqtt.control=false) or labelled (only those labelled true)",
    "removed_ttl_hours": "hours a removed container's entities stay before they are removed "
                         "(1-8760)",
}


def _body_schema(*, at_least_one: bool) -> vol.Schema:
    keys: dict[Any, Any] = {
        vol.Optional(key, description=_DESCRIPTIONS[key]): VALIDATORS[key]
        for key in SETTING_KEYS if key != "password"
    }
    # A string sets the password, null clears it, absent keeps the stored one.
    keys[vol.Optional("password", description=_DESCRIPTIONS["password"])] = vol.Maybe(
        VALIDATORS["password"])
    if at_least_one:
        return vol.Schema(vol.All(keys, vol.Length(min=1, msg="give at least one setting")),
                          extra=vol.PREVENT_EXTRA)
    return vol.Schema(keys, extra=vol.PREVENT_EXTRA)


# A partial update: any subset of the keys, at least one, nothing else.
UPDATE_SCHEMA: Final = _body_schema(at_least_one=True)
# A connection test: the stored settings with any of these laid over them (none: as stored).
TEST_SCHEMA: Final = _body_schema(at_least_one=False)


def _validate(schema: vol.Schema, changes: object) -> dict[str, Any]:
    if not isinstance(changes, Mapping):
        raise InvalidInput("the MQTT settings must be a mapping of key to value")
    try:
        valid: dict[str, Any] = schema(dict(changes))
    except vol.Invalid as err:
        field_name = format_path(err.path) or None
        message = "unknown setting" if err.msg == "extra keys not allowed" else err.msg
        raise InvalidInput(message, field=field_name) from err
    return valid


def validate_changes(changes: object) -> dict[str, Any]:
    """Validate a partial update (``password`` may be None: clear it).

    Returns:
        The normalized values (enums for the modes).

    Raises:
        InvalidInput: Not a mapping, empty, an unknown key or a bad value; ``field`` names it.
    """
    return _validate(UPDATE_SCHEMA, changes)


def validate_probe(values: object) -> dict[str, Any]:
    """Validate the values a connection test lays over the stored settings (may be empty).

    Raises:
        InvalidInput: Not a mapping, an unknown key or a bad value; ``field`` names it.
    """
    return _validate(TEST_SCHEMA, values)


def validate_file(section: object) -> dict[str, Any]:
    """Validate the config file's ``mqtt:`` section.

    Args:
        section: The raw mapping (``Config.mqtt``).

    Returns:
        The normalized values of the keys it sets.

    Raises:
        ConfigError: Not a mapping, an unknown key or a bad value (path ``mqtt.<key>``).
    """
    if not isinstance(section, Mapping):
        raise ConfigError("must be a mapping of MQTT settings", path="mqtt")
    valid: dict[str, Any] = {}
    for key, value in section.items():
        if key not in VALIDATORS:
            known = ", ".join(SETTING_KEYS)
            raise ConfigError(f"unknown MQTT setting (known: {known})", path=f"mqtt.{key}")
        try:
            valid[key] = VALIDATORS[key](value)
        except vol.Invalid as err:
            raise ConfigError(err.msg, path=f"mqtt.{key}") from err
    return valid


def _new_client_id() -> str:
    return f"chrontainer-{secrets.token_hex(4)}"


# ---------------------------------------------------------------------------------------------
# The service: where each value comes from, and changes.


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttSettingsView:
    """The MQTT settings as the API and the UI show them: never the password, only whether
    one is set."""

    enabled: bool
    host: str
    port: int
    tls: bool
    tls_insecure: bool
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
        for key in valid:
            if key in self._overrides:
                raise Conflict(
                    f"{key} is {READ_ONLY_REASON} and cannot be changed here",
                    details={"field": key, "reason": READ_ONLY_REASON},
                )
        if "password" in valid and valid["password"] is None:
            valid["password"] = ""
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
