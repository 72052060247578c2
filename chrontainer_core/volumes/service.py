"""Volumes across hosts: the list with filters and sorting, one volume, create, remove, prune.

Sizes come from the engine's disk-use call (``/system/df``), which walks every local volume and
can be slow: a list asks for it once per host, beside the list and bounded by its own timeout,
so a slow disk-use call leaves sizes unknown (None) instead of holding the list up.

Which containers use a volume comes from the container cache (it already follows every host),
never from extra engine calls per volume.
"""

from __future__ import annotations

import asyncio
import builtins
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Final

from ..actor import Actor
from ..audit import AuditTrail
from ..containers import ContainerFilter, ContainerService
from ..docker.events import HostWatcher
from ..errors import ChrontainerError, Conflict, InvalidInput, NotFound
from ..hosts import HostManager
from ..models import Container, HostState, HostStatus, PruneResult, Volume
from ..validate import check_label_filter
from .models import VolumeListing
from .usage import volume_users

__all__ = ["SORT_KEYS", "VolumeFilter", "VolumeService"]

# Seconds a cross-host list waits for one engine's volume list: a hung host must not hold up
# the others (its volumes are then missing and its status says why).
LIST_TIMEOUT: Final = 5.0
# Seconds a list or a get waits for a host's volume sizes; after that sizes are None.
SIZE_TIMEOUT: Final = 3.0
MAX_NAME: Final = 255
MAX_KEY: Final = 255
MAX_VALUE: Final = 4096
MAX_ENTRIES: Final = 100
# The local driver's rule for names (the engine's own message quotes it).
_NAME: Final = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}")
_DRIVER: Final = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.:/-]{0,254}")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_EPOCH: Final = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeFilter:
    """List filters, all optional: ``name`` is a case-insensitive substring, ``driver`` exact
    (case-insensitive), ``in_use``: whether any container (any state) mounts it."""

    host: str | None = None
    name: str | None = None
    driver: str | None = None
    in_use: bool | None = None

    def matches(self, volume: Volume) -> bool:
        if self.host is not None and volume.host != self.host:
            return False
        if self.name is not None and self.name.lower() not in volume.name.lower():
            return False
        if self.driver is not None and self.driver.lower() != volume.driver.lower():
            return False
        return self.in_use is None or self.in_use == bool(volume.containers)


SORT_KEYS: Final[dict[str, Callable[[Volume], Any]]] = {
    "name": lambda v: v.name.lower(),
    "driver": lambda v: (v.driver.lower(), v.name.lower()),
    "size": lambda v: -1 if v.size is None else v.size,
    "created": lambda v: v.created or _EPOCH,
    "containers": lambda v: len(v.containers),
}


def _sorter(sort: str) -> tuple[Callable[[Volume], Any], bool]:
    """The key function of ``sort`` (``"-size"``: descending) and whether to reverse."""
    key_name, reverse = (sort[1:], True) if sort.startswith("-") else (sort, False)
    key = SORT_KEYS.get(key_name)
    if key is None:
        raise InvalidInput(
            f"sort: unknown key {sort[:40]!r}; use one of {', '.join(SORT_KEYS)} "
            "(a leading '-' sorts descending)", field="sort")
    # host and name break ties, so equal keys keep a stable order between requests.
    return (lambda v: (key(v), v.host, v.name)), reverse


def _names(containers: Iterable[Container]) -> tuple[str, ...]:
    return tuple(sorted(c.name for c in containers))


def _in_use(name: str, users: tuple[str, ...], reason: str = "") -> Conflict:
    message = f"volume {name} is in use by {', '.join(users)}"
    if reason:
        message += f" ({reason})"
    return Conflict(message, details={"containers": list(users)})


def check_name(name: str, *, field: str = "name") -> None:
    """Validate a volume name (the local driver's rule, which the engine enforces too).

    Raises:
        InvalidInput: Not ``[a-zA-Z0-9][a-zA-Z0-9_.-]`` and at most 255 characters.
    """
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"{field}: {name[:80]!r} is not a valid volume name: letters, digits, _ . - "
            f"(starting with a letter or digit), at most {MAX_NAME} characters", field=field)


def _check_map(values: Mapping[str, str], field: str) -> dict[str, str]:
    if len(values) > MAX_ENTRIES:
        raise InvalidInput(f"{field}: at most {MAX_ENTRIES} entries", field=field)
    for key, value in values.items():
        if not key or len(key) > MAX_KEY or _CONTROL.search(key) or "=" in key:
            raise InvalidInput(f"{field}: the key {key[:80]!r} must be 1-{MAX_KEY} printable "
                               "characters without '='", field=field)
        if len(value) > MAX_VALUE or _CONTROL.search(value):
            raise InvalidInput(f"{field}.{key[:80]}: at most {MAX_VALUE} printable characters",
                               field=field)
    return dict(values)


class VolumeService:
    """Volume operations on the engines the host manager holds; each change is audited.

    Args:
        hosts: the hosts and their engines.
        audit: the audit trail.
        containers: the container service, whose cache names the containers using a volume.
    """

    def __init__(self, hosts: HostManager, audit: AuditTrail, *,
                 containers: ContainerService) -> None:
        self._hosts = hosts
        self._audit = audit
        self._containers = containers

    # -- reading --------------------------------------------------------------------------------

    async def list(self, flt: VolumeFilter | None = None, sort: str = "name") -> VolumeListing:
        """The volumes of every host (or of ``flt.host``), with sizes and users, filtered and
        sorted.

        Never fails or waits long because of one host: a host known to be offline is not
        asked, and one that does not answer within :data:`LIST_TIMEOUT` is left out; the
        ``hosts`` envelope says which and why. Sizes not known within :data:`SIZE_TIMEOUT`
        are None.

        Args:
            flt: filters (see :class:`VolumeFilter`).
            sort: one of :data:`SORT_KEYS`; a leading ``-`` sorts descending.

        Raises:
            InvalidInput: Unknown sort key (``field="sort"``).
            NotFound: Unknown ``flt.host``.
        """
        flt = flt or VolumeFilter()
        key, reverse = _sorter(sort)
        watchers = [self._hosts.get(flt.host)] if flt.host else self._hosts.watchers()
        per_host = await asyncio.gather(*(self._host_volumes(w) for w in watchers))
        items = [v for volumes, _ in per_host for v in volumes if flt.matches(v)]
        items.sort(key=key, reverse=reverse)
        return VolumeListing(items=items, hosts={
            w.slug: state for w, (_, state) in zip(watchers, per_host, strict=True)})

    async def _host_volumes(self, watcher: HostWatcher
                            ) -> tuple[builtins.list[Volume], HostState]:
        state = watcher.state()
        if watcher.live and state.status is HostStatus.OFFLINE:
            return [], state
        sizes = asyncio.create_task(self._sizes(watcher))
        try:
            async with asyncio.timeout(LIST_TIMEOUT):
                volumes = await watcher.host.list_volumes()
                containers = await self._host_containers(watcher.slug)
        except TimeoutError:
            sizes.cancel()
            return [], replace(state, status=HostStatus.OFFLINE,
                               error=f"host {watcher.slug}: the volume list took too long")
        except ChrontainerError as err:
            sizes.cancel()
            return [], replace(state, status=HostStatus.OFFLINE, error=err.message)
        except BaseException:
            sizes.cancel()  # a cancelled request takes its disk-use call along
            raise
        known = await sizes
        return [self._complete(v, known, containers) for v in volumes], watcher.state()

    async def _sizes(self, watcher: HostWatcher) -> dict[str, int] | None:
        """A host's volume sizes, or None when the engine did not tell them in time."""
        try:
            async with asyncio.timeout(SIZE_TIMEOUT):
                return await watcher.host.volume_sizes()
        except (TimeoutError, ChrontainerError):
            return None

    async def _host_containers(self, host: str) -> builtins.list[Container]:
        return (await self._containers.list(ContainerFilter(host=host))).items

    @staticmethod
    def _complete(volume: Volume, sizes: dict[str, int] | None,
                  containers: Iterable[Container]) -> Volume:
        size = sizes.get(volume.name) if sizes is not None else None
        return replace(volume, size=size,
                       containers=_names(volume_users(containers, volume.name)))

    async def get(self, host: str, name: str) -> Volume:
        """One volume, with its size (None when unknown) and the containers using it.

        Raises:
            NotFound: Unknown host or volume.
            InvalidInput: ``name`` cannot be a volume name (``field="name"``).
        """
        check_name(name)
        watcher = self._hosts.get(host)
        volume, sizes = await asyncio.gather(watcher.host.inspect_volume(name),
                                             self._sizes(watcher))
        return self._complete(volume, sizes, await self._host_containers(host))

    async def inspect(self, host: str, name: str) -> Volume:
        """One volume as the engine describes it, without its size or users: the quick check
        that it exists (sizing walks every volume of the host).

        Raises:
            NotFound: Unknown host or volume.
            InvalidInput: ``name`` cannot be a volume name (``field="name"``).
        """
        check_name(name)
        return await self._hosts.get(host).host.inspect_volume(name)

    async def _exists(self, host: str, name: str) -> bool:
        try:
            await self._hosts.get(host).host.inspect_volume(name)
        except NotFound:
            return False
        return True

    # -- changing -------------------------------------------------------------------------------

    async def create(self, host: str, *, name: str = "", driver: str = "local",
                     driver_opts: Mapping[str, str] | None = None,
                     labels: Mapping[str, str] | None = None,
                     actor: Actor | None = None) -> Volume:
        """Create a volume (an empty ``name``: the engine generates one).

        Raises:
            InvalidInput: A bad name, driver, option or label (``field`` names it), or a
                driver the engine does not have (``field="driver"``).
            Conflict: A volume of that name exists (the engine itself would silently return
                the existing one).
            NotFound: Unknown host.
        """
        actor = actor or Actor.library()
        if name:
            check_name(name)
        if not _DRIVER.fullmatch(driver):
            raise InvalidInput(f"driver: {driver[:80]!r} is not a valid driver name",
                               field="driver")
        opts = _check_map(driver_opts or {}, "driver_opts")
        tags = _check_map(labels or {}, "labels")
        engine = self._hosts.get(host).host
        async with self._audit.track(actor, "volume.create", f"{host}/{name}") as scope:
            if name and await self._exists(host, name):
                raise Conflict(f"a volume named {name} already exists on host {host}",
                               details={"field": "name"})
            # Asked first: for a driver it does not have, the engine searches for a plugin
            # for about 15 s before it gives up.
            drivers = await engine.volume_drivers()
            if driver not in drivers:
                raise InvalidInput(f"driver: host {host} has no volume driver {driver!r} "
                                   f"(it has: {', '.join(drivers) or 'none'})", field="driver")
            try:
                volume = await engine.create_volume(name, driver, opts, tags)
            except NotFound as err:
                # The host exists (checked above): what the engine did not find is the driver.
                raise InvalidInput(f"driver: {err.message}", field="driver") from err
            scope.target = f"{host}/{volume.name}"
            return replace(volume, size=0 if volume.driver == "local" else None)

    async def remove(self, host: str, name: str, *, force: bool = False,
                     actor: Actor | None = None) -> None:
        """Remove a volume. One that any container (any state) mounts is refused.

        Args:
            host: host slug.
            name: the volume's name.
            force: the engine's force (driver-level errors); it does not override use.
            actor: who asked (audit).

        Raises:
            Conflict: In use: the message is "volume X is in use by a, b" and
                ``details["containers"]`` names them.
            NotFound: Unknown host or volume.
            InvalidInput: ``name`` cannot be a volume name.
        """
        actor = actor or Actor.library()
        check_name(name)
        engine = self._hosts.get(host).host
        async with self._audit.track(actor, "volume.remove", f"{host}/{name}"):
            await engine.inspect_volume(name)  # NotFound before "in use" for an unknown name
            users = _names(volume_users(await self._host_containers(host), name))
            if users:
                raise _in_use(name, users)
            try:
                await engine.remove_volume(name, force=force)
            except Conflict as err:
                # A container the cache has not seen yet (created a moment ago): name it if
                # the cache knows it by now, else pass the engine's reason on.
                users = _names(volume_users(await self._host_containers(host), name))
                if users:
                    raise _in_use(name, users, err.message) from err
                raise Conflict(err.message, details={"containers": []}) from err

    async def prune(self, host: str, *, all_unused: bool = False, label: str | None = None,
                    actor: Actor | None = None) -> PruneResult:
        """Remove the volumes no container uses: anonymous ones only (the default, like
        ``docker volume prune`` of Docker 23+), or every unused one (``all_unused``).

        Args:
            host: host slug.
            all_unused: named volumes too.
            label: only volumes carrying this label (``key`` or ``key=value``).
            actor: who asked (audit).

        Raises:
            NotFound: Unknown host.
            InvalidInput: A malformed label (``field="label"``).
            HostUnreachable: The engine did not answer.
        """
        actor = actor or Actor.library()
        check_label_filter(label)
        engine = self._hosts.get(host).host
        async with self._audit.track(actor, "volume.prune", host):
            return await engine.prune_volumes(all_unused=all_unused, label=label)
