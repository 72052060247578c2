"""Volume backup and restore over HTTP against the real engines: a 256 MiB backup streamed
with flat memory, a client disconnect ending the engine stream, round trips, replace after
confirmation, running users, bad archives, the upload limit (413), roles, key scopes and bad
input (clear 4xx, nothing changed, no helper or spool file left)."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import re
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.app import create_app
from chrontainer_server.auth.apikeys import KeyScope
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.service import AUTH

from ..accounts import admin_client
from ..core.test_volume_backups_live import (
    FILL,
    crafted,
    exists,
    fingerprint,
    make_volume,
    no_helpers,
    sh,
)
from ..http import core_of, error_of, ok
from ..live import Engine, docker, run_container, unique, wait_for

pytestmark = pytest.mark.live

V1 = "/api/v1"
MIB = 1024 * 1024
GZIP = {"Content-Type": "application/gzip"}


def url(name: str, what: str, host: str = "local") -> str:
    return f"{V1}/hosts/{host}/volumes/{name}/{what}"


def spool_files(api: TestClient) -> list[Path]:
    spool = core_of(api).volume_backups.spool_dir
    assert spool is not None
    return list(spool.iterdir()) if spool.exists() else []


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def key_for(api: TestClient, role: Role, scope: KeyScope | None = None) -> dict[str, str]:
    """Headers of an API key of a new account with ``role`` (and the key's ``scope``)."""
    auth = api.app[AUTH]
    user = await auth.users.create(unique(role.value), "a-long-test-password", role)
    secret, _ = await auth.apikeys.create(user.id, name="tests", role_ceiling=role, scope=scope)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture(scope="module")
async def big_volume(local_engine: Engine) -> AsyncIterator[str]:
    """A volume of 256 MiB of incompressible bytes."""
    name = await make_volume(local_engine)
    await sh(local_engine, name, "dd if=/dev/urandom of=/d/big bs=1048576 count=256 2>/dev/null")
    try:
        yield name
    finally:
        await docker(local_engine, "volume", "rm", name, check=False)


async def test_a_256_mib_backup_streams_with_flat_memory(
        api: TestClient, big_volume: str, local_engine: Engine, tmp_path: Path) -> None:
    gc.collect()
    before = peak = rss()
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss())
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    saved = tmp_path / "backup.tar.gz"
    resp = await api.get(url(big_volume, "backup"))
    try:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"] == "application/gzip"
        assert re.fullmatch(rf'attachment; filename="{big_volume}-local-\d{{8}}-\d{{6}}\.tar\.gz"',
                            resp.headers["Content-Disposition"])
        with saved.open("wb") as out:
            async for chunk in resp.content.iter_chunked(256 * 1024):
                out.write(chunk)
    finally:
        done.set()
        await sampler
    growth = peak - before
    assert growth < 32 * MIB, f"RSS grew by {growth / MIB:.1f} MiB"

    def members() -> list[tuple[str, int]]:
        with tarfile.open(saved, mode="r|gz") as tar:
            return [(m.name, m.size) for m in tar if m.isfile()]

    assert await asyncio.to_thread(members) == [("./big", 256 * MIB)]
    assert saved.stat().st_size > 256 * MIB  # random bytes do not compress
    await no_helpers(local_engine, big_volume)


async def test_a_client_going_away_ends_the_engine_stream_and_the_helper(
        api: TestClient, big_volume: str, local_engine: Engine) -> None:
    engine = core_of(api).hosts.get("local").host
    # The watcher opens its events stream just after its first sync: count it in idle.
    await wait_for(lambda: engine.open_streams >= 1, what="the events stream open")
    idle = engine.open_streams
    resp = await api.get(url(big_volume, "backup"))
    assert resp.status == 200
    assert await resp.content.read(1024 * 1024)
    assert engine.open_streams == idle + 1
    resp.close()
    await wait_for(lambda: engine.open_streams == idle, timeout=30,
                   what="the engine stream closed")

    async def helper_gone() -> bool:
        return not await docker(local_engine, "ps", "-aq", "--filter",
                                f"label=chrontainer.volume={big_volume}")

    await wait_for(helper_gone, timeout=30, what="the helper removed")


async def test_backup_restore_and_replace_through_the_api(
        api: TestClient, local_engine: Engine) -> None:
    source, target = await make_volume(local_engine), await make_volume(local_engine)
    await sh(local_engine, source, FILL)
    await sh(local_engine, target, "echo old > /d/gone && mkdir /d/olddir")
    resp = await api.get(url(source, "backup"))
    assert resp.status == 200
    archive = await resp.read()

    fresh = unique("ctvol-new")
    try:
        made = await ok(await api.post(url(fresh, "restore"), data=archive, headers=GZIP))
        assert (made["created"], made["replaced"], made["volume"]) == (True, False, fresh)
        assert await fingerprint(local_engine, fresh) == await fingerprint(local_engine, source)
    finally:
        await docker(local_engine, "volume", "rm", fresh, check=False)

    before = await fingerprint(local_engine, target)
    err = await error_of(await api.post(url(target, "restore"), data=archive, headers=GZIP), 409)
    assert err["details"]["confirm"] == target
    assert await fingerprint(local_engine, target) == before
    replaced = await ok(await api.post(url(target, "restore"), params={"confirm": target},
                                       data=archive, headers=GZIP))
    assert (replaced["created"], replaced["replaced"]) == (False, True)
    assert await fingerprint(local_engine, target) == await fingerprint(local_engine, source)

    # A running user: refused, then stopped for the restore and running again.
    _, user = await run_container(local_engine, options=("-v", f"{target}:/data"))
    await wait_for(lambda: any(c.name == user for c in core_of(api).hosts.get("local")
                               .containers()), what="the user in the cache")
    err = await error_of(await api.post(url(target, "restore"), params={"confirm": target},
                                        data=archive, headers=GZIP), 409)
    assert err["details"]["containers"] == [user]
    done = await ok(await api.post(url(target, "restore"), data=archive, headers=GZIP,
                                   params={"confirm": target, "stop_containers": "true"}))
    assert done["stopped"] == [user]

    async def running() -> bool:
        return await docker(local_engine, "inspect", "-f", "{{.State.Running}}", user) == "true"

    await wait_for(running, timeout=30, what=f"{user} running again")
    await no_helpers(local_engine, source, target, fresh)
    assert spool_files(api) == []


async def test_bad_archives_are_refused_over_http_with_nothing_written(
        api: TestClient, local_engine: Engine) -> None:
    target = await make_volume(local_engine)
    await sh(local_engine, target, "echo keep > /d/keep")
    before = await fingerprint(local_engine, target)
    fresh = unique("ctvol-new")
    for archive in (crafted(("../../escape", "f", "x")), crafted(("./l", "s", "/etc")),
                    crafted(("./dev", "c", "")), crafted()[:-200], b"garbage", b""):
        for name, params in ((target, {"confirm": target}), (fresh, {})):
            err = await error_of(await api.post(url(name, "restore"), params=params,
                                                data=archive, headers=GZIP), 400)
            assert (err["code"], err["details"]["field"]) == ("invalid_input", "archive")
    assert await fingerprint(local_engine, target) == before
    assert not await exists(local_engine, fresh)
    await no_helpers(local_engine, target, fresh)
    assert spool_files(api) == []


@pytest.fixture
async def small_limit_api(clean_engines: None, daemon_config) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    """The API server with a restore upload limit of 1 MiB."""
    config = dataclasses.replace(daemon_config, settings={"volume_restore_max_mb": 1})
    async with admin_client(create_app(config), config.database_url) as client:
        yield client


async def test_an_upload_over_the_limit_is_413_and_creates_nothing(
        small_limit_api: TestClient, local_engine: Engine) -> None:
    api = small_limit_api
    name = unique("ctvol-new")
    body = bytes(2 * MIB)
    err = await error_of(await api.post(url(name, "restore"), data=body, headers=GZIP), 413)
    assert (err["code"], err["details"]["limit"]) == ("too_large", MIB)

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        for _ in range(8):
            yield bytes(256 * 1024)

    err = await error_of(await api.post(url(name, "restore"), data=chunked(), headers=GZIP),
                         413)
    assert err["code"] == "too_large"
    assert not await exists(local_engine, name)
    assert spool_files(api) == []


async def test_roles_scopes_and_bad_input(api: TestClient, local_engine: Engine) -> None:
    name = await make_volume(local_engine)
    archive = crafted()
    viewer = await key_for(api, Role.VIEWER)
    scoped = await key_for(api, Role.OPERATOR, KeyScope(containers=("local/whatever",)))
    for headers in (viewer, scoped):
        await error_of(await api.get(url(name, "backup"), headers=headers), 403)
        await error_of(await api.post(url(name, "restore"), params={"confirm": name},
                                      data=archive, headers={**GZIP, **headers}), 403)
    operator = await key_for(api, Role.OPERATOR, KeyScope(hosts=("local",)))
    resp = await api.get(url(name, "backup"), headers=operator)
    assert resp.status == 200 and await resp.read()

    await error_of(await api.get(url(name, "backup", host="nohost")), 404)
    await error_of(await api.post(url(name, "restore", host="nohost"), data=archive,
                                  headers=GZIP), 404)
    missing = unique("ctvol-missing")
    err = await error_of(await api.get(url(missing, "backup")), 404)
    assert err["code"] == "not_found"
    assert not await exists(local_engine, missing)  # the helper did not create it
    err = await error_of(await api.post(url(name, "restore"), params={"confirm": name},
                                        data=archive, headers={"Content-Type": "text/plain"}),
                         400)
    assert err["details"]["field"] == "body"
    await error_of(await api.get(url("-bad", "backup")), 400)
    await no_helpers(local_engine, name, missing)
    assert await fingerprint(local_engine, name) == ". directory 755 0 0"
    assert spool_files(api) == []
