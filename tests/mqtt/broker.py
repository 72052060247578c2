"""A real Mosquitto broker for the MQTT tests, and a recording client.

:class:`Mosquitto` runs Debian's ``mosquitto`` on 127.0.0.1 on a free port with a config written
to a temp dir (no persistence, so a restart forgets retained messages unless a test republishes
them; ``password=True`` requires a user made with ``mosquitto_passwd``; ``tls=make_pki()``
makes the listener TLS-only with the server certificate for 127.0.0.1 signed by ``tls.ca``). A
missing binary skips locally and fails when ``CI=true`` (scripts/test-env installs it).

:class:`Recorder` is an aiomqtt client subscribed to ``#`` that keeps every message it sees
(topic, payload, retain flag) so a test can wait for one; :func:`retained` reads what the broker
holds retained under a filter right now, through a fresh subscription. Both trust ``tls.ca`` of a
TLS broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from ..live import free_port
from ..pki import Pki

USERNAME = "bridge"
PASSWORD = "s3cret-broker-pw"


class Mosquitto:
    """One mosquitto process; ``stop``/``start`` keep its port (a broker restart)."""

    def __init__(self, *, password: bool = False, tls: Pki | None = None) -> None:
        binary = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
        if binary is None:
            if os.environ.get("CI"):
                pytest.fail("mosquitto is not installed (scripts/test-env installs it)",
                            pytrace=False)
            pytest.skip("mosquitto is not installed")
        self.binary = binary
        self.port = free_port()
        self.host = "127.0.0.1"
        self.dir = Path(tempfile.mkdtemp(prefix="chrontainer-mqtt-"))
        self.log_path = self.dir / "mosquitto.log"
        # "user root": as root, mosquitto would switch to its own user, which cannot read the
        # private temp dir holding the password file.
        lines = [f"listener {self.port} 127.0.0.1", "persistence false", "user root",
                 "log_dest stderr", "log_type all"]
        if password:
            pwfile = self.dir / "passwd"
            subprocess.run(["mosquitto_passwd", "-b", "-c", str(pwfile), USERNAME, PASSWORD],
                           check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        self.tls = tls
        if tls is not None:
            # Right after the listener line: these options belong to it.
            cafile, certfile, keyfile = tls.write_server_files(self.dir / "tls")
            lines[1:1] = [f"cafile {cafile}", f"certfile {certfile}", f"keyfile {keyfile}"]
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)],
                                         stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        import socket
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port),
                                                                        timeout=0.2):
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"mosquitto exited: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.05)
        raise AssertionError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Message:
    topic: str
    payload: bytes
    retain: bool

    @property
    def text(self) -> str:
        return self.payload.decode()

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class Recorder:
    """Every message seen on ``#`` since it connected (see :func:`recorder`)."""

    messages: list[Message] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    client: aiomqtt.Client | None = None

    def seen(self, topic: str) -> list[Message]:
        return [m for m in self.messages if m.topic == topic]

    def last(self, topic: str) -> Message | None:
        found = self.seen(topic)
        return found[-1] if found else None

    def clear(self) -> None:
        self.messages.clear()

    async def wait_for(self, topic: str, predicate: Callable[[Message], bool] = lambda m: True,
                       timeout: float = 20.0, *, since: int = 0) -> Message:
        """The first message on ``topic`` (index >= ``since``) matching ``predicate``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for m in self.messages[since:]:
                if m.topic == topic and predicate(m):
                    return m
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                tail = [(m.topic, m.payload[:200]) for m in self.messages[-15:]]
                raise AssertionError(f"no matching message on {topic} within {timeout}s; "
                                     f"last messages: {tail}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))

    async def publish(self, topic: str, payload: str | bytes, *, retain: bool = False,
                      qos: int = 1) -> None:
        assert self.client is not None
        await self.client.publish(topic, payload, qos=qos, retain=retain)


@contextlib.asynccontextmanager
async def recorder(broker: Mosquitto, topic: str = "#") -> AsyncIterator[Recorder]:
    """A client recording every message under ``topic`` (retained ones included)."""
    rec = Recorder()
    kwargs: dict[str, Any] = {}
    if "password_file" in broker.conf.read_text():
        kwargs = {"username": USERNAME, "password": PASSWORD}
    if broker.tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # checks the host name and chain
        context.load_verify_locations(cadata=broker.tls.ca.cert)
        kwargs["tls_context"] = context
    async with aiomqtt.Client(broker.host, broker.port, **kwargs) as client:
        rec.client = client
        await client.subscribe(topic, qos=1)

        async def pump() -> None:
            async for msg in client.messages:
                payload = msg.payload if isinstance(msg.payload, bytes) else \
                    str(msg.payload).encode()
                rec.messages.append(Message(str(msg.topic), payload, bool(msg.retain)))
                rec._changed.set()

        task = asyncio.create_task(pump())
        try:
            yield rec
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def retained(broker: Mosquitto, topic_filter: str, settle: float = 0.5) -> dict[str, bytes]:
    """What the broker holds retained under ``topic_filter`` now (empty payloads left out)."""
    async with recorder(broker, topic_filter) as rec:
        await asyncio.sleep(settle)  # retained messages arrive right after the subscription
        return {m.topic: m.payload for m in rec.messages if m.retain and m.payload}
