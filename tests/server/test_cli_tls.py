"""`chrontainer hosts add ... --tls-ca/--tls-cert/--tls-key` against the TLS engine."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ..engines import DedicatedEngine
from ..pki import Pki
from .test_cli import chrontainer

pytestmark = pytest.mark.live


async def test_add_a_tls_host_from_files(tmp_path: Path, tls_engine: DedicatedEngine,
                                         pki: Pki) -> None:
    files = {"ca.pem": pki.ca.cert, "cert.pem": pki.client.cert, "key.pem": pki.client.key}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    env = {"CHRONTAINER_DATA_DIR": str(tmp_path / "data")}
    tls_args = ("--tls-ca", str(tmp_path / "ca.pem"), "--tls-cert", str(tmp_path / "cert.pem"),
                "--tls-key", str(tmp_path / "key.pem"))

    code, out, err = await chrontainer("hosts", "add", "secure", tls_engine.url, *tls_args,
                                       env=env)
    assert code == 0, err
    code, out, _ = await chrontainer("hosts", "list", env=env)
    assert out.strip() == f"secure\tsecure\t{tls_engine.url}\ttls"
    code, out, err = await chrontainer("hosts", "test", "secure", env=env)
    assert code == 0, err
    assert out.startswith("secure: Docker ")
    with sqlite3.connect(tmp_path / "data" / "chrontainer.db") as conn:
        (stored,) = conn.execute("SELECT tls_key_encrypted FROM hosts").fetchone()
    assert "PRIVATE KEY" not in stored

    # All three or none; unreadable or invalid files are clear errors.
    code, _, err = await chrontainer("hosts", "add", "half", tls_engine.url, *tls_args[:2],
                                     env=env)
    assert code == 2 and "go together" in err
    code, _, err = await chrontainer(
        "hosts", "add", "gone", tls_engine.url, *tls_args[:4], "--tls-key",
        str(tmp_path / "missing.pem"), env=env)
    assert code == 1 and "--tls-key: cannot read" in err
    code, _, err = await chrontainer(
        "hosts", "add", "swapped", tls_engine.url, "--tls-ca", str(tmp_path / "key.pem"),
        *tls_args[2:], env=env)
    assert code == 1 and "tls.ca_cert" in err
