"""The registries core against real registries (tests/registry.py): Debian's docker-registry
without auth, with htpasswd (Basic) and with token auth (Bearer, a test token server).

Proves: the fixtures' registries take pushes and serve pulls to both engines; catalog (paged
with the Link header) and tags through Basic and Bearer auth; bearer tokens are cached per scope;
a wrong or missing password and an unreachable URL give clear outcomes; search across registries
finds a repository on each and reports a failing registry (and a failing Hub search) without
failing; passwords are encrypted at rest and never in the audit trail; Hub aliases are one
registry; updates keep or clear credentials as asked; credentials_for serves pulls.
"""

from __future__ import annotations

import tempfile

import pytest
from sqlalchemy import select, text

from chrontainer_core import Chrontainer
from chrontainer_core.errors import (
    Conflict,
    HostUnreachable,
    ImageNotFound,
    InvalidInput,
    NotFound,
    RegistryAuthFailed,
    RegistryUnreachable,
)
from chrontainer_core.models import HubSearchResult
from chrontainer_core.registries.service import RegistryService
from chrontainer_core.store.tables import AuditRow

from ..live import Engine, docker, free_port, unique
from ..live import test_image as image_name
from ..registry import TestRegistry, _docker_stdin, build_random_image

pytestmark = pytest.mark.live

REGISTRIES = ["plain_registry", "htpasswd_registry", "token_registry"]
AUTH_REGISTRIES = ["htpasswd_registry", "token_registry"]


@pytest.fixture(scope="module")
async def pushed(plain_registry: TestRegistry, htpasswd_registry: TestRegistry,
                 token_registry: TestRegistry, local_engine: Engine) -> str:
    """A namespace with repositories ``alpha`` (tags v1, v2) and ``beta`` (v1) on each
    registry; returns the namespace."""
    namespace = unique("ctreg")
    for registry in (plain_registry, htpasswd_registry, token_registry):
        for repo, tag in (("alpha", "v1"), ("alpha", "v2"), ("beta", "v1")):
            await registry.push(local_engine, image_name(), f"{namespace}/{repo}", tag)
    return namespace


def service(ch: Chrontainer) -> RegistryService:
    assert ch.registries is not None
    return ch.registries


async def add(ch: Chrontainer, registry: TestRegistry, *, password: str | None = None,
              name: str | None = None):  # type: ignore[no-untyped-def]
    return await service(ch).create(
        name=name or registry.auth, kind="generic", url=registry.url,
        username=registry.username,
        password=password if password is not None else registry.password)


async def test_push_and_pull_on_both_engines(plain_registry: TestRegistry,
                                             htpasswd_registry: TestRegistry,
                                             token_registry: TestRegistry, clean_engines: None,
                                             local_engine: Engine, remote_engine: Engine) -> None:
    for registry in (plain_registry, htpasswd_registry, token_registry):
        ref = await registry.push(local_engine, image_name(), unique("fixture"), "v1")
        for engine in (local_engine, remote_engine):
            with tempfile.TemporaryDirectory() as config:
                if registry.username is not None:
                    await _docker_stdin(engine, (registry.password or "").encode(), "--config",
                                        config, "login", "-u", registry.username,
                                        "--password-stdin", registry.host)
                await docker(engine, "--config", config, "pull", ref)
            assert await docker(engine, "image", "inspect", "-f", "{{.Id}}", ref)
            await docker(engine, "rmi", ref)


async def test_random_images_push(token_registry: TestRegistry, local_engine: Engine,
                                  clean_engines: None) -> None:
    tag = unique("rnd") + ":1"
    image_id = await build_random_image(local_engine, tag, layers=2, layer_bytes=200_000)
    try:
        labels = await docker(local_engine, "image", "inspect", "-f",
                              "{{index .Config.Labels \"chrontainer.test\"}}", image_id)
        assert labels == "1"
        history = await docker(local_engine, "history", "-q", "--no-trunc", image_id)
        assert len(history.split()) >= 3  # the base layer and two of random bytes
        ref = await token_registry.push(local_engine, tag, "random", "1")
        assert ref == f"{token_registry.host}/random:1"
    finally:
        await docker(local_engine, "rmi", "-f", image_id)


@pytest.mark.parametrize("which", REGISTRIES)
async def test_catalog_and_tags(which: str, request: pytest.FixtureRequest, pushed: str,
                                daemon: Chrontainer) -> None:
    registry: TestRegistry = request.getfixturevalue(which)
    stored = await add(daemon, registry)
    page = await service(daemon).catalog(stored.id, n=1000)
    assert {f"{pushed}/alpha", f"{pushed}/beta"} <= set(page.repositories)
    assert sorted(await service(daemon).tags(stored.id, f"{pushed}/alpha")) == ["v1", "v2"]
    assert await service(daemon).tags(stored.id, f"{pushed}/beta") == ["v1"]
    # Paging one name at a time walks the whole catalog through the Link header's cursor.
    seen: list[str] = []
    last = None
    while True:
        page = await service(daemon).catalog(stored.id, n=1, last=last)
        assert len(page.repositories) <= 1
        seen += page.repositories
        if page.next is None:
            break
        last = page.next
    assert seen == sorted(seen) and {f"{pushed}/alpha", f"{pushed}/beta"} <= set(seen)
    with pytest.raises(ImageNotFound):
        await service(daemon).tags(stored.id, f"{pushed}/missing")
    check = await service(daemon).test(stored.id)
    assert check.ok
    assert check.message == (f"Logged in as {registry.username}" if registry.username
                             else f"{registry.host} answers (anonymous access)")


async def test_bearer_tokens_are_cached_per_scope(token_registry: TestRegistry, pushed: str,
                                                  daemon: Chrontainer) -> None:
    assert token_registry.token_server is not None
    stored = await add(daemon, token_registry)
    await service(daemon).catalog(stored.id)
    await service(daemon).tags(stored.id, f"{pushed}/alpha")
    before = token_registry.token_server.requests
    await service(daemon).catalog(stored.id)
    await service(daemon).tags(stored.id, f"{pushed}/alpha")
    assert token_registry.token_server.requests == before
    await service(daemon).tags(stored.id, f"{pushed}/beta")  # another scope: a new token
    assert token_registry.token_server.requests == before + 1


@pytest.mark.parametrize("which", AUTH_REGISTRIES)
async def test_wrong_or_missing_password(which: str, request: pytest.FixtureRequest,
                                         pushed: str, daemon: Chrontainer) -> None:
    registry: TestRegistry = request.getfixturevalue(which)
    wrong = await add(daemon, registry, password="not-the-password")
    assert (await service(daemon).test(wrong.id)).message == \
        f"Credentials refused by {registry.host}"
    assert not (await service(daemon).test(wrong.id)).ok
    with pytest.raises(RegistryAuthFailed):
        await service(daemon).catalog(wrong.id)
    with pytest.raises(RegistryAuthFailed):
        await service(daemon).tags(wrong.id, f"{pushed}/alpha")
    check = await service(daemon).test_config(kind="generic", url=registry.url)
    if registry.auth == "token":
        # Token registries hand anonymous tokens that open /v2/ and nothing else.
        assert (check.ok, check.message) == (True, f"{registry.host} answers (anonymous access)")
    else:
        assert (check.ok, check.message) == (False, f"{registry.host} requires credentials")
    anonymous = await service(daemon).update(wrong.id, username=None)
    with pytest.raises(RegistryAuthFailed) as info:
        await service(daemon).catalog(anonymous.id)
    assert info.value.message == f"{registry.host} requires credentials"
    check = await service(daemon).test_config(kind="generic", url=registry.url,
                                              username=registry.username,
                                              password=registry.password)
    assert (check.ok, check.message) == (True, f"Logged in as {registry.username}")


async def test_unreachable_registry(daemon: Chrontainer) -> None:
    port = free_port()
    check = await service(daemon).test_config(kind="generic", url=f"http://127.0.0.1:{port}",
                                              username="alice", password="pw")
    assert not check.ok
    assert check.message.startswith(f"127.0.0.1:{port} is unreachable: ")
    stored = await service(daemon).create(name="gone", kind="generic",
                                          url=f"http://127.0.0.1:{port}")
    with pytest.raises(RegistryUnreachable) as info:
        await service(daemon).catalog(stored.id)
    assert info.value.details["registry"] == f"127.0.0.1:{port}"


async def test_search_across_registries(plain_registry: TestRegistry,
                                        htpasswd_registry: TestRegistry,
                                        token_registry: TestRegistry, pushed: str,
                                        daemon: Chrontainer) -> None:
    for registry in (plain_registry, htpasswd_registry, token_registry):
        await add(daemon, registry)
    dead = free_port()
    await service(daemon).create(name="dead", kind="generic", url=f"http://127.0.0.1:{dead}")
    hub_calls: list[str] = []

    async def hub_offline(term: str) -> list[HubSearchResult]:
        hub_calls.append(term)
        raise HostUnreachable("host local cannot reach Docker Hub: offline")

    result = await service(daemon).search(pushed.upper() + "/ALPHA", hub=hub_offline)
    found = {(h.registry, h.repository, h.reference) for h in result.hits}
    assert found == {(r.host, f"{pushed}/alpha", f"{r.host}/{pushed}/alpha")
                     for r in (plain_registry, htpasswd_registry, token_registry)}
    assert hub_calls == [pushed.upper() + "/ALPHA"]
    assert set(result.errors) == {"docker.io", f"127.0.0.1:{dead}"}
    assert "offline" in result.errors["docker.io"]
    assert "unreachable" in result.errors[f"127.0.0.1:{dead}"]

    async def hub(term: str) -> list[HubSearchResult]:
        return [HubSearchResult(name="nginx", description="web", stars=9, official=True),
                HubSearchResult(name="bitnami/nginx", stars=1)]

    result = await service(daemon).search("nginx", hub=hub)
    assert [(h.registry, h.registry_name, h.repository, h.reference, h.official)
            for h in result.hits] == [
        ("docker.io", "Docker Hub", "library/nginx", "nginx", True),
        ("docker.io", "Docker Hub", "bitnami/nginx", "bitnami/nginx", False)]
    for bad in ("", "   ", "x" * 101):
        with pytest.raises(InvalidInput):
            await service(daemon).search(bad)


async def test_passwords_are_encrypted_and_never_audited(htpasswd_registry: TestRegistry,
                                                         daemon: Chrontainer) -> None:
    secret = htpasswd_registry.password
    assert secret is not None
    stored = await add(daemon, htpasswd_registry)
    assert stored.has_password and secret not in repr(stored)
    await service(daemon).update(stored.id, name="renamed")
    await service(daemon).update(stored.id, password=secret + "-2")
    assert daemon.db is not None
    async with daemon.db.session() as s:
        raw = (await s.execute(text("SELECT * FROM registries"))).all()
        audit = (await s.scalars(select(AuditRow))).all()
    assert raw and secret not in repr(raw) and secret + "-2" not in repr(raw)
    actions = [(a.action, a.target, a.result) for a in audit if a.action.startswith("registry")]
    assert actions == [("registry.create", f"registry/{stored.id}", "ok"),
                       ("registry.update", f"registry/{stored.id}", "ok"),
                       ("registry.update", f"registry/{stored.id}", "ok")]
    assert all(secret not in repr([a.target, a.error]) for a in audit)
    creds = await service(daemon).credentials_for(htpasswd_registry.host)
    assert creds is not None and creds.password == secret + "-2"


async def test_updates_keep_or_clear_credentials(htpasswd_registry: TestRegistry,
                                                 daemon: Chrontainer) -> None:
    stored = await add(daemon, htpasswd_registry)
    same = await service(daemon).update(stored.id)  # nothing asked: nothing changes
    assert (same.name, same.url, same.username, same.has_password) == (
        stored.name, stored.url, stored.username, stored.has_password)
    kept = await service(daemon).update(stored.id, name="Team registry")
    assert (kept.name, kept.username, kept.has_password) == (
        "Team registry", htpasswd_registry.username, True)
    assert (await service(daemon).test(stored.id)).ok
    cleared = await service(daemon).update(stored.id, password="")
    assert (cleared.username, cleared.has_password) == (htpasswd_registry.username, False)
    anonymous = await service(daemon).update(stored.id, username=None)
    assert (anonymous.username, anonymous.has_password) == (None, False)
    assert await service(daemon).credentials_for(htpasswd_registry.host) is None
    assert not (await service(daemon).test(stored.id)).ok
    with pytest.raises(InvalidInput) as info:
        await service(daemon).update(stored.id, password="pw")  # a password needs a user
    assert info.value.details["field"] == "username"
    with pytest.raises(InvalidInput):
        await service(daemon).update(stored.id, url="not a url")
    assert await service(daemon).get(stored.id) == anonymous  # refusals changed nothing
    await service(daemon).delete(stored.id)
    with pytest.raises(NotFound):
        await service(daemon).get(stored.id)
    with pytest.raises(NotFound):
        await service(daemon).delete(stored.id)


async def test_docker_hub_aliases_are_one_registry(daemon: Chrontainer) -> None:
    hub = await service(daemon).create(name="Hub", kind="dockerhub", username="alice",
                                       password="hub-token")
    assert (hub.url, hub.registry) == ("https://registry-1.docker.io", "docker.io")
    for url in ("https://index.docker.io", "https://registry-1.docker.io", "http://docker.io"):
        with pytest.raises(Conflict):
            await service(daemon).create(name="again", kind="generic", url=url)
    with pytest.raises(Conflict):
        await service(daemon).create(name="again", kind="dockerhub")
    assert [r.id for r in await service(daemon).list()] == [hub.id]
    for alias in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        creds = await service(daemon).credentials_for(alias)
        assert creds is not None
        assert (creds.registry, creds.username, creds.password) == (
            "docker.io", "alice", "hub-token")
    assert await service(daemon).credentials_for("ghcr.io") is None
    with pytest.raises(Conflict) as info:
        await service(daemon).catalog(hub.id)
    assert "search" in info.value.message
