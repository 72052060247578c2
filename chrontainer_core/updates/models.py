"""What update detection and the safe update hand out."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Final

__all__ = [
    "ACTIVE_STEPS",
    "JournalEntry",
    "JournalStatus",
    "UpdateCheck",
    "UpdateOutcome",
    "UpdateState",
    "UpdateStep",
]


class UpdateState(enum.StrEnum):
    """What the last check found for a container."""

    UP_TO_DATE = "up_to_date"
    AVAILABLE = "available"  # the registry's digest for Config.Image differs from the running one
    PINNED = "pinned"  # Config.Image names a digest: it can never change
    LOCAL = "local"  # the image never came from a registry (built here, or created by id)
    ERROR = "error"  # the registry could not be asked (unreachable, refused, no such tag)


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateCheck:
    """The last check of one container (persisted by host + container key).

    Attributes:
        image: The container's own image reference (``Config.Image``), as created.
        local_digest: The digest the running image was pulled as (its RepoDigest for that
            repository), or None for a local image.
        remote_digest: The registry's current digest for the reference, when asked.
        error: Why the registry could not answer (state ERROR), for people.
        error_code: The ChrontainerError code of that failure.
    """

    host: str
    key: str
    image: str
    state: UpdateState
    checked_at: datetime
    local_digest: str | None = None
    remote_digest: str | None = None
    error: str | None = None
    error_code: str | None = None


class UpdateStep(enum.StrEnum):
    """The steps of an update, in order; the journal records each before it is taken."""

    PULL = "pull"
    CREATE = "create"  # the new container, under a temporary name
    STOP_OLD = "stop_old"
    RENAME_OLD = "rename_old"  # the old one to its backup name
    RENAME_NEW = "rename_new"  # the new one to the original name
    START_NEW = "start_new"
    VERIFY = "verify"  # the grace period / healthcheck
    REMOVE_OLD = "remove_old"
    ROLLBACK = "rollback"  # restoring the old container (rename back, start), removing the new


# Steps during which a crash leaves work behind that recovery must finish or undo.
ACTIVE_STEPS: Final = frozenset(UpdateStep) - {UpdateStep.PULL}


class JournalStatus(enum.StrEnum):
    RUNNING = "running"
    DONE = "done"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"  # even the rollback failed: the message says what is where


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalEntry:
    """One update as the journal holds it: enough to finish or undo it after a crash.

    Attributes:
        name: The container's original name (what it has again when the update ends).
        temp_name: The new container's name until it takes over ``name``.
        backup_name: The old container's name once renamed away.
        was_running: Whether the old container ran before the update (a rollback restarts it
            only then).
        old_id / new_id: Container ids (``new_id`` None until created).
    """

    id: int
    host: str
    key: str
    name: str
    image: str
    old_id: str
    old_image_id: str
    temp_name: str
    backup_name: str
    was_running: bool
    step: UpdateStep
    status: JournalStatus
    started_at: datetime
    updated_at: datetime
    actor: str
    new_id: str | None = None
    new_image_id: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateOutcome:
    """A finished update: the container now running under its name.

    ``updated`` is False when the container already ran the newest image (nothing was
    recreated).
    """

    host: str
    key: str
    name: str
    container_id: str
    old_image_id: str
    new_image_id: str
    updated: bool
