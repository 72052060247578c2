"""Tags and web-UI links over HTTP, against the real engines: /api/v1/tags, a container's
tags and link, their place in the container lists, recreation, renames, roles and key scopes."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_core.actor import ActorKind
from chrontainer_core.bus import ContainerMetaChanged
from chrontainer_server.auth.apikeys import KeyScope
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.service import AUTH

from ..http import core_of, error_of, ok
from ..live import Engine, docker, run_container, unique, wait_for

pytestmark = pytest.mark.live

V1 = "/api/v1"




async def key_for(api: TestClient, role: Role, scope: KeyScope | None = None) -> dict[str, str]:
    """Headers of an API key of a new account with ``role`` (and the key's ``scope``)."""
    auth = api.app[AUTH]
    user = await auth.users.create(unique(role.value), "a-long-test-password", role)
    secret, _ = await auth.apikeys.create(user.id, name="tests", role_ceiling=role, scope=scope)
    return {"Authorization": f"Bearer {secret}"}



async def cached(api: TestClient, host: str, name: str) -> None:
    await wait_for(lambda: any(c.name == name for c in core_of(api).hosts.get(host).containers()),
                   what=f"{host}/{name} in the cache")


async def item(api: TestClient, host: str, name: str, **query: str) -> dict[str, Any]:
    body = await ok(await api.get(f"{V1}/containers", params={"host": host, **query}))
    [found] = [c for c in body["items"] if c["name"] == name]
    return found  # type: ignore[no-any-return]


async def tag_names(api: TestClient, host: str, ref: str) -> list[str]:
    detail = await ok(await api.get(f"{V1}/hosts/{host}/containers/{ref}"))
    return [t["name"] for t in detail["tags"]]


async def test_tag_crud_and_bad_input(api: TestClient) -> None:
    assert await ok(await api.get(f"{V1}/tags")) == {"items": [], "total": 0}
    media = await ok(await api.post(f"{V1}/tags", json={"name": " Media ", "colour": "#1E88E5"}),
                     201)
    assert media == {"id": media["id"], "name": "Media", "colour": "#1e88e5"}
    web = await ok(await api.post(f"{V1}/tags", json={"name": "web", "colour": "#00aa00"}), 201)

    err = await error_of(await api.post(f"{V1}/tags", json={"name": "MEDIA",
                                                             "colour": "#000000"}), 409)
    assert err["code"] == "conflict" and err["details"]["field"] == "name"
    for body, field in (
        ({"name": "x", "colour": "blue"}, "colour"),
        ({"name": "x", "colour": "#12345"}, "colour"),
        ({"name": "", "colour": "#000000"}, "name"),
        ({"name": "   ", "colour": "#000000"}, "name"),
        ({"name": "x" * 65, "colour": "#000000"}, "name"),
        ({"name": "bell\x07", "colour": "#000000"}, "name"),
        ({"name": "x"}, "colour"),
        ({"name": "x", "colour": "#000000", "extra": 1}, "extra"),
    ):
        err = await error_of(await api.post(f"{V1}/tags", json=body), 400)
        assert err["code"] == "invalid_input" and err["details"]["field"] == field, body
    url = f"{V1}/tags/{web['id']}"
    await error_of(await api.patch(url, json={}), 400)
    await error_of(await api.patch(url, json={"colour": "#zzzzzz"}), 400)
    await error_of(await api.patch(url, json={"name": "media"}), 409)
    await error_of(await api.patch(f"{V1}/tags/999999", json={"colour": "#000000"}), 404)
    await error_of(await api.patch(f"{V1}/tags/0", json={"colour": "#000000"}), 400)
    await error_of(await api.delete(f"{V1}/tags/999999"), 404)
    listing = await ok(await api.get(f"{V1}/tags"))
    assert listing["items"] == [{**media, "containers": 0}, {**web, "containers": 0}]

    patched = await ok(await api.patch(url, json={"name": "apps", "colour": "#ABCDEF"}))
    assert patched == {"id": web["id"], "name": "apps", "colour": "#abcdef"}
    await ok(await api.delete(f"{V1}/tags/{media['id']}"), 204)
    assert [t["name"] for t in (await ok(await api.get(f"{V1}/tags")))["items"]] == ["apps"]

    entries, _ = await core_of(api).audit.list(limit=100)
    writes = [(e.action, e.result) for e in entries if e.action.startswith("tag.")]
    assert writes.count(("tag.create", "ok")) == 2 and ("tag.update", "ok") in writes
    assert ("tag.delete", "ok") in writes and ("tag.create", "error") in writes
    assert all(e.actor.kind is ActorKind.API_KEY for e in entries if e.action.startswith("tag."))


async def test_tags_and_links_on_both_engines(api: TestClient, local_engine: Engine,
                                              remote_engine: Engine) -> None:
    db = await ok(await api.post(f"{V1}/tags", json={"name": "db", "colour": "#aa0000"}), 201)
    app = await ok(await api.post(f"{V1}/tags", json={"name": "app", "colour": "#00aa00"}), 201)
    _, local = await run_container(local_engine)
    _, remote = await run_container(remote_engine)
    _, other = await run_container(local_engine)
    for host, name in (("local", local), ("remote", remote), ("local", other)):
        await cached(api, host, name)
    one = f"{V1}/hosts/local/containers/{local}"

    with core_of(api).bus.subscribe(["container.meta"]) as sub:
        meta = await ok(await api.put(f"{one}/tags", json={"tags": [db["id"], app["id"]]}))
        event = await sub.get()
    assert isinstance(event, ContainerMetaChanged) and (event.host, event.key) == ("local", local)
    assert meta == {"host": "local", "key": local, "web_url": None,
                    "tags": [{k: app[k] for k in ("id", "name", "colour")},
                             {k: db[k] for k in ("id", "name", "colour")}]}
    meta = await ok(await api.put(f"{one}/link", json={"url": "https://app.example:8443/ui"}))
    assert meta["web_url"] == "https://app.example:8443/ui" and len(meta["tags"]) == 2
    await ok(await api.put(f"{V1}/hosts/remote/containers/{remote}/tags",
                           json={"tags": [db["id"]]}))
    await ok(await api.put(f"{V1}/hosts/remote/containers/{remote}/link",
                           json={"url": "http://10.0.0.5:9000"}))

    # Bad input: a clear 4xx, and nothing changed.
    for body in ({"url": "javascript:alert(1)"}, {"url": "data:text/html,x"},
                 {"url": "ftp://files/"}, {"url": "http://"}, {"url": "https://a b/"},
                 {"url": "http://u:p@host/"}, {"url": "http://x/" + "a" * 2048}, {}):
        err = await error_of(await api.put(f"{one}/link", json=body), 400)
        assert err["details"]["field"] == "url", body
    for body in ({"tags": [0]}, {"tags": ["1"]}, {"tags": [True]}, {"tags": None}, {}):
        await error_of(await api.put(f"{one}/tags", json=body), 400)
    err = await error_of(await api.put(f"{one}/tags", json={"tags": [db["id"], 999999]}), 404)
    assert err["details"]["field"] == "tags"
    await error_of(await api.put(f"{V1}/hosts/local/containers/{unique('absent')}/tags",
                                 json={"tags": []}), 404)
    await error_of(await api.put(f"{V1}/hosts/nowhere/containers/{local}/link",
                                 json={"url": None}), 404)

    # The lists and the detail show them.
    listed = await item(api, "local", local)
    assert [t["name"] for t in listed["tags"]] == ["app", "db"]
    assert listed["web_url"] == "https://app.example:8443/ui"
    assert (await item(api, "local", other))["tags"] == []
    assert (await item(api, "local", other))["web_url"] is None
    assert (await item(api, "remote", remote))["web_url"] == "http://10.0.0.5:9000"
    per_host = await ok(await api.get(f"{V1}/hosts/remote/containers", params={"tag": "db"}))
    assert [c["name"] for c in per_host["items"]] == [remote]
    detail = await ok(await api.get(one))
    assert detail["tags"] == listed["tags"] and detail["web_url"] == listed["web_url"]

    # ?tag= filters by name, ignoring case; an unknown tag matches nothing.
    tagged = await ok(await api.get(f"{V1}/containers", params={"tag": "DB"}))
    assert {(c["host"], c["name"]) for c in tagged["items"]} == {("local", local),
                                                                  ("remote", remote)}
    assert tagged["total"] == 2
    tagged = await ok(await api.get(f"{V1}/containers", params={"tag": "app"}))
    assert [c["name"] for c in tagged["items"]] == [local]
    assert (await ok(await api.get(f"{V1}/containers", params={"tag": "none"})))["items"] == []
    await error_of(await api.get(f"{V1}/containers", params={"tag": ""}), 400)
    counts = {t["name"]: t["containers"] for t in (await ok(await api.get(f"{V1}/tags")))["items"]}
    assert counts == {"app": 1, "db": 2}

    # Deleting a tag removes it from every container.
    await ok(await api.delete(f"{V1}/tags/{db['id']}"), 204)
    assert await tag_names(api, "local", local) == ["app"]
    assert await tag_names(api, "remote", remote) == []
    assert (await ok(await api.get(f"{V1}/containers", params={"tag": "db"})))["items"] == []

    # Clearing the link and the tags.
    assert (await ok(await api.put(f"{one}/link", json={"url": None})))["web_url"] is None
    assert (await ok(await api.put(f"{one}/tags", json={"tags": []})))["tags"] == []

    entries, _ = await core_of(api).audit.list(limit=200, target=f"local/{local}")
    actions = [(e.action, e.result) for e in entries]
    assert actions.count(("container.set_tags", "ok")) == 2
    assert actions.count(("container.set_link", "ok")) == 2
    assert ("container.set_tags", "error") in actions  # the unknown tag id


async def test_recreation_keeps_tags_and_link(api: TestClient, local_engine: Engine) -> None:
    tag = await ok(await api.post(f"{V1}/tags", json={"name": "keep", "colour": "#123456"}), 201)
    cid, name = await run_container(local_engine)
    await cached(api, "local", name)
    one = f"{V1}/hosts/local/containers/{name}"
    await ok(await api.put(f"{one}/tags", json={"tags": [tag["id"]]}))
    await ok(await api.put(f"{one}/link", json={"url": "http://keep.example/"}))

    await docker(local_engine, "rm", "-f", name)
    await wait_for(lambda: all(c.name != name for c in core_of(api).hosts.get("local")
                               .containers()), what="the removal in the cache")
    new_id, _ = await run_container(local_engine, name=name)
    assert new_id != cid
    await cached(api, "local", name)
    found = await item(api, "local", name)
    assert found["id"] == new_id and [t["name"] for t in found["tags"]] == ["keep"]
    assert found["web_url"] == "http://keep.example/"


@pytest.mark.parametrize("how", ["api", "cli"])
async def test_rename_carries_tags_and_link(api: TestClient, local_engine: Engine,
                                            how: str) -> None:
    tag = await ok(await api.post(f"{V1}/tags", json={"name": "moves", "colour": "#445566"}),
                   201)
    _, name = await run_container(local_engine)
    await cached(api, "local", name)
    new = name + "-new"
    one = f"{V1}/hosts/local/containers/{name}"
    await ok(await api.put(f"{one}/tags", json={"tags": [tag["id"]]}))
    await ok(await api.put(f"{one}/link", json={"url": "http://moves.example/"}))
    if how == "api":
        await ok(await api.post(f"{one}/rename", json={"name": new}))
    else:
        await docker(local_engine, "rename", name, new)

    async def moved() -> bool:
        resp = await api.get(f"{V1}/hosts/local/containers/{new}")
        if resp.status != 200:
            return False
        body = await resp.json()
        return [t["name"] for t in body["tags"]] == ["moves"]

    await wait_for(moved, timeout=20, what="the tags on the renamed container")
    assert (await item(api, "local", new))["web_url"] == "http://moves.example/"
    tagged = await ok(await api.get(f"{V1}/containers", params={"tag": "moves"}))
    assert [c["name"] for c in tagged["items"]] == [new]
    assert core_of(api).tags.meta("local", name).web_url is None  # type: ignore[union-attr]


async def test_viewers_read_and_operators_write(api: TestClient, local_engine: Engine) -> None:
    tag = await ok(await api.post(f"{V1}/tags", json={"name": "seen", "colour": "#010203"}), 201)
    _, name = await run_container(local_engine)
    await cached(api, "local", name)
    one = f"{V1}/hosts/local/containers/{name}"
    await ok(await api.put(f"{one}/tags", json={"tags": [tag["id"]]}))

    viewer = await key_for(api, Role.VIEWER)
    listing = await ok(await api.get(f"{V1}/tags", headers=viewer))
    assert [t["name"] for t in listing["items"]] == ["seen"]
    found = await ok(await api.get(f"{V1}/containers", params={"tag": "seen"}, headers=viewer))
    assert [c["name"] for c in found["items"]] == [name]
    for method, url, body in (
        ("POST", f"{V1}/tags", {"name": "nope", "colour": "#000000"}),
        ("PATCH", f"{V1}/tags/{tag['id']}", {"colour": "#000000"}),
        ("DELETE", f"{V1}/tags/{tag['id']}", None),
        ("PUT", f"{one}/tags", {"tags": []}),
        ("PUT", f"{one}/link", {"url": "http://x/"}),
    ):
        err = await error_of(await api.request(method, url, json=body, headers=viewer), 403)
        assert err["code"] == "forbidden", (method, url)
    # Nothing changed.
    assert (await ok(await api.get(f"{V1}/tags")))["items"] == [{**tag, "containers": 1}]
    assert await tag_names(api, "local", name) == ["seen"]

    operator = await key_for(api, Role.OPERATOR)
    await ok(await api.put(f"{one}/link", json={"url": "http://op.example/"}, headers=operator))
    await ok(await api.post(f"{V1}/tags", json={"name": "op", "colour": "#0000ff"},
                            headers=operator), 201)


async def test_scoped_keys_tag_only_their_containers(api: TestClient, local_engine: Engine,
                                                     remote_engine: Engine) -> None:
    _, mine = await run_container(local_engine)
    _, theirs = await run_container(remote_engine)
    await cached(api, "local", mine)
    await cached(api, "remote", theirs)
    shared = await ok(await api.post(f"{V1}/tags", json={"name": "shared", "colour": "#111111"}),
                      201)
    await ok(await api.put(f"{V1}/hosts/remote/containers/{theirs}/tags",
                           json={"tags": [shared["id"]]}))
    scoped = await key_for(api, Role.OPERATOR, KeyScope(containers=(f"local/{mine}",)))

    own = await ok(await api.post(f"{V1}/tags", json={"name": "own", "colour": "#222222"},
                                  headers=scoped), 201)
    await ok(await api.put(f"{V1}/hosts/local/containers/{mine}/tags",
                           json={"tags": [own["id"], shared["id"]]}, headers=scoped))
    await ok(await api.put(f"{V1}/hosts/local/containers/{mine}/link",
                           json={"url": "http://mine.example/"}, headers=scoped))
    await error_of(await api.put(f"{V1}/hosts/remote/containers/{theirs}/tags",
                                 json={"tags": []}, headers=scoped), 403)
    await error_of(await api.put(f"{V1}/hosts/remote/containers/{theirs}/link",
                                 json={"url": None}, headers=scoped), 403)
    # A tag also carried outside the key's scope is not the key's to rename or delete.
    await error_of(await api.patch(f"{V1}/tags/{shared['id']}", json={"name": "mine now"},
                                   headers=scoped), 403)
    await error_of(await api.delete(f"{V1}/tags/{shared['id']}", headers=scoped), 403)
    await ok(await api.patch(f"{V1}/tags/{own['id']}", json={"colour": "#333333"},
                             headers=scoped))
    # Counts cover only what the key can see.
    counts = {t["name"]: t["containers"]
              for t in (await ok(await api.get(f"{V1}/tags", headers=scoped)))["items"]}
    assert counts == {"own": 1, "shared": 1}
    counts = {t["name"]: t["containers"] for t in (await ok(await api.get(f"{V1}/tags")))["items"]}
    assert counts == {"own": 1, "shared": 2}
    assert await tag_names(api, "remote", theirs) == ["shared"]  # untouched
    assert (await item(api, "remote", theirs))["web_url"] is None
