"""Images over HTTP against the real engines: the cross-host list with filters and sorting,
inspect (redacted for viewers), history, delete and bulk delete (refused while in use),
prune, tag, disk use per repository, the offline Docker Hub search, percent-encoded refs,
roles and key scopes, and bad input (clear 4xx, nothing changed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.auth.apikeys import KeyScope
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.service import AUTH

from ..http import error_of, ok
from ..images import build, container_of, drop, image_ids
from ..live import Engine, docker, unique, wait_for

pytestmark = pytest.mark.live

V1 = "/api/v1"
SECRET = "hunter2-image-secret"


@dataclass(frozen=True)
class Built:
    repo: str
    v1: str  # multi-layer, with ENV SECRET=...
    v2: str  # bigger
    remote: str


@pytest.fixture(scope="module")
async def built(clean_engines: None, local_engine: Engine,
                remote_engine: Engine) -> AsyncIterator[Built]:
    repo = f"{unique('ctapi')}/app"
    token = repo.split("/")[0]
    v1 = await build(local_engine, f"{repo}:v1", f"ENV SECRET={SECRET} PLAIN=1",
                     f"RUN echo {token} > /one", "RUN echo two > /two")
    v2 = await build(local_engine, f"{repo}:v2",
                     f"RUN echo {token} > /one && dd if=/dev/zero of=/big bs=1024 count=200")
    remote = await build(remote_engine, f"{repo}:remote", f"RUN echo {token} > /r")
    try:
        yield Built(repo=repo, v1=v1, v2=v2, remote=remote)
    finally:
        await drop(local_engine, v1, v2)
        await drop(remote_engine, remote)


async def key_for(api: TestClient, role: Role, scope: KeyScope | None = None) -> dict[str, str]:
    """Headers of an API key of a new account with ``role`` (and the key's ``scope``)."""
    auth = api.app[AUTH]
    user = await auth.users.create(unique(role.value), "a-long-test-password", role)
    secret, _ = await auth.apikeys.create(user.id, name="tests", role_ceiling=role, scope=scope)
    return {"Authorization": f"Bearer {secret}"}


def one(host: str, ref: str) -> str:
    """The URL of an image; ``/`` in the ref is percent-encoded as clients must."""
    return f"{V1}/hosts/{host}/images/{quote(ref, safe='')}"


async def listed(api: TestClient, **query: str) -> dict[str, Any]:
    return await ok(await api.get(f"{V1}/images", params=query))  # type: ignore[no-any-return]


async def test_list_filters_sorting_and_bad_input(api: TestClient, built: Built) -> None:
    body = await listed(api, repository=built.repo, sort="-size")
    assert [(i["host"], i["id"]) for i in body["items"]] == [
        ("local", built.v2), ("local", built.v1), ("remote", built.remote)]
    assert body["total"] == 3 and set(body["hosts"]) == {"local", "remote"}
    assert body["hosts"]["local"]["status"] == "online"
    first = body["items"][0]
    assert first["id_short"] == built.v2.removeprefix("sha256:")[:12]
    assert first["tags"] == [f"{built.repo}:v2"] and first["repository"] == built.repo
    assert first["containers"] == [] and first["dangling"] is False
    assert first["created"].endswith("Z")

    local = await listed(api, repository=built.repo, host="local", sort="tag")
    assert [i["id"] for i in local["items"]] == [built.v1, built.v2]
    assert set(local["hosts"]) == {"local"}
    assert [i["id"] for i in (await listed(api, repository=built.repo,
                                           tag="v1"))["items"]] == [built.v1]
    v2_size = first["size"]
    assert [i["id"] for i in (await listed(api, repository=built.repo,
                                           min_size=str(v2_size)))["items"]] == [built.v2]
    assert built.v2 not in [i["id"] for i in (await listed(
        api, repository=built.repo, max_size=str(v2_size - 1)))["items"]]
    assert (await listed(api, repository=built.repo, max_age_days="1"))["total"] == 3
    assert (await listed(api, repository=built.repo, min_age_days="1"))["total"] == 0
    assert (await listed(api, repository=built.repo, dangling="true"))["total"] == 0
    assert (await listed(api, repository=built.repo, dangling="false"))["total"] == 3

    for query, field in (({"sort": "name"}, "sort"), ({"min_size": "-1"}, "min_size"),
                         ({"max_size": "big"}, "max_size"), ({"dangling": "maybe"}, "dangling"),
                         ({"min_age_days": "-2"}, "min_age_days"), ({"host": "Bad!"}, "host")):
        err = await error_of(await api.get(f"{V1}/images", params=query), 400)
        assert err["details"]["field"] == field, query
    err = await error_of(await api.get(f"{V1}/images", params={"host": "nope"}), 404)
    assert err["code"] == "not_found"


async def test_inspect_history_and_percent_encoded_refs(
    api: TestClient, local_engine: Engine, built: Built
) -> None:
    team = f"127.0.0.1:5999/{built.repo}"
    await docker(local_engine, "tag", built.v1, f"{team}:v1")
    try:
        doc = await ok(await api.get(one("local", f"{team}:v1")))
        assert doc["Id"] == built.v1 and f"SECRET={SECRET}" in doc["Config"]["Env"]
        # The raw path really carries %2F (not a decoded '/', which would route elsewhere).
        assert "%2F" in one("local", f"{team}:v1")
        for ref in (built.v1, built.v1.removeprefix("sha256:")[:12], f"{built.repo}:v1"):
            assert (await ok(await api.get(one("local", ref))))["Id"] == built.v1
        history = (await ok(await api.get(one("local", f"{team}:v1") + "/history")))["items"]
        assert history[0]["id"] == built.v1
        assert any("echo two > /two" in h["created_by"] for h in history)
        assert len(history) >= 4  # ENV, two RUNs, LABEL ... over the imported base

        removed = await ok(await api.delete(one("local", f"{team}:v1")))
        assert removed == {"host": "local", "ref": f"{team}:v1", "untagged": [f"{team}:v1"],
                           "deleted": []}
        assert built.v1 in await image_ids(local_engine)  # only the extra tag went
        await error_of(await api.get(one("local", f"{team}:v1")), 404)
    finally:
        await drop(local_engine, f"{team}:v1")
    for url in (one("local", f"{built.repo}:v9"), one("nope", f"{built.repo}:v1"),
                one("local", "sha256:" + "0" * 64)):
        assert (await error_of(await api.get(url), 404))["code"] == "not_found"
        await error_of(await api.get(url + "/history"), 404)
    err = await error_of(await api.get(one("local", "Not A Ref")), 400)
    assert err["details"]["field"] == "ref"


async def test_delete_in_use_is_refused_with_names(api: TestClient, local_engine: Engine,
                                                   built: Built) -> None:
    tag = f"{built.repo}:inuse"
    image_id = await build(local_engine, tag, f"RUN echo {unique()} > /u")
    running = ""
    try:
        running = await container_of(local_engine, tag, running=True)
        await wait_for(lambda: _named(api, tag, running), what="the container in the list")
        for force in ("false", "true"):
            err = await error_of(await api.delete(one("local", tag), params={"force": force}),
                                 409)
            assert err["code"] == "conflict" and err["details"]["containers"] == [running]
            assert running in err["message"]
        assert image_id in await image_ids(local_engine)
        await error_of(await api.delete(one("local", tag), params={"force": "perhaps"}), 400)
    finally:
        if running:
            await docker(local_engine, "rm", "-f", running)
        await drop(local_engine, tag)


async def _named(api: TestClient, tag: str, name: str) -> bool:
    repo, _, label = tag.rpartition(":")
    body = await listed(api, repository=repo, tag=label, host="local")
    return bool(body["items"]) and body["items"][0]["containers"] == [name]


async def test_bulk_delete(api: TestClient, local_engine: Engine, built: Built) -> None:
    a, b = f"{built.repo}:bulk-a", f"{built.repo}:bulk-b"
    ids = [await build(local_engine, ref, f"RUN echo {unique()} > /b") for ref in (a, b)]
    try:
        for targets in ([], [{"host": "local", "ref": a}] * 101):
            err = await error_of(await api.post(f"{V1}/images/delete",
                                                json={"targets": targets}), 400)
            assert err["details"]["field"] == "targets"
        await error_of(await api.post(f"{V1}/images/delete",
                                      json={"targets": [{"host": "local", "ref": ""}]}), 400)
        assert set(ids) <= await image_ids(local_engine)  # refused requests changed nothing
        body = await ok(await api.post(f"{V1}/images/delete", json={"targets": [
            {"host": "local", "ref": a}, {"host": "local", "ref": f"{built.repo}:gone"},
            {"host": "local", "ref": ids[1]}]}))
        items = body["items"]
        assert [i["ok"] for i in items] == [True, False, True]
        assert items[0]["untagged"] == [a] and ids[0] in items[0]["deleted"]
        assert items[1]["error"]["code"] == "not_found"
        assert not set(ids) & await image_ids(local_engine)
    finally:
        await drop(local_engine, a, b)


async def test_prune_tag_and_disk_usage(api: TestClient, local_engine: Engine,
                                        built: Built) -> None:
    mark = f"ct.prune={unique()}"
    tag = f"{built.repo}:prune"
    old = await build(local_engine, tag, f"RUN echo {unique()} > /p", label=mark)
    new = await build(local_engine, tag, f"RUN echo {unique()} > /p", label=mark)
    target = f"127.0.0.1:5999/{built.repo}"
    try:
        prune = f"{V1}/hosts/local/images/prune"
        await error_of(await api.post(prune, json={"dangling_only": "yes"}), 400)
        await error_of(await api.post(prune, json={"label": "=x"}), 400)
        assert old in await image_ids(local_engine)
        result = await ok(await api.post(prune, json={"dangling_only": True, "label": mark}))
        assert old in result["deleted"] and result["reclaimed_bytes"] > 0
        result = await ok(await api.post(prune, json={"dangling_only": False, "label": mark}))
        assert result["untagged"] == [tag] and new in result["deleted"]
        assert built.v1 in await image_ids(local_engine)

        usage = await ok(await api.get(f"{V1}/hosts/local/images-disk"))
        [mine] = [r for r in usage["repositories"] if r["repository"] == built.repo]
        assert mine["images"] >= 2 and mine["reclaimable"] >= 200 * 1024
        assert 0 < usage["reclaimable"] <= usage["total"]
        await error_of(await api.get(f"{V1}/hosts/nope/images-disk"), 404)

        tagged = await ok(await api.post(one("local", f"{built.repo}:v1") + "/tag",
                                         json={"repository": target, "tag": "v5"}), 201)
        assert tagged["id"] == built.v1 and f"{target}:v5" in tagged["tags"]
        assert tagged["id_short"] == built.v1.removeprefix("sha256:")[:12]
        for body, field in (({"repository": target, "tag": "bad tag"}, "tag"),
                            ({"repository": "UP/per", "tag": "v1"}, "repository"),
                            ({"repository": target}, "tag"),
                            ({"repository": target, "tag": "v1", "x": 1}, "x")):
            err = await error_of(await api.post(one("local", built.v1) + "/tag", json=body),
                                 400)
            assert err["details"]["field"] == field, body
        await error_of(await api.post(one("local", f"{built.repo}:v9") + "/tag",
                                      json={"repository": target, "tag": "v6"}), 404)
        after = await ok(await api.get(one("local", built.v1)))
        assert sorted(after["RepoTags"]) == sorted([f"{built.repo}:v1", f"{target}:v5"])
    finally:
        await drop(local_engine, tag, old, new, f"{target}:v5")


async def test_hub_search_offline(api: TestClient) -> None:
    err = await error_of(await api.get(f"{V1}/images/search", params={"term": "nginx"}), 502)
    assert err["code"] == "registry_unreachable"
    assert err["message"].startswith("Docker Hub is unreachable from host local: ")
    err = await error_of(await api.get(f"{V1}/images/search",
                                       params={"term": "nginx", "host": "remote"}), 502)
    assert "from host remote" in err["message"]
    for query, field in (({}, "term"), ({"term": ""}, "term"),
                         ({"term": "x", "limit": "0"}, "limit"),
                         ({"term": "x", "limit": "101"}, "limit")):
        err = await error_of(await api.get(f"{V1}/images/search", params=query), 400)
        assert err["details"]["field"] == field
    await error_of(await api.get(f"{V1}/images/search",
                                 params={"term": "x", "host": "nope"}), 404)


async def test_roles_and_scopes(api: TestClient, local_engine: Engine, built: Built) -> None:
    viewer = await key_for(api, Role.VIEWER)
    body = await ok(await api.get(f"{V1}/images", params={"repository": built.repo},
                                  headers=viewer))
    assert body["total"] == 3
    doc = await ok(await api.get(one("local", built.v1), headers=viewer))
    assert "SECRET=" in doc["Config"]["Env"] and "PLAIN=" in doc["Config"]["Env"]
    assert not any(SECRET in e for e in doc["Config"]["Env"])
    assert SECRET not in str(doc.get("ContainerConfig"))
    await ok(await api.get(one("local", built.v1) + "/history", headers=viewer))
    await ok(await api.get(f"{V1}/hosts/local/images-disk", headers=viewer))

    tag = f"{built.repo}:roles"
    image_id = await build(local_engine, tag, f"RUN echo {unique()} > /r")
    try:
        for method, url, json in (
            ("DELETE", one("local", tag), None),
            ("POST", f"{V1}/images/delete", {"targets": [{"host": "local", "ref": tag}]}),
            ("POST", f"{V1}/hosts/local/images/prune", {"label": "ct.none=1"}),
            ("POST", one("local", tag) + "/tag", {"repository": built.repo, "tag": "v8"}),
        ):
            err = await error_of(await api.request(method, url, json=json, headers=viewer), 403)
            assert err["code"] in ("forbidden", "permission_denied")
        assert image_id in await image_ids(local_engine)

        remote_only = await key_for(api, Role.OPERATOR, KeyScope(hosts=("remote",)))
        body = await ok(await api.get(f"{V1}/images", params={"repository": built.repo},
                                      headers=remote_only))
        assert {i["host"] for i in body["items"]} == {"remote"} and set(body["hosts"]) == {
            "remote"}
        await error_of(await api.delete(one("local", tag), headers=remote_only), 403)
        await error_of(await api.post(f"{V1}/images/delete", json={
            "targets": [{"host": "local", "ref": tag}]}, headers=remote_only), 403)
        assert image_id in await image_ids(local_engine)

        operator = await key_for(api, Role.OPERATOR)
        tagged = await ok(await api.post(one("local", tag) + "/tag", headers=operator,
                                         json={"repository": built.repo, "tag": "roles2"}), 201)
        assert f"{built.repo}:roles2" in tagged["tags"]
        await ok(await api.delete(one("local", f"{built.repo}:roles2"), headers=operator))
        removed = await ok(await api.delete(one("local", tag), headers=operator))
        assert image_id in removed["deleted"]
        await ok(await api.post(f"{V1}/hosts/local/images/prune", headers=operator,
                                json={"label": f"ct.none={unique()}"}))
    finally:
        await drop(local_engine, tag, f"{built.repo}:roles2")
