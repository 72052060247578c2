"""``chrontainer user add`` and ``chrontainer apikey create`` reach a running server."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from chrontainer_core.config import Config
from chrontainer_server.app import create_app

from ..dbtemplate import migrated

pytestmark = pytest.mark.live


async def chrontainer(*args: str, env: dict[str, str], stdin: bytes = b"") -> tuple[int, str,
                                                                                    str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chrontainer_server", *args,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_user_and_apikey_commands_reach_a_running_server(
    tmp_path: Path, clean_engines: None
) -> None:
    env = {"CHRONTAINER_DATA_DIR": str(tmp_path)}
    config = Config(data_dir=tmp_path, default_docker_url="tcp://127.0.0.1:9")
    migrated(config.database_url)
    async with TestClient(TestServer(create_app(config))) as client:
        # the server runs while the CLI writes to its database
        code, out, err = await chrontainer("user", "add", "Bob", "--role", "operator",
                                           "--password-stdin", env=env,
                                           stdin=b"bobs-password\n")
        assert code == 0, err
        assert "created user bob (operator)" in out and "bobs-password" not in out + err
        code, _, err = await chrontainer("user", "add", "bob", "--password-stdin", env=env,
                                         stdin=b"bobs-password\n")
        assert code == 1 and "already exists" in err
        code, out, err = await chrontainer("apikey", "create", "--user", "bob", "--name", "ci",
                                           "--role", "viewer", "--expires-days", "30", env=env)
        assert code == 0, err
        secret = out.strip()
        assert secret.startswith("chr_") and "shown this once" in err
        resp = await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"})
        assert resp.status == 200, await resp.text()
        me = await resp.json()
        assert me["user"]["username"] == "bob" and me["role"] == "viewer"
        resp = await client.post("/api/v1/auth/login",
                                 json={"username": "bob", "password": "bobs-password"})
        assert resp.status == 200
