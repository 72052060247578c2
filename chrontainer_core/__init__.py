"""chrontainer_core: async Docker management across hosts, as a library and as the daemon's core.

Example::

    from chrontainer_core import Chrontainer

    async with Chrontainer.connect(hosts=["unix:///var/run/docker.sock"]) as ch:
        listing = await ch.containers.list()
"""

from .actor import Actor, ActorKind
from .bus import Bus, ContainerChanged, Event, HostChanged, Lagged
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
from .models import (
    ActionResult,
    BulkItemResult,
    BulkTarget,
    Container,
    ContainerAction,
    ContainerMetrics,
    ContainerState,
    ContainerStats,
    Health,
    HostSpec,
    HostState,
    HostStatus,
    HostTLS,
    LogRecord,
    LogStream,
    ProcessList,
)
from .runtime import Chrontainer

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
    "ContainerMetrics",
    "ContainerService",
    "ContainerState",
    "ContainerStats",
    "EngineError",
    "Event",
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
    "NotFound",
    "PermissionDenied",
    "ProcessList",
    "SecretUnavailable",
]
