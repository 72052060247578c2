"""The store on real SQLite files: migrations, pragmas, hosts, audit trail, instance lock."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, select, text

from chrontainer_core.actor import Actor, ActorKind
from chrontainer_core.audit import DbAuditTrail, LogAuditTrail
from chrontainer_core.config import Config
from chrontainer_core.errors import Conflict, InstanceLocked, NotFound
from chrontainer_core.models import HostSpec
from chrontainer_core.store import Database, HostRepository, InstanceLock, migrate
from chrontainer_core.store.lock import FileInstanceLock, PostgresInstanceLock
from chrontainer_core.store.migrations import HEAD
from chrontainer_core.store.tables import Base, HostRow

REPO = Path(__file__).resolve().parents[2]
TABLES = {"hosts", "audit_log", "change_counters", "users", "recovery_codes", "sessions",
          "api_keys", "settings"}


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def table_names(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {name for (name,) in rows}


def ticking_clock() -> Callable[[], datetime]:
    """A clock that advances one second per call, so ordering by time is deterministic."""
    start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    ticks = itertools.count()
    return lambda: start + timedelta(seconds=next(ticks))


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = sqlite_url(tmp_path / "data" / "chrontainer.db")
    migrate.upgrade(url)
    return url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.close()


# --- migrations ----------------------------------------------------------------------------


def test_upgrade_to_head_and_down_to_base(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "chrontainer.db"
    url = sqlite_url(path)
    assert migrate.current(url) is None
    assert not path.exists()  # looking does not create a database

    migrate.upgrade(url)
    assert table_names(path) >= TABLES
    assert migrate.current(url) == migrate.head() == HEAD

    migrate.downgrade(url, "base")
    assert not TABLES & table_names(path)
    assert migrate.current(url) is None


def test_migrations_match_the_tables(db_url: str) -> None:
    """The hand-written revisions create exactly what tables.py declares."""
    engine = create_engine(db_url.replace("+aiosqlite", ""))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


async def test_migrate_from_a_running_loop_via_thread(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "t.db")
    await asyncio.to_thread(migrate.upgrade, url)
    assert await asyncio.to_thread(migrate.current, url) == HEAD


# --- database ------------------------------------------------------------------------------


async def test_sqlite_pragmas(db: Database) -> None:
    async with db.session() as session:
        assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await session.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await session.execute(text("PRAGMA busy_timeout"))).scalar() == 5000
        assert (await session.execute(text("PRAGMA synchronous"))).scalar() == 1  # NORMAL


async def test_session_commits_or_rolls_back(db: Database) -> None:
    now = datetime.now(UTC)
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            session.add(
                HostRow(slug="a", name="a", url="unix:///a", created_at=now, updated_at=now)
            )
            await session.flush()
            raise RuntimeError("boom")
    async with db.session() as session:
        assert (await session.scalars(select(HostRow))).all() == []
        session.add(HostRow(slug="b", name="b", url="unix:///b", created_at=now, updated_at=now))
    async with db.session() as session:
        row = await session.get(HostRow, "b")
        assert row is not None
        assert row.created_at == now
        assert row.created_at.tzinfo is UTC


# --- hosts ---------------------------------------------------------------------------------


async def test_host_repository_crud(db: Database) -> None:
    repo = HostRepository(db)
    local = HostSpec(slug="local", name="Local", url="unix:///var/run/docker.sock")
    nas = HostSpec(slug="nas", name="NAS", url="tcp://10.0.0.2:2375")
    assert await repo.list() == []
    assert await repo.version() == 0

    await repo.add(nas)
    await repo.add(local)
    assert await repo.list() == [local, nas]  # ordered by slug
    assert await repo.version() == 2
    assert await repo.get("nas") == nas

    with pytest.raises(Conflict, match="'nas' already exists"):
        await repo.add(HostSpec(slug="nas", name="other", url="unix:///x"))
    with pytest.raises(NotFound, match="'nope'"):
        await repo.get("nope")
    assert await repo.version() == 2  # failed calls change nothing

    renamed = await repo.update("nas", name="Big NAS")
    assert renamed == HostSpec(slug="nas", name="Big NAS", url=nas.url)
    assert await repo.get("nas") == renamed
    assert await repo.version() == 3
    assert await repo.update("nas", name="Big NAS") == renamed  # no-op
    assert await repo.version() == 3
    moved = await repo.update("nas", url="tcp://10.0.0.3:2375")
    assert moved.url == "tcp://10.0.0.3:2375"
    assert moved.name == "Big NAS"
    assert await repo.version() == 4
    with pytest.raises(NotFound):
        await repo.update("nope", name="x")

    await repo.remove("local")
    assert [h.slug for h in await repo.list()] == ["nas"]
    assert await repo.version() == 5
    with pytest.raises(NotFound):
        await repo.remove("local")
    assert await repo.version() == 5


async def test_host_upsert(db: Database) -> None:
    repo = HostRepository(db)
    spec = HostSpec(slug="edge", name="Edge", url="tcp://edge:2375")
    assert await repo.upsert(spec) is True
    assert await repo.upsert(spec) is False
    assert await repo.version() == 1
    assert await repo.upsert(HostSpec(slug="edge", name="Edge 2", url=spec.url)) is True
    assert (await repo.get("edge")).name == "Edge 2"
    assert await repo.version() == 2


async def test_host_timestamps(db: Database) -> None:
    clock = ticking_clock()
    repo = HostRepository(db, clock=clock)
    await repo.add(HostSpec(slug="a", name="A", url="unix:///a"))
    await repo.update("a", name="B")
    async with db.session() as session:
        row = await session.get(HostRow, "a")
        assert row is not None
        assert row.created_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
        assert row.updated_at == datetime(2024, 5, 1, 12, 0, 1, tzinfo=UTC)


async def test_host_version_seen_by_another_connection_pool(db: Database, db_url: str) -> None:
    """A second Database (as the CLI in another process would open) bumps the version."""
    server = HostRepository(db)
    before = await server.version()
    cli_db = Database(db_url)
    try:
        await HostRepository(cli_db).add(HostSpec(slug="cli", name="cli", url="unix:///c"))
    finally:
        await cli_db.close()
    assert await server.version() == before + 1
    assert [h.slug for h in await server.list()] == ["cli"]


# --- audit ---------------------------------------------------------------------------------

ALICE = Actor(kind=ActorKind.USER, id="u1", name="alice", source_ip="192.0.2.7")


async def test_db_audit_track_ok_and_error(db: Database) -> None:
    audit = DbAuditTrail(db, clock=ticking_clock())
    async with audit.track(ALICE, "container.restart", "local/web"):
        pass
    with pytest.raises(NotFound):
        async with audit.track(Actor.cli(), "host.remove", "ghost"):
            raise NotFound("host 'ghost' not found")

    entries, total = await audit.list()
    assert total == 2
    error, ok = entries  # newest first
    assert ok.actor == ALICE
    assert (ok.action, ok.target, ok.result, ok.error) == (
        "container.restart",
        "local/web",
        "ok",
        None,
    )
    assert ok.time == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert error.actor == Actor(kind=ActorKind.CLI, id="cli", name="cli", source_ip=None)
    assert (error.action, error.target, error.result) == ("host.remove", "ghost", "error")
    assert error.error == "host 'ghost' not found"
    assert error.time.tzinfo is UTC


async def test_db_audit_paging_and_filters(db: Database) -> None:
    audit = DbAuditTrail(db, clock=ticking_clock())
    for i in range(5):
        await audit.record(ALICE, "container.start", f"local/c{i}")
    await audit.record(Actor.system(), "host.add", "local", error="engine said no")

    page, total = await audit.list(limit=2, offset=1)
    assert total == 6
    assert [e.target for e in page] == ["local/c4", "local/c3"]

    starts, total = await audit.list(action="container.start", limit=10)
    assert total == 5
    assert [e.target for e in starts] == [f"local/c{i}" for i in (4, 3, 2, 1, 0)]

    system, total = await audit.list(actor_kind=ActorKind.SYSTEM)
    assert total == 1
    assert system[0].error == "engine said no"
    assert (await audit.list(actor_kind="user", target="local/c2"))[1] == 1
    assert await audit.list(target="nothing") == ([], 0)


async def test_audit_records_cancellation(db: Database) -> None:
    audit = DbAuditTrail(db)

    async def action() -> None:
        async with audit.track(ALICE, "image.pull", "local/busybox"):
            await asyncio.sleep(3600)

    task = asyncio.create_task(action())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    entries, _ = await audit.list()
    assert (entries[0].result, entries[0].error) == ("error", "cancelled")


async def test_audit_write_failure_never_masks_the_action(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(LogAuditTrail):
        async def _write(self, *args: object, **kwargs: object) -> None:
            raise OSError("disk full")

    audit = Broken()
    async with audit.track(ALICE, "container.stop", "local/web"):
        done = True
    assert done
    with pytest.raises(ValueError, match="the real error"):
        async with audit.track(ALICE, "container.stop", "local/web"):
            raise ValueError("the real error")
    assert "could not write audit entry user:alice container.stop local/web" in caplog.text


async def test_log_audit_trail_keeps_entries(caplog: pytest.LogCaptureFixture) -> None:
    audit = LogAuditTrail(keep=3)
    with caplog.at_level(logging.INFO, logger="chrontainer_core.audit"):
        async with audit.track(Actor.library(), "container.start", "local/a"):
            pass
        with pytest.raises(KeyError):
            async with audit.track(Actor.library(), "container.stop", "local/b"):
                raise KeyError("b")
    assert "audit: library:library container.start local/a: ok" in caplog.text
    assert "container.stop local/b: error: 'b'" in caplog.text

    entries, total = await audit.list()
    assert total == 2
    assert [(e.id, e.target, e.result) for e in entries] == [
        (2, "local/b", "error"),
        (1, "local/a", "ok"),
    ]
    for i in range(3):
        await audit.record(ALICE, "host.add", f"h{i}")
    entries, total = await audit.list(limit=2)
    assert total == 3  # only the last `keep` entries stay
    assert [e.target for e in entries] == ["h2", "h1"]
    assert (await audit.list(action="host.add", offset=2))[0][0].target == "h0"


# --- instance lock -------------------------------------------------------------------------

LOCK_SCRIPT = """
import asyncio, sys
from pathlib import Path
from chrontainer_core.config import Config
from chrontainer_core.errors import InstanceLocked
from chrontainer_core.store.lock import InstanceLock

async def main() -> int:
    lock = InstanceLock.for_config(Config(data_dir=Path(sys.argv[1])))
    try:
        await lock.acquire()
    except InstanceLocked as err:
        print(err)
        return 3
    await lock.release()
    print("acquired")
    return 0

sys.exit(asyncio.run(main()))
"""


async def try_lock_in_subprocess(data_dir: Path) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        LOCK_SCRIPT,
        str(data_dir),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode in (0, 3), err.decode()
    return proc.returncode, out.decode().strip()


async def test_instance_lock(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    config = Config(data_dir=data_dir)
    lock = InstanceLock.for_config(config)
    assert isinstance(lock, FileInstanceLock)

    await lock.acquire()
    assert lock.held
    assert (data_dir / "chrontainer.lock").read_text().strip() == str(os.getpid())

    with pytest.raises(InstanceLocked) as info:
        await InstanceLock.for_config(config).acquire()
    assert str(data_dir) in str(info.value)
    assert f"pid {os.getpid()}" in str(info.value)

    code, message = await try_lock_in_subprocess(data_dir)
    assert code == 3
    assert str(data_dir) in message
    assert f"pid {os.getpid()}" in message

    await lock.release()
    assert not lock.held
    await lock.release()  # idempotent
    assert await try_lock_in_subprocess(data_dir) == (0, "acquired")

    async with InstanceLock.for_config(config) as again:
        assert again.held
    assert not again.held


def test_instance_lock_for_postgres() -> None:
    config = Config(database_url="postgresql+asyncpg://chron:pw@db/chron")
    assert isinstance(InstanceLock.for_config(config), PostgresInstanceLock)


async def test_schema_check_agrees_with_alembic(tmp_path: Path) -> None:
    from chrontainer_core.store.migrations import HEAD
    from chrontainer_core.store.schema import schema_is_current

    assert migrate.head() == HEAD
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    assert await schema_is_current(url) is False
    await asyncio.to_thread(migrate.upgrade, url)
    assert await schema_is_current(url) is True
    await asyncio.to_thread(migrate.downgrade, url, "base")
    assert await schema_is_current(url) is False
