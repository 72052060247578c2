"""The networks page.

``GET /networks``: every network of every host, grouped by host, filtered by a GET form (host,
name, driver; server-side, works without script): name, driver, scope, subnets and gateways,
the internal/attachable badges, the containers with their addresses (linking to their pages)
and labels; the built-in networks (bridge, host, none) are marked and cannot be deleted. With
the header ``X-Fragment: list`` only the list region is rendered: ``static/networks.js`` swaps
it in after network events or the page's own actions.

Every action (create, inspect, connect, disconnect, delete, prune) goes through the JSON API
from the page's script; this handler only reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

from aiohttp import web

from chrontainer_core.models import HostState, HostStatus, Network
from chrontainer_core.networks import NetworkFilter

from ..api.context import core, scope
from ..auth.principal import principal_of
from ..auth.roles import Role
from .dashboard_view import duration
from .rendering import render

__all__ = ["MemberRow", "NetworkGroup", "NetworkRow", "NetworksQuery", "make_network_row",
           "setup"]

NO_STORE: Final = "no-store"
MAX_QUERY: Final = 256
# Drivers of the networks no container can be connected to (the engine's host and none).
UNCONNECTABLE: Final = frozenset({"host", "null"})


def setup(app: web.Application) -> None:
    """Add the networks page's route."""
    app.router.add_get("/networks", networks_page)


def _clip(value: str | None) -> str:
    return (value or "").strip()[:MAX_QUERY]


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworksQuery:
    """The page's filters (a GET form); empty strings mean "any"."""

    host: str = ""
    name: str = ""
    driver: str = ""

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> NetworksQuery:
        """Read the filters from a query string."""
        return cls(host=_clip(query.get("host")), name=_clip(query.get("name")),
                   driver=_clip(query.get("driver")))

    @property
    def filtered(self) -> bool:
        """True when any filter narrows the list."""
        return any((self.host, self.name, self.driver))

    def to_filter(self) -> NetworkFilter:
        """The core's list filter."""
        return NetworkFilter(host=self.host or None, name=self.name or None,
                             driver=self.driver or None)


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberRow:
    """A container attached to a network: its name, page link and addresses."""

    name: str
    href: str
    addresses: str  # "172.20.0.5, fd00::5" or ""
    aliases: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkRow:
    """One network as its row shows it."""

    network: Network
    dom_id: str
    short_id: str
    subnets: list[str]  # "172.20.0.0/16 via 172.20.0.1 (range 172.20.5.0/24)"
    members: list[MemberRow]
    labels: list[tuple[str, str]]
    parent: str  # a macvlan/ipvlan network's parent interface
    created: str
    connectable: bool
    api_path: str


def make_network_row(network: Network, now: datetime) -> NetworkRow:
    """Everything the row template needs, computed once."""
    host = quote(network.host, safe="")
    subnets = []
    for s in network.subnets:
        text = s.subnet + (f" via {s.gateway}" if s.gateway else "")
        subnets.append(text + (f" (range {s.ip_range})" if s.ip_range else ""))
    members = [
        MemberRow(
            name=m.name,
            href=f"/containers/{host}/{quote(m.name, safe='')}/logs",
            addresses=", ".join(a for a in (m.ipv4_address, m.ipv6_address) if a),
            # The engine adds the container's short id as an alias itself: noise here.
            aliases=", ".join(a for a in m.aliases if not m.container_id.startswith(a)),
        )
        for m in sorted(network.containers, key=lambda m: m.name)
    ]
    return NetworkRow(
        network=network,
        dom_id=f"n-{network.host}-{network.id[:12]}",
        short_id=network.id[:12],
        subnets=subnets,
        members=members,
        labels=sorted(network.labels.items()),
        parent=network.options.get("parent", ""),
        created=f"{duration(network.created, now)} ago" if network.created else "",
        connectable=network.driver not in UNCONNECTABLE,
        api_path=f"/hosts/{host}/networks/{network.id}",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkGroup:
    """The rows of one host, under its heading."""

    key: str
    label: str
    rows: list[NetworkRow]
    host: HostState | None


def _groups(rows: Iterable[NetworkRow], hosts: Mapping[str, HostState], *,
            every_host: bool) -> list[NetworkGroup]:
    groups: dict[str, list[NetworkRow]] = {}
    for row in rows:
        groups.setdefault(row.network.host, []).append(row)
    keys = sorted(set(groups) | (set(hosts) if every_host else set()))
    return [NetworkGroup(key=k, label=hosts[k].name if k in hosts else k,
                         rows=groups.get(k, []), host=hosts.get(k)) for k in keys]


def _allowed(request: web.Request, host: str) -> bool:
    key_scope = scope(request)
    return key_scope is None or key_scope.allows_host(host)


def _can_operate(request: web.Request) -> bool:
    principal = principal_of(request)
    return principal is not None and principal.role.allows(Role.OPERATOR)


async def networks_page(request: web.Request) -> web.StreamResponse:
    """Every network of every host, filtered and grouped by host."""
    query = NetworksQuery.parse(request.query)
    ch = core(request)
    known = query.host in ch.hosts if query.host else True
    now = datetime.now(UTC)
    if known:
        listing = await ch.networks.list(query.to_filter())
        hosts = {s: st for s, st in listing.hosts.items() if _allowed(request, s)}
        rows = [make_network_row(n, now) for n in listing.items if n.host in hosts]
    else:
        hosts, rows = {}, []  # a stale bookmark of a removed host: an empty list
    ordered = sorted(hosts.values(), key=lambda h: h.slug)
    context: dict[str, Any] = {
        "query": query,
        "unknown_host": not known,
        "groups": _groups(rows, hosts, every_host=not query.filtered),
        "count": len(rows),
        "offline": [h for h in ordered if h.status is not HostStatus.ONLINE],
        "can_operate": _can_operate(request),
    }
    partial = request.headers.get("X-Fragment") == "list"
    if not partial:
        states = ch.hosts.states()
        context["all_hosts"] = sorted((h for h in states if _allowed(request, h.slug)),
                                      key=lambda h: h.slug)
    response = render(request, "networks_list.html" if partial else "networks.html", context)
    response.headers["Cache-Control"] = NO_STORE
    return response
