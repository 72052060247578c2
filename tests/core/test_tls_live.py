"""TLS hosts against a real engine started with --tlsverify (tests/engines.py), daemon mode.

The engine, its CA and the certificates are made for the session (fixtures ``tls_engine`` and
``pki`` in tests/conftest.py); an unrelated CA shows that trust is really checked.
"""

from __future__ import annotations

import sqlite3
import ssl
import stat
from pathlib import Path

import pytest

from chrontainer_core import Chrontainer, HostSpec, HostStatus, HostTLS, HostUnreachable
from chrontainer_core.config import Config, load_config
from chrontainer_core.docker.host import DockerHost
from chrontainer_core.secrets import SECRET_KEY_FILE

from ..dbtemplate import migrated
from ..engines import DedicatedEngine
from ..live import wait_for
from ..pki import Pki

pytestmark = pytest.mark.live

SYNC_TIMEOUT = 30


def tls_of(pki: Pki, *, ca: str | None = None, client: str = "client") -> HostTLS:
    pair = pki.client if client == "client" else pki.other_client
    return HostTLS(ca_cert=ca or pki.ca.cert, client_cert=pair.cert, client_key=pair.key)


def make_config(data_dir: Path, secret_key: str | None = None) -> Config:
    """A daemon config as `serve` would load it, CHRONTAINER_SECRET_KEY included."""
    env = {"CHRONTAINER_DATA_DIR": str(data_dir)}
    if secret_key is not None:
        env["CHRONTAINER_SECRET_KEY"] = secret_key
    config = load_config(environ=env)
    # The first start must not add the main engine as "local": these tests look at one host.
    return Config(data_dir=config.data_dir, secret_key=config.secret_key,
                  default_docker_url="tcp://127.0.0.1:9", host_poll_interval=0.2)


@pytest.fixture
async def data_dir(tmp_path: Path) -> Path:
    migrated(make_config(tmp_path).database_url)
    return tmp_path


def stored_row(config: Config, slug: str) -> dict[str, str | None]:
    assert config.sqlite_path is not None
    with sqlite3.connect(config.sqlite_path) as conn:
        conn.row_factory = sqlite3.Row
        return dict(conn.execute("SELECT * FROM hosts WHERE slug = ?", (slug,)).fetchone())


async def test_tls_host_syncs_and_its_key_is_encrypted_at_rest(
    data_dir: Path, tls_engine: DedicatedEngine, pki: Pki
) -> None:
    config = make_config(data_dir)
    async with Chrontainer.from_config(config) as ch:
        state = await ch.hosts.add(
            HostSpec(slug="secure", name="Secure", url=tls_engine.url, tls=tls_of(pki))
        )
        assert state.tls is True
        watcher = ch.hosts.get("secure")
        assert await watcher.wait_synced(SYNC_TIMEOUT), watcher.error
        assert watcher.state().api_version and watcher.state().tls is True
        # An engine call other than the sync, through the same TLS connection.
        assert (await watcher.host.version()).api_version == watcher.state().api_version

    # At rest: certificates in clear, the key encrypted with the generated key file (0600).
    row = stored_row(config, "secure")
    assert row["tls_ca"] == pki.ca.cert and row["tls_cert"] == pki.client.cert
    encrypted = row["tls_key_encrypted"] or ""
    assert encrypted and "PRIVATE KEY" not in encrypted
    assert pki.client.key.splitlines()[1] not in str(row)
    key_file = data_dir / SECRET_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    # A restart reads the key back (same key file) and connects again.
    async with Chrontainer.from_config(config) as ch:
        watcher = ch.hosts.get("secure")
        assert await watcher.wait_synced(SYNC_TIMEOUT), watcher.error
        assert watcher.host.spec.tls == tls_of(pki)


async def test_wrong_ca_goes_offline_with_a_tls_error(
    data_dir: Path, tls_engine: DedicatedEngine, pki: Pki
) -> None:
    async with Chrontainer.from_config(make_config(data_dir)) as ch:
        await ch.hosts.add(HostSpec(slug="wrong-ca", name="Wrong CA", url=tls_engine.url,
                                    tls=tls_of(pki, ca=pki.other_ca.cert)))
        watcher = ch.hosts.get("wrong-ca")
        assert not await watcher.wait_synced(SYNC_TIMEOUT)
        assert watcher.status is HostStatus.OFFLINE
        assert watcher.error is not None
        assert "TLS handshake failed: certificate verify failed" in watcher.error, watcher.error


async def test_the_engine_refuses_clients_without_a_trusted_certificate(
    data_dir: Path, tls_engine: DedicatedEngine, pki: Pki
) -> None:
    # No client certificate at all: a context with the right CA and nothing to present.
    host = DockerHost(HostSpec(slug="anon", name="anon", url=tls_engine.url, tls=tls_of(pki)))
    host._ssl_context = ssl.create_default_context(cadata=pki.ca.cert)
    try:
        with pytest.raises(HostUnreachable) as info:
            await host.version()
        assert "client certificate" in info.value.message, info.value.message
    finally:
        await host.close()

    async with Chrontainer.from_config(make_config(data_dir)) as ch:
        # A client certificate from a CA the engine does not trust.
        await ch.hosts.add(HostSpec(slug="stranger", name="Stranger", url=tls_engine.url,
                                    tls=tls_of(pki, client="other")))
        # No TLS at all against a TLS engine.
        await ch.hosts.add(HostSpec(slug="plain", name="Plain", url=tls_engine.url))
        for slug, expected in (("stranger", "client certificate"),
                               ("plain", "the engine requires TLS")):
            watcher = ch.hosts.get(slug)
            assert not await watcher.wait_synced(SYNC_TIMEOUT)
            assert watcher.status is HostStatus.OFFLINE
            assert expected in (watcher.error or ""), watcher.error


async def test_wrong_secret_key_on_restart_is_repairable(
    data_dir: Path, tls_engine: DedicatedEngine, pki: Pki
) -> None:
    async with Chrontainer.from_config(make_config(data_dir, "the first secret key")) as ch:
        await ch.hosts.add(HostSpec(slug="secure", name="Secure", url=tls_engine.url,
                                    tls=tls_of(pki)))
        assert await ch.hosts.get("secure").wait_synced(SYNC_TIMEOUT)

    # Restart with another CHRONTAINER_SECRET_KEY: no crash, the host is offline and says why.
    async with Chrontainer.from_config(make_config(data_dir, "another secret key")) as ch:
        watcher = ch.hosts.get("secure")
        assert not await watcher.wait_synced(SYNC_TIMEOUT)
        state = watcher.state()
        assert state.status is HostStatus.OFFLINE and state.tls is True
        assert state.error is not None
        assert "cannot decrypt the TLS key: re-enter it" in state.error

        # Re-entering the material stores it under the new key and the host comes back.
        state = await ch.hosts.update("secure", tls=tls_of(pki))
        assert await ch.hosts.get("secure").wait_synced(SYNC_TIMEOUT)
        await wait_for(lambda: ch.hosts.get("secure").status is HostStatus.ONLINE,
                       timeout=SYNC_TIMEOUT, what="online after re-entering the TLS material")

    async with Chrontainer.from_config(make_config(data_dir, "another secret key")) as ch:
        assert await ch.hosts.get("secure").wait_synced(SYNC_TIMEOUT)
