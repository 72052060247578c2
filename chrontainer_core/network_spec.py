"""What a new network is made of (:class:`NetworkSpec`) and the checks of names, subnets and
addresses it shares with connecting a container: validated once, at the edge, each refusal an
``InvalidInput`` naming its field."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .errors import InvalidInput

__all__ = ["DRIVERS", "MAX_NAME", "NetworkSpec", "check_name", "parse_ip"]

# The drivers a network can be created with here (overlay needs a swarm; plugins are unknown).
DRIVERS: Final = ("bridge", "macvlan", "ipvlan")
MAX_NAME: Final = 128
MAX_ENTRIES: Final = 64  # labels or options of one network
_NAME: Final = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
# A Linux interface name (IFNAMSIZ is 16 with the terminating NUL); "eth0.10" names a VLAN.
_INTERFACE: Final = re.compile(r"[a-zA-Z0-9_.:-]{1,15}")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _cidr(text: str, what: str) -> IPNetwork:
    if "/" not in text:
        raise InvalidInput(f"{what}: {text[:80]!r} has no prefix length (e.g. 10.20.0.0/24)",
                           field=what)
    try:
        # strict: "10.0.0.1/24" (host bits set) is a typo for a subnet, not a subnet.
        return ipaddress.ip_network(text, strict=True)
    except ValueError as err:
        raise InvalidInput(f"{what}: {text[:80]!r} is not a subnet in CIDR notation "
                           f"(e.g. 10.20.0.0/24): {err}", field=what) from err


def parse_ip(text: str, what: str) -> IPAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError as err:
        raise InvalidInput(f"{what}: {text[:80]!r} is not an IP address", field=what) from err


def _check_strings(values: Mapping[str, str], what: str) -> None:
    if len(values) > MAX_ENTRIES:
        raise InvalidInput(f"{what}: at most {MAX_ENTRIES} entries", field=what)
    for key, value in values.items():
        if not key or len(key) > 255 or len(value) > 1024:
            raise InvalidInput(f"{what}: keys are 1-255 characters, values up to 1024",
                               field=f"{what}.{key[:40]}")
        if _CONTROL.search(key) or _CONTROL.search(value):
            raise InvalidInput(f"{what}: control characters are not allowed",
                               field=f"{what}.{key[:40]}")


def check_name(name: str, what: str = "name") -> str:
    """A network (or alias) name: letters, digits, ``_ . -``, not starting with ``_ . -``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or len(name) > MAX_NAME:
        raise InvalidInput(f"{what}: {str(name)[:80]!r} is not a valid name (letters, digits "
                           f"and _ . -, starting with a letter or digit, up to {MAX_NAME})",
                           field=what)
    return name


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkSpec:
    """What a new network is made of; checked when made (``InvalidInput`` naming the field).

    A macvlan or ipvlan network is bridged onto a host interface, ``parent``. Without one the
    engine makes an internal, dummy parent: containers on it reach each other but nothing
    outside the host.

    Attributes:
        name: ``[a-zA-Z0-9][a-zA-Z0-9_.-]*``, up to 128 characters.
        driver: One of :data:`DRIVERS`.
        subnet: The IPAM pool in CIDR notation, without host bits (``10.20.0.0/24``); None:
            the engine picks one.
        gateway: An address inside ``subnet`` (needs ``subnet``).
        ip_range: The CIDR containers get addresses from, inside ``subnet`` (needs ``subnet``).
        parent: The host interface of a macvlan/ipvlan network (``eth0``, ``eth0.10``).
        internal: No route to the outside.
        attachable: Standalone containers may join (matters for swarm-scoped networks).
        enable_ipv6: IPv6 on the network; ``subnet``, when given, must then be IPv6 (and an
            IPv6 subnet needs it). Without a subnet the engine picks one from its default
            IPv6 pools; an engine without such pools refuses (``InvalidInput``).
        labels: Labels of the network.
        options: Driver options (``parent`` has its own field).
    """

    name: str
    driver: str = "bridge"
    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None
    parent: str | None = None
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.driver not in DRIVERS:
            raise InvalidInput(f"driver: expected one of {', '.join(DRIVERS)}", field="driver")
        subnet = _cidr(self.subnet, "subnet") if self.subnet is not None else None
        if subnet is None:
            for what in ("gateway", "ip_range"):
                if getattr(self, what) is not None:
                    raise InvalidInput(f"{what}: needs a subnet", field=what)
        else:
            if self.enable_ipv6 and subnet.version != 6:
                raise InvalidInput("subnet: with enable_ipv6 the subnet must be IPv6",
                                   field="subnet")
            if subnet.version == 6 and not self.enable_ipv6:
                # The engine would accept it and give containers no IPv6 address at all.
                raise InvalidInput("enable_ipv6: an IPv6 subnet needs enable_ipv6",
                                   field="enable_ipv6")
            if self.gateway is not None and parse_ip(self.gateway, "gateway") not in subnet:
                raise InvalidInput(f"gateway: {self.gateway} is not in subnet {subnet}",
                                   field="gateway")
            if self.ip_range is not None:
                pool = _cidr(self.ip_range, "ip_range")
                if pool.version != subnet.version or not pool.subnet_of(subnet):  # type: ignore[arg-type]
                    raise InvalidInput(f"ip_range: {pool} is not inside subnet {subnet}",
                                       field="ip_range")
        if self.parent is not None:
            if self.driver == "bridge":
                raise InvalidInput("parent: only macvlan and ipvlan networks have a parent "
                                   "interface", field="parent")
            if not _INTERFACE.fullmatch(self.parent):
                raise InvalidInput(f"parent: {self.parent[:40]!r} is not an interface name "
                                   "(1-15 of letters, digits, _ . : -)", field="parent")
        _check_strings(self.labels, "labels")
        _check_strings(self.options, "options")
        if "parent" in self.options:
            raise InvalidInput("options: give the parent interface as 'parent'",
                               field="options.parent")

    def engine_body(self) -> dict[str, Any]:
        """The body of ``POST /networks/create``."""
        options = dict(self.options)
        if self.parent is not None:
            options["parent"] = self.parent
        pool: dict[str, str] = {}
        if self.subnet is not None:
            pool["Subnet"] = self.subnet
            if self.gateway is not None:
                pool["Gateway"] = self.gateway
            if self.ip_range is not None:
                pool["IPRange"] = self.ip_range
        return {
            "Name": self.name,
            "Driver": self.driver,
            "Internal": self.internal,
            "Attachable": self.attachable,
            "EnableIPv6": self.enable_ipv6,
            "Labels": dict(self.labels),
            "Options": options,
            "IPAM": {"Driver": "default", "Config": [pool] if pool else []},
        }
