"""Helpers for live tests against the real engines started by scripts/test-env.

Every Docker object a test creates carries the label ``chrontainer.test=1``; the session
fixture sweeps that label at the start and at the end. The docker CLI is used on purpose to
make changes "behind Chrontainer's back", as a user would.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

TEST_LABEL = "chrontainer.test"


@dataclass(frozen=True)
class Engine:
    """One real engine: its URL and the network flag its containers need."""

    slug: str
    url: str
    # The remote engine runs with --bridge none: its containers use --network none.
    network: str | None = None


def engines() -> tuple[Engine, Engine]:
    """The two engines from the environment; a missing one fails the run, never skips."""
    local = os.environ.get("CHRONTAINER_TEST_LOCAL")
    remote = os.environ.get("CHRONTAINER_TEST_REMOTE")
    if not local or not remote:
        pytest.fail(
            "CHRONTAINER_TEST_LOCAL/CHRONTAINER_TEST_REMOTE are not set: run the tests with "
            "scripts/test, which starts the Docker engines",
            pytrace=False,
        )
    return Engine("local", local), Engine("remote", remote, network="none")


def test_image() -> str:
    return os.environ.get("CHRONTAINER_TEST_IMAGE", "chrontainer-test/busybox:latest")


async def docker(engine: Engine, *args: str, check: bool = True) -> str:
    """Run the docker CLI against ``engine``; return stdout (stripped)."""
    env = {**os.environ, "DOCKER_HOST": engine.url}
    proc = await asyncio.create_subprocess_exec(
        "docker", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {err.decode().strip()}")
    return out.decode().strip()


def unique(prefix: str = "ct") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# Containers made by run_container since the current test module started: removed when the
# module ends (tests/conftest.py), so running leftovers do not pile up for the rest of the
# session (every daemon fixture syncs them and the metrics sampler samples them).
_made: list[tuple[Engine, str]] = []


async def remove_made_containers() -> None:
    """Remove the containers run_container made since the last call (gone ones are fine)."""
    made = list(_made)
    _made.clear()
    for engine in {e for e, _ in made}:
        ids = [cid for e, cid in made if e == engine]
        await docker(engine, "rm", "-fv", *ids, check=False)


async def run_container(
    engine: Engine,
    *cmd: str,
    name: str | None = None,
    options: tuple[str, ...] = (),
    detach: bool = True,
    start: bool = True,
) -> tuple[str, str]:
    """Create (and start) a labelled test container; returns (id, name)."""
    name = name or unique()
    verb = "run" if start else "create"
    args = [verb, *(["-d"] if start and detach else []), "--name", name]
    args += ["--label", f"{TEST_LABEL}=1"]
    if "--stop-timeout" not in options:
        # busybox's sleep, PID 1, ignores SIGTERM: without this every stop or restart would
        # wait out the engine's 10 s grace period.
        args += ["--stop-timeout", "1"]
    if engine.network:
        args += ["--network", engine.network]
    args += [*options, test_image(), *(cmd or ("sleep", "3600"))]
    cid = (await docker(engine, *args)).splitlines()[-1]
    _made.append((engine, cid))
    return cid, name


async def sweep(engine: Engine) -> None:
    """Remove every labelled test container, then labelled volumes and networks (they may be
    in use until the containers are gone), and Chrontainer's volume helpers left by a crash."""
    for label in (TEST_LABEL, "chrontainer.helper"):
        ids = await docker(engine, "ps", "-aq", "--filter", f"label={label}", check=False)
        if ids:
            await docker(engine, "rm", "-fv", *ids.split(), check=False)
    for kind in ("volume", "network"):
        names = await docker(engine, kind, "ls", "-q", "--filter", f"label={TEST_LABEL}",
                             check=False)
        if names:
            await docker(engine, kind, "rm", *names.split(), check=False)


async def wait_for(
    predicate: Callable[[], Awaitable[bool] | bool], *, timeout: float = 15.0, what: str = ""
) -> None:
    """Poll until predicate() is true; the generous timeout is a safety net, not a measure."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = predicate()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.05)


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TcpProxy:
    """A loopback TCP proxy in front of an engine, which a test can cut, freeze and restore.

    ``cut`` closes the listener and every connection, as an unplugged cable would. ``freeze``
    keeps accepting connections but never answers and stops forwarding on open ones, as a
    hung machine or a half-open connection would: only timeouts notice it.

    ``rate`` (bytes per second, None: unlimited; may be changed at any time) throttles the
    traffic from the target to the clients, as a slow link would: a pull through it lasts long
    enough to be cancelled midway.
    """

    def __init__(self, target_host: str, target_port: int, *,
                 rate: float | None = None) -> None:
        self.target = (target_host, target_port)
        self.rate = rate
        self.port = free_port()
        self.frozen = False
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._upstreams: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.frozen = False
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    def freeze(self) -> None:
        self.frozen = True
        for w in list(self._upstreams):
            w.close()
        self._upstreams.clear()

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for w in list(self._clients | self._upstreams):
            w.close()
        self._clients.clear()
        self._upstreams.clear()

    def _chunk(self, up: bool) -> int:
        # Small reads when throttled, so the rate holds over short spans too.
        if up or not self.rate:
            return 65536
        return max(1024, min(65536, int(self.rate / 20)))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients.add(writer)
        if self.frozen:
            # Swallow whatever the client sends and never answer.
            with contextlib.suppress(ConnectionError, OSError):
                while await reader.read(65536):
                    pass
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._upstreams.add(up_writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, up: bool) -> None:
            try:
                while data := await src.read(self._chunk(up)):
                    if self.frozen:
                        continue  # a frozen proxy drops traffic but keeps the socket open
                    dst.write(data)
                    await dst.drain()
                    if not up and self.rate:
                        await asyncio.sleep(len(data) / self.rate)
            except (ConnectionError, OSError):
                pass
            finally:
                if not (self.frozen and not up):
                    dst.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))


async def wait_synced(core: Any) -> None:
    """Wait until every host of a daemon-mode runtime synced (fails the test otherwise)."""
    for w in core.hosts.watchers():
        assert await w.wait_synced(15), f"host {w.slug} did not sync: {w.error}"
