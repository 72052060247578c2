"""What deserves a notification: the detector turning bus events and failed actions into
:class:`~chrontainer_core.notify.models.Notification` s (daemon mode).

It listens to the engines' container events (died, OOM-killed, unhealthy, restart loop), host
status changes (offline, back online), finished schedule and webhook runs (failed, skipped)
and, through :meth:`AuditTrail.on_failure`, every failed container action whoever asked. The
decisions themselves are the pure state machines of :mod:`.rules`; this module feeds them and
words the result: a title ("web on nas died (exit 3)"), a message with the details, the
event's severity, the host and the container key.

Each notification goes to ``emit`` (the runtime wires it to ``NotificationService.emit``) with
the container's labels, so that the ``chrontainer.notify=false`` opt-out is decided there along
with routing and throttling. Emitting happens in a task of its own, behind a bounded queue, so
a slow database never holds up the reading of events.

Both loops supervise themselves: a bad event or a failed emit is logged and the loop goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from ..actor import Actor
from ..audit import AuditTrail
from ..bus import Bus, DockerEventSeen, Event, HostChanged, Lagged, RunChanged, Subscription
from ..errors import NotFound
from ..models import Container, DockerEvent, DockerObjectType, HostState, HostStatus
from ..scheduling.jobs import RunResult, ScheduleRun
from ..settings import Settings
from ..store.tables import utc_now
from ..tasks import cancel_and_wait
from .models import EVENTS, Notification, NotificationEvent
from .rules import (
    DEATH_GRACE,
    EXPLAIN_WINDOW,
    ContainerRef,
    DeathWitness,
    StartCounter,
    Transitions,
    exit_code,
    health_of,
    host_event,
    run_event,
)

if TYPE_CHECKING:
    from ..hosts import HostManager

__all__ = ["Emit", "EventDetector"]

log = logging.getLogger(__name__)

Emit = Callable[[Notification, Mapping[str, str] | None], Awaitable[object]]
Clock = Callable[[], datetime]

TOPICS: Final = (DockerEventSeen.topic, HostChanged.topic, RunChanged.topic)
# Bus queue of the detector: a burst of engine events (a stack coming up) fits easily.
QUEUE_SIZE: Final = 5000
# Notifications waiting for emit; beyond this (the database hangs) new ones are dropped.
OUTBOX_SIZE: Final = 1000
# At stop, how long the notifications still waiting may take to be emitted.
STOP_GRACE: Final = 5.0
_CONTAINER_PREFIX: Final = "container."
# The audit action of a container update (chrontainer_core.updates.service).
UPDATE_ACTION: Final = "container.update"

_Pending = tuple[Notification, Mapping[str, str] | None]


class EventDetector:
    """Watches the bus and the audit trail and emits a notification for each event of
    :data:`~chrontainer_core.notify.models.EVENTS` (see the module docstring).

    Args:
        bus: Where the watchers publish engine events and host changes, and runs their results.
        hosts: The hosts, whose caches name a container and give its key and labels.
        audit: The trail whose failed ``container.*`` calls become ``action.failed``.
        emit: Called with each notification and the container's labels (None when not about
            a known container); its result is ignored.
        settings: The current settings (``restart_loop_count`` and ``restart_loop_minutes``
            are read per start).
        clock: The current time (aware UTC).
        explain_window: How long a kill or stop explains a death.
        death_grace: How long an unexplained death waits for a destroy or oom that explains it.
    """

    def __init__(
        self,
        bus: Bus,
        hosts: HostManager,
        audit: AuditTrail,
        emit: Emit,
        *,
        settings: Callable[[], Settings],
        clock: Clock = utc_now,
        explain_window: timedelta = EXPLAIN_WINDOW,
        death_grace: timedelta = DEATH_GRACE,
    ) -> None:
        self._bus = bus
        self._hosts = hosts
        self._audit = audit
        self._emit = emit
        self._settings = settings
        self._clock = clock
        self._deaths: DeathWitness[_Pending] = DeathWitness(
            clock=clock, window=explain_window, grace=death_grace)
        self._starts = StartCounter(clock=clock)
        self._health: Transitions[ContainerRef, str] = Transitions()
        self._host_states: Transitions[str, HostStatus] = Transitions()
        self._outbox: asyncio.Queue[_Pending] = asyncio.Queue(maxsize=OUTBOX_SIZE)
        self._sub: Subscription | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._hooked = False
        self._overflowing = False

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while events are being watched."""
        return self._watcher is not None and not self._watcher.done()

    def start(self) -> None:
        """Subscribe and start watching (no-op when running).

        Subscribes at once, so nothing published after this call is missed; the hosts' current
        states are the baseline their next change is compared with.
        """
        if self.running:
            return
        self._sub = self._bus.subscribe(TOPICS, maxsize=QUEUE_SIZE)
        for host in self._hosts.states():
            if host.status is not HostStatus.UNKNOWN:
                self._host_states.seed(host.slug, host.status)
        if not self._hooked:  # the trail has no way to unregister: hook once, check running
            self._audit.on_failure(self._on_failure)
            self._hooked = True
        self._watcher = asyncio.create_task(self._watch(self._sub), name="notify:detect")
        self._sender = asyncio.create_task(self._send(), name="notify:emit")

    async def stop(self) -> None:
        """Stop watching; deaths still in their grace period and notifications not emitted
        yet are emitted first (for at most :data:`STOP_GRACE` seconds)."""
        watcher, self._watcher = self._watcher, None
        await cancel_and_wait(watcher)
        sub, self._sub = self._sub, None
        if sub is not None:
            sub.close()
        for pending in self._deaths.flush():
            self._queue(*pending)
        sender, self._sender = self._sender, None
        if sender is not None and not sender.done():
            try:
                async with asyncio.timeout(STOP_GRACE):
                    await self._outbox.join()
            except TimeoutError:
                log.warning("notifications: %d were not emitted at shutdown",
                            self._outbox.qsize())
        await cancel_and_wait(sender)

    # -- the loops ------------------------------------------------------------------------------

    async def _watch(self, sub: Subscription) -> None:
        while True:
            event = await self._next(sub)
            try:
                if event is not None:
                    self._handle(event)
                for pending in self._deaths.due():
                    self._queue(*pending)
            except Exception:  # supervision: one bad event must not end the detection
                log.exception("notifications: could not examine %r", event)

    async def _next(self, sub: Subscription) -> Event | None:
        """The next bus event, or None when a waiting death falls due first."""
        due = self._deaths.next_due()
        if due is None:
            return await sub.get()
        try:
            async with asyncio.timeout(max(0.0, (due - self._clock()).total_seconds())):
                return await sub.get()
        except TimeoutError:
            return None

    async def _send(self) -> None:
        while True:
            notification, labels = await self._outbox.get()
            try:
                await self._emit(notification, labels)
            except Exception:  # supervision: the next notification may well go through
                log.exception("notifications: could not emit %s about %s",
                              notification.event, notification.subject)
            finally:
                self._outbox.task_done()

    def _queue(self, notification: Notification, labels: Mapping[str, str] | None) -> None:
        try:
            self._outbox.put_nowait((notification, labels))
        except asyncio.QueueFull:
            if not self._overflowing:  # once per overflow, not once per dropped notification
                log.warning("notifications: emitting is stuck; dropping %s about %s and "
                            "others until it catches up", notification.event, notification.subject)
            self._overflowing = True
            return
        self._overflowing = False
        log.info("notifications: %s about %s: %s", notification.event, notification.subject,
                 notification.title)

    # -- deciding -------------------------------------------------------------------------------

    def _handle(self, event: Event) -> None:
        if isinstance(event, DockerEventSeen):
            if event.event.type is DockerObjectType.CONTAINER:
                self._container_event(event.event)
        elif isinstance(event, HostChanged):
            self._host_changed(event.host)
        elif isinstance(event, RunChanged):
            self._run_changed(event.run, event.name)
        elif isinstance(event, Lagged):
            # Missed kills may turn into "died" and missed deaths into silence; nothing to
            # resync from, so say so.
            log.warning("notifications: fell behind, %d events were not examined",
                        event.dropped)

    def _container_event(self, e: DockerEvent) -> None:
        ref = (e.host, e.object_id)
        action = e.action
        if action in ("kill", "stop"):
            self._deaths.requested(ref)
        elif action == "oom":
            if self._deaths.oom(ref):
                self._notify_container(NotificationEvent.CONTAINER_OOM, e, "was killed: out of "
                                       "memory", "The kernel killed a process of {name} on "
                                       "{host} because the container ran out of memory.")
        elif action == "die":
            code = exit_code(e.attributes)
            pending = self._container_notification(
                NotificationEvent.CONTAINER_DIED, e, f"died (exit {code})",
                f"{{name}} on {{host}} exited with code {code}, and no stop, kill or restart "
                "was asked for.")
            if self._deaths.died(ref, code, pending):
                log.info("host %s: container %s died with exit code %s; waiting to see "
                         "whether it is being removed", e.host, e.name, code)
        elif action == "start":
            self._started(ref, e)
        elif action == "destroy":
            self._deaths.destroyed(ref)
            self._starts.forget(ref)
            self._health.forget(ref)
        else:
            health = health_of(action)
            change = None if health is None else self._health.change(ref, health)
            if change is not None and change.after == "unhealthy":
                self._notify_container(NotificationEvent.CONTAINER_UNHEALTHY, e,
                                       "is unhealthy", "The healthcheck of {name} on {host} "
                                       "failed: the container is unhealthy.")

    def _started(self, ref: ContainerRef, e: DockerEvent) -> None:
        self._deaths.started(ref)
        self._health.forget(ref)  # the healthcheck starts over with the container
        current = self._settings()
        count, minutes = current.restart_loop_count, current.restart_loop_minutes
        starts = self._starts.started(ref, count=count, window=timedelta(minutes=minutes))
        if starts is not None:
            self._notify_container(
                NotificationEvent.CONTAINER_RESTART_LOOP, e, "is in a restart loop",
                f"{{name}} on {{host}} started {starts} times within {minutes} minutes.")

    def _notify_container(self, event: NotificationEvent, e: DockerEvent, what: str,
                          message: str) -> None:
        self._queue(*self._container_notification(event, e, what, message))

    def _container_notification(self, event: NotificationEvent, e: DockerEvent, what: str,
                                message: str) -> _Pending:
        """A notification about the container of ``e``; ``message`` may name ``{name}`` and
        ``{host}``. A container no longer in the cache is named as the event names it."""
        container = self._cached(e.host, e.object_id)
        name = container.name if container is not None else e.name
        key = container.key if container is not None else e.name
        host = self._host_name(e.host)
        text = message.format(name=name, host=host)
        if container is not None and container.image:
            text += f" Image: {container.image}."
        n = self._notification(event, title=f"{name} on {host} {what}", message=text,
                               subject=f"{e.host}/{key}", host=e.host, container=key)
        return n, dict(container.labels) if container is not None else None

    def _host_changed(self, state: HostState) -> None:
        change = self._host_states.change(state.slug, state.status)
        event = None if change is None else host_event(change.before, change.after)
        if event is None:
            return
        if event is NotificationEvent.HOST_OFFLINE:
            title = f"{state.name} is offline"
            message = (f"The Docker engine of {state.name} ({state.slug}) stopped answering: "
                       f"{state.error or 'no reason given'}.")
        else:
            title = f"{state.name} is back online"
            version = f" (engine {state.engine_version})" if state.engine_version else ""
            message = f"The Docker engine of {state.name} ({state.slug}) answers again{version}."
        self._queue(self._notification(event, title=title, message=message,
                                       subject=state.slug, host=state.slug), None)

    def _run_changed(self, run: ScheduleRun, name: str) -> None:
        event = run_event(run.result)
        if event is None:
            return
        if run.webhook_id is not None:
            subject, kind = f"webhook/{run.webhook_id}", "Webhook"
        else:
            subject, kind = f"schedule/{run.schedule_id}", "Schedule"
        outcome = "failed" if run.result is RunResult.ERROR else "was skipped"
        what = f"{run.action.value} {run.target}: " if run.action and run.target else ""
        attempts = f" (after {run.attempt} attempts)" if run.attempt > 1 else ""
        message = f"{what}{run.error or 'no reason given'}{attempts}"
        self._queue(self._notification(event, title=f"{kind} '{name}' {outcome}",
                                       message=message, subject=subject), None)

    def _on_failure(self, actor: Actor, action: str, target: str, error: str) -> None:
        """The audit trail's failure listener (sync: called inside the failed call)."""
        if not self.running or not action.startswith(_CONTAINER_PREFIX):
            return
        if action == UPDATE_ACTION:
            return  # updates announce their own outcome (update.failed / update.rolled_back)
        slug, _, key = target.partition("/")
        container = self._by_key(slug, key) if key else None
        host = self._host_name(slug)
        verb = action.removeprefix(_CONTAINER_PREFIX)
        title = f"{verb} of {key} on {host} failed" if key else f"{verb} on {host} failed"
        n = self._notification(NotificationEvent.ACTION_FAILED, title=title,
                               message=f"{error} (asked by {actor.label})", subject=target,
                               host=slug or None, container=key or None)
        self._queue(n, dict(container.labels) if container is not None else None)

    # -- helpers ----------------------------------------------------------------------------

    def _notification(self, event: NotificationEvent, *, title: str, message: str,
                      subject: str, host: str | None = None,
                      container: str | None = None) -> Notification:
        return Notification(event=event, title=title, message=message,
                            severity=EVENTS[event].severity, time=self._clock(),
                            subject=subject, host=host, container=container)

    def _cached(self, slug: str, container_id: str) -> Container | None:
        try:
            return self._hosts.get(slug).get(container_id)
        except NotFound:
            return None

    def _by_key(self, slug: str, key: str) -> Container | None:
        try:
            watcher = self._hosts.get(slug)
        except NotFound:
            return None
        return next((c for c in watcher.containers() if c.key == key), None)

    def _host_name(self, slug: str) -> str:
        """The host's display name, or its slug when the host is unknown (removed)."""
        try:
            return self._hosts.get(slug).host.spec.name
        except NotFound:
            return slug
