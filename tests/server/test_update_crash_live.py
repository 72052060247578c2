"""Kill -9 in the middle of an update: after a restart exactly one container with the
original name exists and runs (issue 9).

The first server is the real one with a fault-injection hook (tests/update_crash_server.py)
that parks the update once the journal says "start the new container": the old container is
stopped under its backup name, the new one holds the original name but never started. The test
kills that process with SIGKILL, starts a plain ``chrontainer serve`` on the same data, and
waits for recovery to restore the old container.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import aiohttp

from chrontainer_core.config import Config
from chrontainer_core.store.db import Database
from chrontainer_core.updates.models import JournalStatus, UpdateStep
from chrontainer_core.updates.store import UpdateJournal

from ..accounts import admin_api_key, bearer
from ..core.test_updates_live import inspect, named, publish, run_from
from ..live import Engine, docker, free_port, unique, wait_for
from ..registry import TestRegistry

ROOT = Path(__file__).resolve().parents[2]


async def serve(module: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    """Start ``python -m <module> serve`` and wait until it listens."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, "serve", cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert proc.stdout is not None
    seen = []
    while True:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        seen.append(line.decode(errors="replace"))
        assert line, f"{module} exited early:\n{''.join(seen)}"
        if b"listening on" in line:
            # Keep draining its output, so a chatty server never blocks on a full pipe.
            asyncio.get_running_loop().create_task(_drain(proc))
            return proc


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    while await proc.stdout.readline():
        pass


async def test_kill_9_between_old_renamed_and_new_started(
        tmp_path: Path, local_engine: Engine, plain_registry: TestRegistry) -> None:
    repo = unique("crash")
    ref = await publish(local_engine, plain_registry, repo, "stable", 'CMD ["sleep", "3600"]')
    name = await run_from(local_engine, ref, "--network", "none")
    old = await inspect(local_engine, name)
    await publish(local_engine, plain_registry, repo, "stable", 'CMD ["sleep", "7200"]')
    port = free_port()
    marker = tmp_path / "parked"
    env = {"CHRONTAINER_DATA_DIR": str(tmp_path / "data"), "CHRONTAINER_PORT": str(port),
           "CHRONTAINER_BIND": "127.0.0.1", "DOCKER_HOST": local_engine.url}
    database_url = Config(data_dir=tmp_path / "data").database_url
    servers: list[asyncio.subprocess.Process] = []
    try:
        first = await serve("tests.update_crash_server", {
            **env, "CHRONTAINER_TEST_PARK_STEP": UpdateStep.START_NEW.value,
            "CHRONTAINER_TEST_PARK_MARKER": str(marker)})
        servers.append(first)
        key = await admin_api_key(database_url)
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/api/v1/hosts/local/containers/{name}/update"
            await wait_for(lambda: _found(http, port, key, name), timeout=30,
                           what="the server sees the container")
            async with http.post(url, headers=bearer(key)) as resp:
                assert resp.status == 202, await resp.text()
        await wait_for(marker.exists, timeout=120, what="the update to park")
        first.kill()  # SIGKILL: no shutdown, no rollback
        await first.wait()

        # Mid-update: the new container holds the name (never started), the old is renamed.
        leftovers = await named(local_engine, name)
        assert len(leftovers) == 2 and name in leftovers
        assert (await inspect(local_engine, name))["Id"] != old["Id"]
        assert not (await inspect(local_engine, old["Id"]))["State"]["Running"]

        servers.append(await serve("chrontainer_server", env))

        async def restored() -> bool:
            if await named(local_engine, name) != [name]:
                return False
            doc = await inspect(local_engine, name)
            return bool(doc["State"]["Running"])

        await wait_for(restored, timeout=120, what="recovery to leave one running container")
        after = await inspect(local_engine, name)
        assert after["Id"] == old["Id"] and after["Config"]["Cmd"] == ["sleep", "3600"]
        db = Database(database_url)
        try:
            entries, total = await UpdateJournal(db).page()
        finally:
            await db.close()
        assert total == 1 and entries[0].status is JournalStatus.ROLLED_BACK
    finally:
        for proc in servers:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        leftovers = await named(local_engine, name)
        if leftovers:
            await docker(local_engine, "rm", "-f", *leftovers, check=False)


async def _found(http: aiohttp.ClientSession, port: int, key: str, name: str) -> bool:
    async with http.get(f"http://127.0.0.1:{port}/api/v1/hosts/local/containers/{name}",
                        headers=bearer(key)) as resp:
        return resp.status == 200
