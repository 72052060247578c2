"""The tag service in a daemon runtime against the real engines: tags and links by container
key, persistence, recreation, renames (through Chrontainer and the docker CLI), the bus, the
audit trail and the container list."""

from __future__ import annotations

import asyncio

import pytest

from chrontainer_core import Chrontainer, ContainerFilter, InvalidInput, NotFound
from chrontainer_core.actor import Actor, ActorKind
from chrontainer_core.bus import ContainerMetaChanged, Subscription
from chrontainer_core.errors import Conflict
from chrontainer_core.tags import TagService

from ..live import Engine, docker, run_container, unique, wait_for

pytestmark = pytest.mark.live

ALICE = Actor(kind=ActorKind.USER, id="1", name="alice")


def tags_of(ch: Chrontainer) -> TagService:
    assert ch.tags is not None
    return ch.tags


async def drain(sub: Subscription) -> list[tuple[str, str]]:
    """The (host, key) of every container.meta event queued so far."""
    seen = []
    while True:
        try:
            event = await asyncio.wait_for(sub.get(), 0.01)
        except TimeoutError:
            return seen
        if isinstance(event, ContainerMetaChanged):
            seen.append((event.host, event.key))


async def listed(ch: Chrontainer, host: str, name: str) -> dict:  # type: ignore[type-arg]
    listing = await ch.containers.list(ContainerFilter(host=host, name=name))
    [doc] = [d for c, d in zip(listing.items, listing.items_json, strict=True) if c.name == name]
    return doc


async def test_tags_crud_validation_and_audit(daemon: Chrontainer) -> None:
    tags = tags_of(daemon)
    media = await tags.create("  Media ", "#1E88E5", actor=ALICE)
    assert (media.name, media.colour) == ("Media", "#1e88e5")
    web = await tags.create("web", "#00aa00", actor=ALICE)
    assert [t.name for t in tags.tags()] == ["Media", "web"]

    with pytest.raises(Conflict):
        await tags.create("MEDIA", "#000000", actor=ALICE)
    with pytest.raises(Conflict):
        await tags.update(web.id, name="media", actor=ALICE)
    for name, colour, field in (("", "#000000", "name"), ("x" * 65, "#000000", "name"),
                                ("bad\x07", "#000000", "name"), ("ok", "red", "colour")):
        with pytest.raises(InvalidInput) as err:
            await tags.create(name, colour, actor=ALICE)
        assert err.value.field == field
    with pytest.raises(NotFound):
        await tags.update(999, colour="#ffffff", actor=ALICE)
    with pytest.raises(NotFound):
        await tags.delete(999, actor=ALICE)
    assert tags.tags() == [media, web]  # nothing changed by the refused calls

    # A case-only rename of its own name is no conflict.
    assert (await tags.update(media.id, name="media", actor=ALICE)).name == "media"
    renamed = await tags.update(web.id, name="apps", colour="#ABCDEF", actor=ALICE)
    assert (renamed.name, renamed.colour) == ("apps", "#abcdef")
    assert [t.name for t in tags.tags()] == ["apps", "media"]
    await tags.delete(media.id, actor=ALICE)
    assert tags.tags() == [renamed]

    entries, _ = await daemon.audit.list(limit=100)
    mine = [(e.action, e.result) for e in entries if e.actor == ALICE]
    assert mine.count(("tag.create", "ok")) == 2
    assert ("tag.create", "error") in mine  # the taken name: tracked as a failed write
    assert ("tag.update", "ok") in mine and ("tag.delete", "ok") in mine
    assert ("tag.delete", "error") in mine  # the unknown id


async def test_tags_and_link_follow_the_key(daemon: Chrontainer, local_engine: Engine,
                                            remote_engine: Engine) -> None:
    tags = tags_of(daemon)
    db_tag = await tags.create("db", "#aa0000", actor=ALICE)
    app_tag = await tags.create("app", "#00aa00", actor=ALICE)
    _, local_name = await run_container(local_engine)
    _, remote_name = await run_container(remote_engine)

    with daemon.bus.subscribe(["container.meta"]) as sub:
        meta = await tags.set_tags("local", local_name, [db_tag.id, app_tag.id, db_tag.id],
                                   actor=ALICE)
        assert [t.name for t in meta.tags] == ["app", "db"] and meta.key == local_name
        meta = await tags.set_link("local", local_name, "http://127.0.0.1:8080/", actor=ALICE)
        assert meta.web_url == "http://127.0.0.1:8080/"
        await tags.set_tags("remote", remote_name, [db_tag.id], actor=ALICE)
        assert await drain(sub) == [("local", local_name), ("local", local_name),
                                    ("remote", remote_name)]
        # Setting the same again changes nothing, and tells nobody.
        await tags.set_tags("local", local_name, [app_tag.id, db_tag.id], actor=ALICE)
        assert await drain(sub) == []

    # Bad input: clear errors, nothing changed.
    with pytest.raises(NotFound):
        await tags.set_tags("local", local_name, [db_tag.id, 424242], actor=ALICE)
    with pytest.raises(NotFound):
        await tags.set_tags("local", unique("absent"), [db_tag.id], actor=ALICE)
    with pytest.raises(NotFound):
        await tags.set_link("nowhere", local_name, "http://x/", actor=ALICE)
    for url in ("javascript:alert(1)", "data:text/html,hi", "ftp://x/"):
        with pytest.raises(InvalidInput):
            await tags.set_link("local", local_name, url, actor=ALICE)
    assert [t.name for t in tags.meta("local", local_name).tags] == ["app", "db"]
    assert tags.meta("local", local_name).web_url == "http://127.0.0.1:8080/"

    doc = await listed(daemon, "local", local_name)
    assert [t["name"] for t in doc["tags"]] == ["app", "db"]
    assert doc["web_url"] == "http://127.0.0.1:8080/"
    assert (await listed(daemon, "remote", remote_name))["tags"] == [
        {"id": db_tag.id, "name": "db", "colour": "#aa0000"}]
    tagged = await daemon.containers.list(ContainerFilter(tag="DB"))
    assert {(c.host, c.name) for c in tagged.items} == {("local", local_name),
                                                         ("remote", remote_name)}
    assert (await daemon.containers.list(ContainerFilter(tag="app"))).items[0].name == local_name
    assert (await daemon.containers.list(ContainerFilter(tag="nope"))).items == []

    # Recreation: same name, new container, same key: the tags and link are still there.
    await docker(local_engine, "rm", "-f", local_name)
    await wait_for(lambda: all(c.name != local_name
                               for c in daemon.hosts.get("local").containers()), what="rm")
    await run_container(local_engine, name=local_name)
    await wait_for(lambda: any(c.name == local_name
                               for c in daemon.hosts.get("local").containers()), what="run")
    doc = await listed(daemon, "local", local_name)
    assert [t["name"] for t in doc["tags"]] == ["app", "db"]
    assert doc["web_url"] == "http://127.0.0.1:8080/"

    # Deleting a tag removes it everywhere and tells every key that carried it.
    with daemon.bus.subscribe(["container.meta"]) as sub:
        await tags.delete(db_tag.id, actor=ALICE)
        assert sorted(await drain(sub)) == sorted([("local", local_name),
                                                   ("remote", remote_name)])
    assert [t.name for t in tags.meta("local", local_name).tags] == ["app"]
    assert tags.meta("remote", remote_name).tags == ()
    assert tags.meta("remote", remote_name).web_url is None

    # Clearing.
    await tags.set_tags("local", local_name, [], actor=ALICE)
    await tags.set_link("local", local_name, None, actor=ALICE)
    assert tags.meta("local", local_name).tags == () and tags.keys_tagged("app") == frozenset()

    entries, _ = await daemon.audit.list(limit=100, target=f"local/{local_name}")
    assert {e.action for e in entries} >= {"container.set_tags", "container.set_link"}


async def test_persisted_and_loaded_again(daemon: Chrontainer, daemon_config,  # type: ignore[no-untyped-def]
                                          local_engine: Engine) -> None:
    tags = tags_of(daemon)
    tag = await tags.create("keep", "#123456", actor=ALICE)
    _, name = await run_container(local_engine)
    await tags.set_tags("local", name, [tag.id], actor=ALICE)
    await tags.set_link("local", name, "https://keep.example/", actor=ALICE)
    # A second service on the same database (as after a restart) reads everything back.
    assert daemon.db is not None
    fresh = TagService(daemon.db, audit=daemon.audit, bus=daemon.bus,
                       resolve=daemon.containers.get)
    await fresh.load()
    assert fresh.tags() == [tag]
    assert fresh.meta("local", name) == tags.meta("local", name)
    assert fresh.meta("local", name).web_url == "https://keep.example/"


@pytest.mark.parametrize("how", ["chrontainer", "cli"])
async def test_a_rename_carries_tags_and_link(daemon: Chrontainer, local_engine: Engine,
                                              how: str) -> None:
    tags = tags_of(daemon)
    tag = await tags.create("moving", "#654321", actor=ALICE)
    _, name = await run_container(local_engine)
    new_name = name + "-renamed"
    await tags.set_tags("local", name, [tag.id], actor=ALICE)
    await tags.set_link("local", name, "http://moving.example/", actor=ALICE)
    with daemon.bus.subscribe(["container.meta"]) as sub:
        if how == "chrontainer":
            await daemon.containers.action("local", name, "rename", name=new_name, actor=ALICE)
        else:
            await docker(local_engine, "rename", name, new_name)
        await wait_for(lambda: tags.meta("local", new_name).tags == (tag,), timeout=20,
                       what="the tags to move to the new key")
        assert tags.meta("local", new_name).web_url == "http://moving.example/"
        assert tags.meta("local", name).tags == () and tags.meta("local", name).web_url is None
        seen: list[tuple[str, str]] = []

        async def both_told() -> bool:
            seen.extend(await drain(sub))
            return len(seen) >= 2

        await wait_for(both_told, what="container.meta events")
        assert sorted(seen) == sorted([("local", name), ("local", new_name)])
    doc = await listed(daemon, "local", new_name)
    assert [t["name"] for t in doc["tags"]] == ["moving"]
    entries, _ = await daemon.audit.list(action="container.move_meta")
    assert [(e.target, e.actor.kind) for e in entries] == [(f"local/{new_name}",
                                                             ActorKind.SYSTEM)]


async def test_library_mode_keeps_no_tags(library: Chrontainer, local_engine: Engine) -> None:
    assert library.tags is None
    _, name = await run_container(local_engine)
    listing = await library.containers.list(ContainerFilter(host="local", name=name))
    [doc] = listing.items_json
    assert doc["tags"] == [] and doc["web_url"] is None
    assert (await library.containers.list(ContainerFilter(tag="anything"))).items == []
