"""/api/v1/registries over HTTP on a live server against real registries (tests/registry.py).

Proves: CRUD with a write-only password (absent from every response, encrypted in the raw row,
absent from the audit trail); catalog and tags through Basic and Bearer auth; a wrong password
makes test say "refused" and catalog 502 registry_auth_failed; an unreachable URL gives a clear
message; search across the three registries finds a repository on each while the Hub part's
failure (an engine with no internet) is reported in ``errors``; Hub aliases 409; bad input is a
400 naming the field with nothing changed; operators and viewers get 403.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, text

from chrontainer_core.store.tables import AuditRow
from chrontainer_server.auth.roles import Role

from ..http import core_of, error_of, ok
from ..live import Engine, free_port, unique
from ..live import test_image as image_name
from ..registry import TestRegistry
from .test_notifications_api_live import key_for

pytestmark = pytest.mark.live

R = "/api/v1/registries"


@pytest.fixture(scope="module")
async def pushed(plain_registry: TestRegistry, htpasswd_registry: TestRegistry,
                 token_registry: TestRegistry, local_engine: Engine) -> str:
    """A namespace with ``app`` (tags 1.0, 2.0) and ``other`` on each registry; returns the
    namespace."""
    namespace = unique("ctapi")
    for registry in (plain_registry, htpasswd_registry, token_registry):
        for repo, tag in (("app", "1.0"), ("app", "2.0"), ("other", "1.0")):
            await registry.push(local_engine, image_name(), f"{namespace}/{repo}", tag)
    return namespace


def body_of(registry: TestRegistry, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": f"{registry.auth} registry", "kind": "generic",
                            "url": registry.url}
    if registry.username is not None:
        body |= {"username": registry.username, "password": registry.password}
    return body | extra


async def create(api: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    return await ok(await api.post(R, json=body), 201)  # type: ignore[no-any-return]


async def test_crud_never_returns_the_password(api: TestClient,
                                               htpasswd_registry: TestRegistry) -> None:
    secret = htpasswd_registry.password
    assert secret is not None
    created = await create(api, body_of(htpasswd_registry))
    assert set(created) == {"id", "name", "kind", "url", "registry", "username",
                            "has_password", "created_at", "updated_at"}
    assert (created["kind"], created["url"], created["registry"], created["username"],
            created["has_password"]) == ("generic", htpasswd_registry.url,
                                         htpasswd_registry.host, "alice", True)
    listed = await ok(await api.get(R))
    assert listed == {"items": [created], "total": 1}
    assert await ok(await api.get(f"{R}/{created['id']}")) == created
    renamed = await ok(await api.patch(f"{R}/{created['id']}", json={"name": "Team"}))
    assert (renamed["name"], renamed["has_password"]) == ("Team", True)  # password kept
    check = await ok(await api.post(f"{R}/{created['id']}/test"))
    assert check == {"ok": True, "message": "Logged in as alice"}
    cleared = await ok(await api.patch(f"{R}/{created['id']}", json={"password": None}))
    assert cleared["has_password"] is False
    again = await ok(await api.patch(f"{R}/{created['id']}", json={"password": secret}))
    assert again["has_password"] is True
    # The password is nowhere: not in responses, not in clear in the row, not in the audit.
    for response in (created, listed, renamed, cleared, again):
        assert secret not in repr(response)
    db = core_of(api).db
    assert db is not None
    async with db.session() as s:
        raw = (await s.execute(text("SELECT password_encrypted, username FROM registries"))
               ).all()
        audit = (await s.scalars(select(AuditRow).where(AuditRow.action.like("registry.%"))
                                 )).all()
    assert raw[0][0] and secret not in raw[0][0] and raw[0][1] == "alice"
    assert [a.action for a in audit] == ["registry.create", "registry.update",
                                         "registry.update", "registry.update"]
    assert all(a.target == f"registry/{created['id']}" and a.result == "ok" for a in audit)
    assert all(secret not in f"{a.target} {a.error}" for a in audit)
    assert await ok(await api.delete(f"{R}/{created['id']}"), 204) is None
    assert (await error_of(await api.get(f"{R}/{created['id']}"), 404))["code"] == "not_found"
    assert (await ok(await api.get(R)))["total"] == 0


@pytest.mark.parametrize("which", ["htpasswd_registry", "token_registry"])
async def test_catalog_tags_and_refused_credentials(which: str, request: pytest.FixtureRequest,
                                                    api: TestClient, pushed: str) -> None:
    registry: TestRegistry = request.getfixturevalue(which)
    good = await create(api, body_of(registry))
    page = await ok(await api.get(f"{R}/{good['id']}/catalog", params={"n": "1000"}))
    assert f"{pushed}/app" in page["repositories"] and page["next"] is None
    first = await ok(await api.get(f"{R}/{good['id']}/catalog", params={"n": "1"}))
    assert len(first["repositories"]) == 1 and first["next"] == first["repositories"][0]
    tags = await ok(await api.get(f"{R}/{good['id']}/tags",
                                  params={"repository": f"{pushed}/app"}))
    assert sorted(tags) == ["1.0", "2.0"]
    missing = await error_of(await api.get(f"{R}/{good['id']}/tags",
                                           params={"repository": f"{pushed}/nope"}), 404)
    assert missing["code"] == "image_not_found"
    await ok(await api.delete(f"{R}/{good['id']}"), 204)

    wrong = await create(api, body_of(registry, password="wrong-password"))
    check = await ok(await api.post(f"{R}/{wrong['id']}/test"))
    assert check == {"ok": False, "message": f"Credentials refused by {registry.host}"}
    error = await error_of(await api.get(f"{R}/{wrong['id']}/catalog"), 502)
    assert error["code"] == "registry_auth_failed"
    assert error["details"]["registry"] == registry.host
    unsaved = await ok(await api.post(f"{R}/test", json={
        "kind": "generic", "url": registry.url, "username": registry.username,
        "password": "wrong-password"}))
    assert unsaved == {"ok": False, "message": f"Credentials refused by {registry.host}"}
    unsaved = await ok(await api.post(f"{R}/test", json={
        "kind": "generic", "url": registry.url, "username": registry.username,
        "password": registry.password}))
    assert unsaved == {"ok": True, "message": f"Logged in as {registry.username}"}


async def test_unreachable_registry(api: TestClient) -> None:
    port = free_port()
    check = await ok(await api.post(f"{R}/test", json={"kind": "generic",
                                                       "url": f"http://127.0.0.1:{port}"}))
    assert check["ok"] is False
    assert check["message"].startswith(f"127.0.0.1:{port} is unreachable: ")
    created = await create(api, {"name": "gone", "kind": "generic",
                                 "url": f"http://127.0.0.1:{port}"})
    error = await error_of(await api.get(f"{R}/{created['id']}/catalog"), 502)
    assert error["code"] == "registry_unreachable"


async def test_search_across_registries(api: TestClient, pushed: str,
                                        plain_registry: TestRegistry,
                                        htpasswd_registry: TestRegistry,
                                        token_registry: TestRegistry) -> None:
    for registry in (plain_registry, htpasswd_registry, token_registry):
        await create(api, body_of(registry))
    # The test engines have no internet: the Hub part fails and is reported, nothing else.
    result = await ok(await api.get(f"{R}/search", params={"q": f"{pushed}/APP",
                                                           "host": "local"}))
    assert sorted((h["registry"], h["repository"], h["reference"]) for h in result["hits"]) \
        == sorted((r.host, f"{pushed}/app", f"{r.host}/{pushed}/app")
                  for r in (plain_registry, htpasswd_registry, token_registry))
    assert list(result["errors"]) == ["docker.io"]
    assert result["errors"]["docker.io"]
    none = await ok(await api.get(f"{R}/search", params={"q": unique("nothing")}))
    assert none["hits"] == [] and list(none["errors"]) == ["docker.io"]
    error = await error_of(await api.get(f"{R}/search", params={"q": "x", "host": "nope"}), 404)
    assert error["code"] == "not_found"


async def test_docker_hub_is_one_registry(api: TestClient) -> None:
    hub = await create(api, {"name": "Hub", "kind": "dockerhub", "username": "alice",
                             "password": "hub-token"})
    assert (hub["url"], hub["registry"]) == ("https://registry-1.docker.io", "docker.io")
    for url in ("https://index.docker.io", "https://registry-1.docker.io", "http://docker.io"):
        error = await error_of(await api.post(R, json={"name": "again", "kind": "generic",
                                                       "url": url}), 409)
        assert error["code"] == "conflict" and error["details"]["field"] == "url"
    error = await error_of(await api.get(f"{R}/{hub['id']}/catalog"), 409)
    assert "search" in error["message"]
    assert (await ok(await api.get(R)))["items"] == [hub]


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "", {"name": "x", "kind": "nexus", "url": "http://127.0.0.1:1"}, "kind"),
    ("POST", "", {"name": "x", "kind": "generic", "url": "ftp://127.0.0.1:1"}, "url"),
    ("POST", "", {"name": "x", "kind": "generic", "url": "not a url"}, "url"),
    ("POST", "", {"name": "x", "kind": "generic"}, "url"),
    ("POST", "", {"name": "x", "kind": "harbor", "url": None}, "url"),
    ("POST", "", {"name": "x" * 101, "kind": "ghcr"}, "name"),
    ("POST", "", {"name": "", "kind": "ghcr"}, "name"),
    ("POST", "", {"name": "x", "kind": "ghcr", "password": "p"}, "username"),
    ("POST", "", {"name": "x", "kind": "ghcr", "extra": 1}, "extra"),
    ("POST", "", {"name": "x", "kind": "quay", "url": "https://ghcr.io"}, "url"),
    ("POST", "/test", {"kind": "generic"}, "url"),
    ("PATCH", "/{id}", {}, None),
    ("PATCH", "/{id}", {"url": "ftp://x"}, "url"),
    ("PATCH", "/{id}", {"name": 5}, "name"),
    ("GET", "/{id}/catalog?n=0", None, "n"),
    ("GET", "/{id}/catalog?n=abc", None, "n"),
    ("GET", "/{id}/tags", None, "repository"),
    ("GET", "/{id}/tags?repository=App:1", None, "repository"),
    ("GET", "/search", None, "q"),
    ("GET", "/search?q=" + "x" * 101, None, "q"),
    ("GET", "/x", None, "id"),
])
async def test_bad_input_changes_nothing(api: TestClient, plain_registry: TestRegistry,
                                         method: str, path: str, body: Any,
                                         field: str | None) -> None:
    existing = await create(api, body_of(plain_registry))
    resp = await api.request(method, R + path.replace("{id}", str(existing["id"])), json=body)
    error = await error_of(resp, 400)
    assert error["code"] == "invalid_input"
    assert error["details"].get("field") == field
    assert await ok(await api.get(R)) == {"items": [existing], "total": 1}


async def test_unknown_ids(api: TestClient) -> None:
    for method, path, body in (("GET", "/99", None), ("PATCH", "/99", {"name": "x"}),
                               ("DELETE", "/99", None), ("POST", "/99/test", None),
                               ("GET", "/99/catalog", None),
                               ("GET", "/99/tags?repository=a", None)):
        error = await error_of(await api.request(method, R + path, json=body), 404)
        assert error["code"] == "not_found", (method, path)


async def test_only_admins_reach_registries(api: TestClient,
                                            plain_registry: TestRegistry) -> None:
    existing = await create(api, body_of(plain_registry))
    rid = existing["id"]
    calls = [("GET", "", None), ("POST", "", {"name": "y", "kind": "ghcr"}),
             ("POST", "/test", {"kind": "ghcr"}), ("GET", "/search?q=a", None),
             ("GET", f"/{rid}", None), ("PATCH", f"/{rid}", {"name": "z"}),
             ("DELETE", f"/{rid}", None), ("POST", f"/{rid}/test", None),
             ("GET", f"/{rid}/catalog", None), ("GET", f"/{rid}/tags?repository=a", None)]
    for role in (Role.VIEWER, Role.OPERATOR):
        headers = await key_for(api, role)
        for method, path, body in calls:
            resp = await api.request(method, R + path, json=body, headers=headers)
            assert (await error_of(resp, 403))["code"] == "forbidden", (role, method, path)
    assert await ok(await api.get(R)) == {"items": [existing], "total": 1}
