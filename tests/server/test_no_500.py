"""No input yields a 500: every declared route gets hostile paths, queries and bodies."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.api.spec import API_PREFIX, declared_routes

pytestmark = pytest.mark.live

NASTY_SEGMENTS = ["..", "%2e%2e%2f", "x" * 3000, "%00", "%ff%fe", "ünïcödé", "a b", "-1", "0"]
NASTY_QUERY_VALUES = ["", "-1", "1e309", "x" * 3000, "\x00", "true&false", "[]", "null", "ÿ"]
NASTY_BODIES: list[bytes] = [
    b"", b"null", b"[]", b'"text"', b"1", b"{", b'{"a":', b"\xff\xfe", b'{"x": 1}',
    b'{"name": null, "slug": 7, "url": [], "targets": "all", "action": {}, "timeout": -5}',
    b'{"targets": [{"host": "local", "ref": {}}], "action": "stop"}',
    b"[" * 5000 + b"]" * 5000,
]


def _fill(path: str, value: str) -> str:
    return re.sub(r"\{[^}]+\}", value, path)


async def test_hostile_input_never_gets_a_500(api: TestClient) -> None:
    routes = declared_routes(api.app)
    assert len(routes) > 20
    seen: list[tuple[str, str, int]] = []

    async def probe(method: str, path: str, query: dict[str, str], body: bytes) -> None:
        resp = await api.request(method, API_PREFIX + path, params=query, data=body,
                                 headers={"Content-Type": "application/json"})
        seen.append((method, path[:40], resp.status))
        assert resp.status < 500, (method, path, query, body, await resp.text())
        if resp.status >= 400:
            error = (await resp.json())["error"]
            assert error["code"] and error["message"]

    for route in routes:
        # Hostile path segments, each alone (paths are validated before queries and bodies).
        for path in dict.fromkeys(_fill(route.path, seg) for seg in NASTY_SEGMENTS):
            await probe(route.method, path, {}, b"")
        # Hostile queries and bodies on a well-formed path naming no real host or object:
        # they must be refused by validation, or reach the handler's 404.
        queries: list[dict[str, str]] = [{}]
        if route.query is not None:
            names = [str(k) for k in route.query.schema]
            queries += [{n: v for n in names} for v in NASTY_QUERY_VALUES]
        bodies = NASTY_BODIES if route.method in ("POST", "PATCH", "PUT") else [b""]
        path = _fill(route.path, "ctfuzz-absent")
        for query in queries[:3]:
            for body in bodies[:4] if query else bodies:
                await probe(route.method, path, query, body)
    # The hostile requests really reached the handlers' validation, not only the router.
    assert any(status == 400 for _, _, status in seen)
    assert any(status == 404 for _, _, status in seen)
