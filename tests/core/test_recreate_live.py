"""The recreate plan against the real local engine: a container of image v1 with user env,
labels, restart policy, a published port, a memory limit, a bind, a named and an anonymous
volume, and static IPs and aliases on two user networks is re-created from
:func:`plan_recreate` through :meth:`DockerHost.create_container` / ``connect_network``.

The copy keeps HostConfig exactly (plus the anonymous volume under its own name, with its data),
every network's aliases and IPAM config, the user's env and labels and the image's defaults;
created from the same plan after v2 is built under the same tag, it takes v2's defaults and still
the user's values. Also: the two engine calls' errors for a taken name, an unknown image and an
unknown network.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chrontainer_core.docker.host import DockerHost
from chrontainer_core.errors import Conflict, NotFound
from chrontainer_core.models import HostSpec
from chrontainer_core.updates.recreate import plan_recreate

from ..images import build, drop
from ..live import TEST_LABEL, Engine, docker, unique, wait_for

pytestmark = pytest.mark.live

V1_STEPS = ('ENV A=1 B=2', 'LABEL x=1', 'CMD ["sleep","3600"]', 'EXPOSE 80', 'WORKDIR /tmp',
            'VOLUME /imgvol', 'HEALTHCHECK CMD true')
V2_STEPS = ('ENV A=9 B=2', 'LABEL x=9', 'CMD ["sleep","3599"]', 'EXPOSE 80', 'WORKDIR /tmp',
            'VOLUME /imgvol', 'HEALTHCHECK CMD true')


@dataclass
class Setup:
    host: DockerHost
    engine: Engine
    tag: str
    net1: str
    net2: str
    ip1: str
    ip2: str
    bind: Path
    volume: str
    images: list[str]
    containers: list[str]


async def make_network(engine: Engine) -> tuple[str, str]:
    """A labelled user network on a /24 no other network uses; returns (name, address .10)."""
    name = unique("ctrecnet")
    for octet in random.sample(range(100, 250), 20):
        out = await docker(engine, "network", "create", "--subnet", f"172.31.{octet}.0/24",
                           "--label", f"{TEST_LABEL}=1", name, check=False)
        if out:
            return name, f"172.31.{octet}.10"
    raise AssertionError("no free 172.31.x.0/24 subnet for a test network")


@pytest.fixture
async def setup(clean_engines: None, local_engine: Engine,
                tmp_path: Path) -> AsyncIterator[Setup]:
    host = DockerHost(HostSpec(slug="local", name="local", url=local_engine.url))
    net1, ip1 = await make_network(local_engine)
    net2, ip2 = await make_network(local_engine)
    volume = unique("ctrecvol")
    await docker(local_engine, "volume", "create", "--label", f"{TEST_LABEL}=1", volume)
    s = Setup(host=host, engine=local_engine, tag=f"{unique('ctrecreate')}/app:latest",
              net1=net1, net2=net2, ip1=ip1, ip2=ip2, bind=tmp_path, volume=volume,
              images=[], containers=[])
    try:
        yield s
    finally:
        anonymous: set[str] = set()
        for c in s.containers:
            doc = await host.inspect_raw(c)
            anonymous |= {m["Name"] for m in doc.get("Mounts") or ()
                          if m["Type"] == "volume" and m["Name"] != volume}
        if s.containers:
            await docker(local_engine, "rm", "-fv", *s.containers, check=False)
        for v in (*anonymous, volume):
            await docker(local_engine, "volume", "rm", v, check=False)
        await docker(local_engine, "network", "rm", net1, net2, check=False)
        await drop(local_engine, *s.images)
        await host.close()


async def run_old(s: Setup) -> str:
    """The user's container of v1, on both networks; returns its id."""
    name = unique("ctrecold")
    out = await docker(
        s.engine, "run", "-d", "--name", name, "--label", f"{TEST_LABEL}=1",
        "--stop-timeout", "1", "-e", "B=3", "-e", "C=4", "--label", "y=2",
        "--restart", "unless-stopped", "-p", "127.0.0.1::80", "--memory", "64m",
        "-v", f"{s.bind}:/bind", "-v", f"{s.volume}:/named", "-v", "/anon",
        "--network", s.net1, "--ip", s.ip1, "--network-alias", "web-a", s.tag)
    cid = out.splitlines()[-1]
    s.containers.append(cid)
    await docker(s.engine, "network", "connect", "--alias", "web-b", "--ip", s.ip2, s.net2, cid)
    await docker(s.engine, "exec", cid, "sh", "-c", "echo kept > /anon/f")
    return cid


async def create_from(s: Setup, plan_body: dict[str, Any],
                      networks: tuple[tuple[str, dict[str, Any]], ...]) -> dict[str, Any]:
    new_id = await s.host.create_container(unique("ctrecnew"), plan_body)
    s.containers.append(new_id)
    for network, endpoint in networks:
        await s.host.connect_network(network, new_id, endpoint)
    return await s.host.inspect_raw(new_id)


def env_of(doc: dict[str, Any]) -> dict[str, str]:
    return dict(e.split("=", 1) for e in doc["Config"]["Env"])


def user_aliases(doc: dict[str, Any], network: str) -> list[str]:
    cid = doc["Id"]
    aliases = doc["NetworkSettings"]["Networks"][network]["Aliases"] or []
    return [a for a in aliases if a not in (cid, cid[:12])]


def mount_named(doc: dict[str, Any], destination: str) -> str:
    return next(m["Name"] for m in doc["Mounts"] if m["Destination"] == destination)


async def test_recreated_container_keeps_user_settings(setup: Setup) -> None:
    s = setup
    s.images.append(await build(s.engine, s.tag, *V1_STEPS))
    old_id = await run_old(s)
    old = await s.host.inspect_raw(old_id)
    plan = plan_recreate(old, await s.host.inspect_image(old["Image"]))
    assert [name for name, _ in plan.networks] == [s.net2]

    new = await create_from(s, plan.body, plan.networks)
    assert new["Image"] == old["Image"]

    # HostConfig: identical, plus explicit mounts of the anonymous volumes under their names.
    anon = {d: mount_named(old, d) for d in ("/anon", "/imgvol")}
    new_hc, old_hc = dict(new["HostConfig"]), dict(old["HostConfig"])
    added = new_hc.pop("Mounts")
    assert old_hc.pop("Mounts", None) is None
    assert new_hc == old_hc
    assert [(m["Type"], m["Source"], m["Target"], m.get("ReadOnly", False)) for m in added] == [
        ("volume", anon["/anon"], "/anon", False), ("volume", anon["/imgvol"], "/imgvol", False)]
    assert {d: mount_named(new, d) for d in anon} == anon
    assert mount_named(new, "/named") == s.volume

    # Per network: the user's aliases and static addresses.
    for network in (s.net1, s.net2):
        assert user_aliases(new, network) == user_aliases(old, network)
        assert (new["NetworkSettings"]["Networks"][network]["IPAMConfig"]
                == old["NetworkSettings"]["Networks"][network]["IPAMConfig"])
    assert user_aliases(old, s.net1) == ["web-a"] and user_aliases(old, s.net2) == ["web-b"]

    # Config: the user's values and the image's defaults.
    env = env_of(new)
    assert (env["A"], env["B"], env["C"]) == ("1", "3", "4")
    assert env == env_of(old)
    labels = new["Config"]["Labels"]
    assert (labels["x"], labels["y"]) == ("1", "2")
    assert new["Config"]["Cmd"] == old["Config"]["Cmd"] == ["sleep", "3600"]
    assert new["Config"]["Healthcheck"] == old["Config"]["Healthcheck"]
    assert new["Config"]["Hostname"] == new["Id"][:12]

    # It runs in the old one's place: same addresses, same aliases, the volume's data.
    await docker(s.engine, "stop", old_id)
    await s.host.container_action(new["Id"], "start")

    async def running() -> bool:
        return bool((await s.host.inspect_raw(new["Id"]))["State"]["Running"])

    await wait_for(running, timeout=30, what="the re-created container runs")
    started = await s.host.inspect_raw(new["Id"])
    networks = started["NetworkSettings"]["Networks"]
    assert (networks[s.net1]["IPAddress"], networks[s.net2]["IPAddress"]) == (s.ip1, s.ip2)
    assert user_aliases(started, s.net1) == ["web-a"]
    assert user_aliases(started, s.net2) == ["web-b"]
    assert await docker(s.engine, "exec", new["Id"], "cat", "/anon/f") == "kept"


async def test_recreated_container_takes_the_new_image_defaults(setup: Setup) -> None:
    s = setup
    s.images.append(await build(s.engine, s.tag, *V1_STEPS))
    old_id = await run_old(s)
    old = await s.host.inspect_raw(old_id)
    plan = plan_recreate(old, await s.host.inspect_image(old["Image"]))

    # v2 under the same tag: what a pull of the container's reference does.
    v2 = await build(s.engine, s.tag, *V2_STEPS)
    s.images.append(v2)
    assert v2 != old["Image"]
    new = await create_from(s, plan.body, plan.networks)

    assert new["Image"] == v2
    env = env_of(new)
    assert (env["A"], env["B"], env["C"]) == ("9", "3", "4")
    assert "A=1" not in new["Config"]["Env"]
    labels = new["Config"]["Labels"]
    assert (labels["x"], labels["y"]) == ("9", "2")
    assert new["Config"]["Cmd"] == ["sleep", "3599"]
    new_hc, old_hc = dict(new["HostConfig"]), dict(old["HostConfig"])
    new_hc.pop("Mounts")
    assert old_hc.pop("Mounts", None) is None
    assert new_hc == old_hc


async def test_engine_errors_of_create_and_connect(setup: Setup) -> None:
    s = setup
    s.images.append(await build(s.engine, s.tag, *V1_STEPS))
    name = unique("ctrecnew")
    body = {"Image": s.tag, "Labels": {TEST_LABEL: "1"}, "HostConfig": {"NetworkMode": "none"}}
    cid = await s.host.create_container(name, body)
    s.containers.append(cid)

    with pytest.raises(Conflict):
        await s.host.create_container(name, body)
    with pytest.raises(NotFound):
        await s.host.create_container(unique("ctrecnew"),
                                      {**body, "Image": f"{unique('ctnosuch')}/img:1"})
    with pytest.raises(NotFound):
        await s.host.connect_network(s.net1, unique("ctnosuch"), None)
    # Nothing was created by the refused calls.
    listed = await docker(s.engine, "ps", "-aq", "--no-trunc", "--filter",
                          f"ancestor={s.tag}")
    assert listed.split() == [cid]
