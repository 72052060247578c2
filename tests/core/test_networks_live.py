"""Networks through the core against the real engines: create a bridge with subnet, gateway,
IP range, labels, internal and attachable and read it back; macvlan on a dummy interface;
connect a container with a static IP and an alias (checked by inspecting the container),
disconnect it; removal refused while in use and for the built-in networks; prune limited to
this module's label (the engines are shared by the whole suite); a user-defined network on the
remote engine (``--bridge none``); bad input and unknown things; an offline host in the list.

Every network carries ``chrontainer.test=1`` (the suite's sweep removes leftovers).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest

from chrontainer_core import Chrontainer, HostSpec
from chrontainer_core.errors import Conflict, InvalidInput, NotFound
from chrontainer_core.models import HostStatus
from chrontainer_core.networks import NetworkFilter, NetworkSpec

from ..live import TEST_LABEL, Engine, docker, run_container, unique

pytestmark = pytest.mark.live


def subnet() -> tuple[str, str]:
    """A /24 unlikely to overlap another test's (``10.X.Y.0/24``) and its ``.0`` prefix."""
    raw = uuid.uuid4().bytes
    prefix = f"10.{100 + raw[0] % 150}.{raw[1]}"
    return f"{prefix}.0/24", prefix


def labels(**more: str) -> dict[str, str]:
    return {TEST_LABEL: "1", **more}


async def gone(engine: Engine, name: str) -> bool:
    out = await docker(engine, "network", "ls", "-q", "--filter", f"name=^{name}$")
    return out == ""


async def ip(*args: str) -> tuple[int, str]:
    """Run ``ip`` with fixed arguments; returns (exit status, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        "ip", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    return proc.returncode or 0, err.decode().strip()


@pytest.fixture
async def dummy() -> AsyncIterator[str]:
    """A host interface to be a macvlan parent: a ``dummy`` one, or, on a kernel built without
    the dummy driver ("Unknown device type"), one end of a veth pair (just as linkless)."""
    name = f"ctd{uuid.uuid4().hex[:8]}"
    status, err = await ip("link", "add", name, "type", "dummy")
    if status != 0:
        assert "Unknown device type" in err, err
        status, err = await ip("link", "add", name, "type", "veth", "peer", "name", f"{name}p")
        assert status == 0, err
    try:
        status, err = await ip("link", "set", name, "up")
        assert status == 0, err
        yield name
    finally:
        await ip("link", "del", name)  # takes the veth peer along


async def test_create_bridge_list_get_inspect_remove(library: Chrontainer,
                                                     local_engine: Engine) -> None:
    nets = library.networks
    name, (cidr, prefix) = unique("ctnet"), subnet()
    spec = NetworkSpec(name=name, subnet=cidr, gateway=f"{prefix}.254",
                       ip_range=f"{prefix}.128/25", internal=True, attachable=True,
                       labels=labels(team="blue"))
    made = await nets.create("local", spec)
    assert (made.host, made.name, made.driver, made.scope) == ("local", name, "bridge", "local")
    assert (made.internal, made.attachable, made.predefined) == (True, True, False)
    assert [(s.subnet, s.gateway, s.ip_range) for s in made.subnets] == [
        (cidr, f"{prefix}.254", f"{prefix}.128/25")]
    assert made.labels == labels(team="blue") and made.created is not None
    engine_view = json.loads(await docker(local_engine, "network", "inspect", name))[0]
    assert engine_view["Id"] == made.id and engine_view["Internal"] is True
    assert engine_view["IPAM"]["Config"] == [
        {"Subnet": cidr, "Gateway": f"{prefix}.254", "IPRange": f"{prefix}.128/25"}]

    listing = await nets.list(NetworkFilter(name=name.upper()))
    assert [(n.host, n.id) for n in listing.items] == [("local", made.id)]
    assert listing.items[0].containers == ()
    assert {s: h.status for s, h in listing.hosts.items()} == {
        "local": HostStatus.ONLINE, "remote": HostStatus.ONLINE}
    assert (await nets.list(NetworkFilter(name=name, driver="macvlan"))).items == []
    assert (await nets.list(NetworkFilter(name=name, host="remote"))).items == []
    everything = await nets.list(NetworkFilter(host="local"))
    by_name = {n.name: n for n in everything.items}
    assert by_name["bridge"].predefined and by_name["host"].predefined
    assert by_name["none"].predefined and by_name["none"].driver == "null"
    assert not by_name[name].predefined

    for ref in (made.id, made.id[:12], name):
        assert (await nets.get("local", ref)).id == made.id, ref
    assert (await nets.inspect("local", name))["Id"] == made.id
    with pytest.raises(NotFound):
        await nets.get("local", made.id[:11])  # a prefix must be >= 12

    with pytest.raises(Conflict):
        await nets.create("local", NetworkSpec(name=name, labels=labels()))
    await nets.remove("local", made.id[:12])
    assert await gone(local_engine, name)
    with pytest.raises(NotFound):
        await nets.get("local", name)


async def test_connect_static_ip_alias_disconnect_and_remove_while_in_use(
    library: Chrontainer, local_engine: Engine
) -> None:
    nets = library.networks
    name, (cidr, prefix) = unique("ctnet"), subnet()
    net = await nets.create("local", NetworkSpec(name=name, subnet=cidr, labels=labels()))
    cid, cname = await run_container(local_engine)
    try:
        after = await nets.connect("local", name, cname, aliases=["db", "db.internal"],
                                   ipv4_address=f"{prefix}.42")
        assert [(m.container_id, m.name, m.ipv4_address) for m in after.containers] == [
            (cid, cname, f"{prefix}.42")]
        settings = json.loads(await docker(local_engine, "inspect", cid))[0][
            "NetworkSettings"]["Networks"][name]
        assert settings["IPAMConfig"]["IPv4Address"] == f"{prefix}.42"
        assert settings["IPAddress"] == f"{prefix}.42"
        assert {"db", "db.internal"} <= set(settings["Aliases"])
        # The list (from the container cache) shows it at once, aliases included.
        listed = (await nets.list(NetworkFilter(name=name))).items[0]
        assert [(m.name, m.ipv4_address) for m in listed.containers] == [
            (cname, f"{prefix}.42")]
        assert {"db", "db.internal"} <= set(listed.containers[0].aliases)

        with pytest.raises(Conflict, match="already connected"):
            await nets.connect("local", name, cname)
        with pytest.raises(Conflict) as refused:
            await nets.remove("local", name)
        assert refused.value.details["containers"] == [cname]
        assert cname in refused.value.message
        assert not await gone(local_engine, name)

        after = await nets.disconnect("local", net.id, cid[:12])
        assert after.containers == ()
        networks = json.loads(await docker(local_engine, "inspect", cid))[0][
            "NetworkSettings"]["Networks"]
        assert name not in networks
        assert (await nets.list(NetworkFilter(name=name))).items[0].containers == ()
        with pytest.raises(Conflict, match="not connected"):
            await nets.disconnect("local", name, cname)
        await nets.remove("local", name)
        assert await gone(local_engine, name)
    finally:
        await docker(local_engine, "rm", "-f", cid, check=False)
        await docker(local_engine, "network", "rm", name, check=False)


async def test_connect_refusals_change_nothing(library: Chrontainer,
                                               local_engine: Engine) -> None:
    nets = library.networks
    name, (cidr, _) = unique("ctnet"), subnet()
    await nets.create("local", NetworkSpec(name=name, subnet=cidr, labels=labels()))
    cid, cname = await run_container(local_engine)
    _, isolated = await run_container(local_engine, options=("--network", "none"))
    try:
        for kwargs, field in (({"ipv4_address": "192.0.2.9"}, "ipv4_address"),
                              ({"ipv4_address": "fd00::9"}, "ipv4_address"),
                              ({"ipv4_address": "nope"}, "ipv4_address"),
                              ({"ipv6_address": "fd00::9"}, "ipv6_address"),
                              ({"aliases": ["bad alias"]}, "aliases[0]")):
            with pytest.raises(InvalidInput) as caught:
                await nets.connect("local", name, cname, **kwargs)  # type: ignore[arg-type]
            assert caught.value.field == field, kwargs
        with pytest.raises(NotFound):
            await nets.connect("local", name, unique("ctnosuch"))
        with pytest.raises(NotFound):
            await nets.connect("local", unique("ctnosuch"), cname)
        with pytest.raises(Conflict):
            await nets.connect("local", "host", cname)
        with pytest.raises(Conflict):
            await nets.connect("local", "none", cname)
        with pytest.raises(Conflict, match="network mode none"):
            await nets.connect("local", name, isolated)
        networks = json.loads(await docker(local_engine, "inspect", cid))[0][
            "NetworkSettings"]["Networks"]
        assert set(networks) == {"bridge"}
        assert (await nets.get("local", name)).containers == ()
    finally:
        await docker(local_engine, "rm", "-f", cid, check=False)
        await docker(local_engine, "network", "rm", name, check=False)


async def test_macvlan_on_a_dummy_interface(library: Chrontainer, local_engine: Engine,
                                            dummy: str) -> None:
    nets = library.networks
    name, (cidr, prefix) = unique("ctmv"), subnet()
    made = await nets.create("local", NetworkSpec(name=name, driver="macvlan", parent=dummy,
                                                  subnet=cidr, gateway=f"{prefix}.1",
                                                  labels=labels()))
    try:
        assert (made.driver, made.options) == ("macvlan", {"parent": dummy})
        engine_view = json.loads(await docker(local_engine, "network", "inspect", name))[0]
        assert engine_view["Driver"] == "macvlan"
        assert engine_view["Options"] == {"parent": dummy}
        cid, cname = await run_container(local_engine)
        after = await nets.connect("local", name, cname, ipv4_address=f"{prefix}.7")
        assert [(m.name, m.ipv4_address) for m in after.containers] == [(cname, f"{prefix}.7")]
        await nets.disconnect("local", name, cid)
        await nets.remove("local", name)
        assert await gone(local_engine, name)
    finally:
        await docker(local_engine, "network", "rm", name, check=False)


async def test_user_network_on_the_remote_engine(library: Chrontainer,
                                                 remote_engine: Engine) -> None:
    nets = library.networks
    name, (cidr, prefix) = unique("ctnet"), subnet()
    made = await nets.create("remote", NetworkSpec(name=name, subnet=cidr, labels=labels()))
    try:
        assert made.host == "remote"
        # The remote engine runs without the default bridge: a container joins the user
        # network at creation (run_container's default "--network none" is not wanted here).
        on_net = Engine(remote_engine.slug, remote_engine.url)
        cid, _ = await run_container(on_net, options=("--network", name,
                                                          "--ip", f"{prefix}.9"))
        listed = (await nets.list(NetworkFilter(host="remote", name=name))).items
        assert [(m.container_id, m.ipv4_address) for m in listed[0].containers] == [
            (cid, f"{prefix}.9")]
        assert "bridge" not in {n.name for n in
                                (await nets.list(NetworkFilter(host="remote"))).items}
        with pytest.raises(Conflict):
            await nets.remove("remote", name)
        await docker(remote_engine, "rm", "-f", cid)
        await nets.remove("remote", name)
        assert await gone(remote_engine, name)
    finally:
        await docker(remote_engine, "network", "rm", name, check=False)


async def test_prune_only_unused_networks_with_the_label(library: Chrontainer,
                                                         local_engine: Engine) -> None:
    nets = library.networks
    mark = unique("ctprune")
    unused, used, other = unique("ctnet"), unique("ctnet"), unique("ctnet")
    for name in (unused, used):
        await nets.create("local", NetworkSpec(name=name, labels=labels(**{mark: "1"})))
    await nets.create("local", NetworkSpec(name=other, labels=labels()))
    cid, _ = await run_container(local_engine, options=("--network", used))
    try:
        result = await nets.prune("local", label=f"{mark}=1")
        assert result.deleted == (unused,)
        assert (result.host, result.untagged, result.reclaimed_bytes) == ("local", (), 0)
        assert await gone(local_engine, unused)
        assert not await gone(local_engine, used) and not await gone(local_engine, other)
        with pytest.raises(InvalidInput):
            await nets.prune("local", label="=x")
    finally:
        await docker(local_engine, "rm", "-f", cid, check=False)
        await docker(local_engine, "network", "rm", used, other, check=False)


async def test_built_in_networks_unknown_hosts_and_engine_refusals(
    library: Chrontainer, local_engine: Engine
) -> None:
    nets = library.networks
    for builtin in ("bridge", "host", "none"):
        with pytest.raises(Conflict, match="built-in"):
            await nets.remove("local", builtin)
    assert not await gone(local_engine, "bridge")
    with pytest.raises(NotFound):
        await nets.list(NetworkFilter(host="nope"))
    with pytest.raises(NotFound):
        await nets.create("nope", NetworkSpec(name=unique("ctnet")))
    with pytest.raises(NotFound):
        await nets.remove("local", unique("ctnosuch"))
    with pytest.raises(NotFound):
        await nets.prune("nope")
    # An overlapping subnet: the engine refuses (403), which is a conflict, not its failure.
    name, (cidr, _) = unique("ctnet"), subnet()
    await nets.create("local", NetworkSpec(name=name, subnet=cidr, labels=labels()))
    twin = unique("ctnet")
    try:
        with pytest.raises(Conflict):
            await nets.create("local", NetworkSpec(name=twin, subnet=cidr, labels=labels()))
        assert await gone(local_engine, twin)
    finally:
        await docker(local_engine, "network", "rm", name, twin, check=False)


async def test_an_offline_host_does_not_fail_the_list(local_engine: Engine) -> None:
    async with Chrontainer.connect(hosts=[
        HostSpec(slug="local", name="Local", url=local_engine.url),
        HostSpec(slug="dead", name="Dead", url="tcp://127.0.0.1:9"),
    ]) as ch:
        listing = await ch.networks.list()
    assert "bridge" in {n.name for n in listing.items if n.host == "local"}
    assert not [n for n in listing.items if n.host == "dead"]
    assert listing.hosts["dead"].status is HostStatus.OFFLINE and listing.hosts["dead"].error
    assert listing.hosts["local"].status is HostStatus.ONLINE
