"""Shared fixtures: the real engines, sweeping test containers, runtimes in both modes."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from chrontainer_core import Chrontainer, HostSpec

from . import registry
from .live import Engine, TcpProxy, engines, remove_made_containers, sweep, wait_synced
from .registry import remove_registry_images


@pytest.fixture(scope="session")
def local_engine() -> Engine:
    return engines()[0]


@pytest.fixture(scope="session")
def remote_engine() -> Engine:
    return engines()[1]


@pytest.fixture(scope="session", autouse=False)
async def clean_engines(local_engine: Engine, remote_engine: Engine) -> AsyncIterator[None]:
    """Sweep labelled leftovers before the live tests and after them.

    ``CHRONTAINER_TEST_NO_SWEEP=1`` skips both sweeps: for developers running several test
    sessions side by side, which would otherwise remove each other's containers.
    """
    keep = os.environ.get("CHRONTAINER_TEST_NO_SWEEP") == "1"
    for e in (local_engine, remote_engine):
        if not keep:
            await sweep(e)
            await remove_registry_images(e)  # an interrupted earlier session's
    yield
    for e in (local_engine, remote_engine):
        if not keep:
            await sweep(e)


@pytest.fixture(scope="module", autouse=True)
async def remove_module_containers() -> AsyncIterator[None]:
    """Remove the containers a test module made with run_container once the module ends, and
    the images it pulled from the test registries (update tests leave old versions behind:
    they would count in other modules' image prunes and disk charts)."""
    yield
    await remove_made_containers()
    if registry.pushed:
        for engine in engines():
            await remove_registry_images(engine)


@pytest.fixture
async def library(
    clean_engines: None, local_engine: Engine, remote_engine: Engine
) -> AsyncIterator[Chrontainer]:
    """Library-mode runtime over both engines (no DB, no background tasks)."""
    async with Chrontainer.connect(
        hosts=[
            HostSpec(slug=local_engine.slug, name="Local", url=local_engine.url),
            HostSpec(slug=remote_engine.slug, name="Remote", url=remote_engine.url),
        ]
    ) as ch:
        yield ch


@pytest.fixture
def daemon_config(tmp_path, local_engine: Engine, remote_engine: Engine):  # type: ignore[no-untyped-def]
    """A daemon config on a fresh SQLite file in tmp_path, with both engines as hosts."""
    from chrontainer_core.config import Config

    from .dbtemplate import migrated

    config = Config(
        data_dir=tmp_path,
        hosts=(
            HostSpec(slug=local_engine.slug, name="Local", url=local_engine.url),
            HostSpec(slug=remote_engine.slug, name="Remote", url=remote_engine.url),
        ),
        host_poll_interval=0.2,
    )
    migrated(config.database_url)
    return config


@pytest.fixture
async def daemon(clean_engines: None, daemon_config) -> AsyncIterator[Chrontainer]:  # type: ignore[no-untyped-def]
    """Daemon-mode runtime: database, live watchers on both engines."""
    async with Chrontainer.from_config(daemon_config) as ch:
        await wait_synced(ch)
        yield ch


@pytest.fixture
async def api(clean_engines: None, daemon_config):  # type: ignore[no-untyped-def]
    """A real HTTP server (daemon mode, both engines) and a client acting as an admin."""
    from chrontainer_server.app import create_app

    from .accounts import admin_client

    # Every API call needs credentials: the client acts with an admin API key.
    async with admin_client(create_app(daemon_config), daemon_config.database_url) as client:
        yield client


@pytest.fixture(scope="session")
def pki():  # type: ignore[no-untyped-def]
    """Certificates made for this test session (CA, server, client, an unrelated CA)."""
    from .pki import make_pki

    return make_pki()


@pytest.fixture(scope="session")
async def tls_engine(pki):  # type: ignore[no-untyped-def]
    """A dedicated engine requiring TLS client certificates, shared by the session's tests.

    Stopped (with its containerd, bridge and directory) at the end of the session, whatever
    the tests did.
    """
    from .engines import DedicatedEngine, reap_stale

    await reap_stale()
    engine = DedicatedEngine("tls", pki=pki)
    try:
        await engine.start()
        yield engine
    finally:
        await engine.close()


@pytest.fixture
async def proxy(remote_engine: Engine) -> AsyncIterator[TcpProxy]:
    """A TCP proxy in front of the remote engine, which a test may cut (never the engine)."""
    target = urlsplit(remote_engine.url)
    p = TcpProxy(target.hostname or "127.0.0.1", target.port or 0)
    await p.start()
    yield p
    await p.cut()


def _registry_fixture(auth: str):  # type: ignore[no-untyped-def]
    """A session-scoped docker-registry (see tests/registry.py), killed at the session's end."""

    @pytest.fixture(scope="session")
    def fixture():  # type: ignore[no-untyped-def]
        from .registry import start_registry

        registry = start_registry(auth)
        try:
            yield registry
        finally:
            registry.stop()

    return fixture


plain_registry = _registry_fixture("none")
htpasswd_registry = _registry_fixture("htpasswd")
token_registry = _registry_fixture("token")


def pytest_configure(config: pytest.Config) -> None:
    import gc

    from . import gcstats

    gcstats.install()
    # The suite's heap grows to about a gigabyte (every test builds runtimes and apps), and
    # with the default thresholds a full collection walking all of it ran every few seconds
    # (0.6 s each). Fewer young collections mean far fewer full ones; a young generation of
    # 10,000 objects keeps the garbage waiting for a collection to a few megabytes.
    gc.freeze()  # what import time made lives as long as the process: never scan it
    gc.set_threshold(10_000, 10, 10)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from . import gcstats

    terminalreporter.write_line(gcstats.summary())
