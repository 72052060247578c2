"""The MQTT bridge's settings: the model and its validation.

CONTRACT (written by the lead): the :class:`MqttSettings` model, the enums and the labels are
fixed. One validator per key, shared by the config file, the HTTP API and the service, so the
three never disagree about what a valid value is. Where each value comes from (defaults, the
database, the config file) is :mod:`chrontainer_mqtt.settings_service`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import ipaddress
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import voluptuous as vol

from chrontainer_core.errors import ConfigError, InvalidInput
from chrontainer_core.validate import Boolean, Integer, PemCertificates, format_path

__all__ = [
    "CONTROL_LABEL",
    "PROTECTED_LABEL",
    "SETTING_KEYS",
    "TEST_SCHEMA",
    "UPDATE_SCHEMA",
    "VALIDATORS",
    "ControlMode",
    "DiscoveryMode",
    "MqttSettings",
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
    # PEM of the CA certificate(s) the broker's certificate must chain to; "" trusts the
    # system's CAs. A home broker's own CA: not a secret, stored as it is.
    tls_ca_cert: str = ""
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

SETTING_KEYS: Final = tuple(f.name for f in dataclasses.fields(MqttSettings))

_HOST_LABEL: Final = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")
_CLIENT_ID: Final = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_TOPIC_FORBIDDEN: Final = re.compile(r"[+#\s\x00-\x1f\x7f]")


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


class _CaCertificates:
    """The CA certificate(s) to verify the broker with, in PEM form; "" for the system's CAs.

    The text must also load into an :class:`ssl.SSLContext` as it is, so what validates here
    is what the bridge can use (cryptography and OpenSSL do not always agree on PEM).
    """

    json_schema: Final = dict(PemCertificates.json_schema)

    def __call__(self, value: object) -> str:
        if value == "":
            return ""
        if isinstance(value, str):
            if "-----BEGIN CERTIFICATE-----" not in value:
                raise vol.Invalid("must be CA certificates in PEM form (-----BEGIN "
                                  "CERTIFICATE-----), or empty to trust the system's CAs")
            if "PRIVATE KEY-----" in value:
                # It would be stored and shown in the clear: refuse it rather than skip it.
                raise vol.Invalid("holds a private key: give only the CA certificate(s)")
        text = PemCertificates()(value)  # bounded length, and every certificate parses
        try:
            # A bare context: no system CA files read, so cheap enough for a request.
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=text)
        except (ssl.SSLError, ValueError) as err:
            raise vol.Invalid(f"does not load as CA certificates: {err}") from err
        return text


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
    "enabled": Boolean(),
    "host": _BrokerHost(),
    "port": Integer(1, 65535),
    "tls": Boolean(),
    "tls_insecure": Boolean(),
    "tls_ca_cert": _CaCertificates(),
    "username": _Text(128),
    "password": _Text(256),
    "base_topic": _Topic(),
    "discovery_prefix": _Topic(),
    "client_id": _ClientId(),
    "discovery_mode": _Choice(DiscoveryMode),
    "control": _Choice(ControlMode),
    "removed_ttl_hours": Integer(1, 8760, "hours"),
}

_DESCRIPTIONS: Final[Mapping[str, str]] = {
    "enabled": "run the bridge (it also needs a host)",
    "host": "the broker's host name or IP address (no scheme, no port)",
    "port": "the broker's port, 1-65535 (1883; 8883 with TLS)",
    "tls": "connect with TLS",
    "tls_insecure": "accept a broker certificate that does not verify (self-signed)",
    "tls_ca_cert": "PEM of the CA certificate(s) the broker's certificate is signed by, at most "
                   "64 KiB; empty trusts the system's CAs",
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
