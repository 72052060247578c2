"""What notifications are made of: the event registry, notifications, channel configurations,
deliveries and their attempts (typed models only).

The event registry (:data:`EVENTS`) is the one list of what can be notified; later features
(updates, alerts) add their event types here and get routing, throttling and delivery for free.
A channel's configuration is one dataclass per kind; the field names in ``SECRETS`` are stored
encrypted and never returned by the API.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Final

__all__ = [
    "CONFIG_BY_KIND",
    "EVENTS",
    "NOTIFY_OPT_OUT_LABEL",
    "ChannelConfig",
    "ChannelKind",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryStatus",
    "DiscordConfig",
    "EmailConfig",
    "EmailSecurity",
    "EventInfo",
    "GotifyConfig",
    "Notification",
    "NotificationChannel",
    "NotificationEvent",
    "NtfyConfig",
    "SendResult",
    "Severity",
    "WebhookConfig",
]

# A container carrying this label with the value "false" is never notified about.
NOTIFY_OPT_OUT_LABEL: Final = "chrontainer.notify"


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class NotificationEvent(enum.StrEnum):
    """Every event type a notification can be about (the rows of the routing matrix)."""

    ACTION_FAILED = "action.failed"
    SCHEDULE_FAILED = "schedule.failed"
    SCHEDULE_SKIPPED = "schedule.skipped"
    CONTAINER_DIED = "container.died"
    CONTAINER_OOM = "container.oom"
    CONTAINER_UNHEALTHY = "container.unhealthy"
    CONTAINER_RESTART_LOOP = "container.restart_loop"
    HOST_OFFLINE = "host.offline"
    HOST_ONLINE = "host.online"
    UPDATE_AVAILABLE = "update.available"
    UPDATE_APPLIED = "update.applied"
    UPDATE_ROLLED_BACK = "update.rolled_back"
    UPDATE_FAILED = "update.failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class EventInfo:
    """How an event type is shown: a label, its severity, and what exactly triggers it."""

    label: str
    severity: Severity
    description: str


EVENTS: Final[dict[NotificationEvent, EventInfo]] = {
    NotificationEvent.ACTION_FAILED: EventInfo(
        label="Action failed", severity=Severity.ERROR,
        description="a start, stop, restart, pause, unpause, kill, rename or remove of a "
                    "container failed, whoever asked"),
    NotificationEvent.SCHEDULE_FAILED: EventInfo(
        label="Schedule run failed", severity=Severity.ERROR,
        description="a schedule's run ended in an error after its retries"),
    NotificationEvent.SCHEDULE_SKIPPED: EventInfo(
        label="Schedule run skipped", severity=Severity.WARNING,
        description="a schedule's run was skipped because its target stayed busy"),
    NotificationEvent.CONTAINER_DIED: EventInfo(
        label="Container died", severity=Severity.ERROR,
        description="a container exited with a non-zero code that no stop, kill or restart "
                    "request explains"),
    NotificationEvent.CONTAINER_OOM: EventInfo(
        label="Container out of memory", severity=Severity.ERROR,
        description="the kernel killed a container's process for using too much memory"),
    NotificationEvent.CONTAINER_UNHEALTHY: EventInfo(
        label="Container unhealthy", severity=Severity.WARNING,
        description="a container's healthcheck turned unhealthy"),
    NotificationEvent.CONTAINER_RESTART_LOOP: EventInfo(
        label="Restart loop", severity=Severity.ERROR,
        description="a container started N times within M minutes (settings)"),
    NotificationEvent.HOST_OFFLINE: EventInfo(
        label="Host offline", severity=Severity.ERROR,
        description="a Docker host stopped answering"),
    NotificationEvent.HOST_ONLINE: EventInfo(
        label="Host back online", severity=Severity.INFO,
        description="a Docker host that was offline answers again"),
    NotificationEvent.UPDATE_AVAILABLE: EventInfo(
        label="Update available", severity=Severity.INFO,
        description="a check found a newer image for a container's image reference (once "
                    "per new image)"),
    NotificationEvent.UPDATE_APPLIED: EventInfo(
        label="Update applied", severity=Severity.INFO,
        description="a container was recreated on a newer image and stayed up"),
    NotificationEvent.UPDATE_ROLLED_BACK: EventInfo(
        label="Update rolled back", severity=Severity.WARNING,
        description="an updated container did not start, stay up or turn healthy; the old one "
                    "runs again"),
    NotificationEvent.UPDATE_FAILED: EventInfo(
        label="Update failed", severity=Severity.ERROR,
        description="an update could not pull its image, or could not even roll back"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Notification:
    """One thing to tell people about.

    ``subject`` is what it is about, for throttling ("local/web" for a container, "nas" for a
    host, "schedule/3" for a schedule); ``suppressed`` counts notifications of the same event
    and subject dropped by the throttle since the last one sent.
    """

    event: NotificationEvent
    title: str
    message: str
    severity: Severity
    time: datetime
    subject: str
    host: str | None = None
    container: str | None = None  # container key
    suppressed: int = 0


class ChannelKind(enum.StrEnum):
    DISCORD = "discord"
    NTFY = "ntfy"
    GOTIFY = "gotify"
    WEBHOOK = "webhook"
    EMAIL = "email"


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscordConfig:
    """A Discord channel webhook (its URL holds the token, so the whole URL is secret)."""

    SECRETS: ClassVar[tuple[str, ...]] = ("webhook_url",)
    webhook_url: str
    username: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NtfyConfig:
    """An ntfy topic on a server (ntfy.sh or self-hosted), optionally with an access token."""

    SECRETS: ClassVar[tuple[str, ...]] = ("token",)
    topic: str
    server: str = "https://ntfy.sh"
    priority: int = 3  # 1 (min) to 5 (max)
    tags: tuple[str, ...] = ()
    token: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GotifyConfig:
    """A Gotify server and an application token."""

    SECRETS: ClassVar[tuple[str, ...]] = ("token",)
    server: str
    token: str
    priority: int = 5  # 0 to 10


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookConfig:
    """A generic JSON POST; the URL and headers may carry credentials, so both are secret."""

    SECRETS: ClassVar[tuple[str, ...]] = ("url", "headers")
    url: str
    headers: tuple[tuple[str, str], ...] = ()


class EmailSecurity(enum.StrEnum):
    STARTTLS = "starttls"  # plain connection upgraded with STARTTLS (port 587)
    TLS = "tls"  # implicit TLS from the first byte (port 465)
    NONE = "none"  # local relays only


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailConfig:
    """An SMTP server, an optional login, a sender and recipients."""

    SECRETS: ClassVar[tuple[str, ...]] = ("password",)
    host: str
    sender: str
    recipients: tuple[str, ...]
    port: int = 587
    security: EmailSecurity = EmailSecurity.STARTTLS
    username: str | None = None
    password: str | None = None
    verify_tls: bool = True  # off only for a relay with a self-signed certificate


ChannelConfig = DiscordConfig | NtfyConfig | GotifyConfig | WebhookConfig | EmailConfig

CONFIG_BY_KIND: Final[dict[ChannelKind, type[ChannelConfig]]] = {
    ChannelKind.DISCORD: DiscordConfig,
    ChannelKind.NTFY: NtfyConfig,
    ChannelKind.GOTIFY: GotifyConfig,
    ChannelKind.WEBHOOK: WebhookConfig,
    ChannelKind.EMAIL: EmailConfig,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationChannel:
    """A configured channel. ``config`` holds secrets in memory only; the API shows the
    non-secret fields and which secrets are set."""

    id: int
    name: str
    kind: ChannelKind
    enabled: bool
    config: ChannelConfig
    created_at: datetime | None = None
    # Set when the stored secrets cannot be decrypted (another secret key): ``config`` then
    # holds empty secret fields, sends fail with this text, and re-entering them repairs it.
    secrets_error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    """How one send ended: ``ok``, the HTTP status (or SMTP reply code) when there was one,
    and a short detail ("HTTP 204", "timed out after 15 s", "550 mailbox unavailable")."""

    ok: bool
    status: int | None = None
    detail: str = ""


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # not sent yet, or a retry is due at next_attempt_at
    SENT = "sent"
    FAILED = "failed"  # out of attempts


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """One notification on its way to one channel."""

    id: int
    channel_id: int
    event: NotificationEvent
    subject: str
    title: str
    message: str
    severity: Severity
    time: datetime
    suppressed: int
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryAttempt:
    """One try at sending a delivery, as the delivery log shows it."""

    id: int
    delivery_id: int
    at: datetime
    ok: bool
    status: int | None
    detail: str
    duration_ms: int
