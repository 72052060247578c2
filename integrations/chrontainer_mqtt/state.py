"""The JSON state payloads the bridge publishes (pure).

Every builder takes core models and returns a plain mapping; :func:`to_payload` turns it into
the compact JSON that goes on the wire. The discovery value templates (``entities.py``) read
these fields, so renaming one is a breaking change for Home Assistant and for Node-RED flows
(README "Topics and payloads").
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from chrontainer_core.models import (
    Container,
    ContainerMetrics,
    ContainerState,
    HostDetails,
    HostState,
    HostStatus,
    Operation,
    OperationStatus,
)
from chrontainer_core.scheduling.jobs import Schedule, ScheduleRun
from chrontainer_core.updates.models import UpdateCheck, UpdateState

__all__ = [
    "EVENT_TYPES",
    "VERSION_LABEL",
    "StatsDeadband",
    "container_event",
    "container_state",
    "container_stats",
    "host_state",
    "iso",
    "schedule_state",
    "to_payload",
    "update_state",
]

VERSION_LABEL: Final = "org.opencontainers.image.version"

# The engine actions that are lifecycle events of a container, plus the health transitions
# ("health_status: healthy" arrives as "healthy"). exec_*, attach, top, resize, ... are noise.
EVENT_TYPES: Final[tuple[str, ...]] = (
    "create", "start", "stop", "die", "restart", "pause", "unpause", "kill", "oom", "destroy",
    "rename", "update", "healthy", "unhealthy",
)
_HEALTH_PREFIX: Final = "health_status:"

_MIB: Final = 1024 * 1024
_GIB: Final = 1024 * _MIB
_KIB: Final = 1024


def to_payload(data: Mapping[str, Any]) -> str:
    """Compact JSON with sorted keys (stable bytes: an unchanged state is an equal payload)."""
    return json.dumps(data, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC to the second with ``Z`` (what Home Assistant's timestamp sensors parse)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"


def _short(digest: str | None) -> str | None:
    """The first 12 hex digits of ``sha256:<hex>`` or ``repo@sha256:<hex>``."""
    if not digest:
        return None
    return digest.rsplit(":", 1)[-1][:12]


# --- containers ----------------------------------------------------------------------------------


def _running(c: Container) -> bool:
    # Docker itself reports a paused container as running (State.Running): it is started, and
    # its power switch stays ON; the pause switch tells the two apart.
    return c.state in (ContainerState.RUNNING, ContainerState.PAUSED)


def container_state(c: Container) -> dict[str, Any]:
    """A container's state payload (``.../container/<host>/<key>/state``, retained)."""
    running = _running(c)
    health = c.health.value if c.health is not None else None
    return {
        "name": c.name,
        "key": c.key,
        "host": c.host,
        "id": c.id[:12],
        "image": c.image,
        "state": c.state.value,
        "running": running,
        "paused": c.state is ContainerState.PAUSED,
        "health": health,
        "healthy": None if health is None else health == "healthy",
        "started_at": iso(c.started_at) if running else None,
        "exit_code": c.exit_code,
        "restart_count": c.restart_count,
    }


def container_stats(m: ContainerMetrics) -> dict[str, float | None]:
    """A running container's stats payload (``.../stats``, retained); None is unknown."""

    def rate(value: float | None) -> float | None:
        return None if value is None else round(value / _KIB, 1)

    return {
        "cpu_percent": None if m.cpu_percent is None else round(m.cpu_percent, 1),
        "memory_mib": round(m.memory_used / _MIB, 1),
        "memory_percent": round(m.memory_percent, 1),
        "net_rx_kib_s": rate(m.net_rx_rate),
        "net_tx_kib_s": rate(m.net_tx_rate),
    }


# Deadbands: (absolute, relative) per stats field; a value is news when it moved by more than
# the absolute band, or by more than the relative band of its last published value. The
# relative band keeps large, noisy values (a busy network) from publishing every sample.
_BANDS: Final[Mapping[str, tuple[float, float | None]]] = {
    "cpu_percent": (1.0, None),  # one percentage point
    "memory_mib": (1.0, 0.01),  # 1 MiB or 1 %
    "memory_percent": (1.0, None),
    "net_rx_kib_s": (1.0, 0.10),  # 1 KiB/s or 10 %
    "net_tx_kib_s": (1.0, 0.10),
}


def _moved(name: str, old: float | None, new: float | None) -> bool:
    if old is None or new is None:
        return old is not new  # unknown <-> known is always news
    absolute, relative = _BANDS.get(name, (0.0, None))
    change = abs(new - old)
    if relative is not None and abs(old) > 0:
        # "1 MiB or 1 %": the larger of the two bands must be exceeded.
        return change > max(absolute, abs(old) * relative)
    return change > absolute


class StatsDeadband:
    """Publish stats only when a value moved by more than its band since the last publish,
    or when nothing was published for ``max_silence`` seconds: the stats sensors expire
    (``expire_after``) when nothing arrives, so steady values are sent again before that.

    Args:
        max_silence: Longest time without a publish (seconds); infinite by default.
        clock: Monotonic seconds; injectable for tests.
    """

    def __init__(self, *, max_silence: float = math.inf,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._max_silence = max_silence
        self._clock = clock
        self._last: dict[str, dict[str, float | None]] = {}
        self._sent_at: dict[str, float] = {}

    def should_publish(self, ident: str, stats: Mapping[str, float | None], *,
                       force: bool = False) -> bool:
        """Whether ``stats`` of ``ident`` (e.g. host/key) is news; remembers it when it is.

        The first stats of an ident, stats with other fields, stats after ``max_silence``
        and forced ones (a republish) are always news.
        """
        now = self._clock()
        last = self._last.get(ident)
        if (force or last is None or last.keys() != stats.keys()
                or now - self._sent_at.get(ident, -math.inf) >= self._max_silence
                or any(_moved(name, last[name], value) for name, value in stats.items())):
            self._last[ident] = dict(stats)
            self._sent_at[ident] = now
            return True
        return False

    def forget(self, ident: str) -> None:
        """Drop what was published for ``ident`` (it stopped or went away): next is news."""
        self._last.pop(ident, None)
        self._sent_at.pop(ident, None)


def update_state(c: Container, check: UpdateCheck | None, *,
                 operation: Operation | None) -> dict[str, Any]:
    """The update entity's JSON payload (``.../update``, retained).

    Versions are the image's ``org.opencontainers.image.version`` label while there is no
    known update, else 12-hex digests (installed: the local digest, latest: the registry's), as
    a version label cannot name an image not pulled yet. ``latest_version`` equals
    ``installed_version`` whenever no update is known (local, pinned, error, no check), so Home
    Assistant shows "up to date" rather than a phantom update.
    """
    label = c.labels.get(VERSION_LABEL) or None
    local = _short(check.local_digest) if check is not None else None
    available = (check is not None and check.state is UpdateState.AVAILABLE
                 and bool(check.remote_digest))
    if available and check is not None:
        installed = local or _short(c.image_id)
        latest = _short(check.remote_digest)
        summary = f"A newer image of {check.image} is published."
    else:
        installed = label or local or _short(c.image_id)
        latest = installed
        summary = None
        if check is not None and check.state is UpdateState.ERROR and check.error:
            summary = f"Update check failed: {check.error}"
    in_progress = operation is not None and operation.status is OperationStatus.RUNNING
    percentage = None
    if in_progress and operation is not None and operation.percent is not None:
        percentage = round(float(operation.percent), 1)
    return {
        "installed_version": installed,
        "latest_version": latest,
        "title": check.image if check is not None else c.image,
        "release_summary": summary,
        "in_progress": in_progress,
        "update_percentage": percentage,
    }


def container_event(action: str, c: Container | None, time: datetime) -> dict[str, Any] | None:
    """The event entity's payload for an engine action, or None when it is no lifecycle event.

    ``health_status: healthy`` becomes ``healthy``; "sync" (a resynchronisation), exec_*,
    attach and the like are not events.
    """
    event_type = action.strip()
    if event_type.startswith(_HEALTH_PREFIX):
        event_type = event_type[len(_HEALTH_PREFIX):].strip()
    if event_type not in EVENT_TYPES:
        return None
    payload: dict[str, Any] = {"event_type": event_type, "time": iso(time)}
    if c is not None:
        payload.update(name=c.name, id=c.id[:12], state=c.state.value, exit_code=c.exit_code)
    return payload


# --- hosts and schedules -------------------------------------------------------------------------


def host_state(h: HostState, *, containers: Sequence[Container],
               details: HostDetails | None) -> dict[str, Any]:
    """A host's state payload (``.../host/<host>/state``, retained).

    Counts come from ``containers`` (the cache of this host); images and disk use from
    ``details`` when known (None otherwise).
    """
    own = [c for c in containers if c.host == h.slug]
    running = sum(1 for c in own if c.state is ContainerState.RUNNING)
    paused = sum(1 for c in own if c.state is ContainerState.PAUSED)
    images: int | None = None
    disk: float | None = None
    if details is not None:
        images = details.info.images
        du = details.disk_usage
        total = (du.images.size + du.containers.size + du.volumes.size
                 + du.build_cache.size)
        disk = round(total / _GIB, 2)
    return {
        "name": h.name,
        "online": h.status is HostStatus.ONLINE,
        "status": h.status.value,
        "containers": len(own),
        "running": running,
        "paused": paused,
        "stopped": len(own) - running - paused,
        "images": images,
        "disk_usage_gib": disk,
        "docker_version": h.engine_version,
        "error": h.error,
    }


def schedule_state(s: Schedule, last: ScheduleRun | None) -> dict[str, Any]:
    """A schedule's state payload (``.../schedule/<id>/state``, retained).

    ``last_duration`` is in seconds, known once the last run finished.
    """
    duration: float | None = None
    if last is not None and last.finished_at is not None:
        duration = round((last.finished_at - last.started_at).total_seconds(), 1)
    return {
        "name": s.name,
        "enabled": s.enabled,
        "action": s.action.value,
        "target": s.target.describe(),
        "next_run": iso(s.next_run_at),
        "last_run": iso(last.started_at) if last is not None else None,
        "last_result": last.result.value if last is not None else None,
        "last_duration": duration,
        "last_error": last.error if last is not None else None,
    }
