"""One connection to the broker: publishing with "only on change", and the connect options.

The bridge opens a new :class:`Session` for every connection (aiomqtt leaves reconnecting to
the caller). A session remembers the last payload it published per retained topic, so state is
sent only when it changed; a new connection starts empty and therefore republishes everything
(the broker may have restarted without persistence and lost every retained message).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field

import aiomqtt

from .settings import MqttSettings
from .topics import Topics

__all__ = ["QOS", "PublishCounts", "Session", "client_for"]

# Every message is QoS 1: Home Assistant's discovery and state must not be lost silently.
QOS = 1
# The broker drops a client silent for 1.5 x keepalive and then sends its last will.
KEEPALIVE = 30


def client_for(settings: MqttSettings, topics: Topics) -> aiomqtt.Client:
    """An (unconnected) client for ``settings`` with the bridge's last will ``offline``."""
    tls_params = None
    if settings.tls:
        tls_params = aiomqtt.TLSParameters(
            cert_reqs=ssl.CERT_NONE if settings.tls_insecure else ssl.CERT_REQUIRED)
    return aiomqtt.Client(
        settings.host,
        settings.port,
        identifier=settings.client_id or None,
        username=settings.username or None,
        password=settings.password or None,
        tls_params=tls_params,
        tls_insecure=settings.tls_insecure if settings.tls else None,
        keepalive=KEEPALIVE,
        will=aiomqtt.Will(topics.status, "offline", qos=QOS, retain=True),
    )


@dataclass(slots=True)
class PublishCounts:
    """How many messages the bridge sent, by kind (for status and the bench)."""

    published: int = 0
    skipped: int = 0  # retained payloads not sent because they did not change
    cleared: int = 0  # empty retained payloads (removals)


@dataclass
class Session:
    """A connected client plus the retained payloads published on it."""

    client: aiomqtt.Client
    counts: PublishCounts = field(default_factory=PublishCounts)
    _retained: dict[str, str] = field(default_factory=dict)

    async def publish(self, topic: str, payload: str, *, retain: bool = True,
                      force: bool = False) -> bool:
        """Publish unless this retained payload is already on the broker; True when sent.

        Raises:
            aiomqtt.MqttError: The connection failed (the bridge reconnects).
        """
        if retain and not force and self._retained.get(topic) == payload:
            self.counts.skipped += 1
            return False
        await self.client.publish(topic, payload, qos=QOS, retain=retain)
        if retain:
            self._retained[topic] = payload
        self.counts.published += 1
        return True

    async def clear(self, topics: Iterable[str]) -> None:
        """Remove retained messages (an empty retained payload deletes one on the broker)."""
        for topic in topics:
            await self.client.publish(topic, b"", qos=QOS, retain=True)
            self._retained.pop(topic, None)
            self.counts.cleared += 1

    def forget(self) -> None:
        """Forget what was sent, so the next publish of every topic goes out again."""
        self._retained.clear()

    def sent(self, topic: str) -> str | None:
        """The retained payload last published on ``topic`` in this session."""
        return self._retained.get(topic)
