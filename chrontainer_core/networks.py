"""Networks across hosts: the list with each network's containers and their addresses,
addressing, inspect, create (bridge, macvlan, ipvlan), remove, connect and disconnect a
container, and prune.

Addressing a network (``ref``): its full id, then its exact name, then a unique id prefix of at
least 12 hex characters (several matches: ``AmbiguousRef``). The engine is then always called
with the network's id, never with what the user typed.

Which containers use a network comes from the container cache (it already follows every host):
each cached container's network attachments name the network, its addresses and aliases there.
The list makes no engine call per network. Right after a connect or a disconnect the service
refreshes the container in the cache, so the next list shows the change.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from .actor import Actor
from .audit import AuditTrail
from .containers import MIN_PREFIX, ContainerFilter, ContainerService
from .docker.events import HostWatcher
from .errors import AmbiguousRef, ChrontainerError, Conflict, InvalidInput, NotFound
from .hosts import HostManager
from .models import Container, HostState, HostStatus, Network, NetworkMember, PruneResult
from .network_spec import DRIVERS, NetworkSpec, check_name, parse_ip
from .validate import check_label_filter

__all__ = [
    "DRIVERS",
    "NetworkFilter",
    "NetworkListing",
    "NetworkService",
    "NetworkSpec",
    "resolve_network",
]

# Seconds a cross-host list waits for one engine's network list: a hung host must not hold up
# the others (its networks are then missing and its status says why).
LIST_TIMEOUT: Final = 5.0
MAX_ALIASES: Final = 32
_HEX: Final = re.compile(r"^[0-9a-f]+$")
# Connecting to these is refused by the engine: "host" and "none" are namespaces, not networks.
_NOT_CONNECTABLE: Final = frozenset({"host", "none"})



@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkFilter:
    """List filters, all optional: ``name`` is a case-insensitive substring, the rest exact."""

    host: str | None = None
    name: str | None = None
    driver: str | None = None

    def matches(self, network: Network) -> bool:
        if self.host is not None and network.host != self.host:
            return False
        if self.driver is not None and network.driver != self.driver:
            return False
        return self.name is None or self.name.lower() in network.name.lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkListing:
    """A cross-host network list and each host's status (the container listing's envelope)."""

    items: list[Network]
    hosts: dict[str, HostState]


def resolve_network(networks: Iterable[Network], ref: str) -> Network | None:
    """Address a network (see the module docstring); None when nothing matches.

    Raises:
        AmbiguousRef: A name or an id prefix matches several networks.
    """
    pool = list(networks)
    for n in pool:
        if n.id == ref:
            return n
    named = [n for n in pool if n.name == ref]
    if len(named) == 1:
        return named[0]
    hits = named
    if not hits and len(ref) >= MIN_PREFIX and _HEX.match(ref):
        hits = [n for n in pool if n.id.startswith(ref)]
    if len(hits) > 1:
        raise AmbiguousRef(f"'{ref}' matches {len(hits)} networks",
                           details={"matches": [{"id": n.id, "name": n.name} for n in hits]})
    return hits[0] if hits else None


def members_by_network(containers: Iterable[Container]) -> dict[str, list[NetworkMember]]:
    """The cached containers attached to each network (by network name), sorted by name."""
    found: dict[str, list[NetworkMember]] = {}
    for c in containers:
        for att in c.networks:
            found.setdefault(att.network, []).append(NetworkMember(
                container_id=c.id, name=c.name, ipv4_address=att.ip_address,
                ipv6_address=att.ipv6_address, mac_address=att.mac_address,
                aliases=att.aliases))
    for members in found.values():
        members.sort(key=lambda m: (m.name, m.container_id))
    return found


def _in_use(name: str, names: Sequence[str]) -> Conflict:
    return Conflict(f"network {name} is in use by {', '.join(names)}",
                    details={"containers": list(names)})


def _check_address(network: Network, text: str, what: str, version: int) -> str:
    """A static address for a container: of the right IP version, inside a subnet of the
    network."""
    address = parse_ip(text, what)
    if address.version != version:
        raise InvalidInput(f"{what}: {text} is not an IPv{version} address", field=what)
    subnets = [ipaddress.ip_network(s.subnet, strict=False) for s in network.subnets]
    if not any(address in s for s in subnets if s.version == version):
        listed = ", ".join(str(s) for s in subnets) or "none"
        raise InvalidInput(f"{what}: {text} is not in a subnet of network {network.name} "
                           f"({listed})", field=what)
    return str(address)


class NetworkService:
    """Network operations on the engines the host manager holds; each change is audited.

    Args:
        hosts: the hosts and their engines.
        audit: the audit trail.
        containers: the container service: its cache names each network's containers, and it
            resolves the containers to connect and disconnect.
    """

    def __init__(self, hosts: HostManager, audit: AuditTrail, *,
                 containers: ContainerService) -> None:
        self._hosts = hosts
        self._audit = audit
        self._containers = containers

    # -- reading --------------------------------------------------------------------------------

    async def list(self, flt: NetworkFilter | None = None) -> NetworkListing:
        """The networks of every host (or of ``flt.host``), by host and name, with their
        containers (from the container cache).

        Never fails or waits long because of one host: a host known to be offline is not
        asked, and one that does not answer within :data:`LIST_TIMEOUT` is left out; the
        ``hosts`` envelope says which and why.

        Raises:
            NotFound: Unknown ``flt.host``.
        """
        flt = flt or NetworkFilter()
        watchers = [self._hosts.get(flt.host)] if flt.host else self._hosts.watchers()
        per_host = await asyncio.gather(*(self._host_networks(w) for w in watchers))
        items = [n for networks, _ in per_host for n in networks if flt.matches(n)]
        items.sort(key=lambda n: (n.host, n.name, n.id))
        return NetworkListing(items=items, hosts={
            w.slug: state for w, (_, state) in zip(watchers, per_host, strict=True)})

    async def _host_networks(
        self, watcher: HostWatcher
    ) -> tuple[builtins.list[Network], HostState]:
        state = watcher.state()
        if watcher.live and state.status is HostStatus.OFFLINE:
            return [], state
        try:
            async with asyncio.timeout(LIST_TIMEOUT):
                networks = await watcher.host.list_networks()
                members = members_by_network(await self._host_containers(watcher.slug))
        except TimeoutError:
            return [], replace(state, status=HostStatus.OFFLINE,
                               error=f"host {watcher.slug}: the network list took too long")
        except ChrontainerError as err:
            return [], replace(state, status=HostStatus.OFFLINE, error=err.message)
        return [replace(n, containers=tuple(members.get(n.name, ()))) for n in networks], \
            watcher.state()

    async def _host_containers(self, host: str) -> builtins.list[Container]:
        return (await self._containers.list(ContainerFilter(host=host))).items

    async def _resolve(self, host: str, ref: str) -> Network:
        """The network ``ref`` addresses on ``host`` (NotFound when none), with its
        containers from the cache."""
        watcher = self._hosts.get(host)
        found = resolve_network(await watcher.host.list_networks(), ref)
        if found is None:
            raise NotFound(f"no network '{ref}' on host '{host}'",
                           details={"host": host, "ref": ref})
        members = members_by_network(await self._host_containers(host))
        return replace(found, containers=tuple(members.get(found.name, ())))

    async def get(self, host: str, ref: str) -> Network:
        """One network, with its containers (from the cache).

        Raises:
            NotFound: Unknown host or network.
            AmbiguousRef: A name or id prefix matching several networks.
        """
        return await self._resolve(host, ref)

    async def inspect(self, host: str, ref: str) -> dict[str, Any]:
        """The engine's inspect document of a network, unmodified."""
        network = await self._resolve(host, ref)
        return await self._hosts.get(host).host.inspect_network_raw(network.id)

    # -- changing -------------------------------------------------------------------------------

    async def create(self, host: str, spec: NetworkSpec, *,
                     actor: Actor | None = None) -> Network:
        """Create a network.

        Raises:
            Conflict: The name is taken on the host (checked before asking the engine), or the
                engine refused (e.g. a subnet overlapping another network's).
            InvalidInput: The engine rejected the settings.
            NotFound: Unknown host.
        """
        actor = actor or Actor.library()
        async with self._audit.track(actor, "network.create", f"{host}/{spec.name}"):
            engine = self._hosts.get(host).host
            if any(n.name == spec.name for n in await engine.list_networks()):
                raise Conflict(f"a network named {spec.name} already exists on host {host}",
                               details={"name": spec.name})
            network_id = await engine.create_network(spec.engine_body())
            return await engine.inspect_network(network_id)

    async def remove(self, host: str, ref: str, *, actor: Actor | None = None) -> None:
        """Remove a network no container uses.

        A container attached to it blocks the removal whether it runs or not (a stopped
        one would fail to start afterwards).

        Raises:
            Conflict: A built-in network (bridge, host, none), or in use
                (``details["containers"]`` names the containers).
            NotFound: Unknown host or network.
        """
        actor = actor or Actor.library()
        async with self._audit.track(actor, "network.remove", f"{host}/{ref}") as scope:
            network = await self._resolve(host, ref)
            scope.target = f"{host}/{network.name}"
            if network.predefined:
                raise Conflict(f"network {network.name} is a built-in network and cannot be "
                               "removed")
            if network.containers:
                raise _in_use(network.name, [m.name for m in network.containers])
            engine = self._hosts.get(host).host
            try:
                await engine.remove_network(network.id)
            except Conflict as err:
                # A container the cache has not seen yet: name it from the engine's view.
                try:
                    names = [m.name for m in (await engine.inspect_network(network.id)).containers]
                except ChrontainerError:
                    names = []
                if names:
                    raise _in_use(network.name, names) from err
                raise Conflict(err.message, details={"containers": []}) from err

    async def connect(self, host: str, ref: str, container_ref: str, *,
                      aliases: Sequence[str] = (), ipv4_address: str | None = None,
                      ipv6_address: str | None = None,
                      actor: Actor | None = None) -> Network:
        """Connect a container to a network, optionally with aliases and static addresses.

        Returns:
            The network as the engine sees it after the change.

        Raises:
            InvalidInput: A bad alias, or a static address that is not in the network's
                subnets (``field`` names it).
            Conflict: ``host`` or ``none``, or the container is connected already.
            NotFound: Unknown host, network or container.
        """
        actor = actor or Actor.library()
        if len(aliases) > MAX_ALIASES:
            raise InvalidInput(f"aliases: at most {MAX_ALIASES}", field="aliases")
        for i, alias in enumerate(aliases):
            check_name(alias, f"aliases[{i}]")
        async with self._audit.track(actor, "network.connect", f"{host}/{ref}") as scope:
            network = await self._resolve(host, ref)
            scope.target = f"{host}/{network.name}"
            if network.name in _NOT_CONNECTABLE and network.predefined:
                raise Conflict(f"network {network.name} cannot be connected to: it is the "
                               "container's network mode, chosen when it is created")
            endpoint: dict[str, Any] = {}
            ipam: dict[str, str] = {}
            if ipv4_address is not None:
                ipam["IPv4Address"] = _check_address(network, ipv4_address, "ipv4_address", 4)
            if ipv6_address is not None:
                ipam["IPv6Address"] = _check_address(network, ipv6_address, "ipv6_address", 6)
            if ipam:
                endpoint["IPAMConfig"] = ipam
            if aliases:
                endpoint["Aliases"] = list(aliases)
            container = await self._fresh_container(host, container_ref)
            mode = container.network_mode
            if mode in _NOT_CONNECTABLE or mode.startswith("container:"):
                raise Conflict(f"container {container.name} uses network mode {mode}: it "
                               "cannot join other networks")
            if any(a.network == network.name for a in container.networks):
                raise Conflict(f"container {container.name} is already connected to network "
                               f"{network.name}")
            engine = self._hosts.get(host).host
            await engine.connect_network(network.id, container.id, endpoint)
            return await self._after_change(host, network, container)

    async def disconnect(self, host: str, ref: str, container_ref: str, *, force: bool = False,
                         actor: Actor | None = None) -> Network:
        """Disconnect a container from a network.

        Returns:
            The network as the engine sees it after the change.

        Raises:
            Conflict: The container is not connected to it.
            NotFound: Unknown host, network or container.
        """
        actor = actor or Actor.library()
        async with self._audit.track(actor, "network.disconnect", f"{host}/{ref}") as scope:
            network = await self._resolve(host, ref)
            container = await self._fresh_container(host, container_ref)
            scope.target = f"{host}/{network.name}"
            if not any(a.network == network.name for a in container.networks):
                raise Conflict(f"container {container.name} is not connected to network "
                               f"{network.name}")
            engine = self._hosts.get(host).host
            await engine.disconnect_network(network.id, container.id, force=force)
            return await self._after_change(host, network, container)

    async def _fresh_container(self, host: str, ref: str) -> Container:
        """The container ``ref`` addresses, as the engine sees it now (its networks may
        have changed without the cache noticing: the engine sends no container event)."""
        cached = await self._containers.get(host, ref)
        return await self._hosts.get(host).host.inspect(cached.id)

    async def _after_change(self, host: str, network: Network, container: Container) -> Network:
        # Connect and disconnect are network events, which the cache does not follow: refresh
        # the container so that the next list shows the change.
        watcher = self._hosts.get(host)
        # A failed refresh is no failed change: the cache catches up at its next sync.
        with contextlib.suppress(ChrontainerError):
            await watcher.refresh(container.id)
        return await watcher.host.inspect_network(network.id)

    async def prune(self, host: str, *, label: str | None = None,
                    actor: Actor | None = None) -> PruneResult:
        """Remove the networks of a host that no container uses (never the built-in ones).

        Args:
            host: host slug.
            label: only networks carrying this label (``key`` or ``key=value``).
            actor: who asked (audit).

        Returns:
            ``deleted``: the names of the removed networks (``reclaimed_bytes`` is 0).

        Raises:
            NotFound: Unknown host.
            InvalidInput: A malformed label (``field="label"``).
        """
        actor = actor or Actor.library()
        check_label_filter(label)
        engine = self._hosts.get(host).host
        async with self._audit.track(actor, "network.prune", host):
            return await engine.prune_networks(label=label)

