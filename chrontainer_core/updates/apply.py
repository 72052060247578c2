"""The safe update of one container: journalled steps, rollback, and recovery after a crash.

An update never loses the container. In order:

1. pull the container's own image reference (``Config.Image``); a failed pull raises the
   pull's error and nothing else happened;
2. plan the new container (:func:`.recreate.plan_recreate`: what the user set, over the new
   image's defaults; HostConfig and every network's aliases and IPAM config as they were);
3. create it under a transient name -> stop the old -> rename the old to its backup name ->
   rename the new to the original name -> start the new -> wait out the grace period (and a
   healthcheck's verdict) -> remove the old.

When the new container cannot be created or started, or exits, restarts or turns unhealthy
within the grace period, the update rolls back: the new container is removed, the old one gets
its name back and runs again (if it ran before), and :class:`UpdateFailed` says why.

Every step is written to the journal *before* it is taken. After a crash, :meth:`recover`
reads an unfinished entry: up to and including the verification, it rolls back (the update was
never confirmed); at "remove the old", the new container was confirmed and the update is
finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from ..actor import Actor
from ..errors import ChrontainerError, Conflict, NotFound, UpdateFailed
from ..hosts import HostManager
from ..identity import transient_name
from ..models import Container
from ..pulls import ImagePuller, PullProgress
from ..store.tables import utc_now
from .models import JournalEntry, JournalStatus, UpdateOutcome, UpdateStep
from .recreate import plan_recreate
from .store import UpdateJournal

__all__ = ["ContainerUpdater", "Progress", "StepHook"]

log = logging.getLogger(__name__)

# Docker's own stop grace period when the container names none.
DEFAULT_STOP_TIMEOUT: Final = 10
# What an image id given as Config.Image looks like (``docker run 3f2a1b0c9d8e``).
_IMAGE_ID: Final = re.compile(r"[0-9a-f]{12,64}")
# How often the grace period looks at the new container.
VERIFY_POLL: Final = 1.0

Progress = Callable[[str, PullProgress | None], None]
# Called after each journal write, before the step it names is taken (tests use it to stop a
# server exactly there).
StepHook = Callable[[JournalEntry], Awaitable[None]]

_MESSAGES: Final = {
    UpdateStep.CREATE: "creating the new container",
    UpdateStep.STOP_OLD: "stopping the old container",
    UpdateStep.RENAME_OLD: "renaming the old container",
    UpdateStep.RENAME_NEW: "giving the new container its name",
    UpdateStep.START_NEW: "starting the new container",
    UpdateStep.REMOVE_OLD: "removing the old container",
    UpdateStep.ROLLBACK: "rolling back to the old container",
}


class _Run:
    """The journal entry of an update in progress, as last written."""

    __slots__ = ("entry",)

    def __init__(self, entry: JournalEntry) -> None:
        self.entry = entry


class _NotConfirmed(Exception):
    """The new container did not stay up (or turn healthy) within the grace period."""


def _silent(_message: str, _pull: PullProgress | None) -> None:
    return None


class ContainerUpdater:
    """Performs updates (see the module docstring).

    Args:
        hosts: The hosts.
        puller: Pulls the new image (audited as ``image.pull``).
        journal: Where each step is written before it is taken.
        grace: The grace period in seconds (the ``update_grace_seconds`` setting).
        sleep: Injectable for tests of the grace logic.
        clock: Monotonic seconds, likewise.
    """

    def __init__(self, hosts: HostManager, puller: ImagePuller, journal: UpdateJournal, *,
                 grace: Callable[[], float],
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._hosts = hosts
        self._puller = puller
        self._journal = journal
        self._grace = grace
        self._sleep = sleep
        self._clock = clock
        self.step_hook: StepHook | None = None

    # -- the update ------------------------------------------------------------------------------

    async def update(self, c: Container, *, actor: Actor,
                     progress: Progress = _silent) -> UpdateOutcome:
        """Update ``c`` to the newest image of its own reference.

        Raises:
            Conflict: The container was created from an image id (nothing to pull).
            RegistryError: The pull failed; the container is untouched.
            UpdateFailed: A later step failed; ``details["rolled_back"]`` says whether the old
                container runs again under its name.
            HostUnreachable: The engine stopped answering before anything changed.
        """
        engine = self._hosts.get(c.host).host
        old = await engine.inspect_raw(c.id)
        image = str((old.get("Config") or {}).get("Image") or "")
        old_image_id = str(old.get("Image") or "")
        if not image or _IMAGE_ID.fullmatch(image.removeprefix("sha256:")):
            raise Conflict(f"container {c.name} was created from an image id, not a reference "
                           "that can be pulled", details={"host": c.host, "key": c.key})
        progress(f"pulling {image}", None)
        pulled = await self._puller.pull_now(
            c.host, image, actor=actor, on_progress=lambda p: progress(p.message, p))
        if pulled.image_id == old_image_id:
            progress(f"{c.name} already runs the newest {image}", None)
            return UpdateOutcome(host=c.host, key=c.key, name=c.name, container_id=c.id,
                                 old_image_id=old_image_id, new_image_id=old_image_id,
                                 updated=False)
        plan = plan_recreate(old, await engine.inspect_image(old_image_id))
        token = secrets.token_hex(4)
        now = utc_now()
        state = old.get("State") or {}
        entry = await self._journal.begin(JournalEntry(
            id=0, host=c.host, key=c.key, name=c.name, image=image, old_id=c.id,
            old_image_id=old_image_id, new_image_id=pulled.image_id,
            temp_name=transient_name(c.name, "new", token),
            backup_name=transient_name(c.name, "old", token),
            was_running=bool(state.get("Running")), step=UpdateStep.CREATE,
            status=JournalStatus.RUNNING, started_at=now, updated_at=now, actor=actor.label))
        stop_timeout = (old.get("Config") or {}).get("StopTimeout")
        run = _Run(entry)
        try:
            entry = await self._swap(run, plan, progress,
                                     stop_timeout if isinstance(stop_timeout, int)
                                     else DEFAULT_STOP_TIMEOUT)
        except (ChrontainerError, _NotConfirmed) as err:
            reason = err.message if isinstance(err, ChrontainerError) else str(err)
            progress(f"rolling back: {reason}", None)
            await self._roll_back(run.entry, reason)
        except asyncio.CancelledError:
            # Cancelled mid-way (the operation, or the server stopping): restore the old one
            # before giving up, shielded so the rollback itself is not cancelled too.
            with contextlib.suppress(UpdateFailed):
                await asyncio.shield(self._roll_back(run.entry, "the update was cancelled"))
            raise
        assert entry.new_id is not None
        # After the journal says DONE: a failure from here on must not roll anything back.
        with contextlib.suppress(ChrontainerError):
            await self._refresh(entry)
        log.info("host %s: updated %s to %s", entry.host, entry.name,
                 pulled.image_id.removeprefix("sha256:")[:12])
        return UpdateOutcome(host=c.host, key=c.key, name=c.name, container_id=entry.new_id,
                             old_image_id=old_image_id, new_image_id=pulled.image_id,
                             updated=True)

    async def _step(self, entry: JournalEntry, step: UpdateStep, progress: Progress,
                    **changes: Any) -> JournalEntry:
        """Journal ``step`` (committed) before the caller takes it."""
        entry = await self._journal.record(entry, step=step, **changes)
        if step in _MESSAGES:
            progress(_MESSAGES[step], None)
        if self.step_hook is not None:
            await self.step_hook(entry)
        return entry

    async def _swap(self, run: _Run, plan: Any, progress: Progress,
                    stop_timeout: int) -> JournalEntry:
        """Steps 3 (create .. remove the old); returns the finished entry. ``run.entry``
        follows each journal write, so a rollback knows what was done."""
        entry = run.entry
        engine = self._hosts.get(entry.host).host
        if self.step_hook is not None:
            await self.step_hook(entry)  # CREATE, journalled by begin()
        progress(_MESSAGES[UpdateStep.CREATE], None)
        new_id = await engine.create_container(entry.temp_name, plan.body)
        run.entry = entry = await self._journal.record(entry, new_id=new_id)
        for network, endpoint in plan.networks:
            await engine.connect_network(network, new_id, endpoint)
        if entry.was_running:
            run.entry = entry = await self._step(entry, UpdateStep.STOP_OLD, progress)
            await engine.container_action(entry.old_id, "stop",
                                          params={"t": str(stop_timeout)})
        run.entry = entry = await self._step(entry, UpdateStep.RENAME_OLD, progress)
        await engine.container_action(entry.old_id, "rename",
                                      params={"name": entry.backup_name})
        run.entry = entry = await self._step(entry, UpdateStep.RENAME_NEW, progress)
        await engine.container_action(new_id, "rename", params={"name": entry.name})
        if entry.was_running:
            run.entry = entry = await self._step(entry, UpdateStep.START_NEW, progress)
            await engine.container_action(new_id, "start")
            run.entry = entry = await self._step(entry, UpdateStep.VERIFY, progress)
            await self._confirm(entry, progress)
        run.entry = entry = await self._step(entry, UpdateStep.REMOVE_OLD, progress)
        try:
            await self._remove(entry.host, entry.old_id)
        except ChrontainerError as err:
            # The new container is confirmed: the update stands, the backup stays behind.
            note = f"could not remove the old container {entry.backup_name}: {err.message}"
            log.warning("host %s: update of %s: %s", entry.host, entry.name, note)
            run.entry = entry = await self._journal.record(entry, error=note)
        run.entry = entry = await self._journal.record(entry, status=JournalStatus.DONE)
        return entry

    async def _confirm(self, entry: JournalEntry, progress: Progress) -> None:
        """Wait out the grace period: the new container must keep running, and turn healthy
        when it has a healthcheck (healthy ends the wait early).

        Raises:
            _NotConfirmed: It exited, restarts, turned unhealthy, or was still "starting" when
                the grace period ended.
        """
        assert entry.new_id is not None
        engine = self._hosts.get(entry.host).host
        grace = max(0.0, float(self._grace()))
        deadline = self._clock() + grace
        progress(f"waiting {grace:.0f} s for {entry.name} to stay up", None)
        while True:
            doc = await engine.inspect_raw(entry.new_id)
            state = doc.get("State") or {}
            health = (state.get("Health") or {}).get("Status")
            if state.get("Restarting") or not state.get("Running"):
                raise _NotConfirmed(_ended(state))
            if health == "unhealthy":
                raise _NotConfirmed(f"the new container turned unhealthy{_last_probe(state)}")
            if health == "healthy":
                return
            remaining = deadline - self._clock()
            if remaining <= 0:
                if health == "starting":
                    raise _NotConfirmed(f"the new container was not healthy after {grace:.0f} s"
                                        " (raise the update grace period if it starts slowly)")
                return
            await self._sleep(min(VERIFY_POLL, remaining))

    # -- rolling back and recovering -----------------------------------------------------------

    async def _roll_back(self, entry: JournalEntry, reason: str) -> None:
        """Remove the new container, give the old one its name back, start it if it ran.

        Raises:
            UpdateFailed: Always: rolled back (``details["rolled_back"]`` True), or not even
                that (False; the message says where the old container is).
        """
        entry = await self._journal.record(entry, step=UpdateStep.ROLLBACK, error=reason)
        try:
            await self._restore(entry)
        except ChrontainerError as err:
            message = (f"update of {entry.name} failed ({reason}) and so did the rollback "
                       f"({err.message}); the old container is {entry.old_id[:12]}")
            await self._journal.record(entry, status=JournalStatus.FAILED, error=message)
            log.error("host %s: %s", entry.host, message)
            raise UpdateFailed(message, details={"rolled_back": False, "host": entry.host,
                                                 "key": entry.key}) from err
        await self._journal.record(entry, status=JournalStatus.ROLLED_BACK)
        log.warning("host %s: update of %s rolled back: %s", entry.host, entry.name, reason)
        raise UpdateFailed(f"update of {entry.name} rolled back: {reason}",
                           details={"rolled_back": True, "host": entry.host, "key": entry.key})

    async def _restore(self, entry: JournalEntry) -> None:
        engine = self._hosts.get(entry.host).host
        new_id = entry.new_id
        if new_id is None:
            # Crashed between the create and journalling its id: find it by its name.
            with contextlib.suppress(NotFound):
                new_id = str((await engine.inspect_raw(entry.temp_name)).get("Id") or "") or None
        if new_id is not None:
            await self._remove(entry.host, new_id, force=True)
        old = await engine.inspect_raw(entry.old_id)
        if str(old.get("Name", "")).lstrip("/") != entry.name:
            await engine.container_action(entry.old_id, "rename", params={"name": entry.name})
        if entry.was_running and not (old.get("State") or {}).get("Running"):
            await engine.container_action(entry.old_id, "start")
        await self._refresh(entry)

    async def recover(self, entry: JournalEntry) -> JournalStatus:
        """Finish or undo an update a crash interrupted (see the module docstring).

        Returns:
            DONE (it had been confirmed), ROLLED_BACK, or FAILED.

        Raises:
            HostUnreachable: The engine does not answer; try again later.
        """
        if entry.step is UpdateStep.REMOVE_OLD:
            await self._remove(entry.host, entry.old_id)
            await self._journal.record(entry, status=JournalStatus.DONE)
            await self._refresh(entry)
            log.info("host %s: finished the interrupted update of %s", entry.host, entry.name)
            return JournalStatus.DONE
        try:
            await self._roll_back(entry, "Chrontainer stopped in the middle of the update")
        except UpdateFailed as err:
            return (JournalStatus.ROLLED_BACK if err.details.get("rolled_back")
                    else JournalStatus.FAILED)
        return JournalStatus.ROLLED_BACK  # pragma: no cover - _roll_back always raises

    async def _remove(self, host: str, container_id: str, *, force: bool = False) -> None:
        """Remove a container, keeping its volumes (the other container may mount them)."""
        with contextlib.suppress(NotFound):
            await self._hosts.get(host).host.remove(container_id, force=force, volumes=False)

    async def _refresh(self, entry: JournalEntry) -> None:
        """Bring the cache up to date with both containers now (read-your-writes)."""
        watcher = self._hosts.get(entry.host)
        for container_id in (entry.old_id, entry.new_id):
            if container_id is not None:
                await watcher.refresh(container_id, action="update")


def _ended(state: dict[str, Any]) -> str:
    if state.get("Restarting"):
        return "the new container keeps restarting"
    code = state.get("ExitCode")
    error = str(state.get("Error") or "").strip()
    return f"the new container exited (code {code}){': ' + error if error else ''}"


def _last_probe(state: dict[str, Any]) -> str:
    logs = (state.get("Health") or {}).get("Log") or []
    if logs and isinstance(logs[-1], dict):
        output = str(logs[-1].get("Output") or "").strip()
        if output:
            return f": {output[:200]}"
    return ""
