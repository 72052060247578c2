"""The pure decisions behind notifications: which deaths nobody asked for, when starts make a
restart loop, and which state changes are transitions rather than repeats.

No I/O here: the detector (:mod:`.detect`) feeds these small state machines the engine events,
host states and run results it sees, and they answer whether something deserves a notification.
Time comes from an injected clock, so every window is tested without waiting.

Things are identified by a :data:`ContainerRef` ``(host slug, container id)``: ids are unique
per engine, not across engines.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Generic, TypeVar

from ..models import HostStatus
from ..scheduling.jobs import RunResult
from .models import NotificationEvent

__all__ = [
    "DEATH_GRACE",
    "EXPLAIN_WINDOW",
    "Change",
    "ContainerRef",
    "DeathWitness",
    "StartCounter",
    "Transitions",
    "exit_code",
    "health_of",
    "host_event",
    "run_event",
]

Clock = Callable[[], datetime]
ContainerRef = tuple[str, str]
T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
S = TypeVar("S")

# A kill or stop the engine reported this long before a die explains it (issue 7).
EXPLAIN_WINDOW: Final = timedelta(seconds=30)
# How long an unexplained die waits for what may still explain it: the engine reports an
# auto-removed container's destroy, or a late oom or stop, just after the die.
DEATH_GRACE: Final = timedelta(seconds=2)

_HEALTH_PREFIX: Final = "health_status:"


def exit_code(attributes: Mapping[str, str]) -> int | None:
    """The exit code a ``die`` event carries, or None when it has none (or not a number)."""
    try:
        return int(attributes["exitCode"])
    except (KeyError, ValueError):
        return None


def health_of(action: str) -> str | None:
    """The health status of a ``health_status: unhealthy`` action; None for other actions."""
    if not action.startswith(_HEALTH_PREFIX):
        return None
    return action.removeprefix(_HEALTH_PREFIX).strip() or None


def host_event(before: HostStatus | None, after: HostStatus) -> NotificationEvent | None:
    """What a host's status change means: offline after online, online after offline.

    The first connect (from no or an unknown status) is no news either way.
    """
    if before is HostStatus.ONLINE and after is HostStatus.OFFLINE:
        return NotificationEvent.HOST_OFFLINE
    if before is HostStatus.OFFLINE and after is HostStatus.ONLINE:
        return NotificationEvent.HOST_ONLINE
    return None


def run_event(result: RunResult) -> NotificationEvent | None:
    """What a finished schedule or webhook run means (an ok or running one means nothing)."""
    if result is RunResult.ERROR:
        return NotificationEvent.SCHEDULE_FAILED
    if result is RunResult.SKIPPED:
        return NotificationEvent.SCHEDULE_SKIPPED
    return None


class DeathWitness(Generic[T]):
    """Tells deaths nobody asked for from stops, kills, restarts, removals and OOM kills.

    Feed it every ``kill``, ``stop``, ``oom``, ``start``, ``die`` and ``destroy`` of each
    container, in order. A ``die`` with a non-zero exit code is *unexplained* unless a kill or
    stop was reported within ``window`` before it (``docker stop``, ``restart`` and ``rm -f``
    all send a kill first) or the container was OOM-killed in this life (that is its own
    notification). An unexplained death still waits ``grace`` for a ``destroy`` (an
    auto-removed container), ``oom`` or ``stop`` that follows it; :meth:`due` then hands out
    its payload, exactly once.

    A ``start`` begins a new life: requests and an OOM kill of the previous life explain
    nothing after it, and a death waiting its grace period is due at once (a container that
    starts again is not being removed; in a restart loop each death is its own).

    Args:
        clock: The current time (aware UTC).
        window: How long a kill or stop explains a death.
        grace: How long an unexplained death waits before it is due.
    """

    def __init__(self, *, clock: Clock, window: timedelta = EXPLAIN_WINDOW,
                 grace: timedelta = DEATH_GRACE) -> None:
        self._clock = clock
        self._window = window
        self._grace = grace
        # Last kill/stop per container, oldest first, so expired ones are pruned from the front.
        self._requests: dict[ContainerRef, datetime] = {}
        self._oomed: set[ContainerRef] = set()  # OOM-killed in this life
        self._pending: dict[ContainerRef, tuple[datetime, T]] = {}
        self._ready: list[T] = []  # due before their grace period was over

    def requested(self, ref: ContainerRef) -> None:
        """A ``kill`` or ``stop`` was reported: it explains a death soon after (or just
        before: ``stop`` is reported after the ``die`` it caused)."""
        now = self._clock()
        self._requests.pop(ref, None)
        self._requests[ref] = now
        self._pending.pop(ref, None)
        self._prune(now)

    def oom(self, ref: ContainerRef) -> bool:
        """An ``oom`` was reported; True the first time in this life (notify it)."""
        self._pending.pop(ref, None)
        first = ref not in self._oomed
        self._oomed.add(ref)
        return first

    def started(self, ref: ContainerRef) -> None:
        """A ``start``: a new life, which earlier requests and OOM kills do not explain."""
        self._requests.pop(ref, None)
        self._oomed.discard(ref)
        self._release(ref)

    def died(self, ref: ContainerRef, code: int | None, payload: T) -> bool:
        """A ``die`` with exit code ``code``; True when it is unexplained and now waits the
        grace period (``payload`` is what :meth:`due` returns for it)."""
        now = self._clock()
        self._prune(now)
        if not code or ref in self._oomed or ref in self._requests:
            return False
        self._release(ref)  # a die without a start between: never lose the earlier one
        self._pending[ref] = (now + self._grace, payload)
        return True

    def destroyed(self, ref: ContainerRef) -> None:
        """A ``destroy``: the container is gone, and so is whatever was known about it."""
        self._requests.pop(ref, None)
        self._oomed.discard(ref)
        self._pending.pop(ref, None)

    def next_due(self) -> datetime | None:
        """When the next waiting death is due, or None when none waits."""
        if self._ready:
            return self._clock()
        return min((due for due, _ in self._pending.values()), default=None)

    def due(self) -> list[T]:
        """The payloads of the deaths that are due, in order (each handed out once)."""
        now = self._clock()
        expired = [ref for ref, (due, _) in self._pending.items() if due <= now]
        payloads, self._ready = self._ready, []
        return payloads + [self._pending.pop(ref)[1] for ref in expired]

    def flush(self) -> list[T]:
        """Every waiting death, due or not (at shutdown: a death is news either way)."""
        payloads = self._ready + [payload for _, payload in self._pending.values()]
        self._ready = []
        self._pending.clear()
        return payloads

    def _release(self, ref: ContainerRef) -> None:
        waiting = self._pending.pop(ref, None)
        if waiting is not None:
            self._ready.append(waiting[1])

    def _prune(self, now: datetime) -> None:
        oldest = now - self._window
        while self._requests:
            ref, at = next(iter(self._requests.items()))
            if at >= oldest:
                break
            del self._requests[ref]


class StartCounter:
    """Counts each container's starts in a sliding window to spot restart loops.

    :meth:`started` says "loop" once when a container reaches ``count`` starts within
    ``window``, and not again while it keeps looping: only after a start that leaves fewer than
    ``count`` in the window may it say so again.

    Args:
        clock: The current time (aware UTC).
    """

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self._starts: dict[ContainerRef, deque[datetime]] = {}
        self._looping: set[ContainerRef] = set()

    def started(self, ref: ContainerRef, *, count: int, window: timedelta) -> int | None:
        """Record a start; return the starts within ``window`` when this one makes a new
        restart loop, else None.

        Args:
            ref: The container.
            count: Starts that make a loop (the ``restart_loop_count`` setting).
            window: ... within this span (``restart_loop_minutes``).
        """
        now = self._clock()
        starts = self._starts.setdefault(ref, deque())
        starts.append(now)
        # Only the last ``count`` starts can decide; older ones would only use memory.
        while starts and (len(starts) > count or starts[0] <= now - window):
            starts.popleft()
        if len(starts) < count:
            self._looping.discard(ref)
            return None
        if ref in self._looping:
            return None
        self._looping.add(ref)
        return len(starts)

    def forget(self, ref: ContainerRef) -> None:
        """The container is gone (``destroy``)."""
        self._starts.pop(ref, None)
        self._looping.discard(ref)


@dataclass(frozen=True, slots=True)
class Change(Generic[S]):
    """A state that differs from the last one known (``before`` None: first seen)."""

    before: S | None
    after: S


class Transitions(Generic[K, S]):
    """The last known state of each thing (a container's health, a host's status), telling
    transitions apart from repeated states."""

    def __init__(self) -> None:
        self._last: dict[K, S] = {}

    def seed(self, key: K, state: S) -> None:
        """Know a state without it counting as a change (what was there before listening)."""
        self._last[key] = state

    def change(self, key: K, state: S) -> Change[S] | None:
        """Record ``state``; the change it makes, or None when it repeats the last one."""
        before = self._last.get(key)
        if key in self._last and before == state:
            return None
        self._last[key] = state
        return Change(before, state)

    def forget(self, key: K) -> None:
        """Drop what is known (a removed container, a restarted one whose health restarts)."""
        self._last.pop(key, None)
