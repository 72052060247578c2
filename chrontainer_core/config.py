"""Bootstrap configuration: the YAML config file, then environment variables (DESIGN §3c).

Only values needed before the database is open live here (bind address, data dir, database URL,
secret key, trusted proxies, log level, hosts to upsert at start, Docker timeouts) and the
metrics sampler's pace. Everything a user edits in the UI lives in the database, except that
a value under ``settings:`` in the file pins that setting (read-only in the UI; see
:mod:`chrontainer_core.settings`).

Precedence, lowest first: built-in defaults, the config file, environment variables. An empty
environment variable counts as unset, as it does for most daemons, so ``CHRONTAINER_PORT=`` in a
compose file does not become an error.

This is the only module that reads ``DOCKER_HOST``.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import voluptuous as vol
import yaml
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from chrontainer_core.errors import ConfigError
from chrontainer_core.models import HostSpec
from chrontainer_core.settings import FILE_SCHEMA as SETTINGS_FILE_SCHEMA
from chrontainer_core.validate import DockerUrl, HostName, Slug, format_path

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_DOCKER_URL",
    "LOG_LEVELS",
    "Config",
    "IPNetwork",
    "load_config",
]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_DOCKER_URL: Final = "unix:///var/run/docker.sock"
DEFAULT_DATA_DIR: Final = Path("./data")
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
_DB_FILE: Final = "chrontainer.db"


def _default_database_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir.absolute() / _DB_FILE}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """Validated bootstrap configuration; build it with :func:`load_config`."""

    bind_host: str = "127.0.0.1"
    port: int = 5000
    data_dir: Path = DEFAULT_DATA_DIR
    # Empty means "chrontainer.db in data_dir"; __post_init__ fills in the absolute URL.
    # repr=False: a PostgreSQL URL may carry a password.
    database_url: str = field(default="", repr=False)
    # repr=False: a logged Config must never show the key.
    secret_key: str | None = field(default=None, repr=False)
    trusted_proxies: tuple[IPNetwork, ...] = ()
    log_level: str = "INFO"
    hosts: tuple[HostSpec, ...] = ()
    default_docker_url: str = DEFAULT_DOCKER_URL
    host_poll_interval: float = 1.0
    docker_connect_timeout: float = 5.0
    docker_request_timeout: float = 30.0
    # How often a host with a quiet events stream is asked whether it still answers: a
    # half-open connection (a NAS that lost power) would otherwise look online forever.
    docker_heartbeat_interval: float = 10.0
    # /system/df is expensive on big hosts; the design asks to keep it at least 5 minutes.
    disk_usage_ttl: float = 300.0
    # Seconds between two stats samples of each running container (CPU % and I/O rates
    # are averages over this interval).
    metrics_interval: float = 15.0
    # Stats requests in flight per host. Engine 20.10 answers one-shot stats requests on a
    # shared one-second tick, so a round takes about (running containers / concurrency)
    # seconds: 16 keeps 200 containers inside the 15 s interval, and the engine does one
    # collection pass per tick for all of them instead of one tick per few containers.
    metrics_concurrency: int = 16
    # The config file's ``settings:``: these values win over the database and are read-only
    # at run time (chrontainer_core.settings). hash=False: a dict cannot be hashed.
    settings: Mapping[str, Any] = field(default_factory=dict, hash=False)
    # The ``mqtt:`` section of the config file, unvalidated here: chrontainer_mqtt.settings
    # checks it when the server starts. Values set there win and are read-only in the UI.
    mqtt: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not self.database_url:
            # Frozen dataclass: object.__setattr__ is the sanctioned way to derive a field.
            object.__setattr__(self, "database_url", _default_database_url(self.data_dir))

    @property
    def _url(self) -> URL:
        return make_url(self.database_url)

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is SQLite (file lock, WAL pragmas) rather than PostgreSQL."""
        return self._url.get_backend_name() == "sqlite"

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite database file, or None for PostgreSQL and in-memory SQLite."""
        url = self._url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return Path(url.database)


# --- value validators (shared by the file schema and the environment) -----------------------


def _port(value: object) -> int:
    # bool is an int subclass: "port: yes" in YAML must not become port 1.
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return value
    raise vol.Invalid("must be a whole number from 1 to 65535")


def _seconds(value: object) -> float:
    try:
        if isinstance(value, bool):
            raise TypeError
        seconds = float(value)  # type: ignore[arg-type]  # str/int/float; others raise
    except (TypeError, ValueError) as err:
        raise vol.Invalid("must be a number of seconds") from err
    if not math.isfinite(seconds) or seconds <= 0:
        raise vol.Invalid("must be a number of seconds greater than 0")
    return seconds


def _concurrency(value: object) -> int:
    # bool is an int subclass: "concurrency: yes" must not become 1.
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 64:
        return value
    raise vol.Invalid("must be a whole number from 1 to 64")


def _log_level(value: object) -> str:
    if isinstance(value, str) and value.strip().upper() in LOG_LEVELS:
        return value.strip().upper()
    raise vol.Invalid(f"must be one of {', '.join(LOG_LEVELS)}")


def _non_empty(what: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise vol.Invalid(f"must be a non-empty {what}")
        return value.strip()

    return check


def _bind(value: object) -> str:
    host = _non_empty("address")(value)
    if any(ch.isspace() for ch in host):
        raise vol.Invalid("must be an IP address or host name without spaces")
    return host


def _path(value: object) -> Path:
    # absolute() (not resolve()) so validation never touches the filesystem.
    return Path(_non_empty("path")(value)).expanduser().absolute()


def _network(value: object) -> IPNetwork:
    try:
        # strict=False accepts a single address ("10.0.0.7" -> 10.0.0.7/32).
        return ipaddress.ip_network(_non_empty("network")(value), strict=False)
    except ValueError as err:
        raise vol.Invalid("must be an IP address or network in CIDR form, e.g. 10.0.0.0/8") from err


def _network_list(value: object) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs, as the environment variable spells them."""
    if not isinstance(value, str):
        raise vol.Invalid("must be a comma-separated list of CIDRs")
    return tuple(_network(part) for part in value.split(",") if part.strip())


# SQLAlchemy needs an async driver; the plain spellings users know are mapped to it.
_ASYNC_DRIVERS: Final = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}


def _database_url(value: object) -> str:
    text = _non_empty("URL")(value)
    try:
        url = make_url(text)
    except ArgumentError as err:
        raise vol.Invalid("is not a database URL, e.g. sqlite:///data/chrontainer.db") from err
    driver = _ASYNC_DRIVERS.get(url.drivername)
    if driver is None:
        raise vol.Invalid(
            f"uses unsupported driver '{url.drivername}'; use sqlite(+aiosqlite):// "
            "or postgresql(+asyncpg)://"
        )
    return url.set(drivername=driver).render_as_string(hide_password=False)


_HOST_SCHEMA: Final = vol.Schema(
    {
        vol.Required("slug"): Slug(),
        vol.Optional("name"): HostName,
        vol.Required("url"): DockerUrl(),
    }
)

_FILE_SCHEMA: Final = vol.Schema(
    {
        vol.Optional("bind"): _bind,
        vol.Optional("port"): _port,
        vol.Optional("data_dir"): _path,
        vol.Optional("database_url"): _database_url,
        vol.Optional("secret_key"): _non_empty("string"),
        vol.Optional("trusted_proxies"): [_network],
        vol.Optional("log_level"): _log_level,
        vol.Optional("hosts"): [_HOST_SCHEMA],
        vol.Optional("host_poll_interval"): _seconds,
        vol.Optional("metrics"): {
            vol.Optional("interval"): _seconds,
            vol.Optional("concurrency"): _concurrency,
        },
        vol.Optional("settings"): SETTINGS_FILE_SCHEMA,
        # The MQTT bridge's settings; the bridge (chrontainer_mqtt.settings) validates the keys,
        # since the core knows nothing about MQTT (DESIGN §1).
        vol.Optional("mqtt"): dict,
        vol.Optional("docker"): {
            vol.Optional("url"): DockerUrl(),
            vol.Optional("connect_timeout"): _seconds,
            vol.Optional("request_timeout"): _seconds,
            vol.Optional("heartbeat_interval"): _seconds,
            vol.Optional("disk_usage_ttl"): vol.All(
                _seconds, vol.Range(min=300, msg="must be at least 300 seconds")
            ),
        },
    },
    extra=vol.PREVENT_EXTRA,
)

# Environment variable -> (Config field, validator).
_ENV: Final[dict[str, tuple[str, Callable[[object], Any]]]] = {
    "CHRONTAINER_BIND": ("bind_host", _bind),
    "CHRONTAINER_PORT": ("port", _port),
    "CHRONTAINER_DATA_DIR": ("data_dir", _path),
    "CHRONTAINER_DATABASE_URL": ("database_url", _database_url),
    "CHRONTAINER_SECRET_KEY": ("secret_key", _non_empty("string")),
    "CHRONTAINER_TRUSTED_PROXIES": ("trusted_proxies", _network_list),
    "CHRONTAINER_LOG_LEVEL": ("log_level", _log_level),
    "DOCKER_HOST": ("default_docker_url", DockerUrl()),
}

# Top-level file key -> Config field, for keys that map one to one.
_FILE_FIELDS: Final = {
    "bind": "bind_host",
    "port": "port",
    "data_dir": "data_dir",
    "database_url": "database_url",
    "secret_key": "secret_key",
    "log_level": "log_level",
    "host_poll_interval": "host_poll_interval",
}
_DOCKER_FIELDS: Final = {
    "url": "default_docker_url",
    "connect_timeout": "docker_connect_timeout",
    "request_timeout": "docker_request_timeout",
    "heartbeat_interval": "docker_heartbeat_interval",
    "disk_usage_ttl": "disk_usage_ttl",
}
_METRICS_FIELDS: Final = {
    "interval": "metrics_interval",
    "concurrency": "metrics_concurrency",
}


# --- loading ----------------------------------------------------------------------------------


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Load the bootstrap configuration from the config file and the environment.

    Reads a small local file synchronously: call it before the event loop starts. It never
    touches the database and never creates directories.

    Args:
        path: The YAML config file; defaults to ``$CHRONTAINER_CONFIG``, else no file.
        environ: The environment to read; defaults to ``os.environ``.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: A value is wrong (``path`` names it: ``port``, ``hosts[1].url``, or the
            environment variable), or the file cannot be read or is not valid YAML.
    """
    env = os.environ if environ is None else environ
    if path is None and env.get("CHRONTAINER_CONFIG"):
        path = Path(env["CHRONTAINER_CONFIG"])
    values: dict[str, Any] = _from_file(path) if path is not None else {}
    values.update(_from_env(env))
    if "data_dir" in values and "database_url" not in values:
        values["database_url"] = _default_database_url(values["data_dir"])
    values.setdefault("data_dir", DEFAULT_DATA_DIR.absolute())
    return Config(**values)


def _read_yaml(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise ConfigError(f"cannot read config file {path}: {reason}") from err
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = ""
        mark = getattr(err, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"config file {path} is not valid YAML{where}: {problem}") from err


def _drop_nulls(data: dict[Any, Any]) -> dict[Any, Any]:
    # "key:" with nothing after it is how YAML templates leave a value unset.
    return {key: value for key, value in data.items() if value is not None}


def _from_file(path: Path) -> dict[str, Any]:
    raw = _read_yaml(path)
    if raw is None:  # an empty file is a valid, empty configuration
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must contain a mapping of settings at the top")
    raw = _drop_nulls(raw)
    for section in ("docker", "metrics", "settings", "mqtt"):
        if isinstance(raw.get(section), dict):
            raw[section] = _drop_nulls(raw[section])
    try:
        data: dict[str, Any] = _FILE_SCHEMA(raw)
    except vol.Invalid as err:  # MultipleInvalid is a subclass; it reports its first error
        raise ConfigError(f"{err.msg} (in {path})", path=format_path(err.path)) from err

    values = {field_: data[key] for key, field_ in _FILE_FIELDS.items() if key in data}
    for key, field_ in _DOCKER_FIELDS.items():
        if key in data.get("docker", {}):
            values[field_] = data["docker"][key]
    for key, field_ in _METRICS_FIELDS.items():
        if key in data.get("metrics", {}):
            values[field_] = data["metrics"][key]
    if "trusted_proxies" in data:
        values["trusted_proxies"] = tuple(data["trusted_proxies"])
    if "hosts" in data:
        values["hosts"] = _hosts(data["hosts"], path)
    if "settings" in data:
        values["settings"] = dict(data["settings"])
    if "mqtt" in data:
        values["mqtt"] = dict(data["mqtt"])
    return values


def _hosts(entries: list[dict[str, str]], path: Path) -> tuple[HostSpec, ...]:
    seen: set[str] = set()
    specs = []
    for index, entry in enumerate(entries):
        slug = entry["slug"]
        if slug in seen:
            raise ConfigError(
                f"duplicate host slug '{slug}' (in {path})", path=f"hosts[{index}].slug"
            )
        seen.add(slug)
        specs.append(HostSpec(slug=slug, name=entry.get("name", slug), url=entry["url"]))
    return tuple(specs)


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, (field_, validator) in _ENV.items():
        raw = env.get(name, "")
        if not raw.strip():
            continue
        try:
            values[field_] = validator(raw)
        except vol.Invalid as err:
            raise ConfigError(err.msg, path=name) from err
    return values
