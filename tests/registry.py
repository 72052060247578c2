"""Real image registries for the tests: Debian's ``docker-registry`` (distribution 2.8.2).

Three registries run once per test session (fixtures ``plain_registry``, ``htpasswd_registry``,
``token_registry`` in tests/conftest.py), each on 127.0.0.1 on a free port (engines treat
127.0.0.0/8 as insecure registries, so plain http pushes and pulls work without TLS):

- ``plain``: no authentication.
- ``htpasswd``: ``auth.htpasswd`` with a bcrypt entry made by ``htpasswd -Bbn`` (apache2-utils);
  HTTP Basic on every request.
- ``token``: ``auth.token`` (the Docker token flow): the registry answers 401 with
  ``WWW-Authenticate: Bearer realm=...,service=...,scope=...``; the realm is a small aiohttp
  token server started here on its own thread and event loop (so it answers whatever loop a
  test runs on). It checks HTTP Basic credentials (GET) or an OAuth2 password grant (POST) and
  returns ``{"token", "access_token", "expires_in", "issued_at"}``, a JWT signed RS256 by the
  key of a self-signed certificate made at test time; the registry trusts it through
  ``rootcertbundle``. The JWT header's ``kid`` is the libtrust key id of the public key
  (distribution 2.8 looks ``kid`` up among the bundle's keys when there is no ``x5c``).
  The user gets ``pull,push`` on every repository and ``*`` on ``registry:catalog:*``; an
  anonymous request gets a token granting nothing; a wrong password gets 401.

Every registry's config (written next to its storage in a temp dir)::

    version: 0.1
    log: {level: info, formatter: text}        # plus the access log, one line per request
    storage: {filesystem: {rootdirectory: DIR}, delete: {enabled: true}}
    http: {addr: 127.0.0.1:PORT, secret: RANDOM}   # no debug server
    auth: {htpasswd: {realm, path}} | {token: {realm, service, issuer, rootcertbundle}}

The registry's stdout and stderr go to ``log_path``: a test can count requests in it. A missing
``docker-registry`` binary skips the registry tests locally and fails them when ``CI=true``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from .live import TEST_LABEL, Engine, docker, free_port, test_image

REGISTRY_BINARY = "docker-registry"
# Whether a test pushed to a test registry since the last remove_registry_images (modules that
# never do skip the cleanup: it costs a few docker calls).
pushed = False
TOKEN_SERVICE = "chrontainer-test-registry"
TOKEN_ISSUER = "chrontainer-test-issuer"
USERNAME = "alice"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(public_key: rsa.RSAPublicKey) -> str:
    """The libtrust key id distribution matches a JWT ``kid`` against.

    SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32 (no padding), in 12 groups
    of 4 characters joined by ``:``.
    """
    der = public_key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo)
    b32 = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


class TokenServer:
    """The token realm of the ``token`` registry (see the module docstring)."""

    def __init__(self, *, username: str, password: str) -> None:
        self.username = username
        self.password = password
        self.port = free_port()
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.now(UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chrontainer test token")])
        self.cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=7))
            .sign(self.key, hashes.SHA256())
        )
        self.kid = libtrust_key_id(self.key.public_key())
        self.requests = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def make_token(self, subject: str, access: list[dict[str, Any]],
                   expires_in: int = 300) -> str:
        """A JWT the registry accepts, granting ``access`` to ``subject``."""
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid}
        claims = {"iss": TOKEN_ISSUER, "sub": subject, "aud": TOKEN_SERVICE,
                  "exp": now + expires_in, "nbf": now - 60, "iat": now,
                  "jti": uuid.uuid4().hex, "access": access}
        signing_input = (_b64url(json.dumps(header).encode()) + "."
                         + _b64url(json.dumps(claims).encode()))
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature)

    def _grant(self, scopes: list[str]) -> list[dict[str, Any]]:
        access = []
        for scope in scopes:
            for one in scope.split(" "):
                parts = one.split(":")
                if len(parts) < 3:
                    continue
                kind, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1].split(",")
                if kind == "repository":
                    granted = [a for a in actions if a in ("pull", "push", "delete")]
                elif kind == "registry" and name == "catalog":
                    granted = ["*"] if "*" in actions else []
                else:
                    granted = []
                if granted:
                    access.append({"type": kind, "name": name, "actions": granted})
        return access

    async def _token(self, request: web.Request) -> web.Response:
        self.requests += 1
        user: str | None = None
        password: str | None = None
        scopes = request.query.getall("scope", [])
        if request.method == "POST":
            form = await request.post()
            if form.get("grant_type") == "password":
                user, password = str(form.get("username", "")), str(form.get("password", ""))
            scopes += [str(s) for s in form.getall("scope", [])]
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return web.json_response({"details": "bad basic header"}, status=400)
        if user is None:
            # Anonymous: a valid token that grants nothing, as public registries hand out.
            subject, access = "", []
        elif user == self.username and secrets.compare_digest(password or "", self.password):
            subject, access = user, self._grant(scopes)
        else:
            return web.json_response({"details": "incorrect username or password"},
                                     status=401)
        token = self.make_token(subject, access)
        return web.json_response({
            "token": token, "access_token": token, "expires_in": 300,
            "issued_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        })

    def start(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            app = web.Application()
            app.router.add_route("GET", "/token", self._token)
            app.router.add_route("POST", "/token", self._token)
            self._runner = web.AppRunner(app, access_log=None)
            try:
                loop.run_until_complete(self._runner.setup())
                site = web.TCPSite(self._runner, "127.0.0.1", self.port)
                loop.run_until_complete(site.start())
            except BaseException as exc:  # report to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="token-server", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)


@dataclass
class TestRegistry:
    """One running ``docker-registry`` (see the module docstring)."""

    __test__ = False  # not a test class, despite the name

    host: str
    auth: str
    log_path: Path
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token_server: TokenServer | None = field(default=None, repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    directory: Path | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def ref(self, repo: str, tag: str = "latest") -> str:
        """The reference ``host/repo:tag`` of an image on this registry."""
        return f"{self.host}/{repo}:{tag}"

    async def push(self, engine: Engine, source_image: str, repo: str, tag: str = "latest",
                   *, keep_local: bool = False) -> str:
        """Tag ``source_image`` as ``host/repo:tag`` on ``engine`` and push it here.

        Logs in (auth registries) with a temporary ``--config`` directory, so nothing touches
        ~/.docker. The local tag is removed afterwards unless ``keep_local`` (the image itself
        stays). Returns the pushed reference.
        """
        reference = self.ref(repo, tag)
        global pushed
        pushed = True  # the module's end removes what was pulled from here (conftest.py)
        with tempfile.TemporaryDirectory(prefix="ct-docker-config-") as config:
            if self.username is not None:
                await _docker_stdin(engine, (self.password or "").encode(), "--config", config,
                                    "login", "-u", self.username, "--password-stdin",
                                    self.host)
            await docker(engine, "tag", source_image, reference)
            try:
                await docker(engine, "--config", config, "push", reference)
            finally:
                if not keep_local:
                    await docker(engine, "rmi", reference, check=False)
        return reference

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.token_server is not None:
            self.token_server.stop()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


async def _docker_stdin(engine: Engine, data: bytes, *args: str) -> str:
    env = {**os.environ, "DOCKER_HOST": engine.url}
    proc = await asyncio.create_subprocess_exec(
        "docker", *args, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate(data)
    if proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {err.decode().strip()}")
    return out.decode().strip()


def require_registry_binary() -> str:
    """The docker-registry binary; missing it skips locally and fails on CI."""
    path = shutil.which(REGISTRY_BINARY)
    if path is None:
        message = ("docker-registry is not installed (Debian package docker-registry; "
                   "scripts/test-env installs it)")
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def _htpasswd_line(username: str, password: str) -> str:
    if shutil.which("htpasswd") is None:
        message = "htpasswd is not installed (Debian package apache2-utils)"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    out = subprocess.run(["htpasswd", "-Bbn", username, password], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip() + "\n"


def start_registry(auth: str) -> TestRegistry:
    """Start one registry (``auth`` is "none", "htpasswd" or "token") and wait until it answers.

    Blocking (subprocess + polling): call it from a thread, or from a sync fixture.
    """
    binary = require_registry_binary()
    directory = Path(tempfile.mkdtemp(prefix=f"ct-registry-{auth}-"))
    port = free_port()
    while port == 5000:  # the conventional registry port may belong to something real
        port = free_port()
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "formatter": "text", "accesslog": {"disabled": False}},
        "storage": {"filesystem": {"rootdirectory": str(directory / "data")},
                    "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
    }
    username = password = None
    token_server = None
    if auth == "htpasswd":
        username, password = USERNAME, "htpasswd-" + secrets.token_hex(6)
        (directory / "htpasswd").write_text(_htpasswd_line(username, password))
        config["auth"] = {"htpasswd": {"realm": "chrontainer-test",
                                       "path": str(directory / "htpasswd")}}
    elif auth == "token":
        username, password = USERNAME, "token-" + secrets.token_hex(6)
        token_server = TokenServer(username=username, password=password)
        token_server.start()
        (directory / "token-cert.pem").write_text(token_server.cert_pem())
        config["auth"] = {"token": {"realm": token_server.realm, "service": TOKEN_SERVICE,
                                    "issuer": TOKEN_ISSUER,
                                    "rootcertbundle": str(directory / "token-cert.pem")}}
    elif auth != "none":
        raise ValueError(auth)
    (directory / "config.yml").write_text(yaml.safe_dump(config))
    log_path = directory / "registry.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([binary, "serve", str(directory / "config.yml")],
                                   stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    registry = TestRegistry(host=f"127.0.0.1:{port}", auth=auth, log_path=log_path,
                            username=username, password=password, token_server=token_server,
                            process=process, directory=directory)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            text = log_path.read_text(errors="replace")[-2000:]
            registry.stop()
            raise AssertionError(f"docker-registry ({auth}) exited: {text}")
        try:
            with urllib.request.urlopen(f"{registry.url}/v2/", timeout=2):
                break
        except urllib.error.HTTPError:
            break  # 401 from an auth registry: it answers
        except OSError:
            if time.monotonic() > deadline:
                registry.stop()
                raise AssertionError(f"docker-registry ({auth}) did not answer") from None
            time.sleep(0.05)
    return registry


def _write_build_context(context: Path, layers: int, layer_bytes: int) -> None:
    lines = [f"FROM {test_image()}", f"LABEL {TEST_LABEL}=1"]
    for i in range(layers):
        (context / f"layer{i}.bin").write_bytes(os.urandom(layer_bytes))
        lines.append(f"COPY layer{i}.bin /layer{i}.bin")
    (context / "Dockerfile").write_text("\n".join(lines) + "\n")


async def build_random_image(engine: Engine, tag: str, *, layers: int = 2,
                             layer_bytes: int = 1_000_000) -> str:
    """Build ``tag`` FROM the test image with ``layers`` layers of random bytes; its id.

    Random bytes do not compress, so the layers really weigh ``layer_bytes`` each on the wire.
    The image carries the ``chrontainer.test=1`` label.
    """
    with tempfile.TemporaryDirectory(prefix="ct-build-") as context:
        await asyncio.to_thread(_write_build_context, Path(context), layers, layer_bytes)
        env = {**os.environ, "DOCKER_HOST": engine.url, "DOCKER_BUILDKIT": "0"}
        proc = await asyncio.create_subprocess_exec(
            "docker", "build", "-q", "--label", f"{TEST_LABEL}=1", "-t", tag, context,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        if proc.returncode != 0:
            raise AssertionError(f"docker build failed: {err.decode().strip()}")
    return out.decode().strip().splitlines()[-1]


async def remove_registry_images(engine: Engine) -> None:
    """Untag every labelled image pulled from a test registry (``127.0.0.1:PORT/...``) that no
    container uses, then prune the labelled images left dangling (an image replaced under its
    tag by a newer version)."""
    global pushed
    pushed = False
    out = await docker(engine, "images", "--filter", f"label={TEST_LABEL}=1", "--format",
                       "{{.Repository}}:{{.Tag}}", check=False)
    refs = [r for r in out.split() if r.startswith("127.0.0.1:") and not r.endswith(":<none>")]
    if refs:
        await docker(engine, "rmi", *refs, check=False)  # in-use ones refuse and stay
    await docker(engine, "image", "prune", "-f", "--filter", f"label={TEST_LABEL}=1",
                 check=False)
