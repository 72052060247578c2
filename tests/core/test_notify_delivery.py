"""Notification routing, throttling and durable delivery on a real SQLite file, sending with the
real channel code to local HTTP receivers, on a virtual clock for backoff and retention.

Covers: emit goes to the routed enabled channels only; the opt-out label; the throttle per
(event, subject) with the suppressed count; retries with doubling backoff, then success or
``failed``, every attempt recorded; a hanging channel delays neither another channel nor emit;
pending deliveries survive a restart; secrets are encrypted at rest, never in public_config, the
audit trail or the log, and a wrong secret key lists the channel as broken instead of crashing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chrontainer_core.audit import DbAuditTrail
from chrontainer_core.notify.channel import public_config
from chrontainer_core.notify.delivery import DeliveryWorker
from chrontainer_core.notify.models import (
    NOTIFY_OPT_OUT_LABEL,
    DeliveryStatus,
    DiscordConfig,
    EmailConfig,
    EmailSecurity,
    GotifyConfig,
    Notification,
    NotificationEvent,
    NtfyConfig,
    Severity,
    WebhookConfig,
)
from chrontainer_core.notify.service import NotificationService
from chrontainer_core.notify.store import SECRETS_UNREADABLE, NotificationStore
from chrontainer_core.secrets import SecretBox
from chrontainer_core.settings import Settings
from chrontainer_core.store.db import Database

from ..dbtemplate import migrated
from ..notify_receivers import HttpReceiver
from ..vclock import VirtualClock, eventually
from .test_store import sqlite_url

T0 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
KEY = "a-test-secret-key-of-enough-length-0123456789"
DIED = NotificationEvent.CONTAINER_DIED
OOM = NotificationEvent.CONTAINER_OOM


def died(subject: str = "local/web", **changes: Any) -> Notification:
    n = Notification(event=DIED, title=f"{subject} died", message="exit code 137",
                     severity=Severity.ERROR, time=T0, subject=subject,
                     host=subject.split("/")[0], container=subject.split("/")[-1])
    return replace(n, **changes)


def hook(rx: HttpReceiver, path: str = "/hook") -> WebhookConfig:
    return WebhookConfig(url=rx.url + path)


@dataclass
class Rig:
    """A service and its worker over one database file, on a virtual clock."""

    path: Path
    db: Database
    clock: VirtualClock
    worker: DeliveryWorker
    service: NotificationService
    settings: dict[str, Any]

    async def until(self, check: Callable[[], Awaitable[bool]], what: str,
                    timeout: float = 10.0) -> None:
        """Poll an async condition (database state) until it holds."""
        try:
            async with asyncio.timeout(timeout):
                while not await check():  # noqa: ASYNC110 - a database state is awaited
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise AssertionError(f"never happened: {what}") from None

    async def idle(self, what: str = "the worker idle") -> None:
        await eventually(lambda: self.worker.idle and self.clock.sleeping >= 1, what)

    async def delivery_states(self) -> list[tuple[int, DeliveryStatus, int]]:
        found, _ = await self.service.deliveries(100)
        return sorted((d.channel_id, d.status, d.attempts) for d in found)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "chrontainer.db"
    migrated(sqlite_url(path))
    return path


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def make_rig(path: Path, http: aiohttp.ClientSession, *, key: str = KEY,
                   start: bool = True, **worker_options: Any) -> Rig:
    db = Database(sqlite_url(path))
    box = SecretBox(key)
    await box.ready()
    clock = VirtualClock(T0)
    settings: dict[str, Any] = {"notify_throttle_minutes": 10}
    worker = DeliveryWorker(NotificationStore(db, box, clock=clock), http, clock=clock,
                            sleep=clock.sleep, **worker_options)
    service = NotificationService(db, box, DbAuditTrail(db, clock=clock), http, worker,
                                  settings=lambda: Settings(**settings), clock=clock)
    if start:
        service.start()
    return Rig(path, db, clock, worker, service, settings)


async def close_rig(rig: Rig) -> None:
    await rig.service.stop()
    await rig.db.close()


@pytest.fixture
async def rig(db_path: Path, http: aiohttp.ClientSession) -> AsyncIterator[Rig]:
    made = await make_rig(db_path, http, max_attempts=3)
    yield made
    await close_rig(made)


@pytest.fixture
async def rx() -> AsyncIterator[HttpReceiver]:
    async with HttpReceiver() as receiver:
        yield receiver


@pytest.fixture
async def rx2() -> AsyncIterator[HttpReceiver]:
    async with HttpReceiver() as receiver:
        yield receiver


# -------------------------------------------------------------------------------------------------


async def test_emit_goes_to_the_routed_enabled_channels_only(
        rig: Rig, rx: HttpReceiver, rx2: HttpReceiver) -> None:
    svc = rig.service
    web = await svc.create_channel("ops hook", hook(rx))
    oom_only = await svc.create_channel("oom hook", hook(rx2))
    off = await svc.create_channel("disabled hook", hook(rx2, "/off"), enabled=False)
    matrix = await svc.set_routes({DIED: [web.id, off.id], OOM: [oom_only.id]})
    assert matrix[DIED] == {web.id, off.id} and matrix[OOM] == {oom_only.id}
    assert matrix[NotificationEvent.HOST_OFFLINE] == frozenset()

    assert await svc.emit(died()) == 1  # the disabled channel gets nothing
    [request] = await rx.wait_for(1)
    assert request.method == "POST" and request.path == "/hook"
    body = request.json
    assert (body["event"], body["subject"], body["host"], body["container"]) == (
        "container.died", "local/web", "local", "web")
    assert (body["title"], body["message"], body["suppressed"]) == ("local/web died",
                                                                    "exit code 137", 0)
    await rig.until(lambda: _states_are(rig, [(web.id, DeliveryStatus.SENT, 1)]), "sent")
    [delivery], total = await svc.deliveries(10, status=DeliveryStatus.SENT)
    assert total == 1 and delivery.sent_at == T0 and delivery.last_error is None
    [attempt] = await svc.attempts(delivery.id)
    assert attempt.ok and attempt.status == 204 and attempt.at == T0 and attempt.duration_ms >= 0

    # An event routed nowhere queues nothing; the OOM route reaches only its channel.
    assert await svc.emit(died(event=NotificationEvent.HOST_OFFLINE, subject="nas")) == 0
    assert await svc.emit(died(event=OOM, subject="local/db")) == 1
    [oom_request] = await rx2.wait_for(1)
    assert oom_request.path == "/hook" and oom_request.json["event"] == "container.oom"
    assert len(rx.requests) == 1
    by_channel = {d.channel_id for d in (await svc.deliveries(10))[0]}
    assert by_channel == {web.id, oom_only.id}
    assert (await svc.deliveries(10, channel_id=oom_only.id))[1] == 1


async def _states_are(rig: Rig, expected: list[tuple[int, DeliveryStatus, int]]) -> bool:
    return await rig.delivery_states() == sorted(expected)


async def test_a_container_labelled_notify_false_is_never_notified(
        rig: Rig, rx: HttpReceiver) -> None:
    channel = await rig.service.create_channel("hook", hook(rx))
    await rig.service.set_routes({DIED: [channel.id]})
    for value in ("false", "False", " FALSE "):
        assert await rig.service.emit(died(), labels={NOTIFY_OPT_OUT_LABEL: value}) == 0
    assert (await rig.service.deliveries(10))[1] == 0
    # Any other value (or another label) does not opt out.
    assert await rig.service.emit(died(), labels={NOTIFY_OPT_OUT_LABEL: "true",
                                                  "other": "false"}) == 1
    await rx.wait_for(1)


async def test_the_throttle_drops_repeats_per_event_and_subject_and_counts_them(
        rig: Rig, rx: HttpReceiver) -> None:
    svc = rig.service
    channel = await svc.create_channel("hook", hook(rx))
    await svc.set_routes({DIED: [channel.id], OOM: [channel.id]})
    assert await svc.emit(died()) == 1
    await rig.clock.advance(5 * 60)
    assert await svc.emit(died()) == 0  # same event and container within 10 minutes
    assert await svc.emit(died()) == 0
    assert await svc.emit(died("local/db")) == 1  # another container
    assert await svc.emit(died(event=OOM)) == 1  # another event
    await rx.wait_for(3)
    assert [r.json["suppressed"] for r in rx.requests] == [0, 0, 0]

    await rig.clock.advance(5 * 60)  # 10 minutes after the first: the window is over
    assert await svc.emit(died()) == 1
    [*_, carried] = await rx.wait_for(4)
    assert (carried.json["subject"], carried.json["suppressed"]) == ("local/web", 2)
    assert await svc.emit(died()) == 0  # the window restarted with that send...
    await rig.clock.advance(10 * 60)
    assert await svc.emit(died()) == 1
    [*_, after] = await rx.wait_for(5)
    assert after.json["suppressed"] == 1  # ...and the count restarted from 0

    rig.settings["notify_throttle_minutes"] = 0  # 0: every one goes out
    assert [await svc.emit(died("local/cache")) for _ in range(3)] == [1, 1, 1]
    await rx.wait_for(8)


async def test_failures_retry_with_doubling_backoff_then_succeed(
        rig: Rig, rx: HttpReceiver) -> None:
    svc = rig.service
    channel = await svc.create_channel("flaky", hook(rx))
    await svc.set_routes({DIED: [channel.id]})
    rx.respond(500, "boom")
    assert await svc.emit(died()) == 1
    await rx.wait_for(1)
    await rig.idle("after the first attempt")
    [delivery], _ = await svc.deliveries(10)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert delivery.next_attempt_at == T0 + timedelta(seconds=30)
    assert delivery.last_error and "500" in delivery.last_error

    await rig.clock.advance(30)
    await rx.wait_for(2)
    await rig.idle("after the second attempt")
    delivery = await svc.delivery(delivery.id)
    assert delivery.next_attempt_at == T0 + timedelta(seconds=30 + 60)  # doubled

    rx.respond(204)
    await rig.clock.advance(60)
    await rx.wait_for(3)
    await rig.until(lambda: _states_are(rig, [(channel.id, DeliveryStatus.SENT, 3)]), "sent")
    attempts = await svc.attempts(delivery.id)
    assert [(a.ok, a.status, a.at) for a in attempts] == [
        (False, 500, T0), (False, 500, T0 + timedelta(seconds=30)),
        (True, 204, T0 + timedelta(seconds=90))]
    assert all("500" in a.detail for a in attempts[:2])
    delivery = await svc.delivery(delivery.id)
    assert delivery.last_error is None and delivery.next_attempt_at is None
    assert delivery.sent_at == T0 + timedelta(seconds=90)


async def test_a_delivery_fails_after_max_attempts_with_each_attempt_recorded(
        rig: Rig, rx: HttpReceiver) -> None:
    svc = rig.service
    channel = await svc.create_channel("down", hook(rx))
    await svc.set_routes({DIED: [channel.id]})
    rx.respond(503, "maintenance")
    assert await svc.emit(died()) == 1
    for attempt in (1, 2):
        await rx.wait_for(attempt)
        await rig.idle(f"after attempt {attempt}")
        await rig.clock.advance(30 * 2 ** (attempt - 1))
    await rx.wait_for(3)
    await rig.until(lambda: _states_are(rig, [(channel.id, DeliveryStatus.FAILED, 3)]),
                    "failed after 3 attempts (max_attempts)")
    [delivery], _ = await svc.deliveries(10, status=DeliveryStatus.FAILED)
    assert delivery.next_attempt_at is None and delivery.sent_at is None
    assert delivery.last_error and "503" in delivery.last_error
    attempts = await svc.attempts(delivery.id)
    assert [(a.ok, a.status) for a in attempts] == [(False, 503)] * 3
    # Given up: no fourth attempt however long one waits.
    await rig.idle()
    await rig.clock.advance(24 * 3600)
    await rig.idle()
    assert len(rx.requests) == 3


async def test_a_hanging_channel_delays_neither_another_channel_nor_emit(
        rig: Rig, rx: HttpReceiver, rx2: HttpReceiver) -> None:
    svc = rig.service
    rx.hang()
    hanging = await svc.create_channel("hangs", hook(rx))
    healthy = await svc.create_channel("healthy", hook(rx2))
    await svc.set_routes({DIED: [hanging.id, healthy.id]})
    assert await svc.emit(died()) == 2
    await rx.wait_for(1)  # the hanging channel holds its request open...
    await rx2.wait_for(1)  # ...while the other channel got its notification
    # emit returns at once while the hang goes on (it only writes rows); the bound here only
    # turns a regression into a failure instead of a stuck test.
    async with asyncio.timeout(5):
        assert await svc.emit(died("local/db")) == 2
    [*_, second] = await rx2.wait_for(2)
    assert second.json["subject"] == "local/db"
    await rx.wait_for(2)
    # The receiver records a request before answering it; the worker marks it sent after.
    states: list[tuple[int, DeliveryStatus, int]] = []
    for _ in range(500):
        states = await rig.delivery_states()
        if states.count((healthy.id, DeliveryStatus.SENT, 1)) == 2:
            break
        await asyncio.sleep(0.01)
    assert states.count((healthy.id, DeliveryStatus.SENT, 1)) == 2
    assert states.count((hanging.id, DeliveryStatus.PENDING, 0)) == 2  # still being sent
    assert rig.worker.sending == 2


async def test_pending_deliveries_survive_a_restart(
        db_path: Path, http: aiohttp.ClientSession, rx: HttpReceiver) -> None:
    first = await make_rig(db_path, http, start=False)  # as if it stopped before sending
    channel = await first.service.create_channel("hook", hook(rx))
    await first.service.set_routes({DIED: [channel.id]})
    assert await first.service.emit(died()) == 1
    await close_rig(first)

    # A send cut short by a shutdown stays pending too, with no attempt counted.
    rx.hang()
    second = await make_rig(db_path, http)
    await rx.wait_for(1)
    await close_rig(second)

    rx.respond(204)
    third = await make_rig(db_path, http)
    try:
        await rx.wait_for(2)
        await third.until(lambda: _states_are(third, [(channel.id, DeliveryStatus.SENT, 1)]),
                          "sent by the third worker")
        assert rx.requests[1].json["subject"] == "local/web"
    finally:
        await close_rig(third)


async def test_secrets_are_encrypted_at_rest_and_never_shown_audited_or_logged(
        rig: Rig, rx: HttpReceiver, db_path: Path, http: aiohttp.ClientSession,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    svc = rig.service
    token, header = "tok-9f8e7d6c5b4a", "Bearer hdr-0a1b2c3d4e5f"
    config = WebhookConfig(url=f"{rx.url}/hook/{token}", headers=(("Authorization", header),))
    channel = await svc.create_channel("secret hook", config)
    assert (await svc.channel(channel.id)).config == config  # decrypted on the way out
    await svc.update_channel(channel.id, name="renamed hook")
    await svc.set_routes({DIED: [channel.id]})
    assert (await svc.test(channel.id)).ok
    [request] = await rx.wait_for(1)
    assert request.path == f"/hook/{token}" and request.header("Authorization") == header

    with sqlite3.connect(db_path) as conn:
        stored_config, encrypted = conn.execute(
            "SELECT config, secrets_encrypted FROM notification_channels").fetchone()
        audit = conn.execute("SELECT action, target, error FROM audit_log").fetchall()
    assert json.loads(stored_config) == {}  # a webhook's fields are all secret
    for secret in (token, header, "hdr-0a1b2c3d4e5f"):
        assert secret not in stored_config and secret not in encrypted
        assert secret not in json.dumps(public_config(config))
        assert secret not in repr(audit)
        assert secret not in caplog.text
    assert public_config(config)["secrets_set"] == ["url", "headers"]
    assert [row[:2] for row in audit] == [
        ("notification.channel.create", f"channel/{channel.id}"),
        ("notification.channel.update", f"channel/{channel.id}"),
        ("notification.routes.update", "routes"),
        ("notification.channel.test", f"channel/{channel.id}")]

    # Another secret key: the channel still lists, marked broken, and nothing is sent.
    await rig.service.stop()  # one worker per database
    other = await make_rig(db_path, http, key="another-key-not-the-one-it-was-stored-with")
    try:
        [broken] = await other.service.channels()
        assert broken.name == "renamed hook" and broken.secrets_error == SECRETS_UNREADABLE
        assert broken.config == WebhookConfig(url="")
        assert public_config(broken.config)["secrets_set"] == []
        result = await other.service.test(broken.id)
        assert (result.ok, result.detail) == (False, SECRETS_UNREADABLE)
        assert await other.service.emit(died()) == 1
        await other.until(lambda: _states_are(other, [(channel.id, DeliveryStatus.PENDING, 1)]),
                          "the first attempt recorded")
        [delivery], _ = await other.service.deliveries(10)
        assert delivery.last_error == SECRETS_UNREADABLE
        # Re-entering the secrets under the new key repairs the channel.
        await other.service.update_channel(broken.id, config=config)
        assert (await other.service.channel(broken.id)).secrets_error is None
    finally:
        await close_rig(other)
    assert len(rx.requests) == 1


async def test_every_kind_of_configuration_round_trips_through_the_table(rig: Rig) -> None:
    configs = [
        DiscordConfig(webhook_url="https://discord.example/api/webhooks/1/abc", username="ct"),
        GotifyConfig(server="https://gotify.example", token="AbC.123", priority=8),
        NtfyConfig(topic="alerts", server="https://ntfy.example", priority=4,
                   tags=("warning", "whale"), token="tk_123"),
        NtfyConfig(topic="public"),
        EmailConfig(host="smtp.example", sender="bot@example.org",
                    recipients=("a@example.org", "b@example.org"), port=465,
                    security=EmailSecurity.TLS, username="bot", password="pw",
                    verify_tls=False),
        WebhookConfig(url="https://example.org/x", headers=(("X-A", "1"), ("X-B", "2"))),
    ]
    for config in configs:
        channel = await rig.service.create_channel(type(config).__name__, config)
        assert (await rig.service.channel(channel.id)).config == config
    assert [c.config for c in await rig.service.channels()] == configs


async def test_old_finished_deliveries_are_pruned_daily(rig: Rig, rx: HttpReceiver) -> None:
    svc = rig.service
    channel = await svc.create_channel("hook", hook(rx))
    await svc.set_routes({DIED: [channel.id], OOM: [channel.id]})
    await svc.emit(died())
    await rig.until(lambda: _states_are(rig, [(channel.id, DeliveryStatus.SENT, 1)]), "sent")
    rx.respond(500)
    await svc.emit(died(event=OOM))
    await rx.wait_for(2)
    await rig.idle()
    # The failing one keeps retrying (pending) at its backoff; after 31 days it has failed
    # long ago, and the daily pass removes both finished deliveries with their attempts.
    for _ in range(3):
        await rig.clock.advance(3600)
        await rig.idle()
    assert len(await rig.delivery_states()) == 2
    await rig.clock.advance(31 * 24 * 3600)
    await rig.until(lambda: _states_are(rig, []), "old deliveries pruned")
    with sqlite3.connect(rig.path) as conn:
        assert conn.execute("SELECT count(*) FROM notification_attempts").fetchone() == (0,)
