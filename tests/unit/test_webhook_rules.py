"""Webhook rules: token hashing, CIDR allowlists (IPv6 and mapped addresses), the sliding-window
rate limit on an injected clock, locked-target comparison, the service's refusals on a real
SQLite database, and the access logger's token redaction.

The action runner of the service tests is a recorder: the Docker side of a trigger is tested
live in tests/server/test_webhooks_api_live.py.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request
from aiohttp.web import Response

from chrontainer_core.actor import Actor, ActorKind
from chrontainer_core.audit import LogAuditTrail
from chrontainer_core.errors import InvalidInput, NotFound, PermissionDenied, RateLimited
from chrontainer_core.scheduling.jobs import (
    RunResult,
    RunTrigger,
    ScheduleAction,
    Target,
    TargetKind,
    Webhook,
)
from chrontainer_core.scheduling.runs import RunExecutor
from chrontainer_core.scheduling.store import ScheduleStore
from chrontainer_core.scheduling.webhooks import (
    RateWindow,
    WebhookService,
    check_binding,
    hash_token,
    ip_allowed,
    new_token,
    parse_cidrs,
    token_prefix,
)
from chrontainer_core.store.db import Database
from chrontainer_server.accesslog import REDACTED, RedactingAccessLogger, redact

from ..core.test_store import sqlite_url
from ..dbtemplate import migrated
from ..vclock import VirtualClock

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WEB = Target(kind=TargetKind.CONTAINER, host="nas", key="web")
DB = Target(kind=TargetKind.CONTAINER, host="nas", key="db")


def webhook(**changes: object) -> Webhook:
    base = Webhook(id=7, name="deploy", enabled=True, locked=True,
                   action=ScheduleAction.RESTART, target=WEB, token_prefix="abcdefgh")
    return replace(base, **changes)  # type: ignore[arg-type]


# -- tokens ---------------------------------------------------------------------------------------


def test_tokens_are_256_bit_urlsafe_and_stored_as_sha256() -> None:
    tokens = {new_token() for _ in range(50)}
    assert len(tokens) == 50
    for token in tokens:
        assert len(token) == 43  # 32 bytes, base64url without padding
        assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789-_")
    token = "abcDEF123_-xyz"
    assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert hash_token(token) != hash_token(token + "x")
    assert token_prefix(token) == "abcDEF12"
    # Junk a client sends as a token hashes like anything else (never an exception).
    assert len(hash_token("\udcff" + "x" * 3000)) == 64


# -- CIDR allowlists ------------------------------------------------------------------------------


def test_parse_cidrs_normalises_and_refuses_bad_networks() -> None:
    assert parse_cidrs(["10.0.0.7/24", " 192.168.1.5 ", "2001:db8::1/32", "10.0.0.0/24"]) == (
        "10.0.0.0/24", "192.168.1.5/32", "2001:db8::/32")
    assert parse_cidrs([]) == ()
    for bad, index in ((["10.0.0.0/33"], 0), (["10.0.0.0/8", "nonsense"], 1),
                       (["::/129"], 0), ([""], 0), (["10.0.0.0/-1"], 0)):
        with pytest.raises(InvalidInput) as err:
            parse_cidrs(bad)
        assert err.value.field == f"allowed_cidrs[{index}]"
    with pytest.raises(InvalidInput) as err:
        parse_cidrs(f"10.{i // 256}.{i % 256}.0/24" for i in range(101))
    assert err.value.field == "allowed_cidrs"


@pytest.mark.parametrize(("ip", "cidrs", "allowed"), [
    ("203.0.113.9", [], True),  # an empty allowlist allows anyone
    (None, [], True),
    ("10.9.9.1", ["10.9.9.0/24"], True),
    ("10.9.10.1", ["10.9.9.0/24"], False),
    ("127.0.0.1", ["10.9.9.0/24", "127.0.0.0/8"], True),
    ("2001:db8::5", ["2001:db8::/32"], True),
    ("2001:db9::5", ["2001:db8::/32"], False),
    ("fe80::1%eth0", ["fe80::/10"], True),  # a zone id does not hide the address
    ("::1", ["127.0.0.0/8"], False),  # IPv6 loopback is not IPv4 loopback
    # A dual-stack socket reports IPv4 clients as IPv4-mapped IPv6, and back.
    ("::ffff:10.9.9.1", ["10.9.9.0/24"], True),
    ("::ffff:10.9.10.1", ["10.9.9.0/24"], False),
    ("10.9.9.1", ["::ffff:10.9.9.0/120"], True),
    ("10.9.10.1", ["::ffff:10.9.9.0/120"], False),
    # An unknown or garbled client address never passes a non-empty allowlist.
    (None, ["0.0.0.0/0"], False),
    ("", ["0.0.0.0/0"], False),
    ("not-an-ip", ["0.0.0.0/0"], False),
])
def test_ip_allowed(ip: str | None, cidrs: list[str], allowed: bool) -> None:
    assert ip_allowed(ip, cidrs) is allowed


# -- rate limit -----------------------------------------------------------------------------------


def test_sliding_window_counts_the_last_minute_of_the_injected_clock() -> None:
    window = RateWindow(timedelta(seconds=60))
    now = T0
    for second in (0, 10, 20):
        assert window.retry_after(1, 3, now + timedelta(seconds=second)) is None
        window.add(1, now + timedelta(seconds=second))
    # Full: the oldest call (t=0) leaves the window at t=60.
    assert window.retry_after(1, 3, now + timedelta(seconds=30)) == 30
    assert window.retry_after(1, 3, now + timedelta(seconds=59.5)) == 0.5
    assert window.retry_after(1, 3, now + timedelta(seconds=60)) is None
    window.add(1, now + timedelta(seconds=60))
    assert window.retry_after(1, 3, now + timedelta(seconds=61)) == 9  # now t=10 is oldest
    # Windows are per webhook.
    assert window.retry_after(2, 1, now + timedelta(seconds=61)) is None
    # A limit lowered below the calls already counted waits for enough of them to leave.
    assert window.retry_after(1, 1, now + timedelta(seconds=61)) == 59
    window.forget(1)
    assert window.retry_after(1, 1, now + timedelta(seconds=61)) is None


# -- locked targets -------------------------------------------------------------------------------


def test_a_locked_webhook_runs_its_binding_and_refuses_another() -> None:
    hook = webhook()
    assert check_binding(hook, None, None) == (ScheduleAction.RESTART, WEB)
    # Repeating the bound values is fine (a caller may always send them).
    same = Target(kind=TargetKind.CONTAINER, host="nas", key="web")
    assert check_binding(hook, ScheduleAction.RESTART, same) == (ScheduleAction.RESTART, WEB)
    for action, target in ((ScheduleAction.STOP, None), (None, DB),
                           (ScheduleAction.RESTART, Target(kind=TargetKind.CONTAINER,
                                                           host="other", key="web")),
                           (None, Target(kind=TargetKind.LABEL, host="nas", label="web"))):
        with pytest.raises(PermissionDenied) as err:
            check_binding(hook, action, target)
        assert "locked to restart on container web on nas" in err.value.message


def test_an_unlocked_webhook_needs_both_from_the_request() -> None:
    hook = webhook(locked=False, action=None, target=None)
    assert check_binding(hook, ScheduleAction.STOP, DB) == (ScheduleAction.STOP, DB)
    with pytest.raises(InvalidInput) as err:
        check_binding(hook, None, DB)
    assert err.value.field == "action"
    with pytest.raises(InvalidInput) as err:
        check_binding(hook, ScheduleAction.STOP, None)
    assert err.value.field == "target"


# -- the service on a real database ---------------------------------------------------------------


@dataclass
class Recorder:
    """Stands in for the Docker side: records what each run did and as whom."""

    calls: list[tuple[ScheduleAction, Target, Actor]] = field(default_factory=list)

    async def run(self, action: ScheduleAction, target: Target, actor: Actor) -> str:
        self.calls.append((action, target, actor))
        return f"{action.value} {target.key}"


@dataclass
class Rig:
    service: WebhookService
    recorder: Recorder
    audit: LogAuditTrail
    clock: VirtualClock
    db_path: Path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    # Synchronous: migrations run their own event loop, before the test's starts.
    path = tmp_path / "chrontainer.db"
    migrated(sqlite_url(path))
    return path


@pytest.fixture
async def rig(db_path: Path) -> AsyncIterator[Rig]:
    path = db_path
    db = Database(sqlite_url(path))
    clock = VirtualClock(T0)
    store = ScheduleStore(db)
    recorder = Recorder()
    audit = LogAuditTrail(clock=clock)
    executor = RunExecutor(store, recorder, clock=clock, sleep=clock.sleep)
    service = WebhookService(db, executor, store, audit=audit, hosts={"nas"}, clock=clock)
    yield Rig(service, recorder, audit, clock, path)
    await executor.drain(0)
    await db.close()


ADMIN = Actor(kind=ActorKind.USER, id="1", name="alice")


async def test_create_stores_only_the_hash_and_audits_without_the_token(rig: Rig) -> None:
    hook, token = await rig.service.create("deploy", action=ScheduleAction.RESTART,
                                           target=WEB, actor=ADMIN)
    assert hook.token_prefix == token[:8] and hook.created_by == "alice"
    assert hook.rate_limit_per_minute == 30 and hook.locked and hook.enabled
    with sqlite3.connect(rig.db_path) as conn:
        rows = conn.execute("SELECT * FROM webhooks").fetchall()
    assert len(rows) == 1
    stored = " ".join(str(v) for v in rows[0])
    assert token not in stored and hash_token(token) in stored
    hook2, token2 = await rig.service.regenerate(hook.id, actor=ADMIN)
    await rig.service.update(hook.id, enabled=False, actor=ADMIN)
    await rig.service.delete(hook.id, actor=ADMIN)
    entries, _ = await rig.audit.list()
    assert [e.action for e in reversed(entries)] == [
        "webhook.create", "webhook.regenerate", "webhook.update", "webhook.delete"]
    assert {e.target for e in entries} == {f"webhook/{hook.id}"}
    assert all(token not in repr(e) and token2 not in repr(e) for e in entries)
    assert hook2.token_prefix == token2[:8] != token[:8]


async def test_bad_webhooks_are_refused_and_nothing_is_stored(rig: Rig) -> None:
    host = Target(kind=TargetKind.HOST, host="nas")
    cases = [
        ({"name": " ", "action": ScheduleAction.RESTART, "target": WEB}, "name"),
        ({"name": "x", "target": WEB}, "action"),
        ({"name": "x", "action": ScheduleAction.RESTART}, "target"),
        ({"name": "x", "action": ScheduleAction.RESTART,
          "target": Target(kind=TargetKind.CONTAINER, host="nowhere", key="web")},
         "target.host"),
        ({"name": "x", "action": ScheduleAction.PRUNE_IMAGES, "target": WEB}, "action"),
        ({"name": "x", "action": ScheduleAction.PAUSE, "target": host}, "action"),
        ({"name": "x", "action": ScheduleAction.RESTART, "target": WEB,
          "allowed_cidrs": ["10.0.0.0/33"]}, "allowed_cidrs[0]"),
        ({"name": "x", "action": ScheduleAction.RESTART, "target": WEB,
          "rate_limit_per_minute": 0}, "rate_limit_per_minute"),
        ({"name": "x", "locked": False, "action": ScheduleAction.RESTART}, "action"),
    ]
    for kwargs, field_name in cases:
        with pytest.raises(InvalidInput) as err:
            await rig.service.create(**kwargs)  # type: ignore[arg-type]
        assert err.value.field == field_name, kwargs
    assert await rig.service.list() == []


async def test_update_keeps_what_it_does_not_change_and_unlocking_drops_the_binding(
        rig: Rig) -> None:
    hook, _ = await rig.service.create("deploy", action=ScheduleAction.RESTART, target=WEB)
    changed = await rig.service.update(hook.id, name="redeploy", allowed_cidrs=["10.0.0.1/8"])
    assert (changed.name, changed.allowed_cidrs, changed.action, changed.target) == (
        "redeploy", ("10.0.0.0/8",), ScheduleAction.RESTART, WEB)
    with pytest.raises(InvalidInput):
        await rig.service.update(hook.id, action=ScheduleAction.PRUNE_IMAGES)
    assert (await rig.service.get(hook.id)).action is ScheduleAction.RESTART

    def refuse(current: Webhook) -> None:
        raise PermissionDenied(f"no ({current.name})")

    with pytest.raises(PermissionDenied):
        await rig.service.update(hook.id, name="other", guard=refuse)
    assert (await rig.service.get(hook.id)).name == "redeploy"
    unlocked = await rig.service.update(hook.id, locked=False)
    assert (unlocked.locked, unlocked.action, unlocked.target) == (False, None, None)
    with pytest.raises(InvalidInput) as err:
        await rig.service.update(hook.id, locked=True)
    assert err.value.field == "action"
    with pytest.raises(NotFound):
        await rig.service.update(999, name="x")


async def test_trigger_checks_in_order_and_refusals_do_not_count(rig: Rig) -> None:
    hook, token = await rig.service.create(
        "deploy", action=ScheduleAction.RESTART, target=WEB, rate_limit_per_minute=2,
        allowed_cidrs=["10.9.9.0/24"])
    svc = rig.service
    with pytest.raises(NotFound) as missing:
        await svc.trigger(token + "x", source_ip="10.9.9.1")
    assert token not in str(missing.value)
    with pytest.raises(PermissionDenied, match="not allowed"):
        await svc.trigger(token, source_ip="10.9.8.1")
    with pytest.raises(PermissionDenied, match="locked to restart"):
        await svc.trigger(token, source_ip="10.9.9.1", target=DB)
    # Three refusals so far, none counted: two calls fit in the minute.
    first = await svc.trigger(token, source_ip="10.9.9.1", wait=5)
    assert first.result is RunResult.OK and first.trigger is RunTrigger.WEBHOOK
    assert (first.webhook_id, first.schedule_id, first.action, first.target) == (
        hook.id, None, ScheduleAction.RESTART, "container web on nas")
    await rig.clock.advance(20)
    await svc.trigger(token, source_ip="::ffff:10.9.9.2", action=ScheduleAction.RESTART,
                      wait=5)
    await rig.clock.advance(20)
    with pytest.raises(RateLimited) as limited:
        await svc.trigger(token, source_ip="10.9.9.1")
    assert limited.value.retry_after == 20  # the first call leaves the window at t=60
    await rig.clock.advance(20)
    await svc.trigger(token, source_ip="10.9.9.1", wait=5)
    assert [(a, t) for a, t, _ in rig.recorder.calls] == [(ScheduleAction.RESTART, WEB)] * 3
    actors = [actor for _, _, actor in rig.recorder.calls]
    assert {(a.kind, a.id, a.name) for a in actors} == {(ActorKind.WEBHOOK, str(hook.id),
                                                          "deploy")}
    assert [a.source_ip for a in actors] == ["10.9.9.1", "::ffff:10.9.9.2", "10.9.9.1"]
    stored = await svc.get(hook.id)
    assert stored.trigger_count == 3 and stored.last_triggered_at == T0 + timedelta(seconds=60)
    runs, total = await svc.runs(hook.id)
    assert total == 3 and all(r.webhook_id == hook.id for r in runs)
    await svc.update(hook.id, enabled=False)
    await rig.clock.advance(120)
    with pytest.raises(PermissionDenied, match="disabled"):
        await svc.trigger(token, source_ip="10.9.9.1")
    assert len(rig.recorder.calls) == 3


async def test_an_unlocked_webhook_runs_what_the_request_says(rig: Rig) -> None:
    hook, token = await rig.service.create("anything", locked=False)
    with pytest.raises(InvalidInput) as err:
        await rig.service.trigger(token, source_ip=None, action=ScheduleAction.STOP)
    assert err.value.field == "target"
    with pytest.raises(InvalidInput) as err:
        await rig.service.trigger(token, source_ip=None, action=ScheduleAction.STOP,
                                  target=Target(kind=TargetKind.CONTAINER, host="nowhere",
                                                key="db"))
    assert err.value.field == "target.host"
    with pytest.raises(InvalidInput) as err:
        await rig.service.trigger(token, source_ip=None, action=ScheduleAction.PRUNE_IMAGES,
                                  target=DB)
    assert err.value.field == "action"
    run = await rig.service.trigger(token, source_ip=None, action=ScheduleAction.STOP,
                                    target=DB, wait=5)
    assert run.result is RunResult.OK and run.detail == "stop db"
    assert [(a, t) for a, t, _ in rig.recorder.calls] == [(ScheduleAction.STOP, DB)]
    assert (await rig.service.get(hook.id)).trigger_count == 1


# -- the access log -------------------------------------------------------------------------------


def test_redact() -> None:
    assert redact("/api/v1/webhooks/trigger/s3cr3t-_x?wait=10") == (
        f"/api/v1/webhooks/trigger/{REDACTED}?wait=10")
    assert redact("/api/v1/webhooks/trigger/a/b/c") == f"/api/v1/webhooks/trigger/{REDACTED}"
    assert redact("/api/v1/webhooks/3/runs") == "/api/v1/webhooks/3/runs"
    assert redact("http://h/api/v1/webhooks/trigger/tok#x") == (
        f"http://h/api/v1/webhooks/trigger/{REDACTED}#x")


def test_access_log_never_shows_a_token(caplog: pytest.LogCaptureFixture) -> None:
    token = new_token()
    logger = logging.getLogger("test.access")
    access = RedactingAccessLogger(logger)  # aiohttp's default format
    caplog.set_level(logging.INFO, logger="test.access")
    trigger = make_mocked_request(
        "POST", f"/api/v1/webhooks/trigger/{token}?wait=10",
        headers={"Referer": f"http://nas:5000/api/v1/webhooks/trigger/{token}",
                 "User-Agent": "curl/8"})
    access.log(trigger, Response(status=202), 0.01)
    other = make_mocked_request("GET", "/api/v1/containers?name=web",
                                headers={"User-Agent": "curl/8"})
    access.log(other, Response(status=200), 0.01)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert token not in lines[0] and token not in repr(caplog.records[0].__dict__)
    assert f'"POST /api/v1/webhooks/trigger/{REDACTED}?wait=10 HTTP/1.1" 202' in lines[0]
    assert f'"http://nas:5000/api/v1/webhooks/trigger/{REDACTED}" "curl/8"' in lines[0]
    # Other requests are logged exactly as aiohttp would.
    assert '"GET /api/v1/containers?name=web HTTP/1.1" 200' in lines[1]
