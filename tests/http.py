"""Small helpers for tests that call the REST API through an aiohttp test client."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from chrontainer_core import Chrontainer
from chrontainer_server.api.context import CORE


async def ok(resp: Any, status: int = 200) -> Any:
    """The JSON body of a response that must have ``status`` (None for 204)."""
    assert resp.status == status, await resp.text()
    return await resp.json() if status != 204 else None


async def error_of(resp: Any, status: int) -> dict[str, Any]:
    """The ``error`` object of a refusal that must have ``status``."""
    assert resp.status == status, await resp.text()
    return (await resp.json())["error"]  # type: ignore[no-any-return]


def core_of(api: TestClient) -> Chrontainer:
    """The core runtime behind a test client's app."""
    return api.app[CORE]
