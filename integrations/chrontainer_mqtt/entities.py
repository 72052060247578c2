"""What Home Assistant sees of a container, a host and a schedule: tables of entity descriptions.

Each entity is one :class:`EntityDescription` row; ``discovery.py`` turns rows into discovery
configs with one generic builder per platform (the model of Home Assistant's peblar
integration: descriptions plus one generic entity class). Adding an entity is adding a row here
and, when it reads a new field, that field to the payload builder in ``state.py``.

Device classes, units and state classes follow Home Assistant's sensor constants
(``homeassistant/components/sensor/const.py``: ``DEVICE_CLASS_UNITS`` and
``DEVICE_CLASS_STATE_CLASSES``); ``tests/mqtt/ha_schema.py`` checks every config against them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from chrontainer_core.models import Container, ContainerState
from chrontainer_core.scheduling.jobs import RunResult

from .state import EVENT_TYPES

__all__ = [
    "CONTAINER_ENTITIES",
    "HOST_ENTITIES",
    "SCHEDULE_ENTITIES",
    "EntityDescription",
    "Platform",
]


class Platform(enum.StrEnum):
    """The Home Assistant MQTT platforms the bridge uses."""

    SWITCH = "switch"
    BINARY_SENSOR = "binary_sensor"
    SENSOR = "sensor"
    BUTTON = "button"
    UPDATE = "update"
    EVENT = "event"


@dataclass(frozen=True, slots=True, kw_only=True)
class EntityDescription:
    """One entity of a device, as a row of a table.

    Attributes:
        key: The entity's key within its device ("power", "cpu"): part of its unique id and, in
            device discovery, its component id. Never change a key: Home Assistant would see a
            new entity and lose the old one's history.
        platform: The Home Assistant platform.
        name: The entity's name (shown after the device's name).
        leaf: The state topic leaf it reads (``state``, ``stats``, ``update``, ``event``).
        value_key: The JSON field of the state payload it shows (``value_json.<value_key>``);
            None for platforms that read the whole JSON payload (update, event).
        on_when: For switches and binary sensors, the Jinja2 test that makes the state ON,
            written against ``value_json`` (default: the field is true).
        device_class, unit_of_measurement, state_class, entity_category, icon: as in Home
            Assistant.
        options: The values of an enum sensor.
        expire_after: The value goes stale (unavailable) when no message came for the
            context's ``stats_expire_after`` seconds: stats sensors, fed by the sampler.
        command: The command topic leaf (``cmd/<command>``) of switches, buttons and updates.
        payloads: Platform payload options (``payload_on``, ``payload_press``, ...).
        needs_commands: Offered only when commands are allowed for the object.
        condition: When given, the entity exists only for objects it returns True for (a
            health sensor only for containers with a healthcheck).
        enabled_by_default: False for entities most people do not want on a dashboard.
        suggested_display_precision: Decimals Home Assistant shows.
        extra: Further platform options (``event_types``, ``optimistic``).
    """

    key: str
    platform: Platform
    name: str
    leaf: str = "state"
    value_key: str | None = None
    on_when: str | None = None
    device_class: str | None = None
    unit_of_measurement: str | None = None
    state_class: str | None = None
    entity_category: str | None = None
    icon: str | None = None
    options: tuple[str, ...] = ()
    expire_after: bool = False
    command: str | None = None
    payloads: Mapping[str, str] = field(default_factory=dict)
    needs_commands: bool = False
    condition: Callable[[Any], bool] | None = None
    enabled_by_default: bool = True
    suggested_display_precision: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def applies_to(self, obj: Any, *, commands: bool) -> bool:
        """Whether the entity exists for ``obj`` given whether commands are offered."""
        if self.needs_commands and not commands:
            return False
        return self.condition is None or self.condition(obj)


_ON_OFF: Final = {"payload_on": "ON", "payload_off": "OFF"}
_STATE_ON_OFF: Final = {"state_on": "ON", "state_off": "OFF"}
_MEASUREMENT: Final = "measurement"
_CONFIG: Final = "config"
_DIAGNOSTIC: Final = "diagnostic"


def _has_healthcheck(c: Container) -> bool:
    return c.health is not None


# A container's device. Switches and buttons sit in the "config" entity category so that an
# area-wide "turn off" in Home Assistant never stops containers.
CONTAINER_ENTITIES: Final[tuple[EntityDescription, ...]] = (
    EntityDescription(
        key="power", platform=Platform.SWITCH, name="Power", value_key="running",
        entity_category=_CONFIG, icon="mdi:power", command="power",
        payloads={**_ON_OFF, **_STATE_ON_OFF}, needs_commands=True,
        # The switch shows the container's real state, never what was last commanded.
        extra={"optimistic": False},
    ),
    EntityDescription(
        key="running", platform=Platform.BINARY_SENSOR, name="Running", value_key="running",
        device_class="running", payloads=_ON_OFF,
    ),
    EntityDescription(
        key="state", platform=Platform.SENSOR, name="State", value_key="state",
        device_class="enum", options=tuple(s.value for s in ContainerState),
        icon="mdi:docker",
    ),
    EntityDescription(
        key="health", platform=Platform.BINARY_SENSOR, name="Health", value_key="health",
        on_when="value_json.health == 'unhealthy'", device_class="problem",
        payloads=_ON_OFF, condition=_has_healthcheck,
    ),
    EntityDescription(
        key="cpu", platform=Platform.SENSOR, name="CPU", leaf="stats", value_key="cpu_percent",
        unit_of_measurement="%", state_class=_MEASUREMENT, icon="mdi:cpu-64-bit",
        expire_after=True, suggested_display_precision=1,
    ),
    EntityDescription(
        key="memory", platform=Platform.SENSOR, name="Memory", leaf="stats",
        value_key="memory_mib", device_class="data_size", unit_of_measurement="MiB",
        state_class=_MEASUREMENT, icon="mdi:memory", expire_after=True,
        suggested_display_precision=1,
    ),
    EntityDescription(
        key="memory_percent", platform=Platform.SENSOR, name="Memory use", leaf="stats",
        value_key="memory_percent", unit_of_measurement="%", state_class=_MEASUREMENT,
        icon="mdi:memory", expire_after=True, suggested_display_precision=1,
    ),
    EntityDescription(
        key="net_rx", platform=Platform.SENSOR, name="Network received", leaf="stats",
        value_key="net_rx_kib_s", device_class="data_rate", unit_of_measurement="KiB/s",
        state_class=_MEASUREMENT, icon="mdi:download-network", expire_after=True,
        suggested_display_precision=1,
    ),
    EntityDescription(
        key="net_tx", platform=Platform.SENSOR, name="Network sent", leaf="stats",
        value_key="net_tx_kib_s", device_class="data_rate", unit_of_measurement="KiB/s",
        state_class=_MEASUREMENT, icon="mdi:upload-network", expire_after=True,
        suggested_display_precision=1,
    ),
    EntityDescription(
        key="started_at", platform=Platform.SENSOR, name="Started", value_key="started_at",
        device_class="timestamp", entity_category=_DIAGNOSTIC,
    ),
    EntityDescription(
        key="restart", platform=Platform.BUTTON, name="Restart", device_class="restart",
        entity_category=_CONFIG, command="restart", payloads={"payload_press": "PRESS"},
        needs_commands=True,
    ),
    EntityDescription(
        key="pause", platform=Platform.SWITCH, name="Paused", value_key="paused",
        entity_category=_CONFIG, icon="mdi:pause", command="pause",
        payloads={**_ON_OFF, **_STATE_ON_OFF}, needs_commands=True,
        extra={"optimistic": False},
    ),
    # The update entity reads the whole JSON payload (installed_version, latest_version,
    # in_progress, ...); it offers "install" only when commands are allowed.
    EntityDescription(
        key="update", platform=Platform.UPDATE, name="Image", leaf="update",
        command="update", payloads={"payload_install": "install"}, icon="mdi:package-up",
    ),
    EntityDescription(
        key="event", platform=Platform.EVENT, name="Lifecycle", leaf="event",
        icon="mdi:docker", extra={"event_types": list(EVENT_TYPES)},
    ),
)

HOST_ENTITIES: Final[tuple[EntityDescription, ...]] = (
    EntityDescription(
        key="containers", platform=Platform.SENSOR, name="Containers", value_key="containers",
        state_class=_MEASUREMENT, icon="mdi:docker",
    ),
    EntityDescription(
        key="running", platform=Platform.SENSOR, name="Running containers",
        value_key="running", state_class=_MEASUREMENT, icon="mdi:play-circle",
    ),
    EntityDescription(
        key="paused", platform=Platform.SENSOR, name="Paused containers", value_key="paused",
        state_class=_MEASUREMENT, icon="mdi:pause-circle",
    ),
    EntityDescription(
        key="stopped", platform=Platform.SENSOR, name="Stopped containers",
        value_key="stopped", state_class=_MEASUREMENT, icon="mdi:stop-circle",
    ),
    EntityDescription(
        key="images", platform=Platform.SENSOR, name="Images", value_key="images",
        state_class=_MEASUREMENT, icon="mdi:layers",
    ),
    EntityDescription(
        key="disk_usage", platform=Platform.SENSOR, name="Disk usage",
        value_key="disk_usage_gib", device_class="data_size", unit_of_measurement="GiB",
        state_class=_MEASUREMENT, icon="mdi:harddisk", suggested_display_precision=2,
    ),
    EntityDescription(
        key="docker_version", platform=Platform.SENSOR, name="Docker version",
        value_key="docker_version", entity_category=_DIAGNOSTIC, icon="mdi:docker",
    ),
    EntityDescription(
        key="online", platform=Platform.BINARY_SENSOR, name="Online", value_key="online",
        device_class="connectivity", payloads=_ON_OFF,
    ),
)

SCHEDULE_ENTITIES: Final[tuple[EntityDescription, ...]] = (
    EntityDescription(
        key="enabled", platform=Platform.SWITCH, name="Enabled", value_key="enabled",
        entity_category=_CONFIG, icon="mdi:calendar-clock", command="enabled",
        payloads={**_ON_OFF, **_STATE_ON_OFF}, needs_commands=True,
        extra={"optimistic": False},
    ),
    EntityDescription(
        key="run", platform=Platform.BUTTON, name="Run now", entity_category=_CONFIG,
        icon="mdi:play", command="run", payloads={"payload_press": "PRESS"},
        needs_commands=True,
    ),
    EntityDescription(
        key="next_run", platform=Platform.SENSOR, name="Next run", value_key="next_run",
        device_class="timestamp",
    ),
    EntityDescription(
        key="last_run", platform=Platform.SENSOR, name="Last run", value_key="last_run",
        device_class="timestamp",
    ),
    EntityDescription(
        key="last_result", platform=Platform.SENSOR, name="Last result",
        value_key="last_result", device_class="enum",
        options=tuple(r.value for r in RunResult),
    ),
    EntityDescription(
        key="last_duration", platform=Platform.SENSOR, name="Last duration",
        value_key="last_duration", device_class="duration", unit_of_measurement="s",
        state_class=_MEASUREMENT, suggested_display_precision=1,
    ),
)
