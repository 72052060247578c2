"""Image pulls against real registries (tests/registry.py) on the REMOTE engine, which does not
have the images: progress per layer on the bus, the outcome, errors of unknown images, missing
or refused credentials and unreachable registries, credentials sent as X-Registry-Auth, and a
cancel of a pull slowed by a throttling proxy that leaves no image behind.

Images are built on the local engine with random (incompressible) layers, pushed, and pulled on
the remote one; everything pulled or built is removed at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from chrontainer_core import Chrontainer
from chrontainer_core.actor import Actor, ActorKind
from chrontainer_core.bus import OperationChanged, Subscription
from chrontainer_core.errors import ImageNotFound, InvalidInput, NotFound
from chrontainer_core.models import Operation, OperationStatus
from chrontainer_core.pulls import ImagePuller
from chrontainer_core.registries.auth import RegistryCredentials

from ..live import Engine, TcpProxy, docker, free_port, unique, wait_for
from ..registry import TestRegistry, build_random_image

pytestmark = pytest.mark.live

ALICE = Actor(kind=ActorKind.USER, id="7", name="alice")
# Generous: a safety net for a loaded machine, never a measure.
PULL_TIMEOUT = 120.0


@dataclass(frozen=True)
class Pushed:
    """An image built on the local engine and pushed to some registries as ``repo:v1``."""

    repo: str
    image_id: str


async def remove_everywhere(engine: Engine, *refs: str) -> None:
    for ref in refs:
        await docker(engine, "rmi", "-f", ref, check=False)


@pytest.fixture(scope="module")
async def pushed(plain_registry: TestRegistry, htpasswd_registry: TestRegistry,
                 token_registry: TestRegistry, local_engine: Engine,
                 remote_engine: Engine) -> AsyncIterator[Pushed]:
    """A three-layer image (plus the test image's base layer) on every registry."""
    tag = f"ct-pull-src/{unique('multi')}:v1"
    image_id = await build_random_image(local_engine, tag, layers=3, layer_bytes=700_000)
    repo = f"pulls/{unique('multi')}"
    try:
        for registry in (plain_registry, htpasswd_registry, token_registry):
            await registry.push(local_engine, tag, repo, "v1")
        yield Pushed(repo=repo, image_id=image_id)
    finally:
        await remove_everywhere(local_engine, tag)
        await remove_everywhere(remote_engine, *(r.ref(repo, "v1") for r in (
            plain_registry, htpasswd_registry, token_registry)))


async def until_finished(sub: Subscription, op_id: str) -> list[Operation]:
    """Every OperationChanged of ``op_id`` up to and including the one that ends it."""
    seen: list[Operation] = []
    async with asyncio.timeout(PULL_TIMEOUT):
        while True:
            event = await sub.get()
            if isinstance(event, OperationChanged) and event.operation.id == op_id:
                seen.append(event.operation)
                if event.operation.status is not OperationStatus.RUNNING:
                    return seen


def port_of(registry: TestRegistry) -> int:
    return int(registry.host.rsplit(":", 1)[1])


async def resolves(engine: Engine, ref: str) -> bool:
    return bool(await docker(engine, "image", "inspect", "--format", "{{.Id}}", ref,
                             check=False))


class StaticCredentials:
    """A CredentialsLookup with one registry's login (what ch.registries does from the DB)."""

    def __init__(self, creds: RegistryCredentials) -> None:
        self.creds = creds
        self.asked: list[str] = []

    async def credentials_for(self, registry: str) -> RegistryCredentials | None:
        self.asked.append(registry)
        return self.creds if registry == self.creds.registry else None


async def test_pull_operation_reports_layers_and_lands_on_the_engine(
        library: Chrontainer, plain_registry: TestRegistry, pushed: Pushed,
        remote_engine: Engine) -> None:
    # A loopback pull is over in a blink; a throttled proxy makes it last a few seconds, so
    # the (throttled) progress events catch layers mid-download.
    proxy = TcpProxy("127.0.0.1", port_of(plain_registry), rate=1_000_000)
    await proxy.start()
    ref = f"127.0.0.1:{proxy.port}/{pushed.repo}:v1"
    assert not await resolves(remote_engine, ref)
    try:
        with library.bus.subscribe(["operation"]) as sub:
            op = library.pulls.start("remote", ref, actor=ALICE)
            assert (op.kind, op.host, op.target, op.status) == (
                "image.pull", "remote", ref, OperationStatus.RUNNING)
            events = await until_finished(sub, op.id)
    finally:
        await proxy.cut()
    final = events[-1]
    assert final.status is OperationStatus.SUCCEEDED, final.error
    assert events[0].status is OperationStatus.RUNNING
    # Per-layer progress arrived on the bus while it ran: byte counts of downloads.
    downloading = [layer for e in events for layer in e.layers
                   if layer.status == "Downloading" and layer.total > 0]
    assert downloading and all(0 < layer.current <= layer.total for layer in downloading)
    assert len({layer.id for e in events for layer in e.layers}) >= 3
    assert final.percent == 100.0
    assert final.result["updated"] == "true"
    assert final.result["digest"].startswith("sha256:")
    engine_id = await docker(remote_engine, "image", "inspect", "--format", "{{.Id}}", ref)
    assert final.result["image_id"] == engine_id == pushed.image_id
    entries, _ = await library.audit.list(action="image.pull", target=f"remote/{ref}")
    assert [(e.actor.name, e.result) for e in entries] == [("alice", "ok")]
    assert library.operations.get(op.id) == final

    direct = plain_registry.ref(pushed.repo, "v1")
    first = await library.pulls.pull_now("remote", direct)
    again = await library.pulls.pull_now("remote", direct)
    assert first.image_id == engine_id  # the same image from another registry name
    assert (again.updated, again.image_id, again.reference, again.host) == (
        False, engine_id, direct, "remote")
    await remove_everywhere(remote_engine, ref)


async def test_unknown_tag_fails_as_image_not_found(library: Chrontainer,
                                                   plain_registry: TestRegistry,
                                                   pushed: Pushed) -> None:
    ref = plain_registry.ref(pushed.repo, "no-such-tag")
    op = library.pulls.start("remote", ref)
    done = await library.operations.wait(op.id, PULL_TIMEOUT)
    assert (done.status, done.error_code) == (OperationStatus.FAILED, "image_not_found")
    assert f"image {ref} not found on registry {plain_registry.host}" in (done.error or "")
    with pytest.raises(ImageNotFound):
        await library.pulls.pull_now("remote", plain_registry.ref(unique("pulls/none"), "v1"))
    entries, _ = await library.audit.list(action="image.pull", target=f"remote/{ref}")
    assert [e.result for e in entries] == ["error"]


@pytest.mark.parametrize("which", ["htpasswd_registry", "token_registry"])
async def test_credentials_missing_refused_and_right(
        which: str, request: pytest.FixtureRequest, library: Chrontainer, pushed: Pushed,
        remote_engine: Engine) -> None:
    registry: TestRegistry = request.getfixturevalue(which)
    ref = registry.ref(pushed.repo, "v1")
    assert registry.username is not None and registry.password is not None

    op = library.pulls.start("remote", ref)
    missing = await library.operations.wait(op.id, PULL_TIMEOUT)
    assert (missing.status, missing.error_code) == (OperationStatus.FAILED,
                                                    "registry_auth_failed"), missing.error
    assert (f"registry {registry.host} requires credentials: add them in Settings > "
            f"Registries to pull {ref}") in (missing.error or "")

    wrong = ImagePuller(library.hosts, library.audit, library.operations,
                        credentials=StaticCredentials(RegistryCredentials(
                            registry=registry.host, username=registry.username,
                            password="not-" + registry.password)))
    refused = await library.operations.wait(wrong.start("remote", ref).id, PULL_TIMEOUT)
    assert refused.error_code == "registry_auth_failed", refused.error
    assert "refused the stored credentials: fix them in Settings > Registries" in (
        refused.error or "")
    assert registry.password not in (refused.error or "")
    assert not await resolves(remote_engine, ref)

    lookup = StaticCredentials(RegistryCredentials(
        registry=registry.host, username=registry.username, password=registry.password))
    right = ImagePuller(library.hosts, library.audit, library.operations, credentials=lookup)
    done = await library.operations.wait(right.start("remote", ref).id, PULL_TIMEOUT)
    assert done.status is OperationStatus.SUCCEEDED, done.error
    assert lookup.asked == [registry.host]
    assert await resolves(remote_engine, ref)


async def test_unreachable_registry(library: Chrontainer) -> None:
    ref = f"127.0.0.1:{free_port()}/pulls/nobody:v1"  # nothing listens there
    op = library.pulls.start("remote", ref)
    done = await library.operations.wait(op.id, PULL_TIMEOUT)
    assert (done.status, done.error_code) == (OperationStatus.FAILED, "registry_unreachable")
    assert "is unreachable, cannot pull" in (done.error or "")
    assert "connection refused" in (done.error or "")


async def test_bad_input_starts_nothing(library: Chrontainer) -> None:
    before = library.operations.list()
    with pytest.raises(InvalidInput) as bad:
        library.pulls.start("remote", "Not A Reference")
    assert bad.value.field == "image"
    with pytest.raises(NotFound):
        library.pulls.start("no-such-host", "busybox:latest")
    assert library.operations.list() == before
    assert (await library.audit.list(action="image.pull", target="no-such-host/busybox:latest"
                                     ))[1] == 0


async def test_cancel_of_a_throttled_pull_leaves_no_image(
        library: Chrontainer, plain_registry: TestRegistry, local_engine: Engine,
        remote_engine: Engine) -> None:
    tag = f"ct-pull-src/{unique('big')}:v1"
    await build_random_image(local_engine, tag, layers=1, layer_bytes=24_000_000)
    repo = f"pulls/{unique('big')}"
    proxy = TcpProxy("127.0.0.1", port_of(plain_registry), rate=1_000_000)
    await proxy.start()
    # Through the proxy the registry is another host: 127.0.0.1:<proxy port>.
    ref = f"127.0.0.1:{proxy.port}/{repo}:v1"
    try:
        await plain_registry.push(local_engine, tag, repo, "v1")
        with library.bus.subscribe(["operation"]) as sub:
            op = library.pulls.start("remote", ref, actor=ALICE)
            async with asyncio.timeout(PULL_TIMEOUT):
                while True:
                    event = await sub.get()
                    assert isinstance(event, OperationChanged)
                    assert event.operation.status is OperationStatus.RUNNING, event.operation
                    if any(layer.status == "Downloading" and layer.current > 0
                           for layer in event.operation.layers):
                        break
            cancelled = await library.operations.cancel(op.id, actor=ALICE)
        assert (cancelled.status, cancelled.error_code) == (OperationStatus.CANCELLED,
                                                            "cancelled")
        # The engine aborted the pull: it closed every connection to the registry (a pull
        # going on in the background would keep downloading through the proxy)...
        await wait_for(lambda: all(w.is_closing() for w in proxy._upstreams), timeout=30,
                       what="the engine to drop its registry connections")
        # ...and created no image (the reference only appears once a pull completes).
        assert not await resolves(remote_engine, ref)
        entries, _ = await library.audit.list(action="image.pull", target=f"remote/{ref}")
        assert [(e.result, e.error) for e in entries] == [("error", "cancelled")]
        assert (await library.audit.list(action="operation.cancel"))[1] >= 1

        proxy.rate = None
        done = await library.operations.wait(library.pulls.start("remote", ref).id,
                                             PULL_TIMEOUT)
        assert done.status is OperationStatus.SUCCEEDED, done.error
        assert await resolves(remote_engine, ref)
    finally:
        await proxy.cut()
        await remove_everywhere(remote_engine, ref)
        await remove_everywhere(local_engine, tag)
