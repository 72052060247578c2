"""Networks: list, inspect, create, remove, connect, disconnect, prune (``/networks``).

The engine's network JSON is parsed here into :class:`~chrontainer_core.models.Network`; its
CamelCase ends in this module. Connecting a container is ``DockerHost.connect_network``
(container recreation uses it too).

The engine answers several refusals of network calls with 403 ("has active endpoints", "is a
pre-defined network", "Pool overlaps") and a disconnect of a container that is not connected
with 500: :meth:`NetworkCalls._network_call` maps them to ``Conflict``, not to an engine
failure.

On API 1.41 ``GET /networks`` leaves every network's ``Containers`` empty; only the inspect of
one network lists its members (and only those with an endpoint: running containers). The
network service takes the members of a list from the container cache instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from ..errors import ChrontainerError, Conflict, EngineError, InvalidInput, NotFound
from ..models import Network, NetworkMember, NetworkSubnet, PruneResult
from .connection import JSON, EngineConnection
from .parse import parse_time

# The networks every engine makes for itself, by name, with their drivers ("none" uses the
# "null" driver). They cannot be removed; "host" and "none" cannot be connected to.
PREDEFINED: Final[Mapping[str, str]] = {"bridge": "bridge", "host": "host", "none": "null"}
# The statuses of ``POST /networks/create`` that mean "these settings cannot work" (see
# NetworkCalls.create_network).
_CREATE_INVALID: Final = frozenset({400, 404, 500})


def _strings(value: Any) -> dict[str, str]:
    """A JSON object of strings (the engine sends ``null`` for none)."""
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def _address(value: Any) -> str | None:
    """``"172.20.0.5/16"`` -> ``"172.20.0.5"``; empty -> None."""
    text = str(value or "").strip()
    return text.split("/", 1)[0] or None


def parse_members(containers: Any) -> tuple[NetworkMember, ...]:
    """A network inspect's ``Containers`` (endpoints by container id), sorted by name."""
    if not isinstance(containers, dict):
        return ()
    members = [
        NetworkMember(
            container_id=str(cid),
            name=str(doc.get("Name") or "").lstrip("/"),
            ipv4_address=_address(doc.get("IPv4Address")),
            ipv6_address=_address(doc.get("IPv6Address")),
            mac_address=str(doc.get("MacAddress") or "") or None,
        )
        for cid, doc in containers.items()
        if isinstance(doc, dict)
    ]
    return tuple(sorted(members, key=lambda m: (m.name, m.container_id)))


def parse_network(host: str, doc: JSON) -> Network:
    """One entry of ``GET /networks`` or ``GET /networks/{id}`` (members from its
    ``Containers``, which the list leaves empty)."""
    name = str(doc.get("Name") or "")
    driver = str(doc.get("Driver") or "")
    ipam = doc.get("IPAM") or {}
    subnets = tuple(
        NetworkSubnet(subnet=str(c["Subnet"]), gateway=str(c.get("Gateway") or "") or None,
                      ip_range=str(c.get("IPRange") or "") or None)
        for c in ipam.get("Config") or () if isinstance(c, dict) and c.get("Subnet")
    )
    return Network(
        host=host,
        id=str(doc.get("Id") or ""),
        name=name,
        driver=driver,
        scope=str(doc.get("Scope") or "local"),
        created=parse_time(doc.get("Created")),
        internal=bool(doc.get("Internal")),
        attachable=bool(doc.get("Attachable")),
        ipv6=bool(doc.get("EnableIPv6")),
        subnets=subnets,
        labels=_strings(doc.get("Labels")),
        options=_strings(doc.get("Options")),
        containers=parse_members(doc.get("Containers")),
        predefined=PREDEFINED.get(name) == driver,
    )


def parse_network_prune(host: str, doc: JSON | None) -> PruneResult:
    """``POST /networks/prune``'s answer (``NetworksDeleted``: names, ``null`` when none)."""
    names = (doc or {}).get("NetworksDeleted") or ()
    return PruneResult(host=host, deleted=tuple(str(n) for n in names), untagged=(),
                       reclaimed_bytes=0)


class NetworkCalls(EngineConnection):
    """The engine calls of this concept, mixed into ``DockerHost``."""

    async def _network_call(self, what: str, path: str, method: str = "GET", *,
                            params: Mapping[str, str] | None = None,
                            data: Mapping[str, Any] | None = None,
                            invalid: frozenset[int] = frozenset({400})) -> Any:
        """One request; the engine's refusals mapped as the module docstring says, and the
        ``invalid`` statuses to ``InvalidInput``.

        Returns:
            The decoded JSON body, or None when there is none.
        """
        payload = json.dumps(data) if data is not None else None
        try:
            # refusal=ChrontainerError: every engine answer arrives here with its status, so
            # the network-specific statuses are mapped below; connection failures and
            # timeouts are still HostUnreachable.
            async with self._response(what, path, method, params=params, data=payload,
                                      refusal=ChrontainerError) as response:
                body = await response.read()
                kind = response.headers.get("Content-Type", "")
        except ChrontainerError as err:
            if type(err) is not ChrontainerError:
                raise
            status = err.details.get("engine_status")
            message = f"{what}: {err.message}"
            if status in invalid:
                raise InvalidInput(message) from err
            if status == 404:
                raise NotFound(message) from err
            if status in (403, 409) or (status == 500 and "is not connected" in err.message):
                raise Conflict(message) from err
            raise EngineError(f"host {self.slug}: {what} failed: [{status}] {err.message}") \
                from err
        if not body or "json" not in kind:
            return None
        return json.loads(body)

    async def list_networks(self) -> list[Network]:
        """``GET /networks``: every network (members empty on API 1.41, see the module)."""
        docs = await self._network_call("list networks", "networks")
        return [parse_network(self.slug, d) for d in docs or () if isinstance(d, dict)]

    async def inspect_network_raw(self, ref: str) -> JSON:
        """The engine's inspect document of a network, unmodified.

        Raises:
            NotFound: No such network.
        """
        doc = await self._network_call(f"network {ref}", f"networks/{ref}")
        if not isinstance(doc, dict):
            raise EngineError(f"host {self.slug}: inspect of network {ref} returned no document")
        return doc

    async def inspect_network(self, ref: str) -> Network:
        """One network as the engine sees it now, its members (containers with an endpoint,
        i.e. running ones) included."""
        return parse_network(self.slug, await self.inspect_network_raw(ref))

    async def create_network(self, body: Mapping[str, Any]) -> str:
        """``POST /networks/create`` (with ``CheckDuplicate``); returns the new id.

        The engine answers settings it cannot use with 404 (no IPv6 pool to pick a subnet
        from), or 500 (a ``parent`` interface that does not exist, a bridge name too long):
        those are the caller's input, not the engine's failure.

        Raises:
            Conflict: The name is taken, or the engine refused (e.g. an overlapping subnet).
            InvalidInput: The engine rejected the settings.
        """
        doc = await self._network_call(f"create network {body.get('Name')}", "networks/create",
                                       "POST", data={**body, "CheckDuplicate": True},
                                       invalid=_CREATE_INVALID)
        if not isinstance(doc, dict) or not doc.get("Id"):
            raise EngineError(f"host {self.slug}: create of network {body.get('Name')} "
                              "returned no id")
        return str(doc["Id"])

    async def remove_network(self, network_id: str) -> None:
        """``DELETE /networks/{id}``.

        Raises:
            Conflict: Containers still use it ("has active endpoints"), or it is predefined.
            NotFound: No such network.
        """
        await self._network_call(f"remove network {network_id}", f"networks/{network_id}",
                                 "DELETE")

    async def disconnect_network(self, network_id: str, container_id: str, *,
                                 force: bool = False) -> None:
        """``POST /networks/{id}/disconnect``.

        Raises:
            Conflict: The container is not connected to it (or cannot leave it).
            NotFound: No such network or container.
        """
        await self._network_call(
            f"disconnect {container_id} from network {network_id}",
            f"networks/{network_id}/disconnect", "POST",
            data={"Container": container_id, "Force": force})

    async def prune_networks(self, *, label: str | None = None) -> PruneResult:
        """``POST /networks/prune``: every network without containers (never the predefined
        ones); only those carrying ``label`` (``key`` or ``key=value``) when given."""
        params = {"filters": json.dumps({"label": [label]})} if label is not None else None
        doc = await self._network_call("prune networks", "networks/prune", "POST",
                                       params=params)
        return parse_network_prune(self.slug, doc if isinstance(doc, dict) else None)
