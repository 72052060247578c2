"""chrontainer_core: async Docker management across hosts, as a library and as the daemon's core.

Example::

    from chrontainer_core import Chrontainer

    async with Chrontainer.connect(hosts=["unix:///var/run/docker.sock"]) as ch:
        listing = await ch.containers.list()
"""

from .actor import Actor, ActorKind
from .bus import Bus, ContainerChanged, DockerEventSeen, Event, HostChanged, Lagged, MetricsSampled
from .containers import ContainerFilter, ContainerListing, ContainerService
from .errors import (
    AmbiguousRef,
    Busy,
    ChrontainerError,
    ConfigError,
    Conflict,
    EngineError,
    HostUnreachable,
    InstanceLocked,
    InvalidInput,
    NotFound,
    PermissionDenied,
    SecretUnavailable,
)
from .eventlog import EventFilter, EventLog
from .models import (
    ActionResult,
    BulkItemResult,
    BulkTarget,
    Container,
    ContainerAction,
    ContainerMeta,
    ContainerMetrics,
    ContainerState,
    ContainerStats,
    DockerEvent,
    DockerObjectType,
    Health,
    HostSpec,
    HostState,
    HostStatus,
    HostTLS,
    LogRecord,
    LogStream,
    ProcessList,
    Tag,
)
from .runtime import Chrontainer
from .tags import TagService

__all__ = [
    "ActionResult",
    "Actor",
    "ActorKind",
    "AmbiguousRef",
    "BulkItemResult",
    "BulkTarget",
    "Bus",
    "Busy",
    "Chrontainer",
    "ChrontainerError",
    "ConfigError",
    "Conflict",
    "Container",
    "ContainerAction",
    "ContainerChanged",
    "ContainerFilter",
    "ContainerListing",
    "ContainerMeta",
    "ContainerMetrics",
    "ContainerService",
    "ContainerState",
    "ContainerStats",
    "DockerEvent",
    "DockerEventSeen",
    "DockerObjectType",
    "EngineError",
    "Event",
    "EventFilter",
    "EventLog",
    "Health",
    "HostChanged",
    "HostSpec",
    "HostState",
    "HostStatus",
    "HostTLS",
    "HostUnreachable",
    "InstanceLocked",
    "InvalidInput",
    "Lagged",
    "LogRecord",
    "LogStream",
    "MetricsSampled",
    "NotFound",
    "PermissionDenied",
    "ProcessList",
    "SecretUnavailable",
    "Tag",
    "TagService",
]
