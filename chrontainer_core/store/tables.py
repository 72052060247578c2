"""Declarative tables of the Chrontainer database.

The naming convention gives every constraint and index a deterministic name, which alembic's
batch mode needs to alter or drop them on SQLite (where it recreates tables).
Migrations in ``migrations/versions`` spell their schema out by hand and never import this
module, so an old revision keeps meaning what it meant; a test checks both agree.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "NAMING_CONVENTION",
    "ApiKeyRow",
    "AuditRow",
    "Base",
    "ChangeCounterRow",
    "ContainerLinkRow",
    "ContainerTagRow",
    "DockerEventRow",
    "HostRow",
    "NotificationAttemptRow",
    "NotificationChannelRow",
    "NotificationDeliveryRow",
    "NotificationRouteRow",
    "NotificationThrottleRow",
    "RecoveryCodeRow",
    "RegistryRow",
    "ScheduleRow",
    "ScheduleRunRow",
    "SessionRow",
    "SettingRow",
    "TagRow",
    "UTCDateTime",
    "UpdateCheckRow",
    "UpdateJournalRow",
    "UserRow",
    "WebhookRow",
    "utc_now",
]

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utc_now() -> datetime:
    """The current time as a timezone-aware UTC datetime (the default clock of the store)."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python.

    PostgreSQL keeps the zone (timestamptz); SQLite has no zone, so values are stored as naive
    UTC and the zone is put back on the way out. Naive datetimes are refused on the way in,
    because guessing their zone is how audit times end up hours off.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base carrying the shared metadata and its naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class HostRow(Base):
    """A Docker host: immutable slug, editable display name, engine URL and TLS material."""

    __tablename__ = "hosts"

    slug: Mapped[str] = mapped_column(String(63), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # TLS of a tcp:// engine: all three set or all three NULL. Certificates are public and
    # stored as PEM; the client key only ever encrypted (chrontainer_core.secrets).
    tls_ca: Mapped[str | None] = mapped_column(Text)
    tls_cert: Mapped[str | None] = mapped_column(Text)
    tls_key_encrypted: Mapped[str | None] = mapped_column(Text)


class AuditRow(Base):
    """One audited mutating call: who, what, on what, and how it ended."""

    __tablename__ = "audit_log"
    __table_args__ = (CheckConstraint("result IN ('ok', 'error')", name="result"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str] = mapped_column(String(255))
    actor_name: Mapped[str] = mapped_column(String(255))
    source_ip: Mapped[str | None] = mapped_column(String(45))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(512))
    result: Mapped[str] = mapped_column(String(10))
    error: Mapped[str | None] = mapped_column(Text)


class ChangeCounterRow(Base):
    """A per-topic counter bumped by every write, so other processes can notice changes."""

    __tablename__ = "change_counters"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


# --- people (owned by chrontainer_server.auth; stored here so one migration chain serves all) --

ROLES_CHECK = "role IN ('admin', 'operator', 'viewer')"


class UserRow(Base):
    """An account. Passwords are argon2id hashes; the TOTP secret is stored encrypted."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(ROLES_CHECK, name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Stored lowercased: "Admin" and "admin" are one account.
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # The last accepted TOTP time step: a code is never accepted twice (replay protection).
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RecoveryCodeRow(Base):
    """A single-use TOTP recovery code, stored as its SHA-256."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SessionRow(Base):
    """A server-side login session; the cookie holds the token, the row its SHA-256."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(256))
    # Password accepted, second factor still owed: the session may only finish the login.
    second_factor_pending: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiKeyRow(Base):
    """An API key: its SHA-256, a display prefix, a role ceiling, optional expiry and scope."""

    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint(ROLES_CHECK.replace("role", "role_ceiling"),
                                      name="role_ceiling"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    role_ceiling: Mapped[str] = mapped_column(String(16))
    # JSON: {"hosts": [...], "containers": ["host/key", ...]}; NULL means unscoped.
    scope: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SettingRow(Base):
    """A user-editable setting: a key and its JSON value."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- Docker events, tags and web-UI links (containers are referred to by host + key, §3a) ---


class DockerEventRow(Base):
    """One engine event (container, image, volume or network) kept for the events page."""

    __tablename__ = "docker_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    host: Mapped[str] = mapped_column(String(63), index=True)
    type: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    # JSON object of the few engine attributes worth showing (exitCode, signal, image, ...).
    attributes: Mapped[str] = mapped_column(Text)


class TagRow(Base):
    """A tag users attach to containers: a unique name and a #rrggbb colour."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    colour: Mapped[str] = mapped_column(String(7))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ContainerTagRow(Base):
    """A tag attached to a container by host slug + container key (survives recreation)."""

    __tablename__ = "container_tags"

    host: Mapped[str] = mapped_column(String(63), primary_key=True)
    container_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    tag_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ContainerLinkRow(Base):
    """A container's web-UI link (http or https), by host slug + container key."""

    __tablename__ = "container_links"

    host: Mapped[str] = mapped_column(String(63), primary_key=True)
    container_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- schedules -----------------------------------------------------------------------------------


class ScheduleRow(Base):
    """A schedule: its target (host + container key, label or host), action, trigger and run
    policies (durations in whole seconds), and its next due time."""

    __tablename__ = "schedules"
    __table_args__ = (
        CheckConstraint("target_kind IN ('container', 'label', 'host', 'image')",
                        name="target_kind"),
        CheckConstraint("trigger_kind IN ('cron', 'once')", name="trigger_kind"),
        CheckConstraint("misfire IN ('skip', 'run_once')", name="misfire"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean)
    target_kind: Mapped[str] = mapped_column(String(16))
    host: Mapped[str] = mapped_column(String(63))
    target_key: Mapped[str | None] = mapped_column(String(255))
    target_label: Mapped[str | None] = mapped_column(String(255))
    target_image: Mapped[str | None] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))
    trigger_kind: Mapped[str] = mapped_column(String(8))
    cron: Mapped[str | None] = mapped_column(String(100))
    run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    timezone: Mapped[str] = mapped_column(String(64))
    misfire: Mapped[str] = mapped_column(String(16))
    grace_seconds: Mapped[int] = mapped_column(Integer)
    timeout_seconds: Mapped[int] = mapped_column(Integer)
    retries: Mapped[int] = mapped_column(Integer)
    retry_backoff_seconds: Mapped[int] = mapped_column(Integer)
    jitter_seconds: Mapped[int] = mapped_column(Integer)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ScheduleRunRow(Base):
    """One run of a schedule or of a webhook, naming what it did (action, target).

    The unique (schedule, trigger, due time) triple is the claim that keeps two schedulers on
    one database from both running it; webhook runs have no schedule (SQL treats the NULLs as
    distinct, so they never collide).
    """

    __tablename__ = "schedule_runs"
    __table_args__ = (
        UniqueConstraint("schedule_id", "trigger", "scheduled_for"),
        CheckConstraint("result IN ('running', 'ok', 'error', 'skipped')", name="result"),
        CheckConstraint("schedule_id IS NOT NULL OR webhook_id IS NOT NULL", name="owner"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("schedules.id", ondelete="CASCADE"))
    webhook_id: Mapped[int | None] = mapped_column(
        Integer, ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(16))
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    result: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(Integer)
    action: Mapped[str | None] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(300))
    detail: Mapped[str | None] = mapped_column(String(500))  # what an ok run did


class WebhookRow(Base):
    """A webhook: a hashed token, and for a locked one the action and target it is bound to."""

    __tablename__ = "webhooks"
    __table_args__ = (
        CheckConstraint("locked = false OR (action IS NOT NULL AND target_kind IS NOT NULL)",
                        name="locked_target"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean)
    locked: Mapped[bool] = mapped_column(Boolean)
    action: Mapped[str | None] = mapped_column(String(32))
    target_kind: Mapped[str | None] = mapped_column(String(16))
    host: Mapped[str | None] = mapped_column(String(63))
    target_key: Mapped[str | None] = mapped_column(String(255))
    target_label: Mapped[str | None] = mapped_column(String(255))
    target_image: Mapped[str | None] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16))
    allow_get: Mapped[bool] = mapped_column(Boolean)
    allowed_cidrs: Mapped[str] = mapped_column(Text)  # JSON list of CIDRs; [] allows any
    rate_limit_per_minute: Mapped[int] = mapped_column(Integer)
    last_triggered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    trigger_count: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NotificationChannelRow(Base):
    """A notification channel: its kind, the non-secret configuration as JSON and the secret
    fields encrypted (chrontainer_core.secrets), never in clear."""

    __tablename__ = "notification_channels"
    __table_args__ = (
        CheckConstraint("kind IN ('discord', 'ntfy', 'gotify', 'webhook', 'email')",
                        name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean)
    config: Mapped[str] = mapped_column(Text)
    secrets_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NotificationRouteRow(Base):
    """One cell of the routing matrix: this event type goes to this channel."""

    __tablename__ = "notification_routes"

    event: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("notification_channels.id", ondelete="CASCADE"), primary_key=True)


class NotificationDeliveryRow(Base):
    """A notification on its way to one channel (durable: survives a restart)."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
        Index("ix_notification_deliveries_status", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("notification_channels.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(8))
    time: Mapped[datetime] = mapped_column(UTCDateTime())
    suppressed: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(8))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NotificationAttemptRow(Base):
    """One try at sending a delivery (the delivery log)."""

    __tablename__ = "notification_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("notification_deliveries.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    ok: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)


class NotificationThrottleRow(Base):
    """When an (event, subject) was last notified and how many were dropped since."""

    __tablename__ = "notification_throttle"

    event: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject: Mapped[str] = mapped_column(String(300), primary_key=True)
    last_sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    suppressed: Mapped[int] = mapped_column(Integer)


class RegistryRow(Base):
    """A configured image registry; the password is encrypted (chrontainer_core.secrets)."""

    __tablename__ = "registries"
    __table_args__ = (
        CheckConstraint("kind IN ('dockerhub', 'ghcr', 'quay', 'harbor', 'generic')",
                        name="kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(255))
    # The canonical host (Hub aliases folded): one registry per host. (Not "registry": the
    # declarative base has an attribute of that name.)
    host: Mapped[str] = mapped_column(String(255), unique=True)
    username: Mapped[str | None] = mapped_column(String(255))
    password_encrypted: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UpdateCheckRow(Base):
    """The last update check of a container, by host + container key (§3a): a recreated
    container keeps its status. ``notified_digest`` is the registry digest last announced as
    "update available", so each new image is announced once."""

    __tablename__ = "update_checks"
    __table_args__ = (
        CheckConstraint("state IN ('up_to_date', 'available', 'pinned', 'local', 'error')",
                        name="state"),
        UniqueConstraint("host", "container_key", name="uq_update_checks_host_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host: Mapped[str] = mapped_column(String(63))
    container_key: Mapped[str] = mapped_column(String(255))
    image: Mapped[str] = mapped_column(String(512))
    state: Mapped[str] = mapped_column(String(16))
    local_digest: Mapped[str | None] = mapped_column(String(128))
    remote_digest: Mapped[str | None] = mapped_column(String(128))
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64))
    notified_digest: Mapped[str | None] = mapped_column(String(128))
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UpdateJournalRow(Base):
    """One container update, its step written before the step is taken (crash recovery
    finishes or undoes a ``running`` one at start)."""

    __tablename__ = "update_journal"
    __table_args__ = (
        CheckConstraint("status IN ('running', 'done', 'rolled_back', 'failed')",
                        name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host: Mapped[str] = mapped_column(String(63))
    container_key: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    image: Mapped[str] = mapped_column(String(512))
    old_id: Mapped[str] = mapped_column(String(64))
    old_image_id: Mapped[str] = mapped_column(String(128))
    new_id: Mapped[str | None] = mapped_column(String(64))
    new_image_id: Mapped[str | None] = mapped_column(String(128))
    temp_name: Mapped[str] = mapped_column(String(255))
    backup_name: Mapped[str] = mapped_column(String(255))
    was_running: Mapped[bool] = mapped_column(Boolean)
    step: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class MqttDeviceRow(Base):
    """A Home Assistant device the MQTT bridge has published discovery for (one per container
    key, host and schedule), with the config topics it published. Kept so that after a restart
    the bridge can clear the config of devices that no longer exist (no ghost entities), and
    so that a removed container's entities are removed once ``gone_since`` is older than the
    bridge's TTL, even across restarts."""

    __tablename__ = "mqtt_devices"

    device_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "container", "host", "schedule"
    host: Mapped[str | None] = mapped_column(String(63))
    ref: Mapped[str] = mapped_column(String(255))  # container key, host slug or schedule id
    config_topics: Mapped[str] = mapped_column(Text)  # JSON list of retained config topics
    # JSON object: entity key -> platform, as last published. Device-based discovery removes an
    # entity only when it is sent as {"p": platform}, so the bridge must know, even after a
    # restart, which entities a device had (control switched off while it was down).
    components: Mapped[str] = mapped_column(Text, default="{}")
    gone_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
