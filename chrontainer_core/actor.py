"""Who asked: every mutating core call takes an :class:`Actor` and records it in the audit trail."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ActorKind(enum.StrEnum):
    USER = "user"
    API_KEY = "api_key"
    SCHEDULE = "schedule"
    WEBHOOK = "webhook"
    MQTT = "mqtt"
    CLI = "cli"
    LIBRARY = "library"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """The origin of a request, as the audit trail shows it."""

    kind: ActorKind
    id: str = ""
    name: str = ""
    source_ip: str | None = None

    @classmethod
    def library(cls) -> Actor:
        """The actor of a script using chrontainer_core directly."""
        return cls(kind=ActorKind.LIBRARY, id="library", name="library")

    @classmethod
    def cli(cls, user: str = "") -> Actor:
        """The actor of a ``chrontainer`` command line call."""
        return cls(kind=ActorKind.CLI, id=user or "cli", name=user or "cli")

    @classmethod
    def system(cls) -> Actor:
        """Chrontainer itself (start-up tasks, config-file upserts)."""
        return cls(kind=ActorKind.SYSTEM, id="system", name="system")

    @classmethod
    def mqtt(cls, client_id: str = "") -> Actor:
        """The actor of a command that arrived over MQTT (the bridge's client id as its id)."""
        return cls(kind=ActorKind.MQTT, id=client_id or "mqtt", name="mqtt")

    @property
    def label(self) -> str:
        """Short human form, e.g. ``user:alice``."""
        return f"{self.kind.value}:{self.name or self.id}"
