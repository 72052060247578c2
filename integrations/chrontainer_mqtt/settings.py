"""The MQTT bridge's settings: the model, its validation and where each value comes from.

CONTRACT (written by the lead): the :class:`MqttSettings` model, the enums and the labels are
fixed; the helper owning this module adds the validators, the file-section check and
``MqttSettingsService`` below them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "CONTROL_LABEL",
    "PROTECTED_LABEL",
    "ControlMode",
    "DiscoveryMode",
    "MqttSettings",
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
