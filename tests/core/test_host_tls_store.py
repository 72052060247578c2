"""Hosts with TLS in the database: the key encrypted at rest, unreadable keys, migration 0002."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chrontainer_core import HostSpec, HostTLS
from chrontainer_core.secrets import SecretBox
from chrontainer_core.store import Database, HostRepository, migrate
from chrontainer_core.store.hosts import TLS_KEY_UNREADABLE

from ..pki import Pki, make_pki


@pytest.fixture(scope="module")
def material() -> Pki:
    return make_pki()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "chrontainer.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{db_path}")
    yield database
    await database.close()


def raw_row(path: Path, slug: str) -> dict[str, str | None]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM hosts WHERE slug = ?", (slug,)).fetchone()
    return dict(row)


def spec_with_tls(pki: Pki, slug: str = "nas") -> HostSpec:
    return HostSpec(
        slug=slug, name=slug, url="tcp://10.0.0.5:2376",
        tls=HostTLS(ca_cert=pki.ca.cert, client_cert=pki.client.cert, client_key=pki.client.key),
    )


async def test_key_is_encrypted_at_rest_and_reads_back(
    db: Database, db_path: Path, material: Pki
) -> None:
    repo = HostRepository(db, secrets=SecretBox("the key"))
    spec = spec_with_tls(material)
    await repo.add(spec)
    row = raw_row(db_path, "nas")
    assert row["tls_ca"] == material.ca.cert and row["tls_cert"] == material.client.cert
    assert row["tls_key_encrypted"] and "PRIVATE KEY" not in row["tls_key_encrypted"]
    assert material.client.key.splitlines()[1] not in str(row)
    # Another repository (a restart) with the same key reads the same spec back.
    assert await HostRepository(db, secrets=SecretBox("the key")).get("nas") == spec


async def test_a_wrong_key_gives_a_repairable_host(db: Database, material: Pki) -> None:
    await HostRepository(db, secrets=SecretBox("old key")).add(spec_with_tls(material))
    repo = HostRepository(db, secrets=SecretBox("new key"))
    [spec] = await repo.list()
    assert spec.tls is not None and spec.tls.key_error == TLS_KEY_UNREADABLE
    assert spec.tls.client_key == "" and spec.tls.ca_cert == material.ca.cert
    # Unrelated changes keep the undecryptable value (the old key may come back).
    version = await repo.version()
    await repo.update("nas", name="NAS")
    assert (await repo.get("nas")).tls == spec.tls
    # Re-entering the material repairs it under the new key.
    fixed = await repo.update("nas", tls=spec_with_tls(material).tls)
    assert fixed.tls == spec_with_tls(material).tls
    assert await repo.version() > version
    # ... and tls=None removes TLS altogether.
    assert (await repo.update("nas", tls=None)).tls is None


async def test_without_a_box_tls_cannot_be_stored(db: Database, material: Pki) -> None:
    with pytest.raises(RuntimeError, match="SecretBox"):
        await HostRepository(db).add(spec_with_tls(material))
    await HostRepository(db).add(HostSpec(slug="plain", name="plain", url="tcp://10.0.0.6:2375"))
    assert (await HostRepository(db).get("plain")).tls is None


async def test_config_upserts_leave_tls_alone(db: Database, material: Pki) -> None:
    repo = HostRepository(db, secrets=SecretBox("k"))
    await repo.add(spec_with_tls(material))
    await repo.upsert(HostSpec(slug="nas", name="Renamed", url="tcp://10.0.0.5:2376"))
    stored = await repo.get("nas")
    assert stored.name == "Renamed" and stored.tls == spec_with_tls(material).tls


def test_migration_0002_keeps_hosts_and_downgrades(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url, "0001")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO hosts (slug, name, url, created_at, updated_at) "
            "VALUES ('old', 'Old', 'unix:///x.sock', '2024-01-01 00:00:00', '2024-01-01 00:00:00')"
        )
    migrate.upgrade(url)
    row = raw_row(path, "old")
    assert row["name"] == "Old" and row["tls_ca"] is None and row["tls_key_encrypted"] is None
    migrate.downgrade(url, "0001")
    assert "tls_ca" not in raw_row(path, "old")
    assert migrate.current(url) == "0001"
