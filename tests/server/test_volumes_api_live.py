"""Volumes over HTTP against the real engines: create (201, 409 on a taken name), get, the
cross-host list with filters and sorting, delete refused while a container uses the volume,
prune (restricted to this test's label: the engines are shared), an offline host in the
envelope, roles and key scopes, and bad input (clear 4xx, nothing changed)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.auth.apikeys import KeyScope
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.service import AUTH

from ..http import core_of, error_of, ok
from ..live import TEST_LABEL, Engine, docker, run_container, unique, wait_for

pytestmark = pytest.mark.live

V1 = "/api/v1"
LABELS = {TEST_LABEL: "1"}


async def key_for(api: TestClient, role: Role, scope: KeyScope | None = None) -> dict[str, str]:
    """Headers of an API key of a new account with ``role`` (and the key's ``scope``)."""
    auth = api.app[AUTH]
    user = await auth.users.create(unique(role.value), "a-long-test-password", role)
    secret, _ = await auth.apikeys.create(user.id, name="tests", role_ceiling=role, scope=scope)
    return {"Authorization": f"Bearer {secret}"}


def one(host: str, name: str) -> str:
    return f"{V1}/hosts/{host}/volumes/{name}"


async def listed(api: TestClient, headers: dict[str, str] | None = None,
                 **query: str) -> dict[str, Any]:
    return await ok(await api.get(f"{V1}/volumes", params=query,  # type: ignore[no-any-return]
                                  headers=headers))


async def volume_names(engine: Engine) -> set[str]:
    return set((await docker(engine, "volume", "ls", "-q")).split())


async def test_create_get_list_and_delete(api: TestClient, local_engine: Engine) -> None:
    name, other = unique("ctvapi"), unique("ctvapi")
    created = await ok(await api.post(f"{V1}/hosts/local/volumes", json={
        "name": name, "driver": "local",
        "driver_opts": {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"},
        "labels": {**LABELS, "app": "web"}}), 201)
    assert created["name"] == name and created["host"] == "local"
    assert created["driver"] == "local" and created["anonymous"] is False
    assert created["options"] == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    assert created["labels"] == {**LABELS, "app": "web"}
    assert created["mountpoint"].endswith(f"/{name}/_data") and created["created"].endswith("Z")
    await ok(await api.post(f"{V1}/hosts/local/volumes", json={"name": other,
                                                                "labels": LABELS}), 201)

    err = await error_of(await api.post(f"{V1}/hosts/local/volumes", json={
        "name": name, "labels": {"changed": "1"}}), 409)
    assert err["code"] == "conflict"
    assert (await ok(await api.get(one("local", name))))["labels"] == created["labels"]

    got = await ok(await api.get(one("local", name)))
    assert got["containers"] == [] and "size" in got

    body = await listed(api, name=name.upper())
    assert [v["name"] for v in body["items"]] == [name] and body["total"] == 1
    assert set(body["hosts"]) == {"local", "remote"}
    assert body["hosts"]["local"]["status"] == "online"
    body = await listed(api, name="ctvapi-", host="local", sort="-name")
    names = [v["name"] for v in body["items"]]
    assert names == sorted(names, reverse=True) and {name, other} <= set(names)

    # A stopped container mounting it makes it "in use"; delete is refused, naming it.
    cid, cname = await run_container(local_engine, start=False, options=("-v", f"{name}:/d"))

    async def used() -> bool:
        return (await listed(api, name=name, in_use="true"))["total"] == 1

    await wait_for(used, what="the container cache to see the new container")
    assert (await listed(api, name=name))["items"][0]["containers"] == [cname]
    assert (await listed(api, name=name, in_use="false"))["total"] == 0
    for query in ({}, {"force": "true"}):
        err = await error_of(await api.delete(one("local", name), params=query), 409)
        assert err["message"] == f"volume {name} is in use by {cname}"
        assert err["details"]["containers"] == [cname]
        assert name in await volume_names(local_engine)

    await docker(local_engine, "rm", "-f", cid)

    async def unused() -> bool:
        return (await listed(api, name=name, in_use="false"))["total"] == 1

    await wait_for(unused, what="the container cache to see the removal")
    await ok(await api.delete(one("local", name)), 204)
    await ok(await api.delete(one("local", other)), 204)
    assert not {name, other} & await volume_names(local_engine)
    err = await error_of(await api.get(one("local", name)), 404)
    assert err["code"] == "not_found"
    await error_of(await api.delete(one("local", name)), 404)

    entries, _ = await core_of(api).audit.list(target=f"local/{name}")
    assert [(e.action, e.result) for e in reversed(entries)] == [
        ("volume.create", "ok"), ("volume.create", "error"), ("volume.remove", "error"),
        ("volume.remove", "error"), ("volume.remove", "ok"), ("volume.remove", "error")]


async def test_generated_name_and_prune(api: TestClient, remote_engine: Engine) -> None:
    label = f"chrontainer.test.prune={unique()}"
    key, value = label.split("=")
    labels = {**LABELS, key: value}
    anonymous = await ok(await api.post(f"{V1}/hosts/remote/volumes",
                                        json={"labels": labels}), 201)
    assert anonymous["anonymous"] is True and len(anonymous["name"]) == 64
    named = unique("ctvapi")
    await ok(await api.post(f"{V1}/hosts/remote/volumes",
                            json={"name": named, "labels": labels}), 201)
    everywhere = await listed(api, name=named)
    assert [(v["host"], v["name"]) for v in everywhere["items"]] == [("remote", named)]

    prune = f"{V1}/hosts/remote/volumes/prune"
    result = await ok(await api.post(prune, json={"label": label}))
    assert result == {"host": "remote", "deleted": [anonymous["name"]], "untagged": [],
                      "reclaimed_bytes": 0}
    assert named in await volume_names(remote_engine)
    result = await ok(await api.post(prune, json={"all": True, "label": label}))
    assert result["deleted"] == [named]
    assert not {anonymous["name"], named} & await volume_names(remote_engine)
    entries, _ = await core_of(api).audit.list(action="volume.prune")
    assert [e.target for e in entries[:2]] == ["remote", "remote"]


async def test_bad_input(api: TestClient, local_engine: Engine) -> None:
    create = f"{V1}/hosts/local/volumes"
    name = unique("ctvapi")
    for body, field in (
        ({"name": "bad name"}, "name"),
        ({"name": "-x"}, "name"),
        ({"name": 5}, "name"),
        ({"name": name, "driver": "bad driver"}, "driver"),
        ({"name": name, "driver": "nosuchdriver"}, "driver"),
        ({"name": name, "labels": ["a"]}, "labels"),
        ({"name": name, "labels": {"a": 1}}, "labels.a"),
        ({"name": name, "labels": {"a=b": "1"}}, "labels"),
        ({"name": name, "driver_opts": {"o": "x\ny"}}, "driver_opts.o"),
        ({"name": name, "extra": True}, "extra"),
    ):
        err = await error_of(await api.post(create, json=body), 400)
        assert err["code"] == "invalid_input", body
        assert err["details"]["field"].startswith(field), (body, err)
    err = await error_of(await api.post(create, data=b"{not json",
                                        headers={"Content-Type": "application/json"}), 400)
    assert err["code"] == "invalid_input"
    assert name not in await volume_names(local_engine)

    await error_of(await api.post(f"{V1}/hosts/nope/volumes", json={"name": name}), 404)
    await error_of(await api.get(one("nope", name)), 404)
    await error_of(await api.get(f"{V1}/volumes", params={"host": "nope"}), 404)
    await error_of(await api.get(one("local", name)), 404)
    await error_of(await api.delete(one("local", name)), 404)
    err = await error_of(await api.get(one("local", "bad%20name")), 400)
    assert err["details"]["field"] == "name"
    for query, field in (({"sort": "bogus"}, "sort"), ({"in_use": "maybe"}, "in_use"),
                         ({"host": "Not A Slug"}, "host")):
        err = await error_of(await api.get(f"{V1}/volumes", params=query), 400)
        assert err["details"]["field"] == field
    err = await error_of(await api.delete(one("local", name), params={"force": "perhaps"}), 400)
    assert err["details"]["field"] == "force"
    prune = f"{V1}/hosts/local/volumes/prune"
    for body, field in (({"all": "yes"}, "all"), ({"label": "=x"}, "label"),
                        ({"label": 3}, "label"), ({"what": 1}, "what")):
        err = await error_of(await api.post(prune, json=body), 400)
        assert err["details"]["field"] == field


async def test_roles_and_scopes(api: TestClient, local_engine: Engine,
                                remote_engine: Engine) -> None:
    local_name, remote_name = unique("ctvapi"), unique("ctvapi")
    for host, name in (("local", local_name), ("remote", remote_name)):
        await ok(await api.post(f"{V1}/hosts/{host}/volumes",
                                json={"name": name, "labels": LABELS}), 201)

    viewer = await key_for(api, Role.VIEWER)
    assert (await listed(api, viewer, name="ctvapi-"))["total"] >= 2
    await ok(await api.get(one("local", local_name), headers=viewer))
    for method, url, json in (
        ("POST", f"{V1}/hosts/local/volumes", {"name": unique("ctvapi"), "labels": LABELS}),
        ("DELETE", one("local", local_name), None),
        ("POST", f"{V1}/hosts/local/volumes/prune", {"label": f"ct.none={unique()}"}),
    ):
        err = await error_of(await api.request(method, url, json=json, headers=viewer), 403)
        assert err["code"] in ("forbidden", "permission_denied")
    assert local_name in await volume_names(local_engine)

    remote_only = await key_for(api, Role.OPERATOR, KeyScope(hosts=("remote",)))
    body = await listed(api, remote_only, name="ctvapi-")
    assert {v["host"] for v in body["items"]} == {"remote"} and set(body["hosts"]) == {"remote"}
    await error_of(await api.get(one("local", local_name), headers=remote_only), 403)
    await error_of(await api.delete(one("local", local_name), headers=remote_only), 403)
    await error_of(await api.post(f"{V1}/hosts/local/volumes", headers=remote_only,
                                  json={"name": unique("ctvapi"), "labels": LABELS}), 403)
    assert local_name in await volume_names(local_engine)
    await ok(await api.delete(one("remote", remote_name), headers=remote_only), 204)
    assert remote_name not in await volume_names(remote_engine)

    # A key scoped to one container of a host reads the host's volumes but changes none:
    # volumes are shared by all of the host's containers.
    one_container = await key_for(api, Role.OPERATOR, KeyScope(containers=("local/web",)))
    body = await listed(api, one_container, name=local_name)
    assert [v["name"] for v in body["items"]] == [local_name]
    await ok(await api.get(one("local", local_name), headers=one_container))
    await error_of(await api.delete(one("local", local_name), headers=one_container), 403)
    await error_of(await api.post(f"{V1}/hosts/local/volumes/prune", headers=one_container,
                                  json={"label": f"ct.none={unique()}"}), 403)
    assert local_name in await volume_names(local_engine)

    operator = await key_for(api, Role.OPERATOR)
    made = await ok(await api.post(f"{V1}/hosts/local/volumes", headers=operator,
                                   json={"name": unique("ctvapi"), "labels": LABELS}), 201)
    await ok(await api.delete(one("local", made["name"]), headers=operator), 204)
    await ok(await api.delete(one("local", local_name), headers=operator), 204)
    await ok(await api.post(f"{V1}/hosts/local/volumes/prune", headers=operator,
                            json={"label": f"ct.none={unique()}"}))


async def test_offline_host_in_the_envelope(api: TestClient, local_engine: Engine) -> None:
    name = unique("ctvapi")
    await docker(local_engine, "volume", "create", "--label", f"{TEST_LABEL}=1", name)
    await ok(await api.post(f"{V1}/hosts", json={"slug": "dead", "name": "Dead",
                                                 "url": "tcp://127.0.0.1:9"}), 201)
    body = await listed(api, name=name)
    assert [(v["host"], v["name"]) for v in body["items"]] == [("local", name)]
    assert body["hosts"]["dead"]["status"] == "offline" and body["hosts"]["dead"]["error"]
    assert body["hosts"]["local"]["status"] == "online"
    err = await error_of(await api.get(one("dead", name)), 502)
    assert err["code"] == "host_unreachable"
