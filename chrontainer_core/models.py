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
    # HostConfig.NetworkMode: "bridge", "host", "none", a network name, or "container:<ref>"
    # for a container sharing another's network stack (an update of that other must refuse).
    network_mode: str = ""
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
class StatsSample:
    """One raw stats reading: cumulative counters, turned into rates by the sampler.

    CPU times are nanoseconds since the container (``cpu_total``) or the machine
    (``system_cpu``, all cores) started; ``memory_used`` already excludes the page cache.
    """

    read_at: datetime
    cpu_total: int
    system_cpu: int
    online_cpus: int
    memory_used: int
    memory_limit: int
    net_rx: int
    net_tx: int
    block_read: int
    block_write: int
    pids: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerMetrics:
    """The latest metrics of a running container, from two consecutive samples.

    Rates are bytes per second and ``cpu_percent`` is percent of one core (up to 100 times
    the online CPUs, as ``docker stats`` shows it). They are None (unknown) on a container's
    first sample and after its counters restarted.
    """

    read_at: datetime
    cpu_percent: float | None
    memory_used: int
    memory_limit: int
    memory_percent: float
    net_rx_rate: float | None
    net_tx_rate: float | None
    block_read_rate: float | None
    block_write_rate: float | None
    pids: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessList:
    titles: tuple[str, ...]
    processes: tuple[tuple[str, ...], ...]


class Unchanged(enum.Enum):
    """Marker for "leave this as it is" where None already means "remove" (``tls=None``)."""

    UNCHANGED = "unchanged"


UNCHANGED = Unchanged.UNCHANGED


@dataclass(frozen=True, slots=True, kw_only=True)
class HostTLS:
    """TLS material of a ``tcp://`` engine started with ``--tlsverify``, as PEM text.

    ``ca_cert`` is what the engine's certificate must chain to; ``client_cert`` and
    ``client_key`` prove Chrontainer to the engine. The key is a secret: stored encrypted,
    never in a repr or a log line, never returned by the API. When the stored key cannot be
    decrypted (the secret key changed), the store hands out ``client_key=""`` and
    ``key_error`` saying so; the host then stays offline with that error until the material is
    entered again.
    """

    ca_cert: str = field(repr=False)
    client_cert: str = field(repr=False)
    client_key: str = field(repr=False)
    key_error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HostSpec:
    """What defines a host: the immutable slug, a display name, the engine URL and its TLS."""

    slug: str
    name: str
    url: str
    tls: HostTLS | None = None


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
    # Whether TLS material is configured; the material itself is never shown.
    tls: bool = False


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


@dataclass(frozen=True, slots=True, kw_only=True)
class HostInfo:
    """What the engine says about its machine (``GET /info``)."""

    name: str
    os: str
    os_type: str
    kernel: str
    architecture: str
    cpus: int
    memory: int
    engine_version: str
    cgroup_version: str
    storage_driver: str
    containers: int
    containers_running: int
    containers_paused: int
    containers_stopped: int
    images: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskUsageCategory:
    """Disk use of one kind of object: how many, how big, and how much could be freed."""

    count: int
    size: int
    reclaimable: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskUsage:
    """``GET /system/df`` summed per category (expensive on the engine: cached)."""

    read_at: datetime
    images: DiskUsageCategory
    containers: DiskUsageCategory
    volumes: DiskUsageCategory
    build_cache: DiskUsageCategory


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneResult:
    """What a prune removed on one host and how many bytes it gave back."""

    host: str
    deleted: tuple[str, ...]  # ids of the image layers the engine deleted
    untagged: tuple[str, ...]  # the references (repo:tag, repo@digest) it removed
    reclaimed_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HostDetails:
    """A host's state, its machine info and its (cached) disk use."""

    host: HostState
    info: HostInfo
    disk_usage: DiskUsage


# --- Docker events, tags and web-UI links -------------------------------------------------------


class DockerObjectType(enum.StrEnum):
    """The kinds of engine events the events page shows and keeps."""

    CONTAINER = "container"
    IMAGE = "image"
    VOLUME = "volume"
    NETWORK = "network"


@dataclass(frozen=True, slots=True, kw_only=True)
class DockerEvent:
    """One engine event as the events page, its API and its SSE feed show it.

    ``id`` is the stored row's id (None until the event log wrote it). ``name`` is what a person
    recognises: the container's name, the image reference, the volume or network name.
    ``attributes`` keeps the few engine attributes worth showing (exitCode, signal, image, ...),
    never a container's labels.
    """

    id: int | None = None
    time: datetime
    host: str
    type: DockerObjectType
    action: str
    object_id: str
    name: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Tag:
    """A user's tag: unique name, #rrggbb colour."""

    id: int
    name: str
    colour: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerMeta:
    """What users attached to a container key: its tags and its web-UI link."""

    host: str
    key: str
    tags: tuple[Tag, ...] = ()
    web_url: str | None = None


# --- images and long operations ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Image:
    """One image on one host, as the images list shows it."""

    host: str
    id: str  # "sha256:<64 hex>"
    tags: tuple[str, ...]  # "repo:tag" references (the engine's RepoTags minus "<none>:<none>")
    digests: tuple[str, ...]  # "repo@sha256:..." (RepoDigests)
    repository: str  # of the first tag, else of the first digest, else "<none>"
    size: int
    created: datetime
    containers: tuple[str, ...] = ()  # names of the containers (any state) using this image
    dangling: bool = False  # no tag left (an untagged leftover)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageHistoryEntry:
    """One layer of an image's history (``GET /images/{ref}/history``), newest first."""

    id: str  # the layer's image id, or "<missing>" for layers pulled from a registry
    created: datetime
    created_by: str
    size: int
    comment: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRemoval:
    """What deleting one image removed."""

    host: str
    ref: str
    untagged: tuple[str, ...]
    deleted: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RepositoryUsage:
    """Disk use of one repository's images on a host; ``reclaimable`` is what removing its
    unused images would free."""

    repository: str
    images: int
    size: int
    reclaimable: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageDiskUsage:
    """Disk use of a host's images per repository, largest first."""

    host: str
    total: int
    reclaimable: int
    repositories: tuple[RepositoryUsage, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class HubSearchResult:
    """One Docker Hub search hit, as the engine's ``GET /images/search`` returns it."""

    name: str
    description: str = ""
    stars: int = 0
    official: bool = False
    automated: bool = False


class OperationStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerProgress:
    """One layer of a pull: its latest status line and byte counts of the current phase."""

    id: str
    status: str  # "Waiting", "Downloading", "Extracting", "Pull complete", "Already exists"
    current: int = 0
    total: int = 0  # 0: unknown


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """A long operation (image pull, later update, stack deploy, backup), kept in memory for an
    hour after it ends; its outcome is also in the audit trail (DESIGN §3b)."""

    id: str
    kind: str  # "image.pull"
    host: str
    target: str  # what it acts on ("nginx:latest")
    actor: str  # Actor.label of who started it
    status: OperationStatus
    started_at: datetime
    finished_at: datetime | None = None
    message: str = ""  # the latest overall status line
    layers: tuple[LayerProgress, ...] = ()
    percent: float | None = None  # 0-100 over the layers with a known size; None: unknown
    error: str | None = None
    error_code: str | None = None  # the ChrontainerError code of a failure, "cancelled"
    result: dict[str, str] = field(default_factory=dict)  # e.g. {"image_id": ..., "digest": ...}


# -- volumes and networks --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Volume:
    """One volume on one host, as the volumes list shows it."""

    host: str
    name: str
    driver: str
    mountpoint: str
    created: datetime | None  # the engine omits it for some drivers
    scope: str = "local"
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)  # the driver options it was made with
    # Bytes used, from ``GET /system/df``; None when the engine does not know (other drivers,
    # or the disk-use call failed or timed out: sizing walks every volume and can be slow).
    size: int | None = None
    containers: tuple[str, ...] = ()  # names of the containers (any state) mounting it
    # True for a volume whose name the engine generated (64 hex): made by an image's VOLUME
    # or ``-v /path`` without a name.
    anonymous: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkSubnet:
    """One IPAM pool of a network."""

    subnet: str
    gateway: str | None = None
    ip_range: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkMember:
    """A container attached to a network and its addresses there."""

    container_id: str
    name: str
    ipv4_address: str | None = None  # without the prefix length ("172.20.0.5")
    ipv6_address: str | None = None
    mac_address: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Network:
    """One network on one host, as the networks list shows it."""

    host: str
    id: str
    name: str
    driver: str
    scope: str
    created: datetime | None
    internal: bool = False
    attachable: bool = False
    ipv6: bool = False
    subnets: tuple[NetworkSubnet, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)  # driver options ("parent" for macvlan)
    containers: tuple[NetworkMember, ...] = ()
    # bridge, host and none (and the default nat/ingress of other platforms): they cannot be
    # removed and ``host``/``none`` cannot be connected to.
    predefined: bool = False
