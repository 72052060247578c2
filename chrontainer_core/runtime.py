"""Chrontainer: the runtime object that composes and owns every core service.

Two ways to get one:

* :meth:`Chrontainer.from_config` — the daemon: database, audit trail in the database, persisted
  hosts with a live watcher per host, following host changes made by the CLI, and the metrics
  sampler (``ch.metrics``) keeping the latest stats of every running container, and the
  user-editable settings (``ch.settings``), and the daily audit retention job
  (``ch.retention``), and container tags and web-UI links (``ch.tags``), and the persisted
  Docker events feed (``ch.events``), and the scheduler (``ch.scheduler``) firing the schedules
  users manage through ``ch.schedules``, and notifications (``ch.notifications``: channels,
  routing, durable delivery, fed by an event detector watching the bus and the audit trail).
* :meth:`Chrontainer.connect` — library mode for scripts: Docker management only. No database,
  no background tasks (so a script never fires schedules a second time); lists read the engines
  on demand.

Both are async context managers; leaving the block stops everything in a fixed order.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from types import TracebackType

import aiohttp

from .actor import Actor
from .audit import AuditTrail, DbAuditTrail, LogAuditTrail
from .bus import Bus
from .config import Config
from .containers import ContainerService
from .eventlog import EventLog
from .hostinfo import DEFAULT_DISK_USAGE_TTL, HostInfoService
from .hosts import HostManager
from .images import ImageService
from .metrics.sampler import MetricsSampler
from .models import HostSpec
from .networks import NetworkService
from .notify.delivery import DeliveryWorker
from .notify.detect import EventDetector
from .notify.models import Notification
from .notify.service import NotificationService
from .notify.store import NotificationStore
from .operations import OperationManager
from .pulls import ImagePuller, LateCredentials
from .registries.service import RegistryService
from .renames import RenameFollower
from .retention import AuditRetention
from .scheduling.actions import CoreActions
from .scheduling.runs import RunExecutor
from .scheduling.scheduler import Scheduler
from .scheduling.service import ScheduleService
from .scheduling.store import ScheduleStore
from .scheduling.webhooks import WebhookService
from .secrets import SecretBox
from .settings import Settings, SettingsService
from .store.db import Database
from .store.hosts import HostRepository
from .store.tables import utc_now
from .tags import TagService
from .updates.apply import ContainerUpdater
from .updates.detect import UpdateChecker
from .updates.digests import RegistryDigests
from .updates.service import Emit, UpdateService
from .updates.store import CheckStore, UpdateJournal
from .volumes.backups import MIB, VolumeBackups
from .volumes.browser import VolumeBrowser
from .volumes.helper import VolumeHelpers
from .volumes.service import VolumeService

log = logging.getLogger(__name__)

DEFAULT_HOST_SLUG = "local"


def spec_for_url(url: str) -> HostSpec:
    """A host spec for a bare URL: ``local`` for a unix socket, ``host-port`` for tcp."""
    if url.startswith("unix://"):
        return HostSpec(slug=DEFAULT_HOST_SLUG, name=DEFAULT_HOST_SLUG, url=url)
    slug = re.sub(r"[^a-z0-9]+", "-", url.removeprefix("tcp://").lower()).strip("-")
    return HostSpec(slug=slug or "host", name=slug or "host", url=url)


class Chrontainer:
    """The core runtime; reach every service from here (``ch.containers``, ``ch.hosts``)."""

    def __init__(
        self,
        *,
        bus: Bus,
        audit: AuditTrail,
        hosts: HostManager,
        db: Database | None = None,
        config: Config | None = None,
        secrets: SecretBox | None = None,
        initial_hosts: Iterable[HostSpec] = (),
    ) -> None:
        self.bus = bus
        # Encrypts stored secrets (host TLS keys); daemon mode only.
        self.secrets = secrets
        self.audit = audit
        self.hosts = hosts
        # Daemon mode only: library mode runs no background tasks (DESIGN §1).
        self.metrics: MetricsSampler | None = None
        self.settings: SettingsService | None = None
        self.retention: AuditRetention | None = None
        self.events: EventLog | None = None
        if config is not None and db is not None:
            settings = self.settings = SettingsService(db, audit=audit,
                                                       file_overrides=config.settings)
            self.retention = AuditRetention(
                audit, lambda: settings.current.audit_retention_days)
            self.events = EventLog(db, bus, lambda: settings.current.events_keep)
        if config is not None:
            self.metrics = MetricsSampler(
                hosts, bus=bus, interval=config.metrics_interval,
                concurrency=config.metrics_concurrency,
            )
        # Tags and web-UI links by container key; the container list reads them (daemon only).
        self.tags: TagService | None = None
        if config is not None and db is not None:
            self.tags = TagService(db, audit=audit, bus=bus,
                                   resolve=lambda host, ref: self.containers.get(host, ref))
        self.containers = ContainerService(hosts, audit, metrics=self.metrics, meta=self.tags)
        # What refers to containers by key follows renames (daemon only: started by start()).
        self.renames = RenameFollower(bus)
        if self.tags is not None:
            self.renames.add("tags and link", self.tags.move_key)
        self.images = ImageService(hosts, audit, containers=self.containers)
        # Long operations (image pulls) run in both modes; they end when the runtime stops.
        self.operations = OperationManager(bus, audit=audit)
        # Pulls ask ch.registries for credentials at each pull: it exists once start() ran.
        self.pulls = ImagePuller(hosts, audit, self.operations,
                                 credentials=LateCredentials(lambda: self.registries))
        # Updates: in both modes; checks need ch.registries (daemon), the system schedule and
        # crash recovery run in the daemon only (start()).
        settings_service = self.settings

        def settings_now() -> Settings:
            return settings_service.current if settings_service is not None else Settings()

        self._digests: RegistryDigests | None = None
        journal = UpdateJournal(db)
        self.updates = UpdateService(
            hosts=hosts, containers=self.containers, audit=audit, operations=self.operations,
            bus=bus, checker=UpdateChecker(hosts, lambda: self._digests, clock=utc_now),
            updater=ContainerUpdater(hosts, self.pulls, journal,
                                     grace=lambda: settings_now().update_grace_seconds),
            checks=CheckStore(db), journal=journal, emit=self._update_emit,
            check_cron=(lambda: (settings_now().update_check_cron,
                                 settings_now().default_timezone)) if self.settings else None)
        self.containers.update_lookup = self.updates.status_json
        # Volumes and networks (both modes). The file browser and backups read and write
        # volumes through helper containers (volumes/helper.py).
        self._volume_helpers = VolumeHelpers()
        self.networks = NetworkService(hosts, audit, containers=self.containers)
        self.volumes = VolumeService(hosts, audit, containers=self.containers)
        self.volume_browser = VolumeBrowser(hosts, self.volumes, self._volume_helpers)
        self.volume_backups = VolumeBackups(
            hosts, audit, self.volumes, self._volume_helpers, containers=self.containers,
            limits=lambda: (settings_now().volume_restore_max_mb * MIB,
                            settings_now().volume_restore_max_expanded_mb * MIB),
            spool_dir=config.data_dir / "tmp" if config is not None else None)
        # Scheduling: daemon only, so a library script never fires a schedule (DESIGN §1).
        self.scheduler: Scheduler | None = None
        self.schedules: ScheduleService | None = None
        self.webhooks: WebhookService | None = None
        self.runs: RunExecutor | None = None
        if self.settings is not None and db is not None:
            current = self.settings
            schedule_store = ScheduleStore(db)
            actions = CoreActions(self.containers, self.images, audit, pulls=self.pulls,
                                  updates=self.updates)
            self.runs = RunExecutor(schedule_store, actions, bus=bus)
            self.scheduler = Scheduler(
                schedule_store, self.runs,
                paused=lambda: current.current.schedules_paused,
                history_days=lambda: current.current.run_history_days)
            self.schedules = ScheduleService(
                schedule_store, self.scheduler, self.runs, audit=audit, hosts=hosts,
                default_timezone=lambda: current.current.default_timezone, bus=bus)
            self.webhooks = WebhookService(db, self.runs, schedule_store, audit=audit,
                                           hosts=hosts)
            scheduler = self.scheduler
            self.renames.add("schedules", self.schedules.move_key)
            self.renames.add("webhooks", self.webhooks.move_key)
            # Pausing or resuming all schedules applies at once, not at the next pass.
            self.settings.on_change(
                lambda keys: scheduler.wake() if "schedules_paused" in keys else None)
        if self.settings is not None:
            updates = self.updates
            self.settings.on_change(
                lambda keys: updates.wake() if {"update_check_cron", "default_timezone"} & set(keys)
                else None)
        self.host_info = HostInfoService(
            hosts, ttl=config.disk_usage_ttl if config else DEFAULT_DISK_USAGE_TTL
        )
        # Notifications (daemon only): made in start(), where their HTTP session can be opened.
        self.notifications: NotificationService | None = None
        # Registries (daemon only): made in start() too, sharing the notifications' session.
        self.registries: RegistryService | None = None
        self._http: aiohttp.ClientSession | None = None
        self._detector: EventDetector | None = None
        self.db = db
        self.config = config
        self._initial_hosts = tuple(initial_hosts)
        self._started = False

    @classmethod
    def connect(cls, hosts: Iterable[str | HostSpec]) -> Chrontainer:
        """Library mode: manage the given engines (URLs or HostSpecs) without a database.

        Example::

            async with Chrontainer.connect(hosts=["unix:///var/run/docker.sock"]) as ch:
                await ch.containers.action("local", "web", "restart")
        """
        bus = Bus()
        audit = LogAuditTrail()
        specs = [spec_for_url(h) if isinstance(h, str) else h for h in hosts]
        return cls(bus=bus, audit=audit, hosts=HostManager(bus, audit),
                   initial_hosts=specs)

    @classmethod
    def from_config(cls, config: Config) -> Chrontainer:
        """Daemon mode: everything backed by the database named in ``config``.

        The schema must already be migrated (``store.migrate.upgrade``), which the CLI does
        before the event loop starts.
        """
        bus = Bus()
        db = Database(config.database_url)
        audit = DbAuditTrail(db)
        # No I/O yet: the key is loaded (or generated) in start(), off the event loop.
        secrets = SecretBox.from_config(config)
        hosts = HostManager(
            bus,
            audit,
            repo=HostRepository(db, secrets=secrets),
            live=True,
            connect_timeout=config.docker_connect_timeout,
            request_timeout=config.docker_request_timeout,
            heartbeat=config.docker_heartbeat_interval,
        )
        return cls(bus=bus, audit=audit, hosts=hosts, db=db, config=config, secrets=secrets)

    async def start(self) -> None:
        """Add the initial hosts and start the background services (daemon mode)."""
        if self._started:
            return
        self._started = True
        for spec in self._initial_hosts:
            await self.hosts.add(spec)
        if self.config is None:
            return
        if self.secrets is not None:
            await self.secrets.ready()
        if self.settings is not None:
            await self.settings.load()
        if self.tags is not None:
            await self.tags.load()
        self._start_notifications()
        self.renames.start()  # before the watchers start: no rename goes unheard
        if self.events is not None:
            self.events.start()  # before the watchers start, too: no event goes unrecorded
        await self.hosts.load()
        repo = HostRepository(self.db, secrets=self.secrets) if self.db is not None else None
        assert repo is not None
        # Hosts listed in the config file are upserted by slug at every start (§3c).
        for spec in self.config.hosts:
            if await repo.upsert(spec):
                log.info("host %s: set from the config file (%s)", spec.slug, spec.url)
        if not await repo.list():
            # First start: manage the local engine (shown offline if there is none).
            await self.hosts.add(
                HostSpec(slug=DEFAULT_HOST_SLUG, name=DEFAULT_HOST_SLUG,
                         url=self.config.default_docker_url),
                actor=Actor.system(),
            )
        await self.hosts.load()
        self.hosts.follow_store(self.config.host_poll_interval)
        if self.metrics is not None:
            self.metrics.start()
        if self.retention is not None:
            self.retention.start()
        # Interrupted updates are finished or undone once the hosts are loaded.
        await self.updates.start_background()
        if self.scheduler is not None:
            self.scheduler.start()  # last: schedules act on hosts, which are loaded by now

    async def stop(self) -> None:
        """Stop in order: the scheduler (running actions get a grace period), retention job,
        the rename follower (tags, schedules), metrics sampler, host watchers and connections,
        the events log (flushing what the watchers sent last), then the database."""
        if self.scheduler is not None:
            await self.scheduler.stop()
        await self.updates.stop_background()
        if self.retention is not None:
            await self.retention.stop()  # it writes to the database: stop it before closing
        await self.renames.stop()  # its handlers write too
        if self.metrics is not None:
            await self.metrics.stop()
        await self.operations.stop()  # running pulls end before their engines close
        await self.hosts.close()
        if self.events is not None:
            await self.events.stop()  # it writes to the database: stop it before closing
        await self._stop_notifications()
        if self.db is not None:
            await self.db.close()
        self._started = False

    def _start_notifications(self) -> None:
        """Open the notifications' HTTP session and start the delivery worker (daemon)."""
        if self.db is None or self.settings is None or self.notifications is not None:
            return
        settings = self.settings
        # One session for every channel: connection pooling, and DESIGN §3's injected client.
        http = self._http = aiohttp.ClientSession()
        self.registries = RegistryService(self.db, self.secrets, self.audit, http)
        self._digests = RegistryDigests(self.registries)
        worker = DeliveryWorker(NotificationStore(self.db, self.secrets), http)
        notifications = self.notifications = NotificationService(
            self.db, self.secrets, self.audit, http, worker,
            settings=lambda: settings.current)
        notifications.start()
        # Started before the watchers: no death, health change or host change goes unheard.
        self._detector = EventDetector(
            self.bus, self.hosts, self.audit,
            lambda n, labels: notifications.emit(n, labels=labels),
            settings=lambda: settings.current)
        self._detector.start()

    async def _stop_notifications(self) -> None:
        """Stop the event detector (it emits deaths it was still weighing), then the delivery
        worker (pending deliveries stay queued) and close its session."""
        if self._detector is not None:
            await self._detector.stop()
            self._detector = None
        if self.notifications is not None:
            await self.notifications.stop()
            self.notifications = None
        self.registries = None  # its session closes below
        self._digests = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _update_emit(self) -> Emit | None:
        """Where update notifications go: the notification service, once it runs."""
        notifications = self.notifications
        if notifications is None:
            return None

        async def emit(n: Notification, labels: Mapping[str, str] | None) -> object:
            return await notifications.emit(n, labels=labels)

        return emit

    async def __aenter__(self) -> Chrontainer:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
