"""TLS hosts over the REST API: write-only key material, validation, repair after a key change."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from chrontainer_core.config import Config
from chrontainer_server.api.context import CORE
from chrontainer_server.app import create_app

from ..accounts import admin_api_key, bearer
from ..dbtemplate import migrated
from ..engines import DedicatedEngine
from ..live import wait_for
from ..pki import Pki

pytestmark = pytest.mark.live

V1 = "/api/v1"
TIMEOUT = 30


def material(pki: Pki, **change: str) -> dict[str, str]:
    return {"ca_cert": pki.ca.cert, "client_cert": pki.client.cert,
            "client_key": pki.client.key, **change}


def assert_no_pem(text: str, pki: Pki) -> None:
    """No PEM of any kind in a response body: the key never, and no certificate either."""
    assert "-----BEGIN" not in text
    for pem in (pki.client.key, pki.client.cert, pki.ca.cert):
        assert pem.splitlines()[1] not in text


@asynccontextmanager
async def serve(data_dir: Path, secret_key: str) -> AsyncIterator[TestClient]:
    config = Config(data_dir=data_dir, secret_key=secret_key, host_poll_interval=0.2,
                    default_docker_url="tcp://127.0.0.1:9")
    migrated(config.database_url)
    headers = bearer(await admin_api_key(config.database_url))
    async with TestClient(TestServer(create_app(config)), headers=headers) as client:
        yield client


async def host_status(api: TestClient, slug: str) -> dict[str, Any]:
    resp = await api.get(f"{V1}/hosts/{slug}")
    assert resp.status == 200
    return dict(await resp.json())


def status_is(api: TestClient, slug: str, status: str) -> Callable[[], Any]:
    async def check() -> bool:
        return (await host_status(api, slug))["status"] == status
    return check


async def test_tls_host_over_http(tmp_path: Path, tls_engine: DedicatedEngine, pki: Pki) -> None:
    async with serve(tmp_path, "api secret") as api:
        resp = await api.post(f"{V1}/hosts", json={"slug": "secure", "url": tls_engine.url,
                                                   "tls": material(pki)})
        text = await resp.text()
        assert resp.status == 201, text
        assert json.loads(text)["tls"] is True
        assert_no_pem(text, pki)
        await wait_for(status_is(api, "secure", "online"), timeout=TIMEOUT, what="online")

        for url in (f"{V1}/hosts", f"{V1}/hosts/secure"):
            resp = await api.get(url)
            assert_no_pem(await resp.text(), pki)
        body = await host_status(api, "secure")
        assert body["tls"] is True and body["api_version"]
        assert not {"ca_cert", "client_cert", "client_key"} & set(body)

        resp = await api.post(f"{V1}/hosts/secure/test")
        assert resp.status == 200 and (await resp.json())["api_version"]
        resp = await api.post(f"{V1}/hosts/test", json={"url": tls_engine.url,
                                                        "tls": material(pki)})
        assert resp.status == 200, await resp.text()
        resp = await api.post(f"{V1}/hosts/test", json={
            "url": tls_engine.url, "tls": material(pki, ca_cert=pki.other_ca.cert)})
        error = (await resp.json())["error"]
        assert resp.status == 502 and error["code"] == "host_unreachable"
        assert "certificate verify failed" in error["message"]

        # tls: null removes TLS; the engine then says it requires TLS.
        resp = await api.patch(f"{V1}/hosts/secure", json={"tls": None})
        assert resp.status == 200 and (await resp.json())["tls"] is False
        await wait_for(status_is(api, "secure", "offline"), timeout=TIMEOUT, what="offline")
        assert "requires TLS" in (await host_status(api, "secure"))["error"]


@pytest.mark.parametrize(
    ("tls", "field"),
    [
        ({"client_key": "-----BEGIN PRIVATE KEY-----\nnot base64\n"}, "tls.client_key"),
        ({"client_key": None}, "tls.client_key"),
        ({"ca_cert": "hello"}, "tls.ca_cert"),
        ({"client_cert": 42}, "tls.client_cert"),
        ({"client_key": "other"}, "tls.client_key"),  # a valid key of another certificate
    ],
)
async def test_invalid_tls_material_is_a_400(
    tmp_path: Path, pki: Pki, tls: dict[str, Any], field: str
) -> None:
    if tls.get("client_key") == "other":
        tls = {"client_key": pki.other_client.key}
    body = material(pki, **tls)
    async with serve(tmp_path, "api secret") as api:
        for method, url, payload in (
            ("POST", f"{V1}/hosts", {"slug": "bad", "url": "tcp://127.0.0.1:2376", "tls": body}),
            ("POST", f"{V1}/hosts/test", {"url": "tcp://127.0.0.1:2376", "tls": body}),
        ):
            resp = await api.request(method, url, json=payload)
            text = await resp.text()
            assert resp.status == 400, text
            error = json.loads(text)["error"]
            assert error["code"] == "invalid_input" and error["details"]["field"] == field
            assert pki.other_client.key.splitlines()[1] not in text
        resp = await api.get(f"{V1}/hosts")
        assert "bad" not in {h["slug"] for h in (await resp.json())["items"]}


async def test_missing_part_and_unix_url(tmp_path: Path, pki: Pki) -> None:
    async with serve(tmp_path, "api secret") as api:
        partial = material(pki)
        del partial["client_key"]
        resp = await api.post(f"{V1}/hosts", json={"slug": "x", "url": "tcp://127.0.0.1:2376",
                                                   "tls": partial})
        assert (await resp.json())["error"]["details"]["field"] == "tls.client_key"
        resp = await api.post(f"{V1}/hosts", json={"slug": "x", "url": "unix:///x.sock",
                                                   "tls": material(pki)})
        assert resp.status == 400
        assert (await resp.json())["error"]["details"]["field"] == "tls"


async def test_changed_secret_key_then_patch_repairs(
    tmp_path: Path, tls_engine: DedicatedEngine, pki: Pki
) -> None:
    async with serve(tmp_path, "first key") as api:
        resp = await api.post(f"{V1}/hosts", json={"slug": "secure", "url": tls_engine.url,
                                                   "tls": material(pki)})
        assert resp.status == 201
        await wait_for(status_is(api, "secure", "online"), timeout=TIMEOUT, what="online")

    async with serve(tmp_path, "second key") as api:
        await wait_for(status_is(api, "secure", "offline"), timeout=TIMEOUT, what="offline")
        body = await host_status(api, "secure")
        assert body["tls"] is True
        assert "cannot decrypt the TLS key: re-enter it" in body["error"]
        resp = await api.post(f"{V1}/hosts/secure/test")
        error = (await resp.json())["error"]
        assert resp.status == 409 and error["code"] == "secret_unavailable"

        resp = await api.patch(f"{V1}/hosts/secure", json={"tls": material(pki)})
        assert resp.status == 200
        assert_no_pem(await resp.text(), pki)
        await wait_for(status_is(api, "secure", "online"), timeout=TIMEOUT, what="repaired")
        entries, _ = await api.app[CORE].audit.list(target="secure")
        assert entries[0].action == "host.update" and entries[0].result == "ok"
