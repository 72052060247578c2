"""``ch.updates``: checking containers for newer images and updating them safely.

What the API, the scheduler, the web UI and the MQTT bridge call. Checks (:mod:`.detect`) are
kept by host + container key, in memory for the container list and in the database for
restarts; a changed result is published as :class:`UpdateStatusChanged`, and a newly published
image is announced once as ``update.available``. Updates (:mod:`.apply`) run as long operations
(or directly, for a schedule), hold the container's action lock, and are audited as
``container.update``; their outcome is announced as ``update.applied``,
``update.rolled_back`` or ``update.failed``.

In daemon mode the service also runs the system schedule (the ``update_check_cron`` setting,
daily by default) that checks every container, and at start finishes or undoes the updates a
crash interrupted.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ..actor import Actor
from ..audit import AuditTrail
from ..bus import Bus, UpdateStatusChanged
from ..containers import ContainerFilter, ContainerService
from ..errors import ChrontainerError, Conflict, HostUnreachable, UpdateFailed
from ..hosts import HostManager
from ..identity import is_transient
from ..models import BulkTarget, Container, HostStatus, Operation
from ..notify.models import EVENTS, Notification, NotificationEvent
from ..operations import OperationHandle, OperationManager
from ..pulls import PullProgress
from ..serialize import to_jsonable
from ..store.tables import utc_now
from ..tasks import cancel_and_wait
from .apply import ContainerUpdater
from .detect import UpdateChecker
from .models import JournalEntry, UpdateCheck, UpdateOutcome, UpdateState
from .schedule import SystemCheckSchedule
from .selfid import read_own_container_ids
from .store import CheckStore, UpdateJournal

__all__ = [
    "CHECK_KIND",
    "UPDATE_KIND",
    "BulkUpdateItem",
    "CheckSummary",
    "Emit",
    "UpdateService",
]

log = logging.getLogger(__name__)

UPDATE_KIND: Final = "container.update"
CHECK_KIND: Final = "update.check"
ALL_HOSTS: Final = "*"
# Journal rows read at once when a history is filtered by container.
HISTORY_SCAN: Final = 500
# How long recovery waits for a host of an interrupted update before trying again.
RECOVERY_RETRY: Final = 30.0

Emit = Callable[[Notification, Mapping[str, str] | None], Awaitable[object]]


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckSummary:
    """What a check pass found (also the check operation's ``result``)."""

    checked: int = 0
    available: int = 0
    up_to_date: int = 0
    pinned: int = 0
    local: int = 0
    errors: int = 0
    registry_requests: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkUpdateItem:
    """One target of :meth:`UpdateService.start_many`: its operation, or why none started."""

    host: str
    ref: str
    ok: bool
    operation: Operation | None = None
    error: dict[str, Any] | None = field(default=None)


_STATE_FIELD: Final = {
    UpdateState.AVAILABLE: "available", UpdateState.UP_TO_DATE: "up_to_date",
    UpdateState.PINNED: "pinned", UpdateState.LOCAL: "local", UpdateState.ERROR: "errors",
}


def _summary(checks: Sequence[UpdateCheck], requests: int) -> CheckSummary:
    counts = dict.fromkeys(_STATE_FIELD.values(), 0)
    for check in checks:
        counts[_STATE_FIELD[check.state]] += 1
    return CheckSummary(checked=len(checks), registry_requests=requests, **counts)


class UpdateService:
    """See the module docstring.

    Args:
        hosts / containers / audit / operations / bus: The core services it acts through.
        checker: Asks registries (:class:`.detect.UpdateChecker`).
        updater: Performs updates (:class:`.apply.ContainerUpdater`).
        checks / journal: Persistence (database in daemon mode, memory in library mode).
        emit: Where notifications go (daemon mode), or None.
        check_cron: The system schedule: a cron expression ("" never) and its time zone; None
            runs no schedule (library mode).
    """

    def __init__(self, *, hosts: HostManager, containers: ContainerService, audit: AuditTrail,
                 operations: OperationManager, bus: Bus, checker: UpdateChecker,
                 updater: ContainerUpdater, checks: CheckStore, journal: UpdateJournal,
                 emit: Callable[[], Emit | None] = lambda: None,
                 check_cron: Callable[[], tuple[str, str]] | None = None) -> None:
        self._hosts = hosts
        self._containers = containers
        self._audit = audit
        self._operations = operations
        self._bus = bus
        self._checker = checker
        self.updater = updater
        self._checks_store = checks
        self._journal = journal
        self._emit = emit
        # The system schedule checking every container (daemon mode).
        self.schedule = (SystemCheckSchedule(self._scheduled_check, check_cron)
                         if check_cron is not None else None)
        self._checks: dict[tuple[str, str], UpdateCheck] = {}
        self._json: dict[tuple[str, str], dict[str, Any]] = {}
        self._notified: dict[tuple[str, str], str | None] = {}
        self._running: set[tuple[str, str]] = set()
        self.own_container_ids: frozenset[str] = frozenset()
        self._tasks: list[asyncio.Task[None]] = []

    # -- life cycle ------------------------------------------------------------------------------

    async def start_background(self) -> None:
        """Load stored checks, learn which container this process runs in, finish interrupted
        updates and start the system schedule (daemon mode)."""
        for check, notified in await self._checks_store.load():
            self._remember(check, notified, publish=False)
        # Tiny /proc reads, once: off the loop all the same (DESIGN §3).
        self.own_container_ids = await asyncio.to_thread(read_own_container_ids)
        self._tasks.append(asyncio.create_task(self._recover_all(), name="updates:recover"))
        if self.schedule is not None:
            self.schedule.start()

    async def stop_background(self) -> None:
        """Stop the system schedule and recovery (running update operations belong to the
        operation manager, stopped by the runtime)."""
        if self.schedule is not None:
            await self.schedule.stop()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            await cancel_and_wait(task)

    def wake(self) -> None:
        """Re-read the system schedule now (its setting changed)."""
        if self.schedule is not None:
            self.schedule.wake()

    async def _scheduled_check(self) -> None:
        await self.check(actor=Actor.system())

    # -- reading ---------------------------------------------------------------------------------

    def statuses(self, host: str | None = None) -> builtins.list[UpdateCheck]:
        """The last check of every container key (of ``host``), by host and key."""
        return [c for k, c in sorted(self._checks.items())
                if host is None or k[0] == host]

    def status(self, host: str, key: str) -> UpdateCheck | None:
        """The last check of one container key, or None."""
        return self._checks.get((host, key))

    def status_json(self, host: str, key: str) -> dict[str, Any] | None:
        """:meth:`status` as JSON, prebuilt (shared: never mutate)."""
        return self._json.get((host, key))

    async def history(self, *, host: str | None = None, limit: int = 50, offset: int = 0,
                      visible: Callable[[str, str], bool] | None = None,
                      ) -> tuple[builtins.list[JournalEntry], int]:
        """Updates, newest first, and how many there are.

        Args:
            host: Only this host's.
            limit / offset: The page.
            visible: Only updates of the containers ``visible(host, key)`` allows (a scoped
                API key's); the journal is then read whole, in pages.
        """
        if visible is None:
            return await self._journal.page(host=host, limit=limit, offset=offset)
        mine: builtins.list[JournalEntry] = []
        start = 0
        while True:
            page, total = await self._journal.page(host=host, limit=HISTORY_SCAN, offset=start)
            mine += [e for e in page if visible(e.host, e.key)]
            start += len(page)
            if not page or start >= total:
                return mine[offset:offset + limit], len(mine)

    # -- checking --------------------------------------------------------------------------------

    async def check(self, *, host: str | None = None, targets: Sequence[BulkTarget] | None = None,
                    actor: Actor | None = None) -> CheckSummary:
        """Check containers for newer images now: ``targets``, else every container of
        ``host``, else of every host (containers of offline hosts keep their last result).

        Raises:
            NotFound: An unknown host or container.
        """
        actor = actor or Actor.library()
        containers = await self._select(host, targets)
        async with self._audit.track(actor, "update.check", host or ALL_HOSTS):
            found = await self._checker.check(containers)
        await self._record(found.checks, {(c.host, c.key): c.labels for c in containers})
        if not targets:
            await self._forget_gone(host, containers)
        summary = _summary(found.checks, found.registry_requests)
        log.info("update check (%s): %d containers, %d updates available, %d errors, "
                 "%d registry requests", host or "all hosts", summary.checked,
                 summary.available, summary.errors, summary.registry_requests)
        return summary

    async def start_check(self, *, host: str | None = None,
                          targets: Sequence[BulkTarget] | None = None,
                          actor: Actor | None = None) -> Operation:
        """:meth:`check` as a long operation (kind ``update.check``); the summary is its
        ``result``.

        Raises:
            NotFound: An unknown host or container (before anything starts).
        """
        await self._select(host, targets)  # NotFound now, not in the operation

        async def work(handle: OperationHandle) -> dict[str, str]:
            handle.update(message="asking the registries")
            summary = await self.check(host=host, targets=targets, actor=actor)
            handle.update(message=_describe(summary), percent=100.0)
            return {k: str(v) for k, v in to_jsonable(summary).items()}

        return self._operations.start(kind=CHECK_KIND, host=host or ALL_HOSTS,
                                      target=host or "all containers", actor=actor, work=work)

    async def _select(self, host: str | None,
                      targets: Sequence[BulkTarget] | None) -> builtins.list[Container]:
        if targets:
            return [await self._containers.get(t.host, t.ref) for t in targets]
        if host is not None:
            self._hosts.get(host)  # NotFound for an unknown host
        listing = await self._containers.list(ContainerFilter(host=host))
        return [c for c in listing.items if not c.stale and not is_transient(c.name)]

    async def _record(self, checks: Sequence[UpdateCheck],
                      labels: Mapping[tuple[str, str], Mapping[str, str]]) -> None:
        """Keep checks (one transaction), publish changes, announce newly published images
        once each."""
        rows: list[tuple[UpdateCheck, str | None]] = []
        announce: list[UpdateCheck] = []
        for check in checks:
            notified = self._notified.get((check.host, check.key))
            if (check.state is UpdateState.AVAILABLE and check.remote_digest is not None
                    and check.remote_digest != notified):
                notified = check.remote_digest
                announce.append(check)
            rows.append((check, notified))
        await self._checks_store.save(rows)
        for check, notified in rows:
            self._remember(check, notified, publish=True)
        for check in announce:
            await self._notify(NotificationEvent.UPDATE_AVAILABLE, check.host, check.key,
                               f"update available for {check.key} on {check.host}",
                               f"a newer {check.image} is published "
                               f"({(check.remote_digest or '')[:19]})",
                               labels.get((check.host, check.key)))

    async def _forget_gone(self, host: str | None,
                           containers: Sequence[Container]) -> None:
        """After a check of whole hosts, drop the results of keys none of their containers
        has any more (removed containers), on hosts that are online (an offline host's
        containers were not looked at)."""
        online = {s.slug for s in self._hosts.states()
                  if s.status is HostStatus.ONLINE and (host is None or s.slug == host)}
        present = {(c.host, c.key) for c in containers}
        gone = [pair for pair in self._checks if pair[0] in online and pair not in present]
        if not gone:
            return
        await self._checks_store.forget(gone)
        for pair in gone:
            self._checks.pop(pair, None)
            self._json.pop(pair, None)
            self._notified.pop(pair, None)
            self._bus.publish(UpdateStatusChanged(host=pair[0], key=pair[1], check=None))

    def _remember(self, check: UpdateCheck, notified: str | None, *, publish: bool) -> None:
        key = (check.host, check.key)
        before = self._checks.get(key)
        self._checks[key] = check
        self._json[key] = to_jsonable(check)
        self._notified[key] = notified
        changed = before is None or (before.state, before.remote_digest, before.local_digest,
                                     before.error) != (check.state, check.remote_digest,
                                                       check.local_digest, check.error)
        if publish and changed:
            self._bus.publish(UpdateStatusChanged(host=check.host, key=check.key, check=check))

    # -- updating --------------------------------------------------------------------------------

    async def start(self, host: str, ref: str, *, actor: Actor | None = None) -> Operation:
        """Update a container as a long operation (kind ``container.update``, target its key).

        Raises:
            NotFound: No such host or container.
            Conflict: The update is refused (see :meth:`refusal`) or already running.
        """
        c = await self._containers.get(host, ref)
        self._refuse(c)

        async def work(handle: OperationHandle) -> dict[str, str]:
            def progress(message: str, pull: PullProgress | None) -> None:
                if pull is None:
                    handle.update(message=message)
                else:
                    handle.update(message=message, layers=pull.layers, percent=pull.percent)

            outcome = await self._update(c, actor or Actor.library(), progress)
            handle.update(message=_outcome_text(outcome), percent=100.0)
            return {"container_id": outcome.container_id, "name": outcome.name,
                    "old_image_id": outcome.old_image_id, "new_image_id": outcome.new_image_id,
                    "updated": "true" if outcome.updated else "false"}

        return self._operations.start(kind=UPDATE_KIND, host=host, target=c.key, actor=actor,
                                      work=work)

    async def start_many(self, targets: Sequence[BulkTarget], *,
                         actor: Actor | None = None) -> builtins.list[BulkUpdateItem]:
        """Start an update of each target; each succeeds or fails to start on its own."""
        items = []
        for t in targets:
            try:
                op = await self.start(t.host, t.ref, actor=actor)
            except ChrontainerError as err:
                items.append(BulkUpdateItem(host=t.host, ref=t.ref, ok=False, error={
                    "code": err.code, "message": err.message, "details": err.details}))
            else:
                items.append(BulkUpdateItem(host=t.host, ref=t.ref, ok=True, operation=op))
        return items

    async def update_now(self, host: str, ref: str, *,
                         actor: Actor | None = None) -> UpdateOutcome:
        """Update a container and wait for the end (the schedule action).

        Raises:
            NotFound, Conflict: As :meth:`start`.
            RegistryError: The pull failed; the container is untouched.
            UpdateFailed: A later step failed (rolled back unless ``details`` say otherwise).
        """
        c = await self._containers.get(host, ref)
        self._refuse(c)
        return await self._update(c, actor or Actor.library(), lambda _m, _p: None)

    def refusal(self, c: Container) -> str | None:
        """Why ``c`` must not be updated, or None.

        Chrontainer's own container: stopping it would stop the update half-way. A container
        others join with ``network_mode: container:<it>``: recreating it cuts their network,
        and they would keep pointing at the removed container.
        """
        if any(c.id == own or (len(own) == 12 and c.id.startswith(own))
               for own in self.own_container_ids):
            return (f"{c.name} is the container Chrontainer itself runs in; update it from "
                    "outside (e.g. docker compose pull && docker compose up -d)")
        if is_transient(c.name):
            return f"{c.name} is a container an update is replacing"
        joined = self.joined(c)
        if joined:
            names = ", ".join(sorted(o.name for o in joined))
            return (f"{names} share{'s' if len(joined) == 1 else ''} the network of {c.name} "
                    f"(network_mode container:{c.name}); recreating {c.name} would cut "
                    "them off: update them together with their compose project instead")
        if (c.host, c.key) in self._running:
            return f"an update of {c.name} is already running"
        return None

    def joined(self, c: Container) -> builtins.list[Container]:
        """The containers of ``c``'s host that use its network stack."""
        out = []
        for other in self._hosts.get(c.host).containers():
            mode = other.network_mode
            if other.id == c.id or not mode.startswith("container:"):
                continue
            target = mode.removeprefix("container:")
            if target in (c.id, c.name) or (len(target) >= 12 and c.id.startswith(target)):
                out.append(other)
        return out

    def _refuse(self, c: Container) -> None:
        reason = self.refusal(c)
        if reason is not None:
            joined = [o.name for o in self.joined(c)]
            raise Conflict(f"cannot update {c.name}: {reason}",
                           details={"host": c.host, "key": c.key, "joined": joined})

    async def _update(self, c: Container, actor: Actor,
                      progress: Callable[[str, PullProgress | None], None]) -> UpdateOutcome:
        key = (c.host, c.key)
        if key in self._running:
            raise Conflict(f"cannot update {c.name}: an update of it is already running",
                           details={"host": c.host, "key": c.key})
        self._running.add(key)
        try:
            async with (self._containers.hold(c.host, c.id),
                        self._audit.track(actor, "container.update", f"{c.host}/{c.key}")):
                outcome = await self.updater.update(c, actor=actor, progress=progress)
        except UpdateFailed as err:
            event = (NotificationEvent.UPDATE_ROLLED_BACK if err.details.get("rolled_back")
                     else NotificationEvent.UPDATE_FAILED)
            await self._notify(event, c.host, c.key, f"update of {c.name} on {c.host} "
                               + ("rolled back" if event is NotificationEvent.UPDATE_ROLLED_BACK
                                  else "failed"), err.message, c.labels)
            raise
        except ChrontainerError as err:
            await self._notify(NotificationEvent.UPDATE_FAILED, c.host, c.key,
                               f"update of {c.name} on {c.host} failed",
                               f"{err.message} (the container was not changed)", c.labels)
            raise
        finally:
            self._running.discard(key)
        if outcome.updated:
            await self._notify(NotificationEvent.UPDATE_APPLIED, c.host, c.key,
                               f"{c.name} on {c.host} updated", _outcome_text(outcome),
                               c.labels)
        await self._after_update(c)
        return outcome

    async def _after_update(self, c: Container) -> None:
        """Check the updated container again, so its badge goes at once."""
        try:
            renewed = await self._containers.get(c.host, c.name)
            found = await self._checker.check([renewed])
        except ChrontainerError as err:
            log.info("host %s: could not re-check %s after its update: %s", c.host, c.name,
                     err.message)
            return
        await self._record(found.checks, {(c.host, c.key): c.labels})

    async def _notify(self, event: NotificationEvent, host: str, key: str, title: str,
                      message: str, labels: Mapping[str, str] | None) -> None:
        emit = self._emit()
        if emit is None:
            return
        n = Notification(event=event, title=title, message=message,
                         severity=EVENTS[event].severity, time=utc_now(),
                         subject=f"{host}/{key}", host=host, container=key)
        try:
            await emit(n, labels)
        except Exception:  # supervision: a failed notification must not fail the update
            log.exception("host %s: could not queue the %s notification of %s", host,
                          event.value, key)

    # -- background work (daemon) ----------------------------------------------------------------

    async def _recover_all(self) -> None:
        """Finish or undo every update a crash interrupted, retrying hosts that are down."""
        pending = await self._journal.unfinished()
        while pending:
            left: list[JournalEntry] = []
            for entry in pending:
                try:
                    await self._hosts.get(entry.host).wait_synced(10.0)
                    status = await self.updater.recover(entry)
                except HostUnreachable as err:
                    log.warning("host %s: cannot recover the interrupted update of %s yet: %s",
                                entry.host, entry.name, err.message)
                    left.append(entry)
                    continue
                except ChrontainerError as err:
                    log.error("host %s: recovering the update of %s failed: %s", entry.host,
                              entry.name, err.message)
                    continue
                await self._audit.record(Actor.system(), "container.update.recover",
                                         f"{entry.host}/{entry.key}")
                log.info("host %s: interrupted update of %s: %s", entry.host, entry.name,
                         status.value)
            pending = left
            if pending:
                await asyncio.sleep(RECOVERY_RETRY)


def _describe(summary: CheckSummary) -> str:
    text = (f"checked {summary.checked} container{'s' if summary.checked != 1 else ''}: "
            f"{summary.available} update{'s' if summary.available != 1 else ''} available")
    if summary.errors:
        text += f", {summary.errors} could not be checked"
    return text


def _outcome_text(outcome: UpdateOutcome) -> str:
    if not outcome.updated:
        return f"{outcome.name} already runs the newest image"
    return (f"{outcome.name} updated to {outcome.new_image_id.removeprefix('sha256:')[:12]} "
            f"(was {outcome.old_image_id.removeprefix('sha256:')[:12]})")

