"""Networks over HTTP against the real engines (daemon mode, live container cache): create a
bridge with every setting and read it back in the list and the inspect; connect a container
with a static IP and an alias (checked with ``docker inspect``) and see it in the list,
disconnect it; delete refused while in use and for built-in networks; prune by label; a bad
input table (clear 4xx, nothing changed); roles, key scopes and the audit trail."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.auth.apikeys import KeyScope
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.service import AUTH

from ..http import error_of, ok
from ..live import TEST_LABEL, Engine, docker, run_container, unique

pytestmark = pytest.mark.live

V1 = "/api/v1"


def subnet() -> tuple[str, str]:
    """A /24 unlikely to overlap another test's (``10.X.Y.0/24``) and its ``.0`` prefix."""
    raw = uuid.uuid4().bytes
    prefix = f"10.{100 + raw[0] % 150}.{raw[1]}"
    return f"{prefix}.0/24", prefix


async def key_for(api: TestClient, role: Role, scope: KeyScope | None = None) -> dict[str, str]:
    """Headers of an API key of a new account with ``role`` (and the key's ``scope``)."""
    auth = api.app[AUTH]
    user = await auth.users.create(unique(role.value), "a-long-test-password", role)
    secret, _ = await auth.apikeys.create(user.id, name="tests", role_ceiling=role, scope=scope)
    return {"Authorization": f"Bearer {secret}"}


async def listed(api: TestClient, **query: str) -> dict[str, Any]:
    return await ok(await api.get(f"{V1}/networks", params=query))  # type: ignore[no-any-return]


async def network_names(engine: Engine) -> set[str]:
    return set((await docker(engine, "network", "ls", "--format", "{{.Name}}")).split())


async def create(api: TestClient, host: str = "local", **body: Any) -> dict[str, Any]:
    body.setdefault("labels", {TEST_LABEL: "1"})
    return await ok(await api.post(f"{V1}/hosts/{host}/networks", json=body),  # type: ignore[no-any-return]
                    201)


async def test_create_list_inspect_connect_disconnect_delete(
    api: TestClient, local_engine: Engine
) -> None:
    name, (cidr, prefix) = unique("ctnet"), subnet()
    made = await create(api, name=name, subnet=cidr, gateway=f"{prefix}.1",
                        ip_range=f"{prefix}.64/26", internal=True, attachable=True,
                        labels={TEST_LABEL: "1", "team": "blue"})
    assert (made["name"], made["driver"], made["host"]) == (name, "bridge", "local")
    assert (made["internal"], made["attachable"], made["predefined"]) == (True, True, False)
    assert made["subnets"] == [{"subnet": cidr, "gateway": f"{prefix}.1",
                                "ip_range": f"{prefix}.64/26"}]
    assert made["labels"] == {TEST_LABEL: "1", "team": "blue"}
    assert made["created"].endswith("Z")

    body = await listed(api, name=name)
    assert [n["id"] for n in body["items"]] == [made["id"]] and body["total"] == 1
    assert body["hosts"]["local"]["status"] == "online" and set(body["hosts"]) == {
        "local", "remote"}
    doc = await ok(await api.get(f"{V1}/hosts/local/networks/{made['id'][:12]}"))
    assert doc["Name"] == name and doc["IPAM"]["Config"][0]["IPRange"] == f"{prefix}.64/26"

    cid, cname = await run_container(local_engine)
    try:
        after = await ok(await api.post(
            f"{V1}/hosts/local/networks/{name}/connect",
            json={"container": cname, "aliases": ["cache"], "ipv4_address": f"{prefix}.70"}))
        assert [(m["name"], m["ipv4_address"]) for m in after["containers"]] == [
            (cname, f"{prefix}.70")]
        settings = json.loads(await docker(local_engine, "inspect", cid))[0][
            "NetworkSettings"]["Networks"][name]
        assert settings["IPAMConfig"]["IPv4Address"] == f"{prefix}.70"
        assert "cache" in settings["Aliases"]
        member = (await listed(api, name=name))["items"][0]["containers"]
        assert [(m["container_id"], m["ipv4_address"]) for m in member] == [
            (cid, f"{prefix}.70")]
        assert "cache" in member[0]["aliases"]

        err = await error_of(await api.delete(f"{V1}/hosts/local/networks/{name}"), 409)
        assert err["code"] == "conflict" and err["details"]["containers"] == [cname]
        assert cname in err["message"] and name in await network_names(local_engine)

        after = await ok(await api.post(f"{V1}/hosts/local/networks/{name}/disconnect",
                                        json={"container": cid}))
        assert after["containers"] == []
        networks = json.loads(await docker(local_engine, "inspect", cid))[0][
            "NetworkSettings"]["Networks"]
        assert name not in networks
        assert (await listed(api, name=name))["items"][0]["containers"] == []
        await ok(await api.delete(f"{V1}/hosts/local/networks/{name}"), 204)
        assert name not in await network_names(local_engine)
        await error_of(await api.get(f"{V1}/hosts/local/networks/{name}"), 404)
    finally:
        await docker(local_engine, "network", "rm", name, check=False)

    audit = await ok(await api.get(f"{V1}/audit", params={"limit": "50"}))
    mine = [(e["action"], e["result"]) for e in audit["items"]
            if e["target"] == f"local/{name}"]
    assert mine[::-1] == [("network.create", "ok"), ("network.connect", "ok"),
                          ("network.remove", "error"), ("network.disconnect", "ok"),
                          ("network.remove", "ok")]


async def test_remote_network_and_prune_by_label(api: TestClient,
                                                 remote_engine: Engine) -> None:
    mark = unique("ctprune")
    keep, drop = unique("ctnet"), unique("ctnet")
    await create(api, "remote", name=keep, labels={TEST_LABEL: "1"})
    await create(api, "remote", name=drop, labels={TEST_LABEL: "1", mark: "yes"})
    try:
        body = await listed(api, host="remote", name="ctnet-")
        assert {keep, drop} <= {n["name"] for n in body["items"]}
        assert {n["host"] for n in body["items"]} == {"remote"} and set(body["hosts"]) == {
            "remote"}
        assert [n["name"] for n in (await listed(api, host="remote", driver="null"))[
            "items"]] == ["none"]
        result = await ok(await api.post(f"{V1}/hosts/remote/networks/prune",
                                         json={"label": f"{mark}=yes"}))
        assert result == {"host": "remote", "deleted": [drop], "untagged": [],
                          "reclaimed_bytes": 0}
        names = await network_names(remote_engine)
        assert keep in names and drop not in names
    finally:
        await docker(remote_engine, "network", "rm", keep, drop, check=False)


async def test_bad_input_is_a_clear_4xx_and_changes_nothing(
    api: TestClient, local_engine: Engine
) -> None:
    name, (cidr, prefix) = unique("ctnet"), subnet()
    await create(api, name=name, subnet=cidr)
    cid, cname = await run_container(local_engine)
    try:
        before = await network_names(local_engine)
        fresh = unique("ctnet")
        for body, field in (
            ({"name": fresh, "subnet": "10.1.2.300/24"}, "subnet"),
            ({"name": fresh, "subnet": "10.1.2.3/24"}, "subnet"),
            ({"name": fresh, "subnet": "10.1.2.0/24", "gateway": "10.1.3.1"}, "gateway"),
            ({"name": fresh, "subnet": "10.1.2.0/24", "ip_range": "10.1.0.0/16"}, "ip_range"),
            ({"name": fresh, "gateway": "10.1.3.1"}, "gateway"),
            ({"name": fresh, "parent": "eth0"}, "parent"),
            ({"name": fresh, "driver": "overlay"}, "driver"),
            ({"name": "bad name"}, "name"),
            ({"name": 5}, "name"),
            ({"name": fresh, "internal": "yes"}, "internal"),
            ({"name": fresh, "labels": ["a"]}, "labels"),
            ({"name": fresh, "labels": {"k": 1}}, "labels.k"),
            ({"name": fresh, "colour": "red"}, "colour"),
            ({}, "name"),
        ):
            err = await error_of(await api.post(f"{V1}/hosts/local/networks", json=body), 400)
            assert (err["code"], err["details"]["field"]) == ("invalid_input", field), body
        # Settings only the engine can judge: it refuses them (with 500 and 404) as bad input.
        for body in ({"name": fresh, "driver": "macvlan", "parent": "ctnosuch0"},
                     {"name": fresh, "driver": "ipvlan", "parent": "ctnosuch0.10"},
                     {"name": fresh, "enable_ipv6": True}):
            err = await error_of(await api.post(f"{V1}/hosts/local/networks",
                                                json={**body, "labels": {TEST_LABEL: "1"}}),
                                 400)
            assert err["code"] == "invalid_input", body
        err = await error_of(await api.post(f"{V1}/hosts/local/networks", json={
            "name": name, "labels": {TEST_LABEL: "1"}}), 409)
        assert err["code"] == "conflict"
        await error_of(await api.post(f"{V1}/hosts/nope/networks", json={"name": fresh}), 404)
        assert await network_names(local_engine) == before

        connect = f"{V1}/hosts/local/networks/{name}/connect"
        for body, field in (
            ({"container": cname, "ipv4_address": "192.0.2.5"}, "ipv4_address"),
            ({"container": cname, "ipv4_address": f"{prefix}.5/24"}, "ipv4_address"),
            ({"container": cname, "aliases": "one"}, "aliases"),
            ({"container": cname, "aliases": ["no way"]}, "aliases[0]"),
            ({"container": 7}, "container"),
        ):
            err = await error_of(await api.post(connect, json=body), 400)
            assert err["details"]["field"] == field, body
        err = await error_of(await api.post(connect, json={"container": unique("ctnosuch")}),
                             404)
        assert err["code"] == "not_found"
        await error_of(await api.post(f"{V1}/hosts/local/networks/{unique('ctnosuch')}/connect",
                                      json={"container": cname}), 404)
        await error_of(await api.post(f"{V1}/hosts/local/networks/host/connect",
                                      json={"container": cname}), 409)
        await error_of(await api.post(f"{V1}/hosts/local/networks/{name}/disconnect",
                                      json={"container": cname}), 409)
        networks = json.loads(await docker(local_engine, "inspect", cid))[0][
            "NetworkSettings"]["Networks"]
        assert set(networks) == {"bridge"}

        for builtin in ("bridge", "host", "none"):
            err = await error_of(await api.delete(f"{V1}/hosts/local/networks/{builtin}"), 409)
            assert "built-in" in err["message"]
        await error_of(await api.delete(f"{V1}/hosts/local/networks/{unique('ctnosuch')}"),
                       404)
        err = await error_of(await api.post(f"{V1}/hosts/local/networks/prune",
                                            json={"label": "=x"}), 400)
        assert err["details"]["field"] == "label"
        for query in ({"host": "Bad!"}, {"name": ""}):
            await error_of(await api.get(f"{V1}/networks", params=query), 400)
        await error_of(await api.get(f"{V1}/networks", params={"host": "nope"}), 404)
        assert await network_names(local_engine) == before
    finally:
        await docker(local_engine, "network", "rm", name, check=False)


async def test_roles_and_key_scopes(api: TestClient, local_engine: Engine) -> None:
    name = unique("ctnet")
    await create(api, name=name)
    _, cname = await run_container(local_engine)
    try:
        viewer = await key_for(api, Role.VIEWER)
        assert name in {n["name"] for n in (await ok(await api.get(
            f"{V1}/networks", params={"name": name}, headers=viewer)))["items"]}
        await ok(await api.get(f"{V1}/hosts/local/networks/{name}", headers=viewer))
        changes = (
            ("POST", f"{V1}/hosts/local/networks", {"name": unique("ctnet")}),
            ("DELETE", f"{V1}/hosts/local/networks/{name}", None),
            ("POST", f"{V1}/hosts/local/networks/{name}/connect", {"container": cname}),
            ("POST", f"{V1}/hosts/local/networks/{name}/disconnect", {"container": cname}),
            ("POST", f"{V1}/hosts/local/networks/prune", {"label": name}),
        )
        remote_only = await key_for(api, Role.OPERATOR, KeyScope(hosts=("remote",)))
        one_container = await key_for(api, Role.OPERATOR,
                                      KeyScope(containers=(f"local/{cname}",)))
        for headers in (viewer, remote_only, one_container):
            for method, url, body in changes:
                resp = await api.request(method, url, json=body, headers=headers)
                assert resp.status == 403, (method, url, await resp.text())
        assert name in await network_names(local_engine)
        # A key for some containers of a host reads the host's networks but cannot change them.
        body = await ok(await api.get(f"{V1}/networks", headers=one_container))
        assert {n["host"] for n in body["items"]} == {"local"} and set(body["hosts"]) == {
            "local"}
        assert (await ok(await api.get(f"{V1}/networks",
                                       headers=remote_only)))["hosts"].keys() == {"remote"}
        await error_of(await api.get(f"{V1}/hosts/local/networks/{name}",
                                     headers=remote_only), 403)

        operator = await key_for(api, Role.OPERATOR, KeyScope(hosts=("local",)))
        other = unique("ctnet")
        made = await ok(await api.post(f"{V1}/hosts/local/networks", headers=operator,
                                       json={"name": other, "labels": {TEST_LABEL: "1"}}), 201)
        assert made["name"] == other
        await ok(await api.delete(f"{V1}/hosts/local/networks/{other}", headers=operator), 204)
    finally:
        await docker(local_engine, "network", "rm", name, check=False)
