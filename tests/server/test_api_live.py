"""The REST API against the real engines, through a real HTTP server."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from chrontainer_server.api.context import CORE
from chrontainer_server.api.openapi import missing_routes

from ..http import error_of
from ..live import Engine, docker, run_container, unique, wait_for

pytestmark = pytest.mark.live

V1 = "/api/v1"



async def test_health_and_openapi(api: TestClient) -> None:
    resp = await api.get(f"{V1}/health")
    assert resp.status == 200 and await resp.json() == {"status": "ok"}
    resp = await api.get(f"{V1}/openapi.json")
    doc = await resp.json()
    validate(doc)
    assert missing_routes(api.app, doc) == []
    assert "/api/v1/hosts/{host}/containers/{ref}/restart" in doc["paths"]


async def test_hosts_crud(api: TestClient, remote_engine: Engine) -> None:
    resp = await api.get(f"{V1}/hosts")
    body = await resp.json()
    assert [h["slug"] for h in body["items"]] == ["local", "remote"] and body["total"] == 2
    assert body["items"][0]["status"] == "online" and body["items"][0]["api_version"]

    resp = await api.post(f"{V1}/hosts", json={"slug": "nas", "url": remote_engine.url})
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["name"] == "nas"
    err = await error_of(await api.post(f"{V1}/hosts", json={"slug": "nas",
                                                              "url": remote_engine.url}), 409)
    assert err["code"] == "conflict"
    err = await error_of(await api.post(f"{V1}/hosts", json={"slug": "Bad!", "url": "x"}), 400)
    assert err["code"] == "invalid_input" and err["details"]["field"] in ("slug", "url")
    err = await error_of(await api.post(f"{V1}/hosts", json={"slug": "ok", "url": "http://x",
                                                              "extra": 1}), 400)
    assert err["details"]["field"] in ("url", "extra")

    resp = await api.patch(f"{V1}/hosts/nas", json={"name": "My NAS"})
    assert resp.status == 200 and (await resp.json())["name"] == "My NAS"
    await error_of(await api.patch(f"{V1}/hosts/nas", json={}), 400)
    resp = await api.post(f"{V1}/hosts/nas/test")
    assert resp.status == 200 and (await resp.json())["api_version"].startswith("1.")
    resp = await api.post(f"{V1}/hosts/test", json={"url": "tcp://127.0.0.1:9"})
    assert (await error_of(resp, 502))["code"] == "host_unreachable"
    resp = await api.delete(f"{V1}/hosts/nas")
    assert resp.status == 204
    assert (await error_of(await api.get(f"{V1}/hosts/nas"), 404))["code"] == "not_found"
    # the audit trail saw it all
    entries, _ = await api.app[CORE].audit.list(target="nas")
    assert [e.action for e in entries][:2] == ["host.remove", "host.update"]


async def test_container_list_filters_and_details(
    api: TestClient, local_engine: Engine, remote_engine: Engine
) -> None:
    _, a = await run_container(local_engine, options=("--label", "team=blue"))
    _, b = await run_container(remote_engine, options=("--label", "team=red"))
    core = api.app[CORE]
    await wait_for(lambda: any(c.name == b for c in core.hosts.get("remote").containers()))
    resp = await api.get(f"{V1}/containers")
    body = await resp.json()
    names = {(c["host"], c["name"]) for c in body["items"]}
    assert {("local", a), ("remote", b)} <= names
    assert body["hosts"]["remote"]["status"] == "online"
    resp = await api.get(f"{V1}/containers", params={"label": "team=red"})
    assert [c["name"] for c in (await resp.json())["items"]] == [b]
    resp = await api.get(f"{V1}/containers", params={"name": a.upper(), "host": "local"})
    assert [c["name"] for c in (await resp.json())["items"]] == [a]
    resp = await api.get(f"{V1}/hosts/remote/containers", params={"state": "running"})
    assert b in [c["name"] for c in (await resp.json())["items"]]
    err = await error_of(await api.get(f"{V1}/containers", params={"state": "sleepy"}), 400)
    assert err["details"]["field"] == "state"
    await error_of(await api.get(f"{V1}/hosts/nowhere/containers"), 404)

    resp = await api.get(f"{V1}/hosts/local/containers/{a}")
    c = await resp.json()
    assert c["name"] == a and c["labels"]["team"] == "blue" and c["created"].endswith("Z")
    resp = await api.get(f"{V1}/hosts/local/containers/{c['id'][:12]}/inspect")
    assert (await resp.json())["Id"] == c["id"]
    assert (await error_of(await api.get(f"{V1}/hosts/local/containers/nope-{a}"), 404))[
        "code"] == "not_found"


async def test_actions_over_http(api: TestClient, remote_engine: Engine) -> None:
    _, name = await run_container(remote_engine)
    url = f"{V1}/hosts/remote/containers/{name}"
    resp = await api.post(f"{url}/start")
    body = await resp.json()
    assert resp.status == 200 and body["changed"] is False
    resp = await api.post(f"{url}/stop", json={"timeout": 0})
    body = await resp.json()
    assert body["changed"] is True and body["container"]["state"] == "exited"
    # read-your-writes through the list
    resp = await api.get(f"{V1}/containers", params={"name": name})
    assert [c["state"] for c in (await resp.json())["items"]] == ["exited"]
    err = await error_of(await api.post(f"{url}/pause"), 409)
    assert err["code"] == "conflict"
    err = await error_of(await api.post(f"{url}/stop", json={"timeout": "soon"}), 400)
    assert err["details"]["field"] == "timeout"
    err = await error_of(await api.post(f"{url}/stop", data=b"{not json",
                                        headers={"Content-Type": "application/json"}), 400)
    assert err["code"] == "invalid_input"
    err = await error_of(await api.post(f"{url}/rename", json={}), 400)
    assert err["details"]["field"] == "name"
    new = unique("http")
    resp = await api.post(f"{url}/rename", json={"name": new})
    assert (await resp.json())["container"]["name"] == new
    await error_of(await api.post(f"{V1}/hosts/remote/containers/{new}/explode"), 404)
    resp = await api.post(f"{V1}/hosts/remote/containers/{new}/remove", json={"volumes": True})
    body = await resp.json()
    assert body == {"container": None, "changed": True}
    assert await docker(remote_engine, "ps", "-aq", "--filter", f"name=^{new}$") == ""


async def test_ambiguous_ref_is_409(api: TestClient, local_engine: Engine) -> None:
    core = api.app[CORE]
    ids = []
    # Real ids almost never share 12 characters, so the cache gets a twin of one container
    # whose id shares the other's 12-character prefix.
    from dataclasses import replace

    for _ in range(2):
        cid, _ = await run_container(local_engine)
        ids.append(cid)
    await wait_for(lambda: all(core.hosts.get("local").get(i) for i in ids), what="cached")
    watcher = core.hosts.get("local")
    twin = replace(watcher.get(ids[1]), id=ids[0][:12] + ids[1][12:])
    watcher._store([twin], "test")
    try:
        err = await error_of(await api.get(f"{V1}/hosts/local/containers/{ids[0][:12]}"), 409)
        assert err["code"] == "ambiguous_ref" and len(err["details"]["matches"]) == 2
    finally:
        watcher._drop(twin.id, "test")


async def test_bulk_with_one_failure(api: TestClient, local_engine: Engine,
                                     remote_engine: Engine) -> None:
    _, a = await run_container(local_engine)
    _, b = await run_container(remote_engine)
    resp = await api.post(f"{V1}/containers/actions", json={
        "action": "stop", "timeout": 0,
        "targets": [{"host": "local", "ref": a}, {"host": "remote", "ref": b},
                    {"host": "remote", "ref": "does-not-exist"}],
    })
    items = (await resp.json())["items"]
    assert [(i["ok"], i["changed"]) for i in items[:2]] == [(True, True), (True, True)]
    assert items[2]["ok"] is False and items[2]["error"]["code"] == "not_found"
    err = await error_of(await api.post(f"{V1}/containers/actions", json={
        "action": "stop", "targets": [{"host": "local"}]}), 400)
    assert err["details"]["field"] == "targets[0].ref"


async def test_logs_json_and_follow_disconnect(api: TestClient, local_engine: Engine) -> None:
    _, name = await run_container(
        local_engine, "sh", "-c",
        "echo first; echo oops >&2; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
    )
    url = f"{V1}/hosts/local/containers/{name}/logs"

    async def has_both() -> bool:
        resp = await api.get(url, params={"tail": "all", "timestamps": "true"})
        recs = await resp.json()
        return {"stdout", "stderr"} <= {r["stream"] for r in recs}

    await wait_for(has_both, what="both streams")
    recs = await (await api.get(url, params={"tail": "all", "timestamps": "1"})).json()
    assert {"t", "stream", "line"} == set(recs[0])
    assert {"stream": "stderr", "line": "oops"} in [{k: r[k] for k in ("stream", "line")}
                                                     for r in recs]
    await error_of(await api.get(url, params={"tail": "-1"}), 400)

    core = api.app[CORE]
    before = _log_streams(core)
    resp = await api.get(url, params={"follow": "true", "tail": "0"})
    assert resp.headers["Content-Type"].startswith("application/x-ndjson")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    line = await asyncio.wait_for(resp.content.readline(), 10)
    assert json.loads(line)["line"].startswith("tick")
    assert _log_streams(core) == before + 1
    resp.close()  # the client goes away
    await wait_for(lambda: _log_streams(core) == before, what="engine log stream closed")


def _log_streams(core) -> int:  # type: ignore[no-untyped-def]
    """Streams the local engine has open for us (the events watcher holds one)."""
    return int(core.hosts.get("local").host.open_streams)


async def test_stats_and_top(api: TestClient, remote_engine: Engine) -> None:
    _, name = await run_container(remote_engine)
    url = f"{V1}/hosts/remote/containers/{name}"
    stats = await (await api.get(f"{url}/stats")).json()
    assert stats["memory_used"] > 0 and stats["pids"] >= 1 and stats["read_at"].endswith("Z")
    top = await (await api.get(f"{url}/top")).json()
    assert "PID" in top["titles"]
    await error_of(await api.get(f"{url}/top", params={"ps_args": "aux; rm -rf /"}), 400)


async def test_unknown_route_and_oversized_body(api: TestClient) -> None:
    assert (await error_of(await api.get(f"{V1}/nothing-here"), 404))["code"] == "not_found"
    resp = await api.post(f"{V1}/hosts", data=b"x" * (2 * 1024 * 1024),
                          headers={"Content-Type": "application/json"})
    assert (await error_of(resp, 413))["code"] == "too_large"
