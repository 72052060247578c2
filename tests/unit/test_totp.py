"""TOTP and audit retention without a server: drift, replay, recovery codes, pruning."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest

from chrontainer_core.actor import Actor
from chrontainer_core.audit import DbAuditTrail, LogAuditTrail
from chrontainer_core.errors import Conflict
from chrontainer_core.retention import AuditRetention
from chrontainer_core.secrets import SecretBox
from chrontainer_core.store import Database
from chrontainer_core.store.tables import UserRow
from chrontainer_server.auth.errors import InvalidSecondFactor
from chrontainer_server.auth.passwords import Passwords
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.totp import TotpStore, accepted_step, recovery_code_hash
from chrontainer_server.auth.users import UserRepository

from ..dbtemplate import migrated

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)  # a step boundary: 1767268800 / 30


class WallClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def code_at(when: datetime, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).at(when)


def test_a_code_is_accepted_one_step_either_side_and_no_further() -> None:
    step = pyotp.TOTP(SECRET).timecode(T0)
    assert accepted_step(SECRET, code_at(T0), at=T0, last_step=None) == step
    # The phone is 30 s behind or ahead: still fine.
    assert accepted_step(SECRET, code_at(T0 - timedelta(seconds=30)), at=T0,
                         last_step=None) == step - 1
    assert accepted_step(SECRET, code_at(T0 + timedelta(seconds=30)), at=T0,
                         last_step=None) == step + 1
    # Two steps off is too far.
    for off in (-60, 60):
        assert accepted_step(SECRET, code_at(T0 + timedelta(seconds=off)), at=T0,
                             last_step=None) is None
    assert accepted_step(SECRET, "12345", at=T0, last_step=None) is None
    assert accepted_step(SECRET, "abcdef", at=T0, last_step=None) is None
    assert accepted_step(SECRET, f" {code_at(T0)[:3]} {code_at(T0)[3:]} ", at=T0,
                         last_step=None) == step


def test_replay_only_later_steps_are_accepted() -> None:
    step = pyotp.TOTP(SECRET).timecode(T0)
    assert accepted_step(SECRET, code_at(T0), at=T0, last_step=step) is None
    # After the current step was used, an older (drifted) code is refused too.
    assert accepted_step(SECRET, code_at(T0 - timedelta(seconds=30)), at=T0,
                         last_step=step) is None
    assert accepted_step(SECRET, code_at(T0 + timedelta(seconds=30)), at=T0,
                         last_step=step) == step + 1


def test_recovery_code_hash_ignores_case_spaces_and_dashes() -> None:
    assert recovery_code_hash("abcde-fghjk") == recovery_code_hash(" ABCDE FGHJK ")
    assert recovery_code_hash("abcde-fghjk") != recovery_code_hash("abcde-fghjm")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'chrontainer.db'}"
    migrated(url)
    return url


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    yield database
    await database.close()


async def test_store_enroll_confirm_replay_and_single_use_recovery(db: Database) -> None:
    clock = WallClock()
    box = SecretBox("a-test-secret-key-of-some-length")
    store = TotpStore(db, box, clock=clock)
    user = await UserRepository(db, Passwords()).create("alice", "alice-password", Role.VIEWER)

    first = await store.enroll(user.id, "alice")
    again = await store.enroll(user.id, "alice")  # replaces the pending secret
    assert first.secret != again.secret
    assert again.otpauth_uri.startswith("otpauth://totp/Chrontainer:alice?")
    assert again.qr_svg.lstrip().startswith("<svg")
    async with db.session() as session:
        row = await session.get(UserRow, user.id)
        assert row is not None and not row.totp_enabled
        assert row.totp_secret_encrypted and again.secret not in row.totp_secret_encrypted
    assert not await store.enabled(user.id)
    with pytest.raises(InvalidSecondFactor):
        await store.confirm(user.id, code_at(T0, first.secret))  # the replaced secret
    codes = await store.confirm(user.id, code_at(T0, again.secret))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert await store.enabled(user.id)
    with pytest.raises(Conflict):
        await store.enroll(user.id, "alice")

    # The confirming code was used: not again, not even a step later.
    clock.now = T0 + timedelta(seconds=29)
    with pytest.raises(InvalidSecondFactor):
        await store.verify(user.id, code=code_at(T0, again.secret))
    clock.now = T0 + timedelta(seconds=30)
    assert await store.verify(user.id, code=code_at(clock.now, again.secret)) == "totp"
    with pytest.raises(InvalidSecondFactor):
        await store.verify(user.id, code=code_at(clock.now, again.secret))

    assert await store.verify(user.id, recovery_code=codes[0].upper()) == "recovery"
    with pytest.raises(InvalidSecondFactor):
        await store.verify(user.id, recovery_code=codes[0])
    assert await store.verify_either(user.id, codes[1]) == "recovery"

    fresh = await store.regenerate_recovery_codes(user.id)
    with pytest.raises(InvalidSecondFactor):
        await store.verify(user.id, recovery_code=codes[2])  # old codes are gone
    assert await store.verify(user.id, recovery_code=fresh[0]) == "recovery"

    await store.disable(user.id)
    assert not await store.enabled(user.id)
    with pytest.raises(InvalidSecondFactor):
        await store.verify(user.id, recovery_code=fresh[1])
    with pytest.raises(Conflict):
        await store.regenerate_recovery_codes(user.id)


async def _fill(trail: DbAuditTrail | LogAuditTrail, clock: WallClock) -> None:
    for days_ago in (100, 91, 89, 1):
        clock.now = T0 - timedelta(days=days_ago)
        await trail.record(Actor.system(), "test.thing", f"{days_ago}d")
    clock.now = T0


async def test_prune_deletes_only_older_entries(db: Database) -> None:
    clock = WallClock()
    for trail in (DbAuditTrail(db, clock=clock), LogAuditTrail(clock=clock)):
        await _fill(trail, clock)
        assert await trail.prune(T0 - timedelta(days=90)) == 2
        entries, total = await trail.list()
        assert total == 2 and [e.target for e in entries] == ["1d", "89d"]
        assert await trail.prune(T0 - timedelta(days=90)) == 0


class FakeSleep:
    """Records requested sleeps; the test lets the loop through one sleep at a time."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.wake = asyncio.Queue[None]()
        self.asleep = asyncio.Queue[float]()

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await self.asleep.put(seconds)
        await self.wake.get()


async def test_retention_job_runs_after_start_then_daily_with_the_current_setting(
    db: Database,
) -> None:
    clock = WallClock()
    trail = DbAuditTrail(db, clock=clock)
    await _fill(trail, clock)
    days = [90]
    sleep = FakeSleep()
    job = AuditRetention(trail, lambda: days[0], clock=clock, sleep=sleep,
                         first_delay=60, interval=86400)
    job.start()
    try:
        assert await sleep.asleep.get() == 60  # first run shortly after start
        assert (await trail.list())[1] == 4
        sleep.wake.put_nowait(None)
        assert await sleep.asleep.get() == 86400  # ran once, now waits a day
        assert (await trail.list())[1] == 2
        days[0] = 30  # a changed setting applies at the next run
        clock.now = T0 + timedelta(days=1)
        sleep.wake.put_nowait(None)
        assert await sleep.asleep.get() == 86400
        entries, total = await trail.list()
        assert total == 1 and entries[0].target == "1d"
    finally:
        await job.stop()
    assert not job.running
