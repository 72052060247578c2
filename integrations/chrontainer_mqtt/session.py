"""One connection to the broker: publishing with "only on change", and the connect options.

The bridge opens a new :class:`Session` for every connection (aiomqtt leaves reconnecting to
the caller). A session remembers the last payload it published per retained topic, so state is
sent only when it changed; a new connection starts empty and therefore republishes everything
(the broker may have restarted without persistence and lost every retained message).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field

import aiomqtt

from .settings import MqttSettings
from .topics import Topics

__all__ = ["QOS", "PublishCounts", "Session", "client_for", "tls_context"]

# Every message is QoS 1: Home Assistant's discovery and state must not be lost silently.
QOS = 1
# The broker drops a client silent for 1.5 x keepalive and then sends its last will.
KEEPALIVE = 30


def _build_tls_context(settings: MqttSettings) -> ssl.SSLContext:
    # Blocking: create_default_context reads the system's CA files.
    context = ssl.create_default_context(cadata=settings.tls_ca_cert or None)
    if settings.tls_insecure:
        # paho reads check_hostname off the context and then skips its own host name check.
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


async def tls_context(settings: MqttSettings) -> ssl.SSLContext | None:
    """The TLS context for ``settings``, built off the event loop; None without TLS.

    It trusts ``tls_ca_cert`` when one is given, else the system's CAs; ``tls_insecure``
    accepts any certificate and host name.

    Raises:
        aiomqtt.MqttError: The CA certificates do not load (a stored value gone bad).
    """
    if not settings.tls:
        return None
    try:
        return await asyncio.to_thread(_build_tls_context, settings)
    except (ssl.SSLError, ValueError) as err:
        raise aiomqtt.MqttError(f"the TLS CA certificates do not load: {err}") from err


def client_for(settings: MqttSettings, topics: Topics, *,
               tls: ssl.SSLContext | None) -> aiomqtt.Client:
    """An (unconnected) client for ``settings`` with the bridge's last will ``offline``.

    Args:
        settings: The broker, login and client id.
        topics: Where the last will goes.
        tls: From :func:`tls_context` (None: plain MQTT).
    """
    return aiomqtt.Client(
        settings.host,
        settings.port,
        identifier=settings.client_id or None,
        username=settings.username or None,
        password=settings.password or None,
        tls_context=tls,
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
