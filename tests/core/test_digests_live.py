"""Registry digests for update detection, against the real registries of tests/registry.py
(none, htpasswd/Basic and token/Bearer auth), plus the pure helpers.

Proves: the digest a registry serves for a tag equals the one ``docker push`` recorded and the
RepoDigests of a pull on another engine (``local_digest``); pushing another image under the
same tag changes it, and the old local image's digest no longer matches; every ``digest`` call
is exactly one manifest request in the registry's log (auth settled beforehand, tokens
reused); a missing tag or repository is ImageNotFound; auth registries without stored
credentials refuse (RegistryAuthFailed) and answer with them; an unreachable registry is
RegistryUnreachable; an insecure registry that is not loopback is tried over https first, then
plain http; a registry that omits Docker-Content-Digest gets one GET whose SHA-256 is the same
digest; ``client_for`` reuses clients; ``insecure_registry`` and ``local_digest`` follow the
engine's documents.
"""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from chrontainer_core import Chrontainer
from chrontainer_core.errors import ImageNotFound, RegistryAuthFailed, RegistryUnreachable
from chrontainer_core.registries.reference import ImageReference
from chrontainer_core.registries.service import RegistryService
from chrontainer_core.updates.digests import (
    RegistryDigests,
    insecure_registry,
    is_loopback,
    local_digest,
    repo_digests,
)

from ..images import build, drop
from ..live import Engine, docker, free_port, unique
from ..live import test_image as image_name
from ..registry import TestRegistry, _docker_stdin

REGISTRIES = ["plain_registry", "htpasswd_registry", "token_registry"]
AUTH_REGISTRIES = ["htpasswd_registry", "token_registry"]
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


# -- pure helpers ------------------------------------------------------------------------------

def info(*, cidrs: list[str] | None = None,
         indexes: dict[str, Any] | None = None) -> dict[str, Any]:
    """An engine ``GET /info`` document's RegistryConfig, as Engine 20.10 shapes it."""
    return {"ID": "x", "RegistryConfig": {
        "AllowNondistributableArtifactsCIDRs": [],
        "InsecureRegistryCIDRs": ["127.0.0.0/8"] if cidrs is None else cidrs,
        "IndexConfigs": {"docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": True,
                                       "Official": True}, **(indexes or {})},
        "Mirrors": []}}


@pytest.mark.parametrize(("registry", "doc", "expected"), [
    ("127.0.0.1:5001", None, True),
    ("127.3.4.5", {}, True),
    ("localhost:5000", info(), True),
    ("[::1]:5000", info(), True),
    ("docker.io", info(), False),
    ("ghcr.io", info(), False),
    ("10.1.2.3:5000", info(), False),
    ("10.1.2.3:5000", info(cidrs=["127.0.0.0/8", "10.0.0.0/8"]), True),
    ("10.1.2.3:5000", info(cidrs=["10.1.2.0/24", "fd00::/8", "not-a-cidr"]), True),
    ("[fd00::7]:5000", info(cidrs=["fd00::/8"]), True),
    ("[fd00::7]:5000", info(cidrs=["10.0.0.0/8"]), False),
    ("regs.lan:5000", info(cidrs=["10.0.0.0/8"]), False),  # names are never resolved
    ("regs.lan:5000", info(indexes={"regs.lan:5000": {"Name": "regs.lan:5000",
                                                      "Secure": False}}), True),
    ("REGS.lan:5000", info(indexes={"regs.LAN:5000": {"Secure": False}}), True),
    ("regs.lan:5000", info(indexes={"regs.lan:5000": {"Secure": True}}), False),
    ("regs.lan", info(indexes={"regs.lan:5000": {"Secure": False}}), False),
    ("10.1.2.3", {"RegistryConfig": "nonsense"}, False),
    ("10.1.2.3", {"RegistryConfig": {"InsecureRegistryCIDRs": "10.0.0.0/8"}}, False),
])
def test_insecure_registry(registry: str, doc: dict[str, Any] | None, expected: bool) -> None:
    assert insecure_registry(registry, doc) is expected


def test_is_loopback() -> None:
    assert all(map(is_loopback, ["localhost", "LOCALHOST:1", "127.0.0.1", "127.9.9.9:80",
                                 "[::1]:5000", "::1"]))
    assert not any(map(is_loopback, ["docker.io", "0.0.0.0:5000", "10.0.0.1", "[fd00::1]",
                                     "localhost.example.com", "128.0.0.1:5000"]))


def test_local_digest_matches_the_repository() -> None:
    nginx = ImageReference.parse("docker.io/library/nginx:latest")
    doc = {"RepoDigests": [
        f"ghcr.io/library/nginx@{D2}",  # same path, another registry: not it
        f"nginx@{D1}",
        f"docker.io/library/nginx@{D2}",
        "garbage@@", 42, f"Not_A_Reference@{D1}"]}
    assert local_digest(doc, nginx) == D1
    assert repo_digests(doc, nginx) == (D1, D2)
    assert local_digest(doc, ImageReference.parse("nginx:1.27")) == D1  # tag is irrelevant
    assert local_digest(doc, ImageReference.parse("ghcr.io/library/nginx")) == D2
    assert local_digest(doc, ImageReference.parse("library/nginx2")) is None
    own = ImageReference.parse("127.0.0.1:5001/team/app:v1")
    assert local_digest({"RepoDigests": [f"127.0.0.1:5001/team/app@{D2}"]}, own) == D2
    # Locally built images have no RepoDigests (or an empty list, or null).
    for built in ({}, {"RepoDigests": []}, {"RepoDigests": None}, {"RepoDigests": "x@y"}):
        assert local_digest(built, own) is None


# -- live --------------------------------------------------------------------------------------

def service(ch: Chrontainer) -> RegistryService:
    assert ch.registries is not None
    return ch.registries


async def store_credentials(ch: Chrontainer, registry: TestRegistry) -> None:
    await service(ch).create(name=registry.auth, kind="generic", url=registry.url,
                             username=registry.username, password=registry.password)


def manifest_requests(registry: TestRegistry, repo: str) -> int:
    """How many manifest requests for ``repo`` the registry's access log shows.

    The registry logs each request twice (an application line with ``http.request.uri=`` and
    a combined-log access line): only the access lines (``"HEAD /v2/...``) are counted.
    """
    needle = re.compile(rf'"(?:HEAD|GET) /v2/{re.escape(repo)}/manifests/')
    return sum(bool(needle.search(line))
               for line in registry.log_path.read_text(errors="replace").splitlines())


async def inspect(engine: Engine, ref: str) -> dict[str, Any]:
    doc = json.loads(await docker(engine, "image", "inspect", ref))
    assert isinstance(doc, list) and len(doc) == 1
    return dict(doc[0])


async def pull(engine: Engine, registry: TestRegistry, ref: str) -> dict[str, Any]:
    """``docker pull`` on ``engine`` (logged in through a throwaway config); its inspect."""
    with tempfile.TemporaryDirectory() as config:
        if registry.username is not None:
            await _docker_stdin(engine, (registry.password or "").encode(), "--config", config,
                                "login", "-u", registry.username, "--password-stdin",
                                registry.host)
        await docker(engine, "--config", config, "pull", ref)
    return await inspect(engine, ref)


async def digest_once(digests: RegistryDigests, registry: TestRegistry, ref: ImageReference,
                      *, insecure: bool = True) -> str:
    """``digests.digest(ref)``, checking it made exactly one manifest request."""
    before = manifest_requests(registry, ref.repository)
    digest = await digests.digest(ref, insecure=insecure)
    assert manifest_requests(registry, ref.repository) == before + 1
    return digest


@pytest.mark.live
@pytest.mark.parametrize("which", REGISTRIES)
async def test_digest_follows_the_tag(which: str, request: pytest.FixtureRequest,
                                      daemon: Chrontainer, local_engine: Engine,
                                      remote_engine: Engine) -> None:
    registry: TestRegistry = request.getfixturevalue(which)
    if registry.username is not None:
        await store_credentials(daemon, registry)
    digests = RegistryDigests(service(daemon))
    repo = unique("ctdigest")
    text = registry.ref(repo, "v1")
    ref = ImageReference.parse(text)
    first = unique("ctdig") + ":a"
    second = unique("ctdig") + ":b"
    try:
        first_id = await build(local_engine, first, f"ENV MARK={uuid.uuid4().hex}")
        second_id = await build(local_engine, second, f"ENV MARK={uuid.uuid4().hex}")
        await registry.push(local_engine, first, repo, "v1", keep_local=True)
        pushed = local_digest(await inspect(local_engine, first_id), ref)
        assert pushed is not None  # docker push records the digest it pushed
        v1 = await digest_once(digests, registry, ref)
        assert v1 == pushed
        pulled_v1 = await pull(remote_engine, registry, text)
        assert local_digest(pulled_v1, ref) == v1
        assert await digest_once(digests, registry, ref) == v1  # cached auth: still one

        await registry.push(local_engine, second, repo, "v1", keep_local=True)
        v2 = await digest_once(digests, registry, ref)
        assert v2 != v1
        assert local_digest(await inspect(local_engine, second_id), ref) == v2
        # The image pulled before is now out of date: its digest is the old one.
        assert local_digest(await inspect(remote_engine, pulled_v1["Id"]), ref) == v1
        pulled_v2 = await pull(remote_engine, registry, text)
        assert pulled_v2["Id"] != pulled_v1["Id"]
        assert local_digest(pulled_v2, ref) == v2
        # Asking by digest answers that digest (the manifest still exists).
        by_digest = ImageReference.parse(f"{registry.host}/{repo}@{v1}")
        assert await digest_once(digests, registry, by_digest) == v1
    finally:
        await docker(remote_engine, "rmi", "-f", text, check=False)
        await docker(remote_engine, "image", "prune", "-f", "--filter",
                     "label=chrontainer.test=1", check=False)
        await drop(local_engine, text, first, second)


@pytest.mark.live
@pytest.mark.parametrize("which", REGISTRIES)
async def test_missing_tag_or_repository(which: str, request: pytest.FixtureRequest,
                                         daemon: Chrontainer, local_engine: Engine) -> None:
    registry: TestRegistry = request.getfixturevalue(which)
    if registry.username is not None:
        await store_credentials(daemon, registry)
    digests = RegistryDigests(service(daemon))
    repo = unique("ctdigest")
    await registry.push(local_engine, image_name(), repo, "v1")
    with pytest.raises(ImageNotFound) as err:
        await digest_once(digests, registry, ImageReference.parse(registry.ref(repo, "nope")))
    assert err.value.message == f"{registry.host} has no {repo}:nope"
    assert err.value.details["registry"] == registry.host
    with pytest.raises(ImageNotFound):
        await digests.digest(ImageReference.parse(registry.ref(repo + "-none", "v1")),
                             insecure=True)
    assert await digests.digest(ImageReference.parse(registry.ref(repo, "v1")),
                                insecure=True)


@pytest.mark.live
@pytest.mark.parametrize("which", AUTH_REGISTRIES)
async def test_credentials(which: str, request: pytest.FixtureRequest, daemon: Chrontainer,
                           local_engine: Engine) -> None:
    registry: TestRegistry = request.getfixturevalue(which)
    repo = unique("ctdigest")
    await registry.push(local_engine, image_name(), repo, "v1")
    ref = ImageReference.parse(registry.ref(repo, "v1"))
    with pytest.raises(RegistryAuthFailed) as err:
        await RegistryDigests(service(daemon)).digest(ref, insecure=True)
    assert err.value.message == f"{registry.host} requires credentials"
    await service(daemon).create(name="wrong", kind="generic", url=registry.url,
                                 username=registry.username, password="not-the-password")
    with pytest.raises(RegistryAuthFailed):
        await RegistryDigests(service(daemon)).digest(ref, insecure=True)
    stored = (await service(daemon).list())[0]
    await service(daemon).update(stored.id, password=registry.password)
    digest = await digest_once(RegistryDigests(service(daemon)), registry, ref)
    assert digest.startswith("sha256:") and len(digest) == 71
    if registry.token_server is not None:  # one token per repository scope, then reused
        before = registry.token_server.requests
        for _ in range(3):
            assert await digest_once(RegistryDigests(service(daemon)), registry, ref) == digest
        assert registry.token_server.requests == before


@pytest.mark.live
async def test_unreachable_registry(daemon: Chrontainer) -> None:
    port = free_port()
    digests = RegistryDigests(service(daemon))
    for insecure in (True, False):
        with pytest.raises(RegistryUnreachable) as err:
            await digests.digest(ImageReference.parse(f"127.0.0.1:{port}/team/app:1"),
                                 insecure=insecure)
        assert err.value.details["registry"] == f"127.0.0.1:{port}"
    # An insecure registry that is not loopback: https, then plain http, both refused.
    with pytest.raises(RegistryUnreachable):
        await digests.digest(ImageReference.parse(f"0.0.0.0:{port}/team/app:1"), insecure=True)


@pytest.mark.live
async def test_insecure_registry_falls_back_to_http(plain_registry: TestRegistry,
                                                    daemon: Chrontainer,
                                                    local_engine: Engine) -> None:
    # 0.0.0.0 reaches the loopback-bound registry yet is not a loopback address, so the
    # client tries https first (the TLS handshake fails), then http.
    repo = unique("ctdigest")
    await plain_registry.push(local_engine, image_name(), repo, "v1")
    port = plain_registry.host.rsplit(":", 1)[1]
    ref = ImageReference.parse(f"0.0.0.0:{port}/{repo}:v1")
    digests = RegistryDigests(service(daemon))
    expected = await digests.digest(ImageReference.parse(plain_registry.ref(repo, "v1")),
                                    insecure=True)
    assert await digest_once(digests, plain_registry, ref) == expected
    assert await digest_once(digests, plain_registry, ref) == expected
    # Asked as a secure registry, it is https only: unreachable.
    with pytest.raises(RegistryUnreachable):
        await RegistryDigests(service(daemon)).digest(ref, insecure=False)


@pytest.mark.live
async def test_registry_without_digest_header(plain_registry: TestRegistry,
                                              daemon: Chrontainer,
                                              local_engine: Engine) -> None:
    """A registry (here: a proxy in front of a real one) that omits Docker-Content-Digest: the
    digest is the SHA-256 of the manifest a GET returns, the same one the real registry names."""
    repo = unique("ctdigest")
    await plain_registry.push(local_engine, image_name(), repo, "v1")
    seen: list[str] = []

    async def forward(request: web.Request) -> web.StreamResponse:
        seen.append(request.method)
        async with aiohttp.ClientSession() as http, http.request(
                request.method, plain_registry.url + request.path_qs,
                headers={"Accept": request.headers.get("Accept", "*/*")},
                allow_redirects=False) as upstream:
            body = await upstream.read()
            headers = {k: v for k, v in upstream.headers.items()
                       if k.lower() in ("content-type", "www-authenticate")}
            return web.Response(status=upstream.status, body=body, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        digests = RegistryDigests(service(daemon))
        expected = await digests.digest(ImageReference.parse(plain_registry.ref(repo, "v1")),
                                        insecure=True)
        seen.clear()
        got = await digests.digest(ImageReference.parse(f"127.0.0.1:{port}/{repo}:v1"),
                                   insecure=True)
        assert got == expected
        assert seen == ["GET", "HEAD", "GET"]  # the /v2/ probe, HEAD, then the GET fallback
        with pytest.raises(ImageNotFound):
            await digests.digest(ImageReference.parse(f"127.0.0.1:{port}/{repo}:v9"),
                                 insecure=True)
    finally:
        await runner.cleanup()


@pytest.mark.live
async def test_client_for(htpasswd_registry: TestRegistry, daemon: Chrontainer) -> None:
    registries = service(daemon)
    host = htpasswd_registry.host
    anonymous = await registries.client_for(host, insecure=True)
    assert (anonymous.url, anonymous.registry, anonymous.has_credentials) == (
        f"http://{host}", host, False)
    assert await registries.client_for(host, insecure=True) is anonymous
    secure = await registries.client_for(host, insecure=False)
    assert secure.url == f"https://{host}" and secure is not anonymous
    hub = await registries.client_for("index.docker.io", insecure=True)
    assert (hub.url, hub.registry) == ("https://registry-1.docker.io", "docker.io")
    await store_credentials(daemon, htpasswd_registry)
    stored = await registries.client_for(host, insecure=False)
    assert (stored.url, stored.has_credentials) == (htpasswd_registry.url, True)
    assert await registries.client_for(host, insecure=True) is stored
