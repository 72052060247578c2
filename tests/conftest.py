"""Shared fixtures: the real engines, sweeping test containers, runtimes in both modes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chrontainer_core import Chrontainer, HostSpec

from .live import Engine, engines, sweep


@pytest.fixture(scope="session")
def local_engine() -> Engine:
    return engines()[0]


@pytest.fixture(scope="session")
def remote_engine() -> Engine:
    return engines()[1]


@pytest.fixture(scope="session", autouse=False)
async def clean_engines(local_engine: Engine, remote_engine: Engine) -> AsyncIterator[None]:
    """Sweep labelled leftovers before the live tests and after them."""
    for e in (local_engine, remote_engine):
        await sweep(e)
    yield
    for e in (local_engine, remote_engine):
        await sweep(e)


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
