"""Live tests of the containers core against both real engines (library mode)."""

from __future__ import annotations

import asyncio

import pytest

from chrontainer_core import (
    AmbiguousRef,
    Busy,
    Chrontainer,
    Conflict,
    ContainerFilter,
    ContainerState,
    InvalidInput,
    LogStream,
    NotFound,
)
from chrontainer_core.actor import ActorKind
from chrontainer_core.containers import resolve_ref

from ..live import Engine, docker, run_container, unique, wait_for

pytestmark = pytest.mark.live


@pytest.fixture(params=["local", "remote"])
def engine(request: pytest.FixtureRequest, local_engine: Engine, remote_engine: Engine) -> Engine:
    return local_engine if request.param == "local" else remote_engine


async def test_list_spans_both_hosts(
    library: Chrontainer, local_engine: Engine, remote_engine: Engine
) -> None:
    a, _ = await run_container(local_engine)
    b, _ = await run_container(remote_engine, options=("--label", "tier=db"))
    listing = await library.containers.list()
    by_id = {c.id: c for c in listing.items}
    assert by_id[a].host == "local" and by_id[a].state is ContainerState.RUNNING
    assert by_id[b].host == "remote" and by_id[b].labels["tier"] == "db"
    assert set(listing.hosts) == {"local", "remote"}
    assert all(h.status.value == "online" for h in listing.hosts.values())
    only_remote = await library.containers.list(ContainerFilter(label="tier=db"))
    assert [c.id for c in only_remote.items] == [b]
    assert len(listing.items) == len(listing.items_json)


async def test_full_lifecycle_and_noops(library: Chrontainer, engine: Engine) -> None:
    cid, name = await run_container(engine)
    ch = library.containers
    r = await ch.action(engine.slug, name, "start")
    assert r.changed is False and r.container and r.container.state is ContainerState.RUNNING

    r = await ch.action(engine.slug, name, "pause")
    assert r.changed and r.container and r.container.state is ContainerState.PAUSED
    assert (await ch.action(engine.slug, name, "pause")).changed is False
    r = await ch.action(engine.slug, name, "unpause")
    assert r.changed and r.container and r.container.state is ContainerState.RUNNING
    assert (await ch.action(engine.slug, name, "unpause")).changed is False

    r = await ch.action(engine.slug, name, "stop", timeout=1)
    assert r.changed and r.container and r.container.state is ContainerState.EXITED
    # read-your-writes: the list shows what the action returned
    listing = await ch.list(ContainerFilter(host=engine.slug, name=name))
    assert [c.state for c in listing.items] == [ContainerState.EXITED]
    assert (await ch.action(engine.slug, name, "stop")).changed is False
    for impossible in ("pause", "unpause", "kill"):
        with pytest.raises(Conflict):
            await ch.action(engine.slug, name, impossible)

    r = await ch.action(engine.slug, cid, "start")
    assert r.changed and r.container and r.container.state is ContainerState.RUNNING
    started = r.container.started_at
    r = await ch.action(engine.slug, cid[:12], "restart", timeout=1)
    assert r.changed and r.container and r.container.started_at and started
    assert r.container.started_at > started

    with pytest.raises(Conflict):
        await ch.action(engine.slug, name, "remove")
    new_name = unique("renamed")
    r = await ch.action(engine.slug, name, "rename", name=new_name)
    assert r.changed and r.container and r.container.name == new_name
    assert (await ch.action(engine.slug, new_name, "rename", name=new_name)).changed is False

    r = await ch.action(engine.slug, new_name, "kill", signal="KILL")
    assert r.changed
    await wait_for(
        lambda: _state_is(ch, engine.slug, new_name, ContainerState.EXITED), what="kill"
    )
    r = await ch.action(engine.slug, new_name, "remove", volumes=True)
    assert r.changed and r.container is None
    with pytest.raises(NotFound):
        await ch.get(engine.slug, new_name)


async def _state_is(ch: object, host: str, ref: str, state: ContainerState) -> bool:
    from chrontainer_core import ContainerService

    assert isinstance(ch, ContainerService)
    c = await ch.get(host, ref)
    if c.state is not state:
        # library mode: the cache is refreshed on demand
        await ch.list(ContainerFilter(host=host))
        c = await ch.get(host, ref)
    return c.state is state


async def test_force_remove_running(library: Chrontainer, local_engine: Engine) -> None:
    _, name = await run_container(local_engine)
    r = await library.containers.action("local", name, "remove", force=True)
    assert r.changed and r.container is None
    assert await docker(local_engine, "ps", "-aq", "--filter", f"name=^{name}$") == ""


async def test_rename_to_taken_name_conflicts(library: Chrontainer, local_engine: Engine) -> None:
    _, a = await run_container(local_engine)
    _, b = await run_container(local_engine)
    with pytest.raises(Conflict):
        await library.containers.action("local", a, "rename", name=b)
    with pytest.raises(InvalidInput) as err:
        await library.containers.action("local", a, "rename", name="bad name!")
    assert err.value.field == "name"


async def test_errors_unknown_host_container_action(library: Chrontainer) -> None:
    with pytest.raises(NotFound):
        await library.containers.get("nope", "x")
    with pytest.raises(NotFound):
        await library.containers.action("local", "no-such-container-xyz", "start")
    with pytest.raises(InvalidInput):
        await library.containers.action("local", "whatever", "explode")


async def test_busy_when_an_action_holds_the_lock(
    library: Chrontainer, local_engine: Engine
) -> None:
    _, name = await run_container(local_engine, "sh", "-c", "trap '' TERM; sleep 3600")
    # stop with a grace period keeps the lock while the engine waits for the container
    slow = asyncio.create_task(library.containers.action("local", name, "stop", timeout=3))
    await asyncio.sleep(0.5)
    with pytest.raises(Busy):
        await library.containers.action("local", name, "restart")
    r = await slow
    assert r.changed


def test_ambiguous_prefix_is_a_conflict() -> None:
    from datetime import UTC, datetime

    from chrontainer_core import Container

    def c(cid: str, name: str) -> Container:
        return Container(host="h", id=cid, name=name, key=name, image="i", image_id="x",
                         command="", created=datetime.now(UTC), state=ContainerState.RUNNING)

    pool = [c("abcdef012345" + "0" * 52, "one"), c("abcdef012345" + "1" * 52, "two")]
    with pytest.raises(AmbiguousRef) as err:
        resolve_ref(pool, "abcdef012345")
    assert {m["name"] for m in err.value.details["matches"]} == {"one", "two"}
    assert resolve_ref(pool, "abcdef0123451") is pool[1]
    assert resolve_ref(pool, "two") is pool[1]
    # short prefixes never address a container
    assert resolve_ref(pool, "abcdef") is None


async def test_logs_keep_streams_apart(library: Chrontainer, engine: Engine) -> None:
    _, name = await run_container(
        engine, "sh", "-c", "echo out-1; echo err-1 >&2; echo out-2; sleep 3600"
    )
    async def lines() -> list[tuple[LogStream, str]]:
        it = await library.containers.logs(engine.slug, name, tail=None, timestamps=True)
        return [(r.stream, r.line) async for r in it]

    await wait_for(lambda: _count(lines, 3), what="3 log lines")
    got = await lines()
    assert (LogStream.STDOUT, "out-1") in got and (LogStream.STDOUT, "out-2") in got
    assert (LogStream.STDERR, "err-1") in got
    it = await library.containers.logs(engine.slug, name, tail=1, timestamps=True)
    records = [r async for r in it]
    assert len(records) == 1 and records[0].t is not None


async def _count(fn, n: int) -> bool:  # type: ignore[no-untyped-def]
    return len(await fn()) >= n


async def test_tty_container_logs(library: Chrontainer, local_engine: Engine) -> None:
    _, name = await run_container(local_engine, "sh", "-c", "echo tty-line; sleep 3600",
                                  options=("-t",))
    async def lines() -> list[str]:
        it = await library.containers.logs("local", name, tail=None)
        return [r.line async for r in it]

    await wait_for(lambda: _count(lines, 1), what="tty log line")
    assert "tty-line" in await lines()


async def test_logs_follow_ends_when_closed(library: Chrontainer, local_engine: Engine) -> None:
    _, name = await run_container(
        local_engine, "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done"
    )
    it = await library.containers.logs("local", name, tail=0, follow=True)
    got = []
    async for record in it:
        got.append(record.line)
        if len(got) == 3:
            break
    await it.aclose()  # type: ignore[attr-defined]
    assert got[0].startswith("tick ")


async def test_stats_and_top(library: Chrontainer, engine: Engine) -> None:
    _, name = await run_container(engine)
    stats = await library.containers.stats(engine.slug, name)
    assert stats.memory_used > 0 and stats.memory_limit >= stats.memory_used
    assert 0 <= stats.memory_percent <= 100 and stats.pids >= 1
    assert stats.cpu_percent >= 0
    top = await library.containers.top(engine.slug, name)
    assert "PID" in top.titles
    assert any("sleep" in " ".join(p) for p in top.processes)
    await library.containers.action(engine.slug, name, "stop", timeout=0)
    with pytest.raises(Conflict):
        await library.containers.stats(engine.slug, name)
    with pytest.raises(Conflict):
        await library.containers.top(engine.slug, name)


async def test_inspect_returns_engine_json(library: Chrontainer, local_engine: Engine) -> None:
    cid, name = await run_container(local_engine, options=("-e", "SECRET=x"))
    doc = await library.containers.inspect("local", name)
    assert doc["Id"] == cid and doc["Name"] == f"/{name}"
    assert "SECRET=x" in doc["Config"]["Env"]


async def test_audit_records_actor(library: Chrontainer, local_engine: Engine) -> None:
    from chrontainer_core import Actor

    _, name = await run_container(local_engine)
    actor = Actor(kind=ActorKind.CLI, id="alice", name="alice", source_ip="127.0.0.1")
    await library.containers.action("local", name, "stop", timeout=0, actor=actor)
    with pytest.raises(Conflict):
        await library.containers.action("local", name, "pause", actor=actor)
    entries, _ = await library.audit.list(limit=2)
    assert [e.action for e in entries] == ["container.pause", "container.stop"]
    assert entries[0].result == "error" and entries[1].result == "ok"
    assert entries[1].actor.id == "alice" and entries[1].actor.kind is ActorKind.CLI
    assert entries[1].target == f"local/{name}"


async def test_bulk_with_one_failing_item(library: Chrontainer, engine: Engine) -> None:
    from chrontainer_core import BulkTarget

    _, a = await run_container(engine)
    _, b = await run_container(engine, start=False)
    items = await library.containers.bulk(
        "pause",
        [BulkTarget(host=engine.slug, ref=a), BulkTarget(host=engine.slug, ref=b),
         BulkTarget(host=engine.slug, ref="missing-one")],
    )
    assert [(i.ok, i.changed) for i in items[:1]] == [(True, True)]
    assert items[1].ok is False and items[1].error and items[1].error["code"] == "conflict"
    assert items[2].ok is False and items[2].error and items[2].error["code"] == "not_found"
