"""Dedicated Docker engines that a test may stop, restart or protect with TLS (DESIGN §5).

The two engines of scripts/test-env are shared by every test and must never be stopped. A test
that needs an engine of its own gets a :class:`DedicatedEngine`: a separate ``dockerd`` started
as an asyncio subprocess, with its own data root, exec root, pid file and config file under a
short directory in :data:`BASE` (containerd's socket path must stay under the 108-byte limit of
unix socket paths, which pytest's deep tmp paths would break).

Each engine listens on ``tcp://127.0.0.1:<free port>`` (the URL Chrontainer uses, with TLS when
asked) and on a unix socket (:attr:`DedicatedEngine.control`) through which the test drives it
with the docker CLI, without TLS and even while the TCP listener is off.

Networking. ``--bridge none`` is *not* used, although it is what the shared remote engine runs
with: a dockerd started with it deletes the host's ``docker0`` (moby's
``removeDefaultBridgeInterface``), after which the main engine cannot start bridged containers
until it is restarted. A dedicated engine instead gets a private bridge interface of its own
(``-b ctb…`` on an unused 198.18.x.0/24 benchmark-range subnet), with iptables, masquerading
and IP forwarding changes off, and its containers use ``--network none``.

Leftovers of a killed test session (daemons, bridges, directories) are reaped by
:func:`reap_stale` before new engines start: every engine directory records the pid of the test
process that owns it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import random
import re
import shlex
import shutil
import signal
import time
import uuid
from pathlib import Path

import aiohttp

from .live import Engine, free_port
from .pki import Pki

BASE = Path("/tmp/chrontainer-engines")
# The benchmark range (RFC 2544): nothing on a normal machine routes it.
_BRIDGE_RANGE = ipaddress.ip_network("198.18.0.0/15")


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the parenthesised command name, which may itself contain spaces.
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


async def _wait_gone(pid: int, timeout: float) -> None:
    """Wait until ``pid`` has exited; SIGKILL it when it takes longer than ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while _alive(pid):
        if loop.time() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = loop.time() + timeout
        await asyncio.sleep(0.05)


async def _run(*argv: str, check: bool = True) -> str:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    if check and proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed: {err.decode().strip()}")
    return out.decode()


async def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 of the benchmark range that no interface address or route overlaps."""
    text = await _run("ip", "-o", "-4", "addr", "show") + await _run("ip", "-4", "route")
    used = [ipaddress.ip_network(m, strict=False)
            for m in re.findall(r"\b(\d+\.\d+\.\d+\.\d+(?:/\d+)?)\b", text)]
    candidates = list(_BRIDGE_RANGE.subnets(new_prefix=24))
    random.shuffle(candidates)
    for net in candidates:
        if not any(net.overlaps(u) for u in used if u.prefixlen > 0):
            return net
    raise RuntimeError("no free 198.18.0.0/15 subnet for a dedicated engine's bridge")


def _engine_dirs() -> list[Path]:
    return list(BASE.iterdir()) if BASE.is_dir() else []


async def reap_stale() -> None:
    """Stop engines, bridges and directories left by test processes that no longer run."""
    for directory in await asyncio.to_thread(_engine_dirs):
        owner = _read_pid(directory / "owner.pid")
        if owner is not None and _alive(owner):
            continue  # an engine of this or another live test session
        if owner is None and time.time() - directory.stat().st_mtime < 60:
            continue  # being set up right now by another session
        await _teardown(directory)


async def _teardown(directory: Path) -> None:
    for pidfile in (directory / "dockerd.pid", directory / "exec/containerd/containerd.pid"):
        pid = _read_pid(pidfile)
        if pid is not None and _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            await _wait_gone(pid, 20)
    bridge = directory / "bridge"
    if bridge.exists():
        await _run("ip", "link", "del", bridge.read_text().strip(), check=False)
    await asyncio.to_thread(shutil.rmtree, directory, True)


class DedicatedEngine:
    """A ``dockerd`` of a test's own; see the module docstring.

    Args:
        name: Short label used in the directory name and as the host slug of :attr:`control`.
        pki: When given, the TCP listener requires TLS with client certificates
            (``--tlsverify``) using ``pki.ca`` and ``pki.server``.
    """

    def __init__(self, name: str, *, pki: Pki | None = None) -> None:
        self.name = name
        self.pki = pki
        self.port = free_port()
        self.dir = BASE / f"{name}-{uuid.uuid4().hex[:8]}"
        self.bridge = f"ctb{uuid.uuid4().hex[:8]}"
        self._proc: asyncio.subprocess.Process | None = None
        self._containerd: int | None = None
        self._prepared = False

    @property
    def url(self) -> str:
        """The TCP address Chrontainer connects to (TLS when the engine has a PKI)."""
        return f"tcp://127.0.0.1:{self.port}"

    @property
    def control(self) -> Engine:
        """The engine as tests/live.py helpers see it: its unix socket, containers on no network."""
        return Engine(self.name, f"unix://{self.dir / 'docker.sock'}", network="none")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def _prepare(self) -> None:
        if self._prepared:
            return
        await asyncio.to_thread(self.dir.mkdir, parents=True)
        (self.dir / "owner.pid").write_text(str(os.getpid()))
        # An empty config file of its own: a machine's /etc/docker/daemon.json (e.g. with
        # "hosts") must not leak into, or conflict with, this engine's flags.
        (self.dir / "daemon.json").write_text("{}")
        subnet = await _free_subnet()
        gateway = next(subnet.hosts())
        (self.dir / "bridge").write_text(self.bridge)
        await _run("ip", "link", "add", self.bridge, "type", "bridge")
        await _run("ip", "addr", "add", f"{gateway}/{subnet.prefixlen}", "dev", self.bridge)
        if self.pki is not None:
            await asyncio.to_thread(self.pki.write_server_files, self.dir / "tls")
        self._prepared = True

    def _argv(self, listen_tcp: bool) -> list[str]:
        d = self.dir
        argv = [
            "dockerd",
            "--host", f"unix://{d / 'docker.sock'}",
            "--data-root", str(d / "data"),
            "--exec-root", str(d / "exec"),
            "--pidfile", str(d / "dockerd.pid"),
            "--config-file", str(d / "daemon.json"),
            "--bridge", self.bridge,
            "--iptables=false", "--ip-masq=false", "--ip-forward=false",
        ]
        if listen_tcp:
            argv += ["--host", self.url]
        if self.pki is not None:
            tls = d / "tls"
            argv += [
                "--tlsverify",
                "--tlscacert", str(tls / "ca.pem"),
                "--tlscert", str(tls / "server-cert.pem"),
                "--tlskey", str(tls / "server-key.pem"),
            ]
        return argv

    def _remove_stale_sockets(self) -> None:
        # A containerd socket left by an earlier run makes the new dockerd hang connecting
        # to a containerd that is not there (DESIGN §5).
        state = self.dir / "exec" / "containerd"
        pid = _read_pid(state / "containerd.pid")
        if pid is None or not _alive(pid):
            for sock in ("containerd.sock.ttrpc", "containerd.sock"):
                (state / sock).unlink(missing_ok=True)

    async def start(self, *, listen_tcp: bool = True, timeout: float = 60) -> None:
        """Start dockerd and wait until it answers on its control socket.

        Args:
            listen_tcp: Also listen on :attr:`url`; off, the engine is reachable only through
                :attr:`control`, so Chrontainer sees it as down while a test changes it.
            timeout: Seconds to wait for the engine to answer before failing.
        """
        if self.running:
            raise RuntimeError(f"engine {self.name} is already running")
        await self._prepare()
        self._remove_stale_sockets()
        log = await asyncio.to_thread((self.dir / "dockerd.log").open, "ab")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self._argv(listen_tcp), stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=log,
                # Its own process group: a Ctrl-C of pytest must not kill it half-way; the
                # fixtures stop it in order.
                start_new_session=True,
            )
        finally:
            log.close()
        try:
            await self._wait_ready(timeout)
        except BaseException:
            await self.stop()
            raise
        self._containerd = _read_pid(self.dir / "exec" / "containerd" / "containerd.pid")

    async def _wait_ready(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        sock = str(self.dir / "docker.sock")
        while True:
            if not self.running:
                raise RuntimeError(f"dockerd {self.name} exited:\n{self.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                connector = aiohttp.UnixConnector(sock)
                async with aiohttp.ClientSession(connector=connector) as session, \
                        session.get("http://localhost/_ping") as resp:
                    if resp.status == 200:
                        return
            if loop.time() > deadline:
                raise RuntimeError(f"dockerd {self.name} did not answer:\n{self.log_tail()}")
            await asyncio.sleep(0.1)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = (self.dir / "dockerd.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    async def stop(self, timeout: float = 30) -> None:
        """Terminate dockerd and wait until it AND its containerd have exited.

        A new dockerd started while the old containerd still runs hangs (DESIGN §5).
        """
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        containerd, self._containerd = self._containerd, None
        if containerd is not None:
            await _wait_gone(containerd, timeout)

    async def close(self) -> None:
        """Stop the engine and remove its bridge and directory (end of the fixture)."""
        await self.stop()
        if self._prepared:
            await _teardown(self.dir)
            self._prepared = False

    async def load_image(self, image: str) -> None:
        """Copy an image from the main engine (``docker save | docker load``), no registry."""
        source = os.environ.get("CHRONTAINER_TEST_LOCAL", "unix:///var/run/docker.sock")
        cmd = (f"DOCKER_HOST={shlex.quote(source)} docker save {shlex.quote(image)} | "
               f"DOCKER_HOST={shlex.quote(self.control.url)} docker load -q")
        proc = await asyncio.create_subprocess_shell(
            cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd} failed: {err.decode().strip()}")
