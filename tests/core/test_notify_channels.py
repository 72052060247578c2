"""The five channel senders against real local receivers, and channel configuration parsing.

Each kind delivers to a receiver that records what arrived (tests/notify_receivers.py), and
the request is checked field by field against the service's documented format. Failures
(an error status, a receiver that never answers, nothing listening) become results, never
exceptions, and no secret ever appears in a result's detail.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.header import decode_header, make_header
from typing import Any

import aiohttp
import pytest

from chrontainer_core.errors import InvalidInput
from chrontainer_core.notify.channel import CONFIG_SCHEMAS, parse_config, public_config, send
from chrontainer_core.notify.models import (
    ChannelConfig,
    ChannelKind,
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
from chrontainer_server.api.jsonschema import from_voluptuous

from ..notify_receivers import HttpReceiver, SmtpReceiver, free_port

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
DISCORD_TOKEN = "dIsCoRd-ToKeN-0123456789"
NTFY_TOKEN = "tk_ntfysecret0123"
GOTIFY_TOKEN = "AgOtIfYtOkEn42"
HOOK_SECRET = "Bearer hook-secret-5678"
SMTP_PASSWORD = "smtp-pass-9876"


def note(**changes: Any) -> Notification:
    values: dict[str, Any] = {
        "event": NotificationEvent.CONTAINER_DIED,
        "title": "web died",
        "message": "web exited with code 3",
        "severity": Severity.ERROR,
        "time": WHEN,
        "subject": "local/web",
        "host": "local",
        "container": "web",
    }
    values.update(changes)
    return Notification(**values)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def rx() -> AsyncIterator[HttpReceiver]:
    async with HttpReceiver() as receiver:
        yield receiver


def discord_config(base: str) -> DiscordConfig:
    return DiscordConfig(webhook_url=f"{base}/api/webhooks/123/{DISCORD_TOKEN}",
                         username="Chrontainer")


def ntfy_config(base: str) -> NtfyConfig:
    return NtfyConfig(server=base, topic="chrontainer-alerts", priority=4, tags=("whale",),
                      token=NTFY_TOKEN)


def gotify_config(base: str) -> GotifyConfig:
    return GotifyConfig(server=base, token=GOTIFY_TOKEN, priority=8)


def webhook_config(base: str) -> WebhookConfig:
    return WebhookConfig(url=f"{base}/hooks/chrontainer",
                         headers=(("Authorization", HOOK_SECRET), ("X-Source", "chrontainer")))


HTTP_CONFIGS = {
    "discord": (discord_config, [DISCORD_TOKEN]),
    "ntfy": (ntfy_config, [NTFY_TOKEN]),
    "gotify": (gotify_config, [GOTIFY_TOKEN]),
    "webhook": (webhook_config, [HOOK_SECRET, "hook-secret-5678"]),
}


# ---------------------------------------------------------------------------------------------
# Discord


async def test_discord_posts_one_embed(rx: HttpReceiver, http: aiohttp.ClientSession) -> None:
    result = await send(discord_config(rx.url), note(), http=http)

    assert (result.ok, result.status, result.detail) == (True, 204, "HTTP 204")
    [req] = rx.requests
    assert (req.method, req.path) == ("POST", f"/api/webhooks/123/{DISCORD_TOKEN}")
    assert req.header("Content-Type") == "application/json"
    body = req.json
    assert body["username"] == "Chrontainer"
    [embed] = body["embeds"]
    assert embed["title"] == "web died"
    assert embed["description"] == "web exited with code 3"
    assert embed["color"] == 0xE74C3C
    assert datetime.fromisoformat(embed["timestamp"]) == WHEN
    assert embed["fields"] == [
        {"name": "Host", "value": "local", "inline": True},
        {"name": "Container", "value": "web", "inline": True},
    ]


@pytest.mark.parametrize(("severity", "colour"), [
    (Severity.ERROR, 0xE74C3C), (Severity.WARNING, 0xF1A104), (Severity.INFO, 0x3498DB),
])
async def test_discord_colour_follows_severity(rx: HttpReceiver, http: aiohttp.ClientSession,
                                               severity: Severity, colour: int) -> None:
    # A host event: no container field; the held-back count is part of the description.
    n = note(event=NotificationEvent.HOST_ONLINE, severity=severity, container=None,
             subject="local", suppressed=3)
    assert (await send(discord_config(rx.url), n, http=http)).ok
    [embed] = rx.requests[0].json["embeds"]
    assert embed["color"] == colour
    assert embed["description"] == "web exited with code 3\n\n(3 similar notifications held back)"
    assert embed["fields"] == [{"name": "Host", "value": "local", "inline": True}]


async def test_discord_wait_true_answers_200(rx: HttpReceiver,
                                             http: aiohttp.ClientSession) -> None:
    rx.respond(200, {"id": "1", "content": ""})
    config = DiscordConfig(webhook_url=f"{rx.url}/api/webhooks/1/{DISCORD_TOKEN}?wait=true")
    result = await send(config, note(), http=http)
    assert (result.ok, result.status) == (True, 200)
    assert rx.requests[0].query == {"wait": "true"}
    assert "username" not in rx.requests[0].json


async def test_discord_rate_limit_reports_retry_after(rx: HttpReceiver,
                                                      http: aiohttp.ClientSession) -> None:
    rx.respond(429, {"message": "You are being rate limited.", "retry_after": 1.5,
                     "global": False})
    result = await send(discord_config(rx.url), note(), http=http)
    assert (result.ok, result.status) == (False, 429)
    assert result.detail == "HTTP 429: rate limited by Discord, retry after 1.5 s"


# ---------------------------------------------------------------------------------------------
# ntfy


async def test_ntfy_publishes_with_headers(rx: HttpReceiver, http: aiohttp.ClientSession) -> None:
    result = await send(ntfy_config(rx.url), note(suppressed=1), http=http)

    assert (result.ok, result.status) == (True, 204)
    [req] = rx.requests
    assert (req.method, req.path) == ("POST", "/chrontainer-alerts")
    assert req.header("Title") == "web died"
    assert req.header("Priority") == "4"
    assert req.header("Tags") == "whale,rotating_light"
    assert req.header("Authorization") == f"Bearer {NTFY_TOKEN}"
    lines = req.text.split("\n")
    assert lines[:3] == ["web exited with code 3", "", "(1 similar notification held back)"]
    assert "Host: local" in lines
    assert "Container: web" in lines
    assert "Time: 2026-01-02T03:04:05.000000Z" in lines


async def test_ntfy_without_token_and_with_a_non_ascii_title(
        rx: HttpReceiver, http: aiohttp.ClientSession) -> None:
    config = NtfyConfig(server=rx.url, topic="t1")
    title = "web — redémarrage ⚠"
    result = await send(config, note(title=title, severity=Severity.WARNING), http=http)
    assert result.ok
    [req] = rx.requests
    assert req.header("Authorization") is None
    assert req.header("Priority") == "3"
    assert req.header("Tags") == "warning"
    # RFC 2047 encoded word, which ntfy decodes.
    encoded = req.header("Title")
    assert encoded is not None and encoded.isascii() and encoded.startswith("=?utf-8?")
    assert str(make_header(decode_header(encoded))) == title


# ---------------------------------------------------------------------------------------------
# Gotify


async def test_gotify_posts_message_with_token(rx: HttpReceiver,
                                               http: aiohttp.ClientSession) -> None:
    rx.respond(200, {"id": 7, "appid": 1})
    result = await send(gotify_config(rx.url), note(), http=http)

    assert (result.ok, result.status) == (True, 200)
    [req] = rx.requests
    assert (req.method, req.path) == ("POST", "/message")
    assert req.query == {"token": GOTIFY_TOKEN}
    body = req.json
    assert set(body) == {"title", "message", "priority"}
    assert body["title"] == "web died"
    assert body["message"].startswith("web exited with code 3\n\nEvent: Container died\n")
    assert "Container: web" in body["message"]
    assert body["priority"] == 8


async def test_gotify_server_with_a_path_prefix(rx: HttpReceiver,
                                                http: aiohttp.ClientSession) -> None:
    config = parse_config(ChannelKind.GOTIFY, {"server": f"{rx.url}/gotify/",
                                               "token": GOTIFY_TOKEN})
    assert (await send(config, note(), http=http)).ok
    assert rx.requests[0].path == "/gotify/message"
    assert rx.requests[0].json["priority"] == 5


# ---------------------------------------------------------------------------------------------
# Generic webhook


async def test_webhook_posts_the_notification_as_json(rx: HttpReceiver,
                                                      http: aiohttp.ClientSession) -> None:
    rx.respond(202, "accepted")
    result = await send(webhook_config(rx.url), note(suppressed=2), http=http)

    assert (result.ok, result.status) == (True, 202)
    [req] = rx.requests
    assert (req.method, req.path) == ("POST", "/hooks/chrontainer")
    assert req.header("Content-Type") == "application/json"
    assert req.header("Authorization") == HOOK_SECRET
    assert req.header("X-Source") == "chrontainer"
    assert req.json == {
        "event": "container.died",
        "title": "web died",
        "message": "web exited with code 3",
        "severity": "error",
        "time": "2026-01-02T03:04:05.000000Z",
        "subject": "local/web",
        "host": "local",
        "container": "web",
        "suppressed": 2,
    }


# ---------------------------------------------------------------------------------------------
# HTTP failures, for every HTTP kind


@pytest.mark.parametrize("kind", sorted(HTTP_CONFIGS))
async def test_http_error_status_is_a_failed_result(rx: HttpReceiver,
                                                    http: aiohttp.ClientSession,
                                                    kind: str) -> None:
    make, secrets = HTTP_CONFIGS[kind]
    # A receiver that echoes the request's secrets back must not get them into the detail.
    rx.respond(500, "internal error: " + " ".join(secrets) + " " + "x" * 500)
    result = await send(make(rx.url), note(), http=http)
    assert (result.ok, result.status) == (False, 500)
    assert result.detail.startswith("HTTP 500: internal error: ")
    assert len(result.detail) <= len("HTTP 500: ") + 200
    for secret in secrets:
        assert secret not in result.detail
    assert rx.url not in result.detail


@pytest.mark.parametrize("kind", sorted(HTTP_CONFIGS))
async def test_http_receiver_that_hangs_times_out(rx: HttpReceiver, http: aiohttp.ClientSession,
                                                  kind: str) -> None:
    make, secrets = HTTP_CONFIGS[kind]
    rx.hang()
    result = await send(make(rx.url), note(), http=http, timeout=0.5)
    assert (result.ok, result.status, result.detail) == (False, None, "timed out after 0.5 s")
    assert len(rx.requests) == 1  # it did arrive; the answer never came
    for secret in secrets:
        assert secret not in result.detail


@pytest.mark.parametrize("kind", sorted(HTTP_CONFIGS))
async def test_http_connection_refused(http: aiohttp.ClientSession, kind: str) -> None:
    make, secrets = HTTP_CONFIGS[kind]
    base = f"http://127.0.0.1:{free_port()}"
    result = await send(make(base), note(), http=http, timeout=5)
    assert (result.ok, result.status) == (False, None)
    assert result.detail.startswith("connection refused")
    for secret in [*secrets, base]:
        assert secret not in result.detail


async def test_https_receiver_with_an_untrusted_certificate(http: aiohttp.ClientSession) -> None:
    async with HttpReceiver(tls=True) as rx:
        result = await send(discord_config(rx.url), note(), http=http, timeout=5)
        assert rx.requests == []
    assert (result.ok, result.status) == (False, None)
    assert result.detail == "TLS error: CERTIFICATE_VERIFY_FAILED"


async def test_redirect_is_not_followed(rx: HttpReceiver, http: aiohttp.ClientSession) -> None:
    rx.respond(301, "", headers={"Location": f"{rx.url}/elsewhere?token={GOTIFY_TOKEN}"})
    result = await send(gotify_config(rx.url), note(), http=http)
    assert (result.ok, result.status) == (False, 301)
    assert GOTIFY_TOKEN not in result.detail
    assert [r.path for r in rx.requests] == ["/message"]


# ---------------------------------------------------------------------------------------------
# Email


def email_config(smtp: SmtpReceiver, **changes: Any) -> EmailConfig:
    values: dict[str, Any] = {
        "host": smtp.host, "port": smtp.port,
        "security": EmailSecurity.STARTTLS if smtp.mode == "starttls" else EmailSecurity.TLS,
        "sender": "chrontainer@example.org",
        "recipients": ("ops@example.org", "oncall@example.net"),
        "username": "bot", "password": SMTP_PASSWORD,
        "verify_tls": False,  # the receiver's certificate is self-signed
    }
    values.update(changes)
    return EmailConfig(**values)


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_email_is_delivered_over_tls_with_login(http: aiohttp.ClientSession,
                                                      mode: Any) -> None:
    async with SmtpReceiver(mode, users={"bot": SMTP_PASSWORD}) as smtp:
        result = await send(email_config(smtp), note(suppressed=4), http=http)
        assert (result.ok, result.status) == (True, 250), result.detail
        assert result.detail == "250 2.0.0 Ok: queued"
        [mail] = smtp.messages

    assert mail.tls and mail.login == "bot"
    assert mail.mail_from == "chrontainer@example.org"
    assert mail.rcpt_tos == ["ops@example.org", "oncall@example.net"]
    msg = mail.message
    assert msg["Subject"] == "web died"
    assert msg["From"] == "chrontainer@example.org"
    assert msg["To"] == "ops@example.org, oncall@example.net"
    lines = mail.body.splitlines()
    assert lines[:3] == ["web exited with code 3", "", "(4 similar notifications held back)"]
    assert {"Host: local", "Container: web", "Time: 2026-01-02T03:04:05.000000Z"} <= set(lines)


async def test_email_non_ascii_subject_and_body(http: aiohttp.ClientSession) -> None:
    async with SmtpReceiver("starttls") as smtp:
        config = email_config(smtp, username=None, password=None)
        n = note(title="Conteneur arrêté ⚠", message="code de sortie 3 — échec")
        assert (await send(config, n, http=http)).ok
        [mail] = smtp.messages
    assert mail.login is None
    assert mail.message["Subject"] == "Conteneur arrêté ⚠"
    assert mail.body.startswith("code de sortie 3 — échec\n")


@pytest.mark.parametrize("mode", ["starttls", "tls"])
async def test_email_verifies_the_certificate_by_default(http: aiohttp.ClientSession,
                                                         mode: Any) -> None:
    async with SmtpReceiver(mode, users={"bot": SMTP_PASSWORD}) as smtp:
        result = await send(email_config(smtp, verify_tls=True), note(), http=http)
        assert not smtp.messages
    assert not result.ok
    assert result.detail.startswith("TLS error: CERTIFICATE_VERIFY_FAILED")


async def test_email_wrong_password(http: aiohttp.ClientSession) -> None:
    async with SmtpReceiver("starttls", users={"bot": "another"}) as smtp:
        result = await send(email_config(smtp), note(), http=http)
        # smtplib tries each mechanism the server offers (PLAIN, LOGIN) before giving up.
        assert smtp.failed_logins and set(smtp.failed_logins) == {"bot"}
        assert not smtp.messages
    assert (result.ok, result.status) == (False, 535)
    assert SMTP_PASSWORD not in result.detail


async def test_email_refused_by_the_server(http: aiohttp.ClientSession) -> None:
    async with SmtpReceiver("tls", users={"bot": SMTP_PASSWORD},
                            reply="554 5.7.1 message rejected") as smtp:
        result = await send(email_config(smtp), note(), http=http)
        assert (len(smtp.rejected), smtp.messages) == (1, [])
    assert (result.ok, result.status, result.detail) == (False, 554,
                                                         "554 5.7.1 message rejected")


async def test_email_connection_refused(http: aiohttp.ClientSession) -> None:
    config = EmailConfig(host="127.0.0.1", port=free_port(), sender="a@example.org",
                         recipients=("b@example.org",), username="bot", password=SMTP_PASSWORD)
    result = await send(config, note(), http=http, timeout=5)
    assert (result.ok, result.status) == (False, None)
    assert result.detail.startswith("connection refused")


# ---------------------------------------------------------------------------------------------
# parse_config


@pytest.mark.parametrize(("kind", "data", "expected"), [
    (ChannelKind.DISCORD, {"webhook_url": "https://discord.com/api/webhooks/1/abc"},
     DiscordConfig(webhook_url="https://discord.com/api/webhooks/1/abc")),
    (ChannelKind.DISCORD, {"webhook_url": "https://discord.com/api/webhooks/1/abc",
                           "username": "  Chrontainer "},
     DiscordConfig(webhook_url="https://discord.com/api/webhooks/1/abc", username="Chrontainer")),
    (ChannelKind.NTFY, {"topic": "alerts_1"}, NtfyConfig(topic="alerts_1")),
    (ChannelKind.NTFY, {"topic": "a", "server": "https://ntfy.example.org/", "priority": 5,
                        "tags": ["whale", "+1"], "token": "tk_abc"},
     NtfyConfig(topic="a", server="https://ntfy.example.org", priority=5,
                tags=("whale", "+1"), token="tk_abc")),
    (ChannelKind.GOTIFY, {"server": "http://gotify.lan:8080", "token": "Abc.123",
                          "priority": 0},
     GotifyConfig(server="http://gotify.lan:8080", token="Abc.123", priority=0)),
    (ChannelKind.WEBHOOK, {"url": "https://user:pw@hooks.example.org/x?y=1",
                           "headers": {"X-Api-Key": "k", "Authorization": "Bearer t"}},
     WebhookConfig(url="https://user:pw@hooks.example.org/x?y=1",
                   headers=(("X-Api-Key", "k"), ("Authorization", "Bearer t")))),
    (ChannelKind.EMAIL, {"host": "smtp.example.org", "sender": "a@example.org",
                         "recipients": ["b@example.org"]},
     EmailConfig(host="smtp.example.org", port=587, sender="a@example.org",
                 recipients=("b@example.org",))),
    (ChannelKind.EMAIL, {"host": "10.0.0.5", "security": "tls", "sender": "a@example.org",
                         "recipients": ["b@example.org", "c@example.org"], "username": "u",
                         "password": "p", "verify_tls": False},
     EmailConfig(host="10.0.0.5", port=465, security=EmailSecurity.TLS, sender="a@example.org",
                 recipients=("b@example.org", "c@example.org"), username="u", password="p",
                 verify_tls=False)),
    (ChannelKind.EMAIL, {"host": "relay", "port": 2525, "security": "none",
                         "sender": "a@example.org", "recipients": ["b@example.org"]},
     EmailConfig(host="relay", port=2525, security=EmailSecurity.NONE, sender="a@example.org",
                 recipients=("b@example.org",))),
])
def test_parse_config_accepts(kind: ChannelKind, data: dict[str, Any],
                              expected: ChannelConfig) -> None:
    assert parse_config(kind, data) == expected


MAIL = {"host": "smtp.example.org", "sender": "a@example.org", "recipients": ["b@example.org"]}


@pytest.mark.parametrize(("kind", "data", "field"), [
    (ChannelKind.DISCORD, {}, "config.webhook_url"),
    (ChannelKind.DISCORD, {"webhook_url": "ftp://discord.com/x"}, "config.webhook_url"),
    (ChannelKind.DISCORD, {"webhook_url": "https:///nohost"}, "config.webhook_url"),
    (ChannelKind.DISCORD, {"webhook_url": "https://d.com/a\r\nX: y"}, "config.webhook_url"),
    (ChannelKind.DISCORD, {"webhook_url": "https://d.com/a", "username": "x" * 81},
     "config.username"),
    (ChannelKind.DISCORD, {"webhook_url": "https://d.com/a", "colour": 1}, "config.colour"),
    (ChannelKind.NTFY, {}, "config.topic"),
    (ChannelKind.NTFY, {"topic": "has space"}, "config.topic"),
    (ChannelKind.NTFY, {"topic": "a/b"}, "config.topic"),
    (ChannelKind.NTFY, {"topic": "x" * 65}, "config.topic"),
    (ChannelKind.NTFY, {"topic": "t\n"}, "config.topic"),
    (ChannelKind.NTFY, {"topic": "t", "server": "ntfy.sh"}, "config.server"),
    (ChannelKind.NTFY, {"topic": "t", "server": "https://u:p@ntfy.sh"}, "config.server"),
    (ChannelKind.NTFY, {"topic": "t", "server": "https://ntfy.sh/?x=1"}, "config.server"),
    (ChannelKind.NTFY, {"topic": "t", "priority": 0}, "config.priority"),
    (ChannelKind.NTFY, {"topic": "t", "priority": 6}, "config.priority"),
    (ChannelKind.NTFY, {"topic": "t", "priority": True}, "config.priority"),
    (ChannelKind.NTFY, {"topic": "t", "priority": "3"}, "config.priority"),
    (ChannelKind.NTFY, {"topic": "t", "tags": [f"t{i}" for i in range(11)]}, "config.tags"),
    (ChannelKind.NTFY, {"topic": "t", "tags": ["ok", "x" * 33]}, "config.tags[1]"),
    (ChannelKind.NTFY, {"topic": "t", "tags": ["a,b"]}, "config.tags[0]"),
    (ChannelKind.NTFY, {"topic": "t", "tags": "whale"}, "config.tags"),
    (ChannelKind.NTFY, {"topic": "t", "token": "with space"}, "config.token"),
    (ChannelKind.GOTIFY, {"token": "abc"}, "config.server"),
    (ChannelKind.GOTIFY, {"server": "https://g.lan"}, "config.token"),
    (ChannelKind.GOTIFY, {"server": "https://g.lan", "token": ""}, "config.token"),
    (ChannelKind.GOTIFY, {"server": "https://g.lan", "token": "a", "priority": 11},
     "config.priority"),
    (ChannelKind.GOTIFY, {"server": "https://g.lan", "token": "a", "priority": -1},
     "config.priority"),
    (ChannelKind.WEBHOOK, {}, "config.url"),
    (ChannelKind.WEBHOOK, {"url": "javascript:alert(1)"}, "config.url"),
    (ChannelKind.WEBHOOK, {"url": "https://h.org", "headers": {"Bad Name": "v"}},
     "config.headers"),
    (ChannelKind.WEBHOOK, {"url": "https://h.org", "headers": {"X-A": "v\r\nX-B: w"}},
     "config.headers.X-A"),
    (ChannelKind.WEBHOOK, {"url": "https://h.org", "headers": {"X-A": "v\n"}},
     "config.headers.X-A"),
    (ChannelKind.WEBHOOK, {"url": "https://h.org", "headers": {"Content-Length": "1"}},
     "config.headers"),
    (ChannelKind.WEBHOOK, {"url": "https://h.org",
                           "headers": {f"X-{i}": "v" for i in range(21)}}, "config.headers"),
    (ChannelKind.WEBHOOK, {"url": "https://h.org", "headers": ["X-A: v"]}, "config.headers"),
    (ChannelKind.EMAIL, {**MAIL, "host": "bad host"}, "config.host"),
    (ChannelKind.EMAIL, {**MAIL, "host": "-bad.org"}, "config.host"),
    (ChannelKind.EMAIL, {**MAIL, "port": 0}, "config.port"),
    (ChannelKind.EMAIL, {**MAIL, "port": 65536}, "config.port"),
    (ChannelKind.EMAIL, {**MAIL, "security": "ssl"}, "config.security"),
    (ChannelKind.EMAIL, {**MAIL, "sender": "nobody"}, "config.sender"),
    (ChannelKind.EMAIL, {**MAIL, "sender": "a@b@c.org"}, "config.sender"),
    (ChannelKind.EMAIL, {**MAIL, "sender": "a b@c.org"}, "config.sender"),
    (ChannelKind.EMAIL, {**MAIL, "recipients": []}, "config.recipients"),
    (ChannelKind.EMAIL, {**MAIL, "recipients": "b@example.org"}, "config.recipients"),
    (ChannelKind.EMAIL, {**MAIL, "recipients": ["b@example.org", "oops"]},
     "config.recipients[1]"),
    (ChannelKind.EMAIL, {**MAIL, "recipients": [f"u{i}@example.org" for i in range(21)]},
     "config.recipients"),
    (ChannelKind.EMAIL, {**MAIL, "verify_tls": "no"}, "config.verify_tls"),
    (ChannelKind.EMAIL, {**MAIL, "security": "none", "username": "u", "password": "p"},
     "config.password"),
    (ChannelKind.EMAIL, {**MAIL, "password": "p"}, "config.username"),
    (ChannelKind.EMAIL, {"sender": "a@example.org", "recipients": ["b@example.org"]},
     "config.host"),
])
def test_parse_config_refuses(kind: ChannelKind, data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_config(kind, data)
    assert caught.value.details["field"] == field
    assert caught.value.message.startswith(f"{field}: ")


def test_parse_config_refuses_a_non_object() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_config(ChannelKind.NTFY, ["topic"])  # type: ignore[arg-type]
    assert caught.value.details["field"] == "config"


def test_parse_config_keeps_secrets_left_out() -> None:
    stored = NtfyConfig(topic="old", token=NTFY_TOKEN)
    # Left out, or null: kept. The other fields are replaced.
    assert parse_config(ChannelKind.NTFY, {"topic": "new"}, keep=stored) == NtfyConfig(
        topic="new", token=NTFY_TOKEN)
    assert parse_config(ChannelKind.NTFY, {"topic": "new", "token": None},
                        keep=stored).token == NTFY_TOKEN
    # Given: replaced; empty string: cleared.
    assert parse_config(ChannelKind.NTFY, {"topic": "t", "token": "tk_new"},
                        keep=stored).token == "tk_new"
    assert parse_config(ChannelKind.NTFY, {"topic": "t", "token": ""}, keep=stored).token is None

    # A required secret comes from the stored channel, so editing needs no secret again.
    gotify = GotifyConfig(server="https://g.lan", token=GOTIFY_TOKEN)
    assert parse_config(ChannelKind.GOTIFY, {"server": "https://g2.lan", "priority": 1},
                        keep=gotify) == GotifyConfig(server="https://g2.lan",
                                                     token=GOTIFY_TOKEN, priority=1)
    discord = DiscordConfig(webhook_url="https://d.com/api/webhooks/1/t")
    assert parse_config(ChannelKind.DISCORD, {"username": "bot"}, keep=discord) == \
        DiscordConfig(webhook_url="https://d.com/api/webhooks/1/t", username="bot")

    hook = WebhookConfig(url="https://h.org/x", headers=(("Authorization", HOOK_SECRET),))
    assert parse_config(ChannelKind.WEBHOOK, {}, keep=hook) == hook
    assert parse_config(ChannelKind.WEBHOOK, {"headers": {}}, keep=hook).headers == ()

    mail = EmailConfig(host="smtp.example.org", sender="a@example.org",
                       recipients=("b@example.org",), username="u", password=SMTP_PASSWORD)
    edited = parse_config(ChannelKind.EMAIL, {**MAIL, "username": "u", "port": 2587},
                          keep=mail)
    assert (edited.password, edited.port) == (SMTP_PASSWORD, 2587)  # type: ignore[union-attr]


def test_parse_config_ignores_secrets_of_another_kind() -> None:
    # Changing a channel's kind: the old kind's secrets do not carry over.
    ntfy = NtfyConfig(topic="t", token=NTFY_TOKEN)
    with pytest.raises(InvalidInput) as caught:
        parse_config(ChannelKind.GOTIFY, {"server": "https://g.lan"}, keep=ntfy)
    assert caught.value.details["field"] == "config.token"


@pytest.mark.parametrize(("config", "public", "secrets"), [
    (DiscordConfig(webhook_url=f"https://d.com/api/webhooks/1/{DISCORD_TOKEN}", username="b"),
     {"username": "b", "secrets_set": ["webhook_url"]}, [DISCORD_TOKEN]),
    (NtfyConfig(topic="t", tags=("a",), token=NTFY_TOKEN),
     {"topic": "t", "server": "https://ntfy.sh", "priority": 3, "tags": ["a"],
      "secrets_set": ["token"]}, [NTFY_TOKEN]),
    (NtfyConfig(topic="t"),
     {"topic": "t", "server": "https://ntfy.sh", "priority": 3, "tags": [],
      "secrets_set": []}, []),
    (GotifyConfig(server="https://g.lan", token=GOTIFY_TOKEN),
     {"server": "https://g.lan", "priority": 5, "secrets_set": ["token"]}, [GOTIFY_TOKEN]),
    (WebhookConfig(url="https://h.org/secret-path", headers=(("Authorization", HOOK_SECRET),)),
     {"secrets_set": ["url", "headers"]}, ["secret-path", HOOK_SECRET, "Authorization"]),
    (EmailConfig(host="smtp.example.org", sender="a@example.org", recipients=("b@example.org",),
                 username="u", password=SMTP_PASSWORD),
     {"host": "smtp.example.org", "sender": "a@example.org", "recipients": ["b@example.org"],
      "port": 587, "security": "starttls", "username": "u", "verify_tls": True,
      "secrets_set": ["password"]}, [SMTP_PASSWORD]),
])
def test_public_config_never_shows_a_secret(config: ChannelConfig, public: dict[str, Any],
                                            secrets: list[str]) -> None:
    shown = public_config(config)
    assert shown == public
    text = json.dumps(shown)
    for secret in secrets:
        assert secret not in text


def test_config_schemas_describe_the_input() -> None:
    # The OpenAPI document is made from these: secrets are optional (kept on edit) and marked
    # write-only; unknown fields are refused, as parse_config does.
    assert set(CONFIG_SCHEMAS) == set(ChannelKind)
    ntfy = from_voluptuous(CONFIG_SCHEMAS[ChannelKind.NTFY])
    assert ntfy["additionalProperties"] is False
    assert ntfy["required"] == ["topic"]
    assert ntfy["properties"]["priority"] == {"type": "integer", "minimum": 1, "maximum": 5,
                                              "default": 3}
    gotify = from_voluptuous(CONFIG_SCHEMAS[ChannelKind.GOTIFY])
    assert gotify["required"] == ["server"]
    token = gotify["properties"]["token"]["anyOf"]
    assert {"type": "null"} in token
    assert any(option.get("writeOnly") for option in token)
    email = from_voluptuous(CONFIG_SCHEMAS[ChannelKind.EMAIL])
    assert email["properties"]["security"]["enum"] == ["starttls", "tls", "none"]
