"""The chrontainer command line: config errors, migrate, hosts, the instance lock."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from chrontainer_core.store.migrations import HEAD

from ..live import Engine, free_port


async def chrontainer(*args: str, env: dict[str, str], timeout: float = 30) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chrontainer_server", *args,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_bad_config_exits_with_path_and_touches_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cfg = tmp_path / "c.yaml"
    cfg.write_text("port: 5000\nhosts:\n  - slug: ok\n    url: unix:///x.sock\n"
                   "  - slug: two\n    url: http://nope\n")
    code, _, err = await chrontainer("--config", str(cfg), "serve",
                                     env={"CHRONTAINER_DATA_DIR": str(data)})
    assert code == 2
    assert "hosts[1].url" in err
    assert not data.exists()
    code, _, err = await chrontainer("migrate", env={"CHRONTAINER_PORT": "http",
                                                     "CHRONTAINER_DATA_DIR": str(data)})
    assert code == 2 and "CHRONTAINER_PORT" in err and not data.exists()


async def test_migrate_up_and_down(tmp_path: Path) -> None:
    env = {"CHRONTAINER_DATA_DIR": str(tmp_path)}
    code, out, err = await chrontainer("migrate", env=env)
    assert code == 0, err
    assert f"revision {HEAD}" in out
    code, out, err = await chrontainer("migrate", "--downgrade", "--revision", "base", env=env)
    assert code == 0, err
    assert "revision None" in out


async def test_hosts_commands(tmp_path: Path, local_engine: Engine) -> None:
    env = {"CHRONTAINER_DATA_DIR": str(tmp_path)}
    code, out, err = await chrontainer("hosts", "add", "box", local_engine.url, "--name", "Box",
                                       env=env)
    assert code == 0, err
    code, out, _ = await chrontainer("hosts", "list", env=env)
    assert out.strip() == f"box\tBox\t{local_engine.url}"
    code, out, err = await chrontainer("hosts", "test", "box", env=env)
    assert code == 0, err
    assert out.startswith("box: Docker ") and "(API 1." in out
    code, _, err = await chrontainer("hosts", "add", "box", local_engine.url, env=env)
    assert code == 1 and "already exists" in err
    code, _, err = await chrontainer("hosts", "add", "Bad_Slug", local_engine.url, env=env)
    assert code == 1 and "slug" in err
    code, _, err = await chrontainer("hosts", "add", "dead", "tcp://127.0.0.1:9", env=env)
    assert code == 0
    code, _, err = await chrontainer("hosts", "test", "dead", env=env)
    assert code == 1 and "dead" in err
    code, out, err = await chrontainer("hosts", "remove", "box", env=env)
    assert code == 0, err
    code, out, _ = await chrontainer("hosts", "list", env=env)
    assert "box" not in out
    code, _, err = await chrontainer("hosts", "remove", "box", env=env)
    assert code == 1 and "unknown host" in err


async def test_second_serve_exits_with_clear_message(tmp_path: Path) -> None:
    env = {"CHRONTAINER_DATA_DIR": str(tmp_path), "CHRONTAINER_PORT": str(free_port()),
           "DOCKER_HOST": "tcp://127.0.0.1:9"}
    first = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chrontainer_server", "serve",
        env={"PATH": os.environ.get("PATH", ""), **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        assert first.stdout is not None
        while True:
            line = await asyncio.wait_for(first.stdout.readline(), 30)
            assert line, "first serve exited early"
            if b"listening on" in line:
                break
        code, _, err = await chrontainer("serve", env=env)
        assert code == 1
        assert "is already using the data directory" in err and str(tmp_path) in err
    finally:
        first.terminate()
        assert await asyncio.wait_for(first.wait(), 30) == 0
