"""The action registry: what a schedule or webhook run does to its target, through the core.

One table maps each :class:`~.jobs.ScheduleAction` to a handler; a later issue adds update
here and every caller (scheduler, run now, webhooks) gets them. Handlers act through the
core services with the run's actor (``Actor(schedule)`` or ``Actor(webhook)``), so every effect
lands in the audit trail like a user's click would, and they resolve the target when the run
starts: a container by its key (a recreated container keeps its schedules), a label by the
containers carrying it now.

A handler returns a short summary ("restarted web", "pruned 3 images, 120 MB") or raises a
:class:`~chrontainer_core.errors.ChrontainerError`; :class:`~chrontainer_core.errors.Busy`
means "the target is locked by another action" and lets the runner wait and try again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, Protocol

from ..actor import Actor
from ..audit import AuditTrail
from ..containers import ContainerService
from ..errors import Busy, ChrontainerError, InvalidInput, NotFound
from ..images import ImageService
from ..models import ContainerAction
from .jobs import ACTIONS_BY_TARGET, ScheduleAction, Target, TargetKind

__all__ = ["ActionRunner", "CoreActions", "check_action"]

Handler = Callable[[Target, Actor], Awaitable[str]]

_PAST: Final = {
    ScheduleAction.START: "started", ScheduleAction.STOP: "stopped",
    ScheduleAction.RESTART: "restarted", ScheduleAction.PAUSE: "paused",
    ScheduleAction.UNPAUSE: "unpaused", ScheduleAction.KILL: "killed",
}


class PullOutcomeLike(Protocol):
    """What the action needs to know of a finished pull (``chrontainer_core.pulls.PullOutcome``)."""

    @property
    def reference(self) -> str: ...
    @property
    def image_id(self) -> str: ...
    @property
    def updated(self) -> bool: ...


class ImagePulling(Protocol):
    """Pulls an image on a host now (``chrontainer_core.pulls.ImagePuller``)."""

    async def pull_now(self, host: str, image: str, *,
                       actor: Actor | None = None) -> PullOutcomeLike:
        """Pull ``image`` on ``host`` as ``actor``; raise a ChrontainerError on failure."""
        ...


class UpdateOutcomeLike(Protocol):
    """What the action needs to know of a finished update (``updates.models.UpdateOutcome``)."""

    @property
    def name(self) -> str: ...
    @property
    def new_image_id(self) -> str: ...
    @property
    def updated(self) -> bool: ...


class ContainerUpdating(Protocol):
    """Updates a container now (``chrontainer_core.updates.service.UpdateService``)."""

    async def update_now(self, host: str, ref: str, *,
                         actor: Actor | None = None) -> UpdateOutcomeLike:
        """Update it as ``actor``; raise a ChrontainerError on failure."""
        ...


class ActionRunner(Protocol):
    """Performs one action on one target (the scheduler's only view of the core)."""

    async def run(self, action: ScheduleAction, target: Target, actor: Actor) -> str:
        """Do it now; return a summary, or raise a ChrontainerError."""
        ...


def check_action(action: ScheduleAction, target: Target) -> None:
    """Refuse an action the target kind cannot take (``pause`` a host, prune a container).

    Raises:
        InvalidInput: ``field="action"``, naming what the target kind allows.
    """
    allowed = ACTIONS_BY_TARGET[target.kind]
    if action not in allowed:
        names = ", ".join(sorted(a.value for a in allowed))
        raise InvalidInput(f"action: a {target.kind.value} target takes {names}",
                           field="action")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _megabytes(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


class CoreActions:
    """The registry of schedule actions, acting through the core's services."""

    def __init__(self, containers: ContainerService, images: ImageService,
                 audit: AuditTrail, *, pulls: ImagePulling | None = None,
                 updates: ContainerUpdating | None = None) -> None:
        self._containers = containers
        self._images = images
        self._pulls = pulls
        self.updates = updates  # set by the runtime once ch.updates exists
        self._audit = audit
        container_action = self._container_action
        self._handlers: Mapping[ScheduleAction, Handler] = {
            **{a: _bind(container_action, a) for a in _PAST},
            ScheduleAction.PRUNE_IMAGES: self._prune_images,
            ScheduleAction.PULL: self._pull,
            ScheduleAction.UPDATE: self._update,
        }

    async def run(self, action: ScheduleAction, target: Target, actor: Actor) -> str:
        """Perform ``action`` on ``target`` as ``actor`` (see the module docstring)."""
        check_action(action, target)
        return await self._handlers[action](target, actor)

    async def _container_action(self, action: ScheduleAction, target: Target,
                                actor: Actor) -> str:
        verb = _PAST[action]
        act = ContainerAction(action.value)
        if target.kind is TargetKind.CONTAINER:
            assert target.key is not None  # Target.__post_init__ guarantees it
            # Audited when the key finds nothing too: the activity page must show a scheduled
            # action that could not happen, not only the run history.
            try:
                c = await self._containers.by_key(target.host, target.key)
            except NotFound as err:
                await self._audit.record(actor, f"container.{act.value}",
                                         f"{target.host}/{target.key}", error=err)
                raise
            try:
                result = await self._containers.action(target.host, c.id, act, actor=actor)
            except NotFound as err:
                # Removed between the lookup and the action (the cache had not heard yet): say
                # which container, not only the engine's "No such container: <id>".
                raise NotFound(f"container {target.key} on {target.host} is gone: {err.message}",
                               details={**err.details, "host": target.host,
                                        "key": target.key}) from err
            return f"{verb} {c.name}" if result.changed else f"{c.name} was already {verb}"
        assert target.label is not None  # likewise for label targets
        found = await self._containers.with_label(target.host, target.label)
        if not found:
            nothing = NotFound(
                f"no container on {target.host} carries the label {target.label}",
                details={"host": target.host, "label": target.label})
            await self._audit.record(actor, f"container.{act.value}",
                                     f"{target.host}/label:{target.label}", error=nothing)
            raise nothing
        outcomes = await asyncio.gather(
            *(self._containers.action(target.host, c.id, act, actor=actor) for c in found),
            return_exceptions=True)
        failed = [(c, o) for c, o in zip(found, outcomes, strict=True)
                  if isinstance(o, BaseException)]
        for _, problem in failed:
            if not isinstance(problem, ChrontainerError):
                raise problem  # a bug or cancellation, not a per-container failure
        if failed and all(isinstance(err, Busy) for _, err in failed) and len(failed) == len(found):
            raise Busy(f"every container labelled {target.label} is busy")
        if failed:
            detail = "; ".join(f"{c.name}: {err}" for c, err in failed)
            raise ChrontainerError(
                f"{verb} {len(found) - len(failed)} of {len(found)} containers; {detail}",
                details={"failed": [c.name for c, _ in failed]})
        return f"{verb} {_count(len(found), 'container')}"

    async def _prune_images(self, target: Target, actor: Actor) -> str:
        result = await self._images.prune(target.host, actor=actor)
        return (f"removed {_count(len(result.untagged), 'tag')} and "
                f"{_count(len(result.deleted), 'layer')}, "
                f"reclaimed {_megabytes(result.reclaimed_bytes)}")


    async def _pull(self, target: Target, actor: Actor) -> str:
        assert target.image is not None  # Target.__post_init__ guarantees it
        if self._pulls is None:
            raise ChrontainerError("pulling images is not available in this runtime")
        outcome = await self._pulls.pull_now(target.host, target.image, actor=actor)
        short = outcome.image_id.removeprefix("sha256:")[:12]
        if outcome.updated:
            return f"pulled a newer {outcome.reference} ({short})"
        return f"{outcome.reference} is up to date ({short})"


    async def _update(self, target: Target, actor: Actor) -> str:
        """Update the target's container(s) one after the other (each is a recreate: never
        several of one label at once, so a broken new image stops at the first)."""
        if self.updates is None:
            raise ChrontainerError("updates are not available in this runtime")
        if target.kind is TargetKind.CONTAINER:
            assert target.key is not None
            c = await self._containers.by_key(target.host, target.key)
            found = [c]
        else:
            assert target.label is not None
            found = await self._containers.with_label(target.host, target.label)
            if not found:
                raise NotFound(f"no container on {target.host} carries the label "
                               f"{target.label}",
                               details={"host": target.host, "label": target.label})
        done: list[str] = []
        for c in found:
            outcome = await self.updates.update_now(target.host, c.id, actor=actor)
            short = outcome.new_image_id.removeprefix("sha256:")[:12]
            done.append(f"updated {outcome.name} to {short}" if outcome.updated
                        else f"{outcome.name} is up to date")
        return "; ".join(done)


def _bind(handler: Callable[[ScheduleAction, Target, Actor], Awaitable[str]],
          action: ScheduleAction) -> Handler:
    async def bound(target: Target, actor: Actor) -> str:
        return await handler(action, target, actor)
    return bound
