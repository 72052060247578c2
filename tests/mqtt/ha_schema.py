"""What Home Assistant's MQTT discovery accepts, as a table, and a validator of payloads.

Written from Home Assistant's own sources and documentation, independently of our entity
tables, so that a wrong config fails here before it fails in someone's Home Assistant:

- ``homeassistant/components/mqtt/schemas.py`` (MQTT_ENTITY_COMMON_SCHEMA, the availability,
  device and origin schemas) and ``discovery.py`` / ``schemas.py`` DEVICE_DISCOVERY_SCHEMA (the
  device-discovery top level: device, origin, components, the shared options);
- ``homeassistant/components/mqtt/{sensor,binary_sensor,switch,button,update,event}.py`` (each
  platform's PLATFORM_SCHEMA_MODERN; sensor's checks of options / state class / unit);
- ``homeassistant/components/mqtt/abbreviations.py`` (ABBREVIATIONS, DEVICE_ABBREVIATIONS,
  ORIGIN_ABBREVIATIONS);
- ``homeassistant/components/sensor/const.py`` (SensorDeviceClass, DEVICE_CLASS_UNITS,
  DEVICE_CLASS_STATE_CLASSES), ``binary_sensor/__init__.py``, ``button/__init__.py``,
  ``switch/__init__.py``, ``update/const.py``, ``event/const.py`` (device classes);
- the MQTT documentation (https://www.home-assistant.io/integrations/mqtt/): ``unique_id`` is
  required for device-discovery components; ``object_id`` is deprecated (2025.10) in favour of
  ``default_entity_id`` ("<platform>.<object id>").
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

# --- abbreviations (the subset that can occur for our platforms) ---------------------------------

ABBREVIATIONS: Final = {
    "avty": "availability", "avty_mode": "availability_mode", "avty_t": "availability_topic",
    "avty_tpl": "availability_template", "cmd_t": "command_topic", "cmd_tpl": "command_template",
    "cmps": "components", "def_ent_id": "default_entity_id", "dev": "device",
    "dev_cla": "device_class", "e": "encoding", "en": "enabled_by_default",
    "ent_cat": "entity_category", "ent_pic": "entity_picture", "evt_typ": "event_types",
    "exp_aft": "expire_after", "frc_upd": "force_update", "ic": "icon",
    "json_attr_t": "json_attributes_topic", "json_attr_tpl": "json_attributes_template",
    "l_ver_t": "latest_version_topic", "l_ver_tpl": "latest_version_template",
    "lrst_val_tpl": "last_reset_value_template", "o": "origin", "obj_id": "object_id",
    "off_dly": "off_delay", "ops": "options", "opt": "optimistic", "p": "platform",
    "pl_avail": "payload_available", "pl_inst": "payload_install",
    "pl_not_avail": "payload_not_available", "pl_off": "payload_off", "pl_on": "payload_on",
    "pl_prs": "payload_press", "ret": "retain", "rel_s": "release_summary",
    "rel_u": "release_url", "stat_cla": "state_class", "stat_off": "state_off",
    "stat_on": "state_on", "stat_t": "state_topic", "sug_dsp_prc": "suggested_display_precision",
    "dsp_prc": "display_precision", "t": "topic", "uniq_id": "unique_id",
    "unit_of_meas": "unit_of_measurement", "val_tpl": "value_template", "qos": "qos",
}
DEVICE_ABBREVIATIONS: Final = {
    "cns": "connections", "cu": "configuration_url", "ids": "identifiers", "mf": "manufacturer",
    "mdl": "model", "mdl_id": "model_id", "hw": "hw_version", "sw": "sw_version",
    "sa": "suggested_area", "sn": "serial_number",
}
ORIGIN_ABBREVIATIONS: Final = {"sw": "sw_version", "url": "support_url"}

# --- keys ----------------------------------------------------------------------------------------

AVAILABILITY_KEYS: Final = frozenset({
    "availability", "availability_mode", "availability_topic", "availability_template",
    "payload_available", "payload_not_available",
})
AVAILABILITY_ITEM_KEYS: Final = frozenset({
    "topic", "payload_available", "payload_not_available", "value_template",
})
AVAILABILITY_MODES: Final = frozenset({"all", "any", "latest"})
DEVICE_KEYS: Final = frozenset({
    "identifiers", "connections", "manufacturer", "model", "model_id", "name", "hw_version",
    "serial_number", "sw_version", "via_device", "suggested_area", "configuration_url",
})
ORIGIN_KEYS: Final = frozenset({"name", "sw_version", "support_url"})
# MQTT_ENTITY_COMMON_SCHEMA plus what every platform has (qos, encoding, name, ~).
COMMON_KEYS: Final = AVAILABILITY_KEYS | {
    "device", "origin", "enabled_by_default", "entity_category", "entity_picture", "icon",
    "json_attributes_topic", "json_attributes_template", "object_id", "default_entity_id",
    "unique_id", "qos", "encoding", "name", "~",
}
# Options shared through a device-discovery message (DEVICE_DISCOVERY_SCHEMA).
DEVICE_DISCOVERY_KEYS: Final = AVAILABILITY_KEYS | {
    "device", "origin", "components", "state_topic", "command_topic", "qos", "encoding", "~",
}

PLATFORM_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "sensor": COMMON_KEYS | {
        "state_topic", "value_template", "device_class", "expire_after", "force_update",
        "last_reset_value_template", "options", "state_class", "suggested_display_precision",
        "unit_of_measurement",
    },
    "binary_sensor": COMMON_KEYS | {
        "state_topic", "value_template", "device_class", "expire_after", "force_update",
        "off_delay", "payload_on", "payload_off",
    },
    "switch": COMMON_KEYS | {
        "command_topic", "command_template", "device_class", "optimistic", "payload_on",
        "payload_off", "retain", "state_on", "state_off", "state_topic", "value_template",
    },
    "button": COMMON_KEYS | {
        "command_topic", "command_template", "device_class", "payload_press", "retain",
    },
    "update": COMMON_KEYS | {
        "command_topic", "device_class", "display_precision", "latest_version_template",
        "latest_version_topic", "payload_install", "release_summary", "release_url", "retain",
        "state_topic", "title", "value_template",
    },
    "event": COMMON_KEYS | {
        "state_topic", "value_template", "device_class", "event_types",
    },
}
REQUIRED_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "sensor": frozenset({"state_topic"}),
    "binary_sensor": frozenset({"state_topic"}),
    "switch": frozenset({"command_topic"}),
    "button": frozenset({"command_topic"}),
    "update": frozenset(),
    "event": frozenset({"state_topic", "event_types"}),
}
# The JSON an update entity's state topic may carry (mqtt/update.py, _handle_state_message).
UPDATE_STATE_KEYS: Final = frozenset({
    "installed_version", "latest_version", "title", "release_summary", "release_url",
    "entity_picture", "in_progress", "update_percentage",
})

# --- device classes, units, state classes --------------------------------------------------------

SENSOR_DEVICE_CLASSES: Final = frozenset({
    "absolute_humidity", "apparent_power", "aqi", "area", "atmospheric_pressure", "battery",
    "blood_glucose_concentration", "carbon_dioxide", "carbon_monoxide", "conductivity",
    "current", "data_rate", "data_size", "date", "distance", "duration", "energy",
    "energy_distance", "energy_storage", "enum", "frequency", "gas", "humidity", "illuminance",
    "irradiance", "moisture", "monetary", "nitrogen_dioxide", "nitrogen_monoxide",
    "nitrous_oxide", "ozone", "ph", "pm1", "pm10", "pm25", "pm4", "power", "power_factor",
    "precipitation", "precipitation_intensity", "pressure", "reactive_energy",
    "reactive_power", "signal_strength", "sound_pressure", "speed", "sulphur_dioxide",
    "temperature", "timestamp", "volatile_organic_compounds",
    "volatile_organic_compounds_parts", "voltage", "volume", "volume_flow_rate",
    "volume_storage", "water", "weight", "wind_direction", "wind_speed",
})
BINARY_SENSOR_DEVICE_CLASSES: Final = frozenset({
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
    "garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving", "occupancy",
    "opening", "plug", "power", "presence", "problem", "running", "safety", "smoke", "sound",
    "tamper", "update", "vibration", "window",
})
DEVICE_CLASSES: Final[Mapping[str, frozenset[str]]] = {
    "sensor": SENSOR_DEVICE_CLASSES,
    "binary_sensor": BINARY_SENSOR_DEVICE_CLASSES,
    "switch": frozenset({"outlet", "switch"}),
    "button": frozenset({"identify", "restart", "update"}),
    "update": frozenset({"firmware"}),
    "event": frozenset({"button", "doorbell", "motion"}),
}
STATE_CLASSES: Final = frozenset({"measurement", "measurement_angle", "total",
                                  "total_increasing"})
_ALL_STATE_CLASSES: Final = STATE_CLASSES - {"measurement_angle"}
# DEVICE_CLASS_UNITS for the classes we use or that a mistake could pick (None: no unit).
_INFORMATION: Final = frozenset({
    "bit", "kbit", "Mbit", "Gbit", "B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB",
    "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB",
})
_DATA_RATE: Final = frozenset({
    "bit/s", "kbit/s", "Mbit/s", "Gbit/s", "B/s", "kB/s", "MB/s", "GB/s", "KiB/s", "MiB/s",
    "GiB/s",
})
DEVICE_CLASS_UNITS: Final[Mapping[str, frozenset[str | None]]] = {
    "data_size": frozenset(_INFORMATION),
    "data_rate": frozenset(_DATA_RATE),
    "duration": frozenset({"d", "h", "min", "s", "ms", "μs"}),
    "battery": frozenset({"%"}),
    "humidity": frozenset({"%"}),
    "moisture": frozenset({"%"}),
    "power_factor": frozenset({"%", None}),
    "aqi": frozenset({None}),
    "ph": frozenset({None}),
}
# DEVICE_CLASS_STATE_CLASSES for the same classes.
DEVICE_CLASS_STATE_CLASSES: Final[Mapping[str, frozenset[str]]] = {
    "data_size": _ALL_STATE_CLASSES,
    "data_rate": frozenset({"measurement"}),
    "duration": _ALL_STATE_CLASSES,
    "battery": frozenset({"measurement"}),
    "humidity": frozenset({"measurement"}),
    "moisture": frozenset({"measurement"}),
    "power_factor": frozenset({"measurement"}),
    "aqi": frozenset({"measurement"}),
    "ph": frozenset({"measurement"}),
    "date": frozenset(),
    "enum": frozenset(),
    "timestamp": frozenset(),
}
# Non-numeric sensors: no unit and no state class (sensor/__init__.py and mqtt/sensor.py).
NON_NUMERIC_SENSOR_CLASSES: Final = frozenset({"date", "enum", "timestamp"})
ENTITY_CATEGORIES: Final = frozenset({"config", "diagnostic"})
# homeassistant/core.py valid_entity_id: lower-case words joined by single underscores.
_ENTITY_ID = re.compile(r"^(?!.+__)(?!_)[\da-z_]+(?<!_)\.(?!_)[\da-z_]+(?<!_)$")


# --- validation ----------------------------------------------------------------------------------


def _expand(data: Mapping[str, Any], table: Mapping[str, str]) -> dict[str, Any]:
    return {table.get(key, key): value for key, value in data.items()}


def _check_device(device: Any, where: str) -> list[str]:
    if not isinstance(device, Mapping):
        return [f"{where}: device must be an object"]
    dev = _expand(device, DEVICE_ABBREVIATIONS)
    problems = [f"{where}: unknown device key {k!r}" for k in sorted(dev.keys() - DEVICE_KEYS)]
    if not dev.get("identifiers") and not dev.get("connections"):
        problems.append(f"{where}: device needs identifiers or connections")
    ids = dev.get("identifiers", [])
    if not isinstance(ids, list | str) or (isinstance(ids, list)
                                           and not all(isinstance(i, str) for i in ids)):
        problems.append(f"{where}: device identifiers must be strings")
    for key in DEVICE_KEYS - {"identifiers", "connections"}:
        if key in dev and not isinstance(dev[key], str):
            problems.append(f"{where}: device {key} must be a string")
    return problems


def _check_origin(origin: Any, where: str) -> list[str]:
    if not isinstance(origin, Mapping):
        return [f"{where}: origin must be an object"]
    org = _expand(origin, ORIGIN_ABBREVIATIONS)
    problems = [f"{where}: unknown origin key {k!r}" for k in sorted(org.keys() - ORIGIN_KEYS)]
    if not isinstance(org.get("name"), str) or not org.get("name"):
        problems.append(f"{where}: origin needs a name")
    return problems


def _check_availability(cfg: Mapping[str, Any], where: str) -> list[str]:
    problems: list[str] = []
    if "availability" in cfg and "availability_topic" in cfg:
        problems.append(f"{where}: availability and availability_topic are exclusive")
    if "availability_mode" in cfg and cfg["availability_mode"] not in AVAILABILITY_MODES:
        problems.append(f"{where}: bad availability_mode {cfg['availability_mode']!r}")
    items = cfg.get("availability", [])
    if not isinstance(items, list):
        return [*problems, f"{where}: availability must be a list"]
    for item in items:
        if not isinstance(item, Mapping):
            problems.append(f"{where}: availability item must be an object")
            continue
        it = _expand(item, ABBREVIATIONS)
        problems += [f"{where}: unknown availability key {k!r}"
                     for k in sorted(it.keys() - AVAILABILITY_ITEM_KEYS)]
        if not isinstance(it.get("topic"), str) or not it["topic"]:
            problems.append(f"{where}: availability item needs a topic")
    return problems


def _check_sensor(cfg: Mapping[str, Any], where: str) -> list[str]:
    problems: list[str] = []
    dc = str(cfg.get("device_class"))  # "None" when absent: in none of the tables
    unit = cfg.get("unit_of_measurement")
    sc = cfg.get("state_class")
    if sc is not None and sc not in STATE_CLASSES:
        problems.append(f"{where}: bad state_class {sc!r}")
    if "options" in cfg:
        if dc != "enum":
            problems.append(f"{where}: options need device_class enum")
        if not isinstance(cfg["options"], list) or not cfg["options"]:
            problems.append(f"{where}: options must be a non-empty list")
    elif dc == "enum":
        problems.append(f"{where}: device_class enum needs options")
    if dc in NON_NUMERIC_SENSOR_CLASSES or "options" in cfg:
        if unit is not None:
            problems.append(f"{where}: a {dc} sensor takes no unit_of_measurement")
        if sc is not None:
            problems.append(f"{where}: a {dc} sensor takes no state_class")
    if dc in DEVICE_CLASS_UNITS and unit not in DEVICE_CLASS_UNITS[dc]:
        problems.append(f"{where}: unit {unit!r} is not valid for device_class {dc}")
    if dc in DEVICE_CLASS_STATE_CLASSES and sc is not None \
            and sc not in DEVICE_CLASS_STATE_CLASSES[dc]:
        problems.append(f"{where}: state_class {sc!r} is not valid for device_class {dc}")
    if "last_reset_value_template" in cfg and sc != "total":
        problems.append(f"{where}: last_reset_value_template needs state_class total")
    if "suggested_display_precision" in cfg and (
            not isinstance(cfg["suggested_display_precision"], int)
            or cfg["suggested_display_precision"] < 0):
        problems.append(f"{where}: suggested_display_precision must be an int >= 0")
    return problems


def _check_entity(platform: str, raw: Mapping[str, Any], where: str, *,
                  in_device: bool) -> list[str]:
    cfg = _expand(raw, ABBREVIATIONS)
    if platform not in PLATFORM_KEYS:
        return [f"{where}: unsupported platform {platform!r}"]
    allowed = PLATFORM_KEYS[platform] | ({"platform"} if in_device else set())
    problems = [f"{where}: unknown key {k!r}" for k in sorted(cfg.keys() - allowed)]
    problems += [f"{where}: missing {k!r}" for k in sorted(REQUIRED_KEYS[platform] - cfg.keys())]
    if "object_id" in cfg:
        problems.append(f"{where}: object_id is deprecated, use default_entity_id")
    if in_device and not cfg.get("unique_id"):
        problems.append(f"{where}: device-discovery components need a unique_id")
    if "default_entity_id" in cfg:
        value = cfg["default_entity_id"]
        if not isinstance(value, str) or not _ENTITY_ID.match(value) \
                or value.split(".", 1)[0] != platform:
            problems.append(f"{where}: default_entity_id {value!r} is not {platform}.<slug>")
    dc = cfg.get("device_class")
    if dc is not None and dc not in DEVICE_CLASSES[platform]:
        problems.append(f"{where}: device_class {dc!r} is not valid for {platform}")
    category = cfg.get("entity_category")
    if category is not None and category not in ENTITY_CATEGORIES:
        problems.append(f"{where}: bad entity_category {category!r}")
    if category == "config" and platform in ("sensor", "binary_sensor"):
        problems.append(f"{where}: entity_category config is invalid for {platform}")
    if "qos" in cfg and cfg["qos"] not in (0, 1, 2):
        problems.append(f"{where}: qos must be 0, 1 or 2")
    if "expire_after" in cfg and (not isinstance(cfg["expire_after"], int)
                                  or cfg["expire_after"] <= 0):
        problems.append(f"{where}: expire_after must be a positive int")
    for key in ("state_topic", "command_topic"):
        topic = cfg.get(key)
        if key in cfg and (not isinstance(topic, str) or not topic
                           # one publishes on a command topic: no wildcards there
                           or (key == "command_topic" and ("+" in topic or "#" in topic))):
            problems.append(f"{where}: bad {key} {topic!r}")
    if platform == "sensor":
        problems += _check_sensor(cfg, where)
    if platform == "event":
        types = cfg.get("event_types")
        if not isinstance(types, list) or not types \
                or not all(isinstance(t, str) and t for t in types):
            problems.append(f"{where}: event_types must be a non-empty list of strings")
    if "device" in cfg:
        problems += _check_device(cfg["device"], where)
    if "origin" in cfg:
        problems += _check_origin(cfg["origin"], where)
    problems += _check_availability(cfg, where)
    return problems


def _check_device_discovery(raw: Mapping[str, Any]) -> list[str]:
    cfg = _expand(raw, ABBREVIATIONS)
    problems = [f"device: unknown key {k!r}" for k in sorted(cfg.keys() - DEVICE_DISCOVERY_KEYS)]
    for key in ("device", "origin", "components"):
        if key not in cfg:
            problems.append(f"device: missing {key!r}")
    if "device" in cfg:
        problems += _check_device(cfg["device"], "device")
    if "origin" in cfg:
        problems += _check_origin(cfg["origin"], "device")
    problems += _check_availability(cfg, "device")
    if "qos" in cfg and cfg["qos"] not in (0, 1, 2):
        problems.append("device: qos must be 0, 1 or 2")
    components = cfg.get("components", {})
    if not isinstance(components, Mapping):
        return [*problems, "device: components must be an object"]
    # Options shared at the top level apply to every component (discovery.py merges them).
    shared = {k: v for k, v in cfg.items() if k in DEVICE_DISCOVERY_KEYS - {"components"}}
    for cid, comp in components.items():
        where = f"components.{cid}"
        if not isinstance(comp, Mapping):
            problems.append(f"{where}: must be an object")
            continue
        entity = _expand(comp, ABBREVIATIONS)
        platform = entity.get("platform")
        if not isinstance(platform, str) or platform not in PLATFORM_KEYS:
            problems.append(f"{where}: bad platform {platform!r}")
            continue
        if set(entity) == {"platform"}:
            continue  # the removal form: Home Assistant removes this component
        problems += _check_entity(platform, {**shared, **entity}, where, in_device=True)
    return problems


def validate_config(platform: str, payload: Mapping[str, Any] | str) -> list[str]:
    """The problems Home Assistant would have with a discovery payload ([] when none).

    Args:
        platform: The platform of a per-component config (``sensor``, ``switch``, ...), or
            ``device`` for a device-discovery message.
        payload: The payload, parsed or as JSON text.
    """
    data = json.loads(payload) if isinstance(payload, str) else payload
    if not isinstance(data, Mapping):
        return ["payload must be a JSON object"]
    if platform == "device":
        return _check_device_discovery(data)
    return _check_entity(platform, data, platform, in_device=False)
