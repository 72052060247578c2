"""Typed models of everything the core hands out.

Engine JSON is parsed into these in ``docker/parse.py`` and nowhere else; raw dicts never cross
that line (the one exception is the inspect view, which returns the engine's JSON unmodified).
All models are frozen, slotted, keyword-only dataclasses with enums for states.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from .actor import Actor


class ContainerState(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"


class Health(enum.StrEnum):
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


class HostStatus(enum.StrEnum):
    UNKNOWN = "unknown"
    ONLINE = "online"
    OFFLINE = "offline"


class ContainerAction(enum.StrEnum):
    START = "start"
    STOP = "stop"
    RESTART = "restart"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    KILL = "kill"
    RENAME = "rename"
    REMOVE = "remove"


class LogStream(enum.StrEnum):
    STDOUT = "stdout"
    STDERR = "stderr"


@dataclass(frozen=True, slots=True, kw_only=True)
class PortBinding:
    """A container port and, when published, where on the host it is reachable."""

    container_port: int
    protocol: str
    host_ip: str | None = None
    host_port: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Mount:
    type: str
    source: str
    destination: str
    name: str | None = None
    mode: str = ""
    rw: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkAttachment:
    network: str
    ip_address: str | None = None
    ipv6_address: str | None = None
    gateway: str | None = None
    mac_address: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartPolicy:
    name: str = "no"
    maximum_retry_count: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvVar:
    name: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Container:
    """One container on one host, as the cache and every API show it."""

    host: str
    id: str
    name: str
    key: str
    image: str
    image_id: str
    command: str
    created: datetime
    state: ContainerState
    health: Health | None = None
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    restart_count: int = 0
    oom_killed: bool = False
    tty: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    compose_project: str | None = None
    compose_service: str | None = None
    compose_number: int | None = None
    compose_oneoff: bool = False
    ports: tuple[PortBinding, ...] = ()
    networks: tuple[NetworkAttachment, ...] = ()
    mounts: tuple[Mount, ...] = ()
    env: tuple[EnvVar, ...] = ()
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    # True when the container comes from the last known state of a host that is offline now.
    stale: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionResult:
    """The container after an action, and whether the action changed anything."""

    container: Container | None
    changed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkTarget:
    host: str
    ref: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkItemResult:
    host: str
    ref: str
    ok: bool
    changed: bool = False
    error: dict[str, object] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LogRecord:
    """One log line; ``t`` is set when the engine was asked for timestamps."""

    t: datetime | None
    stream: LogStream
    line: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerStats:
    """A one-shot stats reading; rates need two samples and come with the sampler."""

    read_at: datetime
    cpu_percent: float
    online_cpus: int
    memory_used: int
    memory_limit: int
    memory_percent: float
    net_rx: int
    net_tx: int
    block_read: int
    block_write: int
    pids: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessList:
    titles: tuple[str, ...]
    processes: tuple[tuple[str, ...], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class HostSpec:
    """What defines a host: the immutable slug, a display name and the engine URL."""

    slug: str
    name: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HostState:
    """A host as the API shows it: its spec plus what we last learned from its engine."""

    slug: str
    name: str
    url: str
    status: HostStatus
    error: str | None = None
    last_seen: datetime | None = None
    engine_version: str | None = None
    api_version: str | None = None
    containers: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineVersion:
    version: str
    api_version: str
    os: str = ""
    arch: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    id: int
    time: datetime
    actor: Actor
    action: str
    target: str
    result: str
    error: str | None = None
