"""Local receivers that record what notification channels send (real servers, no mocks).

- :class:`HttpReceiver`: an aiohttp server on 127.0.0.1 answering every method and path
  (HTTPS with a self-signed certificate when ``tls=True``). It records each request (method,
  path, query, headers, body, JSON) and answers with a status chosen by the test
  (:meth:`HttpReceiver.respond`), or hangs until stopped (:meth:`HttpReceiver.hang`) to play a
  channel that never answers.
- :class:`SmtpReceiver`: an aiosmtpd server on 127.0.0.1 recording messages, in ``starttls``
  mode (plain connection, STARTTLS offered and required, AUTH after it) or ``tls`` mode
  (implicit TLS from the first byte), both with a self-signed certificate for 127.0.0.1 and
  localhost made at start with ``cryptography``. Logins are checked against ``users`` and
  recorded.

Both are async context managers::

    async with HttpReceiver() as rx:
        ...  # POST to rx.url + "/anything"
        [req] = await rx.wait_for(1)

    async with SmtpReceiver("starttls", users={"bot": "pw"}) as smtp:
        ...  # send to smtp.host:smtp.port
        [mail] = await smtp.wait_for(1)
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import ipaddress
import json
import socket
import ssl
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = [
    "HttpReceiver",
    "ReceivedMail",
    "RecordedRequest",
    "SelfSigned",
    "SmtpReceiver",
    "free_port",
    "self_signed",
]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago (connecting to it is
    refused until something binds it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _wait(condition: Any, what: str, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


# ---------------------------------------------------------------------------------------------
# HTTP


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the receiver saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names as sent; look up with header()
    body: bytes

    def header(self, name: str) -> str | None:
        """A header's value, by case-insensitive name."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver:
    """A recording HTTP server; see the module docstring.

    Args:
        tls: Serve HTTPS with a self-signed certificate (which clients refuse unless told to
            trust :attr:`certificate`).
    """

    def __init__(self, *, tls: bool = False) -> None:
        self.tls = tls
        self.certificate: SelfSigned | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self.requests: list[RecordedRequest] = []
        self._status = 204
        self._body = ""
        self._headers: dict[str, str] = {}
        self._hang = False
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The base URL (no trailing slash)."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def respond(self, status: int, body: str | dict[str, Any] = "",
                headers: dict[str, str] | None = None) -> None:
        """Answer every following request with this status and body (a dict is sent as JSON)."""
        self._hang = False
        self._status = status
        if isinstance(body, dict):
            self._body = json.dumps(body)
            self._headers = {"Content-Type": "application/json", **(headers or {})}
        else:
            self._body = body
            self._headers = dict(headers or {})

    def hang(self) -> None:
        """Record following requests but never answer them (until stop)."""
        self._hang = True

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers=dict(request.headers),
            body=body,
        ))
        if self._hang:
            await self._release.wait()
        if self._status == 204:
            return web.Response(status=204, headers=self._headers)
        return web.Response(status=self._status, text=self._body, headers=self._headers)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Wait until ``count`` requests arrived; return them all."""
        await _wait(lambda: len(self.requests) >= count, f"{count} request(s)", timeout)
        return list(self.requests)

    async def start(self) -> HttpReceiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # A short shutdown: hung handlers are released first anyway.
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        context = None
        if self.tls:
            self._dir = tempfile.TemporaryDirectory(prefix="chrontainer-https-")
            self.certificate = self_signed(Path(self._dir.name))
            context = self.certificate.server_context()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    async def __aenter__(self) -> HttpReceiver:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


# ---------------------------------------------------------------------------------------------
# TLS certificate


@dataclass(frozen=True)
class SelfSigned:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key, as PEM files."""

    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting exactly this certificate."""
        return ssl.create_default_context(cafile=str(self.cert_file))


def self_signed(directory: Path) -> SelfSigned:
    """Make a self-signed certificate (EC P-256, valid for a day) in ``directory``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chrontainer test smtp")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "smtp-cert.pem"
    key_file = directory / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    key_file.chmod(0o600)
    return SelfSigned(cert_file=cert_file, key_file=key_file)


# ---------------------------------------------------------------------------------------------
# SMTP


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the SMTP server received it."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    login: str | None  # the authenticated user, if any
    tls: bool  # whether the session was encrypted (STARTTLS or implicit TLS)

    @property
    def message(self) -> EmailMessage:
        msg = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None
        content: str = part.get_content()  # type: ignore[attr-defined]
        return content


@dataclass
class _Handler:
    owner: SmtpReceiver
    reply: str = "250 2.0.0 Ok: queued"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        login = session.auth_data.login.decode() if session.authenticated else None
        accepted = self.reply.startswith("2")
        (self.owner.messages if accepted else self.owner.rejected).append(ReceivedMail(
            mail_from=envelope.mail_from,
            rcpt_tos=list(envelope.rcpt_tos),
            raw=envelope.original_content or envelope.content,
            login=login,
            # Set for STARTTLS and implicit TLS alike (session.ssl is only for STARTTLS).
            tls=server.transport.get_extra_info("ssl_object") is not None,
        ))
        return self.reply


class SmtpReceiver:
    """A recording SMTP server; see the module docstring.

    Args:
        mode: ``starttls`` or ``tls`` (implicit).
        users: Accepted logins (user -> password); AUTH is offered only over TLS.
        reply: The answer to DATA (e.g. "554 5.7.1 rejected" to refuse every message).
    """

    def __init__(self, mode: Literal["starttls", "tls"] = "starttls", *,
                 users: dict[str, str] | None = None,
                 reply: str = "250 2.0.0 Ok: queued") -> None:
        self.mode = mode
        self.users = dict(users or {})
        self.messages: list[ReceivedMail] = []  # accepted
        self.rejected: list[ReceivedMail] = []  # answered with a non-2xx ``reply``
        self.failed_logins: list[str] = []
        self.host = "127.0.0.1"
        self.port = 0
        self._handler = _Handler(self, reply)
        self._controller: Controller | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="chrontainer-smtp-")
        self.certificate = self_signed(Path(self._dir.name))

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode()
            if self.users.get(user) == auth_data.password.decode():
                return AuthResult(success=True, auth_data=auth_data)
            self.failed_logins.append(user)
        return AuthResult(success=False, handled=False)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        """Wait until ``count`` messages arrived; return them all."""
        await _wait(lambda: len(self.messages) >= count, f"{count} message(s)", timeout)
        return list(self.messages)

    async def start(self) -> SmtpReceiver:
        # aiosmtpd's Controller connects to its own port to check it is up, so port 0 cannot
        # be used: pick a free one first.
        self.port = free_port()
        context = self.certificate.server_context()
        common: dict[str, Any] = {
            "hostname": self.host,
            "port": self.port,
            "server_hostname": "chrontainer-test-smtp",  # skips a slow getfqdn()
            "authenticator": self._authenticate,
        }
        if self.mode == "starttls":
            self._controller = Controller(self._handler, tls_context=context,
                                          require_starttls=True, **common)
        else:
            # aiosmtpd only counts STARTTLS as "TLS" for AUTH: allow AUTH on the implicit TLS
            # socket, which is encrypted from the first byte.
            self._controller = Controller(self._handler, ssl_context=context,
                                          auth_require_tls=False, **common)
        # Controller.start blocks until its thread's loop serves.
        await asyncio.to_thread(self._controller.start)
        return self

    async def stop(self) -> None:
        if self._controller is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._controller.stop)
            self._controller = None
        self._dir.cleanup()

    async def __aenter__(self) -> SmtpReceiver:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

