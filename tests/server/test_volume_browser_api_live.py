"""The volume file browser over HTTP against the real engines: listings and previews as JSON,
bad input (clear 400/404, no helper container left), roles (viewers list, operators preview)
and API-key scopes (a key reaching only some containers of a host lists but cannot read
contents; a key of another host gets nothing)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.auth.apikeys import KeyScope
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.service import AUTH

from ..core.test_volume_browser_live import LONG, MIB, drop_volume, fill_volume, helpers_of
from ..http import error_of, ok
from ..live import Engine, unique

pytestmark = pytest.mark.live

V1 = "/api/v1"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture(scope="module")
async def filled(clean_engines: None, local_engine: Engine) -> AsyncIterator[str]:
    name = await fill_volume(local_engine)
    try:
        yield name
    finally:
        await drop_volume(local_engine, name)


def url(volume: str, what: str, host: str = "local") -> str:
    return f"{V1}/hosts/{host}/volumes/{volume}/{what}"


async def key_for(api: TestClient, role: Role, scope: KeyScope | None = None) -> dict[str, str]:
    """Headers of an API key of a new account with ``role`` (and the key's ``scope``)."""
    auth = api.app[AUTH]
    user = await auth.users.create(unique(role.value), "a-long-test-password", role)
    secret, _ = await auth.apikeys.create(user.id, name="tests", role_ceiling=role, scope=scope)
    return {"Authorization": f"Bearer {secret}"}


async def test_browse_and_preview(api: TestClient, filled: str, local_engine: Engine) -> None:
    root = await ok(await api.get(url(filled, "browse")))
    assert (root["host"], root["volume"], root["path"]) == ("local", filled, "")
    assert root["truncated"] is False and root["truncated_reason"] is None
    by: dict[str, Any] = {e["name"]: e for e in root["entries"]}
    assert [e["name"] for e in root["entries"]][:4] == ["empty", "many", "notes.txt", "sub"]
    assert by["sub"] | {"mtime": None} == {
        "name": "sub", "path": "sub", "kind": "directory", "size": 3500, "mtime": None,
        "link_target": None, "previewable": False}
    assert ISO_Z.match(by["sub"]["mtime"])
    assert by["up"]["kind"] == "symlink" and by["up"]["link_target"] == "../.."
    assert by["big.log"]["previewable"] is True and by["data.bin"]["previewable"] is False

    sub = await ok(await api.get(url(filled, "browse"), params={"path": "/sub"}))
    assert sub["path"] == "sub"
    assert [(e["name"], e["path"], e["size"]) for e in sub["entries"]] == [
        ("deeper", "sub/deeper", 2500), ("a.txt", "sub/a.txt", 1000), (LONG, f"sub/{LONG}", 0)]
    assert sub["entries"][1]["mtime"] == "2020-01-02T03:04:05.000000Z"

    conf = await ok(await api.get(url(filled, "file"), params={"path": "conf.json"}))
    assert conf["content"] == '{"ok": true, "name": "ü"}\n'
    assert conf["truncated"] is False and conf["limit"] == MIB and conf["path"] == "conf.json"
    big = await ok(await api.get(url(filled, "file"), params={"path": "big.log"}))
    assert big["truncated"] is True and big["size"] == 2 * MIB
    assert len(big["content"]) == MIB
    assert await helpers_of(local_engine, filled) == []


@pytest.mark.parametrize(("what", "params", "status", "field"), [
    ("browse", {"path": "../x"}, 400, "path"),
    ("browse", {"path": "sub/../.."}, 400, "path"),
    ("browse", {"path": "up"}, 400, "path"),  # a symlink to ../..
    ("browse", {"path": "passwd-link"}, 400, "path"),
    ("browse", {"path": "conf.json"}, 400, "path"),
    ("browse", {"path": "a\x00b"}, 400, "path"),
    ("browse", {"path": "x" * 513}, 400, "path"),
    ("browse", {"path": "nope"}, 404, None),
    ("file", {}, 400, "path"),
    ("file", {"path": "data.bin"}, 400, "path"),
    ("file", {"path": "sub"}, 400, "path"),
    ("file", {"path": "notes.txt"}, 400, "path"),  # a directory
    ("file", {"path": "secret.txt"}, 400, "path"),  # a symlink to /etc/hostname
    ("file", {"path": "sublink/a.txt"}, 400, "path"),
    ("file", {"path": "/../conf.json"}, 400, "path"),
    ("file", {"path": "sub/nope.txt"}, 404, None),
])
async def test_bad_input(api: TestClient, filled: str, local_engine: Engine, what: str,
                         params: dict[str, str], status: int, field: str | None) -> None:
    err = await error_of(await api.get(url(filled, what), params=params), status)
    assert err["code"] == ("invalid_input" if status == 400 else "not_found")
    if field is not None:
        assert err["details"]["field"] == field
    assert await helpers_of(local_engine, filled) == []


async def test_unknown_volume_host_and_bad_names(api: TestClient, filled: str) -> None:
    for what in ("browse", "file?path=a.txt"):
        err = await error_of(await api.get(url(unique("ctvolb-missing"), what)), 404)
        assert err["code"] == "not_found"
        await error_of(await api.get(url(filled, what, host="nohost")), 404)
        err = await error_of(await api.get(url("bad%20name!", what)), 400)
        assert err["details"]["field"] == "name"


async def test_roles_and_scopes(api: TestClient, filled: str, local_engine: Engine) -> None:
    viewer = await key_for(api, Role.VIEWER)
    await ok(await api.get(url(filled, "browse"), headers=viewer))
    await error_of(await api.get(url(filled, "file"), params={"path": "conf.json"},
                                 headers=viewer), 403)
    operator = await key_for(api, Role.OPERATOR)
    await ok(await api.get(url(filled, "file"), params={"path": "conf.json"},
                           headers=operator))
    # Reaching one container of the host: the listing, not the contents (shared by all).
    some = await key_for(api, Role.OPERATOR, KeyScope(containers=("local/some-container",)))
    await ok(await api.get(url(filled, "browse"), headers=some))
    err = await error_of(await api.get(url(filled, "file"), params={"path": "conf.json"},
                                       headers=some), 403)
    assert "whole host" in err["message"]
    whole = await key_for(api, Role.OPERATOR, KeyScope(hosts=("local",)))
    await ok(await api.get(url(filled, "file"), params={"path": "conf.json"}, headers=whole))
    remote_only = await key_for(api, Role.OPERATOR, KeyScope(hosts=("remote",)))
    for what in ("browse", "file?path=conf.json"):
        await error_of(await api.get(url(filled, what), headers=remote_only), 403)
    assert await helpers_of(local_engine, filled) == []
