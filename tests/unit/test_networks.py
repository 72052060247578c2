"""Networks without an engine: parsing the engine's network JSON, checking a new network's
settings (the 400s of create), addressing a network, and the members from the cache."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chrontainer_core.docker.networks import parse_network, parse_network_prune
from chrontainer_core.errors import AmbiguousRef, InvalidInput
from chrontainer_core.models import (
    Container,
    ContainerState,
    Network,
    NetworkAttachment,
    NetworkMember,
    NetworkSubnet,
)
from chrontainer_core.networks import NetworkSpec, members_by_network, resolve_network

USER_NET: dict[str, Any] = {
    "Name": "app-net", "Id": "835e2620515840218b02694582c13d93c6ea88dd84b5ec76ac14cc7d9e133237",
    "Created": "2026-11-26T09:04:23.228195538Z", "Scope": "local", "Driver": "bridge",
    "EnableIPv6": False,
    "IPAM": {"Driver": "default", "Options": {}, "Config": [
        {"Subnet": "10.213.0.0/24", "IPRange": "10.213.0.128/25", "Gateway": "10.213.0.1"}]},
    "Internal": True, "Attachable": True, "Ingress": False, "ConfigOnly": False,
    "Containers": {
        "5d9f80fd632a": {"Name": "web", "EndpointID": "4cc6", "MacAddress": "02:42:0a:d5:00:80",
                         "IPv4Address": "10.213.0.128/24", "IPv6Address": ""},
        "1a2b3c4d5e6f": {"Name": "db", "EndpointID": "77aa", "MacAddress": "",
                         "IPv4Address": "10.213.0.130/24", "IPv6Address": "fd00::5/64"},
    },
    "Options": {"com.docker.network.bridge.name": "br-app"}, "Labels": {"team": "a"},
}


def _predefined(name: str, driver: str) -> dict[str, Any]:
    return {"Name": name, "Id": "f" * 64, "Driver": driver, "Scope": "local",
            "IPAM": {"Driver": "default", "Options": None, "Config": []},
            "Containers": {}, "Options": {}, "Labels": {}, "Created": "0001-01-01T00:00:00Z"}


def test_parse_network_with_members_pools_and_flags() -> None:
    net = parse_network("local", USER_NET)
    assert (net.host, net.name, net.driver, net.scope) == ("local", "app-net", "bridge", "local")
    assert net.id == USER_NET["Id"]
    assert net.created == datetime(2026, 11, 26, 9, 4, 23, 228195, tzinfo=UTC)
    assert (net.internal, net.attachable, net.ipv6, net.predefined) == (True, True, False, False)
    assert net.subnets == (NetworkSubnet(subnet="10.213.0.0/24", gateway="10.213.0.1",
                                         ip_range="10.213.0.128/25"),)
    assert net.labels == {"team": "a"}
    assert net.options == {"com.docker.network.bridge.name": "br-app"}
    # Sorted by name; addresses without their prefix length; empty strings become None.
    assert net.containers == (
        NetworkMember(container_id="1a2b3c4d5e6f", name="db", ipv4_address="10.213.0.130",
                      ipv6_address="fd00::5", mac_address=None),
        NetworkMember(container_id="5d9f80fd632a", name="web", ipv4_address="10.213.0.128",
                      ipv6_address=None, mac_address="02:42:0a:d5:00:80"),
    )


def test_parse_predefined_networks_and_nulls() -> None:
    assert parse_network("h", _predefined("bridge", "bridge")).predefined
    assert parse_network("h", _predefined("host", "host")).predefined
    assert parse_network("h", _predefined("none", "null")).predefined
    # Only the engine's own: the name alone with another driver is not it.
    assert not parse_network("h", _predefined("none", "bridge")).predefined
    sparse = parse_network("h", {"Name": "x", "Id": "1", "Driver": "macvlan", "IPAM": None,
                                 "Containers": None, "Labels": None, "Options": None})
    assert (sparse.subnets, sparse.containers, sparse.labels, sparse.created) == ((), (), {},
                                                                                   None)
    assert parse_network("h", _predefined("bridge", "bridge")).created is None


def test_parse_prune() -> None:
    assert parse_network_prune("h", {"NetworksDeleted": ["a", "b"]}).deleted == ("a", "b")
    empty = parse_network_prune("h", {"NetworksDeleted": None})
    assert (empty.deleted, empty.untagged, empty.reclaimed_bytes) == ((), (), 0)
    assert parse_network_prune("h", None).deleted == ()


def test_spec_engine_body() -> None:
    spec = NetworkSpec(name="app.net-1", subnet="10.20.0.0/24", gateway="10.20.0.1",
                       ip_range="10.20.0.128/25", internal=True, attachable=True,
                       labels={"k": "v"}, options={"com.docker.network.bridge.name": "br1"})
    assert spec.engine_body() == {
        "Name": "app.net-1", "Driver": "bridge", "Internal": True, "Attachable": True,
        "EnableIPv6": False, "Labels": {"k": "v"},
        "Options": {"com.docker.network.bridge.name": "br1"},
        "IPAM": {"Driver": "default", "Config": [
            {"Subnet": "10.20.0.0/24", "Gateway": "10.20.0.1", "IPRange": "10.20.0.128/25"}]},
    }
    macvlan = NetworkSpec(name="mv", driver="macvlan", parent="eth0.10")
    assert macvlan.engine_body()["Options"] == {"parent": "eth0.10"}
    assert macvlan.engine_body()["IPAM"]["Config"] == []
    assert NetworkSpec(name="v6", subnet="fd00:1::/64", enable_ipv6=True).engine_body()[
        "EnableIPv6"] is True


@pytest.mark.parametrize(("fields", "field"), [
    ({"name": ""}, "name"),
    ({"name": "-lead"}, "name"),
    ({"name": "has space"}, "name"),
    ({"name": "x" * 129}, "name"),
    ({"driver": "overlay"}, "driver"),
    ({"subnet": "10.20.0.0"}, "subnet"),  # no prefix length
    ({"subnet": "10.20.0.0/33"}, "subnet"),
    ({"subnet": "not-a-cidr"}, "subnet"),
    ({"subnet": "10.20.0.1/24"}, "subnet"),  # host bits set
    ({"subnet": "10.20.0.0/24", "gateway": "10.21.0.1"}, "gateway"),
    ({"subnet": "10.20.0.0/24", "gateway": "nope"}, "gateway"),
    ({"subnet": "10.20.0.0/24", "gateway": "fd00::1"}, "gateway"),
    ({"subnet": "10.20.0.0/24", "ip_range": "10.20.1.0/25"}, "ip_range"),
    ({"subnet": "10.20.0.0/24", "ip_range": "10.20.0.0/23"}, "ip_range"),
    ({"subnet": "10.20.0.0/24", "ip_range": "10.20.0.1/25"}, "ip_range"),
    ({"subnet": "10.20.0.0/24", "ip_range": "fd00::/64"}, "ip_range"),
    ({"gateway": "10.20.0.1"}, "gateway"),
    ({"ip_range": "10.20.0.0/25"}, "ip_range"),
    ({"parent": "eth0"}, "parent"),  # bridge has no parent
    ({"driver": "macvlan", "parent": "eth0; rm -rf /"}, "parent"),
    ({"driver": "macvlan", "parent": "a" * 16}, "parent"),
    ({"enable_ipv6": True, "subnet": "10.20.0.0/24"}, "subnet"),
    ({"subnet": "fd00:1::/64"}, "enable_ipv6"),
    ({"labels": {"k": "line\nbreak"}}, "labels.k"),
    ({"labels": {"": "v"}}, "labels."),
    ({"options": {"parent": "eth0"}}, "options.parent"),
])
def test_spec_rejects(fields: dict[str, Any], field: str) -> None:
    values = {"name": "net", **fields}
    with pytest.raises(InvalidInput) as caught:
        NetworkSpec(**values)
    assert caught.value.field == field, caught.value.message


def test_spec_accepts_edges() -> None:
    NetworkSpec(name="a", subnet="10.20.0.0/24", gateway="10.20.0.254", ip_range="10.20.0.0/24")
    NetworkSpec(name="a", driver="ipvlan", parent="eth0.10", subnet="192.168.7.0/24")
    NetworkSpec(name="a", driver="macvlan")  # the engine makes a dummy parent
    NetworkSpec(name="a" * 128, subnet="fd00:1::/64", gateway="fd00:1::1", enable_ipv6=True)


def _net(name: str, net_id: str) -> Network:
    return Network(host="h", id=net_id, name=name, driver="bridge", scope="local",
                   created=None)


def test_resolve_network() -> None:
    a = _net("alpha", "abcdef012345" + "0" * 52)
    b = _net("beta", "abcdef012345" + "1" * 52)
    # A network named like another's id prefix: the id wins, then the exact name.
    c = _net(b.id, "9" * 64)
    pool = [a, b, c]
    assert resolve_network(pool, a.id) is a
    assert resolve_network(pool, "beta") is b
    assert resolve_network(pool, b.id) is b
    assert resolve_network(pool, "abcdef0123450") is a
    assert resolve_network(pool, "abcdef01234") is None  # shorter than 12
    assert resolve_network(pool, "Alpha") is None  # addressing is exact
    with pytest.raises(AmbiguousRef) as caught:
        resolve_network(pool, "abcdef012345")
    assert {m["name"] for m in caught.value.details["matches"]} == {"alpha", "beta"}
    twins = [_net("same", "1" * 64), _net("same", "2" * 64)]
    with pytest.raises(AmbiguousRef):
        resolve_network(twins, "same")


def _container(name: str, *attachments: NetworkAttachment) -> Container:
    return Container(host="h", id=f"id-{name}", name=name, key=name, image="i", image_id="x",
                     command="", created=datetime(2026, 1, 1, tzinfo=UTC),
                     state=ContainerState.RUNNING, networks=attachments)


def test_members_by_network_from_the_cache() -> None:
    found = members_by_network([
        _container("web", NetworkAttachment(network="app", ip_address="10.0.0.3",
                                            aliases=("www",), mac_address="02:42:00:00:00:03"),
                   NetworkAttachment(network="bridge", ip_address="172.17.0.2")),
        _container("api", NetworkAttachment(network="app", ip_address="10.0.0.2",
                                            ipv6_address="fd00::2")),
        _container("alone"),
    ])
    assert set(found) == {"app", "bridge"}
    assert [m.name for m in found["app"]] == ["api", "web"]
    assert found["app"][1] == NetworkMember(container_id="id-web", name="web",
                                            ipv4_address="10.0.0.3", aliases=("www",),
                                            mac_address="02:42:00:00:00:03")
    assert found["app"][0].ipv6_address == "fd00::2"
