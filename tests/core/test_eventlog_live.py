"""Live tests of the events log: docker CLI changes on both engines end up in ``ch.events``."""

from __future__ import annotations

import pytest

from chrontainer_core import Chrontainer, DockerObjectType, EventFilter
from chrontainer_core.models import DockerEvent

from ..live import TEST_LABEL, Engine, docker, run_container, unique, wait_for

pytestmark = pytest.mark.live


async def recorded(ch: Chrontainer, flt: EventFilter) -> list[DockerEvent]:
    assert ch.events is not None
    items, total = await ch.events.list(flt, limit=500)
    assert total == len(items)
    return items


async def wait_recorded(ch: Chrontainer, flt: EventFilter, *actions: str) -> list[DockerEvent]:
    """Wait until events with every one of ``actions`` match ``flt``; returns them all."""
    found: list[DockerEvent] = []

    async def complete() -> bool:
        found[:] = await recorded(ch, flt)
        return set(actions) <= {e.action for e in found}

    # Generous: the machine may be busy; the log writes within about a second otherwise.
    await wait_for(complete, timeout=60, what=f"events {actions} of {flt}")
    return found


async def test_cli_changes_on_both_engines_are_recorded(
    daemon: Chrontainer, local_engine: Engine, remote_engine: Engine
) -> None:
    assert daemon.events is not None and daemon.events.running
    tag = unique("evlog")
    cid, name = await run_container(local_engine, name=f"{tag}-c")
    await docker(local_engine, "rm", "-f", name)
    volume = f"{tag}-v"
    await docker(local_engine, "volume", "create", "--label", f"{TEST_LABEL}=1", volume)
    network_id = ""
    try:
        await docker(local_engine, "volume", "rm", volume)
        network_id = await docker(local_engine, "network", "create", "--label",
                                  f"{TEST_LABEL}=1", f"{tag}-n")
        await docker(local_engine, "network", "rm", f"{tag}-n")
    finally:
        await docker(local_engine, "volume", "rm", "-f", volume, check=False)
        await docker(local_engine, "network", "rm", f"{tag}-n", check=False)
    rid, rname = await run_container(remote_engine, name=f"{tag}-r")
    await docker(remote_engine, "rm", "-f", rname)

    container = await wait_recorded(
        daemon, EventFilter(name=name, type=DockerObjectType.CONTAINER),
        "create", "start", "die", "destroy")
    assert {(e.host, e.object_id, e.name) for e in container} == {("local", cid, name)}
    die = next(e for e in container if e.action == "die")
    assert die.attributes.get("exitCode") == "137"  # rm -f kills it
    assert TEST_LABEL not in die.attributes  # labels are never kept
    # Newest first.
    assert [e.time for e in container] == sorted((e.time for e in container), reverse=True)

    vol = await wait_recorded(daemon, EventFilter(name=volume), "create", "destroy")
    assert {(e.host, e.type, e.object_id) for e in vol} == {
        ("local", DockerObjectType.VOLUME, volume)}
    net = await wait_recorded(daemon, EventFilter(name=f"{tag}-n"), "create", "destroy")
    assert {(e.host, e.type, e.object_id) for e in net} == {
        ("local", DockerObjectType.NETWORK, network_id)}

    remote = await wait_recorded(daemon, EventFilter(host="remote", name=rname),
                                 "create", "start", "destroy")
    assert {(e.type, e.object_id) for e in remote} == {(DockerObjectType.CONTAINER, rid)}
    # The filters narrow: nothing of this test on the other host, only volumes by type.
    assert await recorded(daemon, EventFilter(host="local", name=rname)) == []
    assert await recorded(daemon, EventFilter(host="remote", name=tag)) == remote
    assert {e.type for e in await recorded(daemon, EventFilter(
        name=tag, type=DockerObjectType.VOLUME))} == {DockerObjectType.VOLUME}
    assert {e.name for e in await recorded(daemon, EventFilter(object_id=cid[:12]))} == {name}
