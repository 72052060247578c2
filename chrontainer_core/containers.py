"""Containers across hosts: listing from the cache, addressing, actions, logs, stats, top.

Action semantics (DESIGN §3b): an action re-inspects the container and updates the cache before
returning it (read-your-writes); asking for the state a container is already in succeeds with
``changed=False``; impossible transitions raise Conflict; a per-container lock makes a second
concurrent action fail fast with Busy. Every mutating call writes one audit row.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .actor import Actor
from .audit import AuditTrail
from .docker.events import HostWatcher
from .errors import (
    AmbiguousRef,
    Busy,
    ChrontainerError,
    Conflict,
    EngineError,
    InvalidInput,
    NotFound,
)
from .hosts import HostManager
from .identity import HELPER_LABEL
from .models import (
    ActionResult,
    BulkItemResult,
    BulkTarget,
    Container,
    ContainerAction,
    ContainerMetrics,
    ContainerState,
    ContainerStats,
    HostState,
    LogRecord,
    ProcessList,
)
from .serialize import to_jsonable

if TYPE_CHECKING:
    from .metrics.sampler import MetricsSampler

# A ref may be an id prefix only from this length on, so short prefixes never hit by accident.
MIN_PREFIX = 12
# How long a lookup by key waits for a host's first sync after start-up (schedules due then).
SYNC_WAIT = 10.0
_HEX = re.compile(r"^[0-9a-f]+$")
_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_SIGNAL = re.compile(r"^(SIG)?[A-Z0-9+-]{1,16}$|^[0-9]{1,2}$")

STOPPED = frozenset({ContainerState.EXITED, ContainerState.CREATED, ContainerState.DEAD})


class ContainerMetaLookup(Protocol):
    """What the container list asks of the tag service (``ch.tags``; daemon mode only)."""

    def meta_json(self, host: str, key: str) -> tuple[list[dict[str, Any]], str | None]:
        """``(tags JSON, web_url)`` of a container key; shared, never mutated."""
        ...

    def keys_tagged(self, name: str) -> frozenset[tuple[str, str]]:
        """The ``(host, key)`` pairs carrying the tag named ``name`` (case-insensitive)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerFilter:
    """List filters; ``name`` is a case-insensitive substring, the rest exact.

    ``tag`` (a tag name, case-insensitive) is not part of :meth:`matches`: tags are no property
    of a container but of its key, held by the tag service, so :meth:`ContainerService.list`
    resolves the name to the set of tagged keys once per list and tests membership per item.
    Without a tag service (library mode) a tag filter matches nothing.
    """

    host: str | None = None
    state: ContainerState | None = None
    name: str | None = None
    label: str | None = None  # "key" or "key=value"
    project: str | None = None
    tag: str | None = None

    def matches(self, c: Container) -> bool:
        if self.host is not None and c.host != self.host:
            return False
        if self.state is not None and c.state != self.state:
            return False
        if self.name is not None and self.name.lower() not in c.name.lower():
            return False
        if self.project is not None and c.compose_project != self.project:
            return False
        if self.label is not None:
            key, sep, value = self.label.partition("=")
            if key not in c.labels or (sep and c.labels[key] != value):
                return False
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerListing:
    """A cross-host list: containers (with their JSON forms) and each host's status.

    ``metrics[i]`` holds the latest sampled metrics of ``items[i]`` (None when it is not
    running, not sampled yet, or in library mode, which runs no sampler); ``items_json[i]``
    is the JSON form of both, the metrics under the ``"metrics"`` key, plus the key's
    ``"tags"`` (sorted by name) and ``"web_url"`` (``[]`` and ``None`` in library mode, which
    keeps no tags, so the form is the same in both modes). Nested values are shared with the
    caches: copy before changing anything.
    """

    items: list[Container]
    items_json: list[dict[str, Any]]
    hosts: dict[str, HostState]
    metrics: list[ContainerMetrics | None] = field(default_factory=list)


def resolve_ref(containers: Iterable[Container], ref: str) -> Container | None:
    """Address a container (§3a): full id, then exact name, then a unique id prefix >= 12.

    Raises:
        AmbiguousRef: when a prefix matches several containers.
    """
    pool = list(containers)
    for c in pool:
        if c.id == ref:
            return c
    name = ref.lstrip("/")
    for c in pool:
        if c.name == name:
            return c
    if len(ref) >= MIN_PREFIX and _HEX.match(ref):
        hits = [c for c in pool if c.id.startswith(ref)]
        if len(hits) > 1:
            raise AmbiguousRef(
                f"'{ref}' matches {len(hits)} containers",
                details={"matches": [{"id": c.id, "name": c.name} for c in hits]},
            )
        if hits:
            return hits[0]
    return None


def _check_transition(action: ContainerAction, c: Container, force: bool) -> bool:
    """Return whether the action would change anything; Conflict when it is impossible."""
    state = c.state
    if action is ContainerAction.START:
        if state is ContainerState.PAUSED:
            raise Conflict(f"container {c.name} is paused; unpause it instead")
        return state is not ContainerState.RUNNING
    if action is ContainerAction.STOP:
        return state not in STOPPED
    if action is ContainerAction.PAUSE:
        if state in STOPPED:
            raise Conflict(f"container {c.name} is not running; it cannot be paused")
        return state is not ContainerState.PAUSED
    if action is ContainerAction.UNPAUSE:
        if state in STOPPED:
            raise Conflict(f"container {c.name} is not running; it cannot be unpaused")
        return state is ContainerState.PAUSED
    if action is ContainerAction.KILL:
        if state not in (ContainerState.RUNNING, ContainerState.RESTARTING):
            raise Conflict(f"container {c.name} is {state.value}; only a running one can be killed")
        return True
    if action is ContainerAction.REMOVE and not force and state not in STOPPED:
        raise Conflict(f"container {c.name} is {state.value}; stop it first or use force")
    return True


class ContainerService:
    """Everything about containers, across all hosts."""

    def __init__(
        self, hosts: HostManager, audit: AuditTrail, *, metrics: MetricsSampler | None = None,
        meta: ContainerMetaLookup | None = None,
    ) -> None:
        self._hosts = hosts
        self._audit = audit
        self._metrics = metrics
        self._meta = meta
        # The last update check of a key (set by the runtime once ch.updates exists).
        self.update_lookup: Callable[[str, str], dict[str, Any] | None] | None = None
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    # -- reading --------------------------------------------------------------------------------

    async def list(self, flt: ContainerFilter | None = None) -> ContainerListing:
        """Every container of every host (or of ``flt.host``), never failing for one host.

        A host that is offline contributes its last known containers marked ``stale``.
        """
        flt = flt or ContainerFilter()
        watchers = [self._hosts.get(flt.host)] if flt.host else self._hosts.watchers()
        if not all(w.live for w in watchers):
            # Library mode: sync on demand; one host failing must not fail the list.
            await asyncio.gather(*(w.current() for w in watchers), return_exceptions=True)
        items: list[Container] = []
        items_json: list[dict[str, Any]] = []
        metrics: list[ContainerMetrics | None] = []
        tagged = None
        if flt.tag is not None:
            tagged = self._meta.keys_tagged(flt.tag) if self._meta else frozenset()
        for w in watchers:
            latest = self._metrics.host_metrics(w.slug) if self._metrics else {}
            latest_json = self._metrics.host_json(w.slug) if self._metrics else {}
            for c, doc in zip(w.containers(), w.container_json(), strict=True):
                if HELPER_LABEL in c.labels:
                    continue
                if flt.matches(c) and (tagged is None or (c.host, c.key) in tagged):
                    # The cache learns of a pause or stop before the sampler's next round does.
                    running = c.state is ContainerState.RUNNING
                    items.append(c)
                    metrics.append(latest.get(c.id) if running else None)
                    # A shallow merge: every JSON form is prebuilt, none is re-serialized.
                    m_json = latest_json.get(c.id) if running else None
                    items_json.append(self._merge(c, doc, m_json))
        return ContainerListing(
            items=items, items_json=items_json, hosts={w.slug: w.state() for w in watchers},
            metrics=metrics,
        )

    def item_json(self, c: Container) -> dict[str, Any]:
        """One container's JSON form as a list item has it (metrics, tags, web_url)."""
        m = self.latest_metrics(c)
        return self._merge(c, to_jsonable(c), None if m is None else to_jsonable(m))

    def _merge(
        self, c: Container, doc: dict[str, Any], metrics: dict[str, Any] | None
    ) -> dict[str, Any]:
        tags, web_url = self._meta.meta_json(c.host, c.key) if self._meta else ([], None)
        update = self.update_lookup(c.host, c.key) if self.update_lookup else None
        return {**doc, "metrics": metrics, "tags": tags, "web_url": web_url, "update": update}

    def latest_metrics(self, c: Container) -> ContainerMetrics | None:
        """The latest sampled metrics of a container, or None.

        None when it is not running, has not been sampled yet, or in library mode (which runs
        no sampler).
        """
        if self._metrics is None or c.state is not ContainerState.RUNNING:
            return None
        return self._metrics.latest(c.host, c.id)

    async def get(self, host: str, ref: str) -> Container:
        """Resolve ``ref`` on ``host`` (see :func:`resolve_ref`); NotFound when nothing matches."""
        watcher = self._hosts.get(host)
        found = resolve_ref(watcher.containers(), ref)
        if found is None and _NAME.match(ref):
            # The cache may not have seen a container created a moment ago: ask the engine,
            # but only for an exact id or name (prefix semantics differ in the engine).
            try:
                engine_view = await watcher.host.inspect(ref)
            except (NotFound, EngineError):
                # EngineError: the engine took a short ref as an ambiguous id prefix and answered
                # 500 "Multiple IDs found"; this lookup only wants exact matches, so none.
                engine_view = None
            if engine_view is not None and ref.lstrip("/") in (engine_view.id, engine_view.name):
                found = await watcher.refresh(engine_view.id)
        if found is None:
            raise NotFound(
                f"no container '{ref}' on host '{host}'", details={"host": host, "ref": ref}
            )
        return found

    async def by_key(self, host: str, key: str) -> Container:
        """The container whose stable key (§3a) is ``key`` on ``host``, as the cache knows it.

        Schedules name containers by key, so a recreated container is found again. Right after
        start-up this waits (briefly) for the host's first sync instead of reporting NotFound.

        Raises:
            NotFound: Unknown host, or no container has this key now.
        """
        for c in await self._synced_containers(host):
            if c.key == key:
                return c
        raise NotFound(f"no container with key '{key}' on host '{host}'",
                       details={"host": host, "key": key})

    async def with_label(self, host: str, label: str) -> builtins.list[Container]:
        """The containers on ``host`` carrying ``label`` (``key`` or ``key=value``), by name
        (after the host's first sync, like :meth:`by_key`)."""
        flt = ContainerFilter(host=host, label=label)
        found = [c for c in await self._synced_containers(host) if flt.matches(c)]
        return sorted(found, key=lambda c: c.name)

    async def _synced_containers(self, host: str) -> builtins.list[Container]:
        watcher = self._hosts.get(host)
        if watcher.live:
            await watcher.wait_synced(SYNC_WAIT)
            return watcher.containers()
        return await watcher.current()  # library mode: read the engine now

    async def inspect(self, host: str, ref: str) -> dict[str, Any]:
        """The engine's inspect document, unmodified."""
        c = await self.get(host, ref)
        return await self._hosts.get(host).host.inspect_raw(c.id)

    async def stats(self, host: str, ref: str) -> ContainerStats:
        c = await self.get(host, ref)
        if c.state is not ContainerState.RUNNING:
            raise Conflict(f"container {c.name} is {c.state.value}; stats need it running")
        return await self._hosts.get(host).host.stats(c.id)

    async def top(self, host: str, ref: str, ps_args: str | None = None) -> ProcessList:
        c = await self.get(host, ref)
        if c.state not in (ContainerState.RUNNING, ContainerState.PAUSED):
            raise Conflict(f"container {c.name} is {c.state.value}; top needs it running")
        return await self._hosts.get(host).host.top(c.id, ps_args)

    async def logs(
        self,
        host: str,
        ref: str,
        *,
        tail: int | None = 100,
        since: int | None = None,
        timestamps: bool = False,
        follow: bool = False,
    ) -> AsyncIterator[LogRecord]:
        """Log records of a container; closing the iterator ends the engine stream."""
        c = await self.get(host, ref)
        return self._hosts.get(host).host.logs(
            c.id, tty=c.tty, tail=tail, since=since, timestamps=timestamps, follow=follow
        )

    # -- actions -------------------------------------------------------------------------------

    async def action(
        self,
        host: str,
        ref: str,
        action: ContainerAction | str,
        *,
        actor: Actor | None = None,
        # Docker's stop grace period (seconds), not an asyncio deadline.
        timeout: int | None = None,  # noqa: ASYNC109
        signal: str | None = None,
        name: str | None = None,
        force: bool = False,
        volumes: bool = False,
    ) -> ActionResult:
        """Perform one action and return the container after it (None after remove).

        Args:
            host: host slug.
            ref: container ref (§3a).
            action: one of :class:`ContainerAction`.
            actor: who asked (audit); defaults to the library actor.
            timeout: seconds before stop/restart kill the container.
            signal: for kill (default SIGKILL).
            name: the new name, for rename.
            force: remove a running container.
            volumes: remove the container's anonymous volumes too.
        """
        actor = actor or Actor.library()
        try:
            act = ContainerAction(action)
        except ValueError:
            raise InvalidInput(f"unknown action '{action}'", field="action") from None
        watcher = self._hosts.get(host)
        async with self._audit.track(actor, f"container.{act.value}", f"{host}/{ref}") as scope:
            c = await self.get(host, ref)
            scope.target = f"{host}/{c.key}"
            lock = self._locks.setdefault((host, c.id), asyncio.Lock())
            if lock.locked():
                raise Busy(f"container {c.name} is busy with another action")
            async with lock:
                return await self._perform(watcher, c, act, timeout=timeout, signal=signal,
                                           name=name, force=force, volumes=volumes)

    async def _perform(
        self,
        watcher: HostWatcher,
        c: Container,
        act: ContainerAction,
        *,
        timeout: int | None,  # noqa: ASYNC109 - Docker's stop grace period
        signal: str | None,
        name: str | None,
        force: bool,
        volumes: bool,
    ) -> ActionResult:
        engine = watcher.host
        # Act on the engine's current state, not a cache that may be a few ms behind.
        c = await watcher.refresh(c.id) or c
        if act is ContainerAction.RENAME:
            new_name = _check_name(name)
            if new_name == c.name:
                return ActionResult(container=c, changed=False)
            await engine.container_action(c.id, "rename", params={"name": new_name})
            return ActionResult(container=await watcher.refresh(c.id, action="rename"),
                                changed=True)
        if not _check_transition(act, c, force):
            return ActionResult(container=c, changed=False)
        if act is ContainerAction.REMOVE:
            await engine.remove(c.id, force=force, volumes=volumes)
            await watcher.refresh(c.id, action="destroy")
            return ActionResult(container=None, changed=True)
        params: dict[str, str] = {}
        if timeout is not None and act in (ContainerAction.STOP, ContainerAction.RESTART):
            params["t"] = str(timeout)
        if act is ContainerAction.KILL:
            params["signal"] = _check_signal(signal)
        changed = await engine.container_action(c.id, act.value, params=params)
        after = await watcher.refresh(c.id, action=act.value)
        return ActionResult(container=after, changed=changed)

    @contextlib.asynccontextmanager
    async def hold(self, host: str, container_id: str) -> AsyncIterator[None]:
        """Hold a container's action lock for a longer piece of work (an update), so that
        actions asked meanwhile fail fast with Busy.

        Raises:
            Busy: Another action holds it now.
        """
        lock = self._locks.setdefault((host, container_id), asyncio.Lock())
        if lock.locked():
            raise Busy(f"container {container_id[:12]} on {host} is busy with another action")
        async with lock:
            yield

    async def bulk(
        self,
        action: ContainerAction | str,
        targets: Iterable[BulkTarget],
        *,
        actor: Actor | None = None,
        **params: Any,
    ) -> builtins.list[BulkItemResult]:
        """Run one action on many containers; each item succeeds or fails on its own."""

        async def one(t: BulkTarget) -> BulkItemResult:
            try:
                result = await self.action(t.host, t.ref, action, actor=actor, **params)
            except ChrontainerError as err:
                return BulkItemResult(
                    host=t.host, ref=t.ref, ok=False,
                    error={"code": err.code, "message": err.message, "details": err.details},
                )
            return BulkItemResult(host=t.host, ref=t.ref, ok=True, changed=result.changed)

        return list(await asyncio.gather(*(one(t) for t in targets)))


def _check_name(name: str | None) -> str:
    if not name or not _NAME.match(name) or len(name) > 128:
        raise InvalidInput(
            "name must start with a letter or digit and contain only [a-zA-Z0-9_.-]",
            field="name",
        )
    return name.lstrip("/")


def _check_signal(signal: str | None) -> str:
    if signal is None:
        return "SIGKILL"
    if not _SIGNAL.match(signal):
        raise InvalidInput(f"'{signal}' is not a signal name or number", field="signal")
    return signal
