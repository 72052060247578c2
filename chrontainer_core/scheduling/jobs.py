"""What a schedule is: its target, action, trigger and run policies, and what a run records.

Typed models only (DESIGN §3: frozen, slotted, keyword-only dataclasses with enums); the pure
decisions taken from them (misfires, retries, jitter) live in :mod:`.policy`, cron arithmetic in
:mod:`.cron`, and the loop that fires schedules in ``scheduler.py``.

A container target names the container by host slug + container key (DESIGN §3a), resolved
when a run starts, so a recreated container keeps its schedules. A label target acts on every
container of a host carrying the label (``key`` or ``key=value``) when the run starts. A host
target is for host actions (pruning unused images). An image target names an image reference
on a host, for pulling it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from ..errors import InvalidInput

__all__ = [
    "ACTIONS_BY_TARGET",
    "MisfirePolicy",
    "RetryPolicy",
    "RunResult",
    "RunTrigger",
    "Schedule",
    "ScheduleAction",
    "ScheduleRun",
    "Target",
    "TargetKind",
    "Trigger",
    "TriggerKind",
    "Webhook",
]


class TargetKind(enum.StrEnum):
    """What a schedule acts on."""

    CONTAINER = "container"
    LABEL = "label"
    HOST = "host"
    IMAGE = "image"


class ScheduleAction(enum.StrEnum):
    """What a schedule does."""

    START = "start"
    STOP = "stop"
    RESTART = "restart"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    KILL = "kill"
    PRUNE_IMAGES = "prune_images"
    PULL = "pull"
    UPDATE = "update"  # the safe update (chrontainer_core.updates): pull, recreate, verify


_CONTAINER_ACTIONS: Final = frozenset({
    ScheduleAction.START, ScheduleAction.STOP, ScheduleAction.RESTART, ScheduleAction.PAUSE,
    ScheduleAction.UNPAUSE, ScheduleAction.KILL,
})
# Which actions make sense for which target: the one table the API, the UI and the scheduler
# consult, so a host can never be asked to "pause" nor a container to prune images.
ACTIONS_BY_TARGET: Final = {
    TargetKind.CONTAINER: _CONTAINER_ACTIONS | {ScheduleAction.UPDATE},
    TargetKind.LABEL: _CONTAINER_ACTIONS | {ScheduleAction.UPDATE},
    TargetKind.HOST: frozenset({ScheduleAction.PRUNE_IMAGES}),
    TargetKind.IMAGE: frozenset({ScheduleAction.PULL}),
}
# The field each target kind needs beside ``host``.
_TARGET_FIELD: Final = {TargetKind.CONTAINER: "key", TargetKind.LABEL: "label",
                        TargetKind.IMAGE: "image"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A schedule's target: a container key, the containers carrying a label, a host, or an
    image reference on a host.

    Raises:
        InvalidInput: ``key`` missing for a container, ``label`` for a label target, ``image``
            for an image target, or any of them given where it means nothing.
    """

    kind: TargetKind
    host: str
    key: str | None = None  # container key (§3a), for kind=container
    label: str | None = None  # "key" or "key=value", for kind=label
    image: str | None = None  # an image reference ("nginx:1.27"), for kind=image

    def __post_init__(self) -> None:
        wanted = _TARGET_FIELD.get(self.kind)
        for name in ("key", "label", "image"):
            value = getattr(self, name)
            if name == wanted and not value:
                raise InvalidInput(f"target.{name}: required for a {self.kind.value} target",
                                   field=f"target.{name}")
            if name != wanted and value is not None:
                raise InvalidInput(f"target.{name}: not used by a {self.kind.value} target",
                                   field=f"target.{name}")

    def describe(self) -> str:
        """A person's name for the target: "container web on nas", "label app=media on nas"."""
        if self.kind is TargetKind.CONTAINER:
            return f"container {self.key} on {self.host}"
        if self.kind is TargetKind.LABEL:
            return f"containers labelled {self.label} on {self.host}"
        if self.kind is TargetKind.IMAGE:
            return f"image {self.image} on {self.host}"
        return f"host {self.host}"


class TriggerKind(enum.StrEnum):
    CRON = "cron"
    ONCE = "once"


@dataclass(frozen=True, slots=True, kw_only=True)
class Trigger:
    """When a schedule fires: a 5-field cron expression in an IANA time zone, or once at an
    instant (aware; stored in UTC)."""

    kind: TriggerKind
    cron: str | None = None
    at: datetime | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.kind is TriggerKind.CRON and not self.cron:
            raise InvalidInput("trigger.cron: required for a cron trigger", field="trigger.cron")
        if self.kind is TriggerKind.ONCE:
            if self.at is None:
                raise InvalidInput("trigger.at: required for a one-time trigger",
                                   field="trigger.at")
            if self.at.tzinfo is None:
                raise InvalidInput("trigger.at: must include a time zone offset",
                                   field="trigger.at")


class MisfirePolicy(enum.StrEnum):
    """What to do with runs that fell due while the server was down."""

    SKIP = "skip"  # never run late; wait for the next due time
    RUN_ONCE = "run_once"  # run once now if the latest missed time is within the grace period


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Retries of a failed run: ``retries`` more attempts, waiting ``backoff`` seconds before
    the first and doubling up to ``max_backoff``."""

    retries: int = 0
    backoff: float = 30.0
    max_backoff: float = 600.0

    def __post_init__(self) -> None:
        if not 0 <= self.retries <= 10:
            raise InvalidInput("retries: must be 0 to 10", field="retries")
        if not 0 < self.backoff <= self.max_backoff:
            raise InvalidInput("retry backoff: must be > 0 and at most the maximum backoff",
                               field="retry_backoff")


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """One schedule as stored and shown; ``next_run_at`` is None once a one-time schedule ran
    or while the schedule is disabled."""

    id: int
    name: str
    enabled: bool
    target: Target
    action: ScheduleAction
    trigger: Trigger
    misfire: MisfirePolicy = MisfirePolicy.SKIP
    grace: timedelta = timedelta(minutes=10)
    timeout: timedelta = timedelta(minutes=5)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    jitter: timedelta = timedelta(0)
    next_run_at: datetime | None = None


class RunTrigger(enum.StrEnum):
    """What started a run."""

    SCHEDULE = "schedule"
    RUN_NOW = "run_now"
    WEBHOOK = "webhook"


class RunResult(enum.StrEnum):
    RUNNING = "running"
    OK = "ok"
    ERROR = "error"
    SKIPPED = "skipped"  # e.g. "busy": the target stayed locked for the whole timeout


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleRun:
    """One run of a schedule or a webhook: when it was due, when it ran, how it ended, which
    attempt, and what it did (``action`` on ``target``, a :meth:`Target.describe` text)."""

    id: int
    schedule_id: int | None
    trigger: RunTrigger
    scheduled_for: datetime
    started_at: datetime
    finished_at: datetime | None = None
    result: RunResult = RunResult.RUNNING
    error: str | None = None
    attempt: int = 1
    webhook_id: int | None = None
    action: ScheduleAction | None = None
    target: str | None = None
    detail: str | None = None  # what an ok run did ("restarted web")

    @property
    def finished(self) -> bool:
        """True once the run ended (any result but ``running``)."""
        return self.result is not RunResult.RUNNING


@dataclass(frozen=True, slots=True, kw_only=True)
class Webhook:
    """A webhook as stored and shown (never with its token: only ``token_prefix``).

    A *locked* webhook always runs ``action`` on ``target``; an *unlocked* one (admins only)
    takes both from the request body. ``allowed_cidrs`` empty allows any client address;
    ``rate_limit_per_minute`` bounds triggers per webhook.
    """

    id: int
    name: str
    enabled: bool
    locked: bool
    action: ScheduleAction | None
    target: Target | None
    token_prefix: str
    allow_get: bool = False
    allowed_cidrs: tuple[str, ...] = ()
    rate_limit_per_minute: int = 30
    last_triggered_at: datetime | None = None
    trigger_count: int = 0
    created_by: str = ""
    created_at: datetime | None = None
