"""The "Test connection" check: can the bridge log in to a broker with these settings?

Used by the settings page and ``POST /api/v1/mqtt/test`` before anything is saved. The probe
connects with a client id of its own (a broker drops the older of two clients sharing an id, so
borrowing the bridge's would knock the running bridge off), sets no last will, and disconnects
at once. The answer is a message for people, never the password.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import Final

import aiomqtt

from .session import tls_context
from .settings import MqttSettings

__all__ = ["PROBE_TIMEOUT", "probe"]

PROBE_TIMEOUT: Final = 5.0


async def probe(settings: MqttSettings, *, limit: float = PROBE_TIMEOUT) -> str | None:
    """Connect to the broker of ``settings`` and disconnect.

    Args:
        settings: Host, port, TLS and login to try (``enabled`` does not matter).
        limit: Seconds allowed for the whole attempt.

    Returns:
        None when the broker accepted the connection, else why it did not.
    """
    if not settings.host:
        return "no broker host is set"
    where = f"{settings.host}:{settings.port}"
    try:
        async with asyncio.timeout(limit):
            client = aiomqtt.Client(
                settings.host,
                settings.port,
                identifier=f"chrontainer-test-{secrets.token_hex(4)}",
                username=settings.username or None,
                password=settings.password or None,
                tls_context=await tls_context(settings),
                timeout=limit,
            )
            async with client:
                return None
    except TimeoutError:
        return f"no answer from {where} within {limit:g} s"
    except aiomqtt.MqttCodeError as err:
        # The broker answered and refused (CONNACK): usually the login.
        return f"{where} refused the connection: {err.rc}"
    except aiomqtt.MqttError as err:
        return f"cannot connect to {where}: {err}"
    except (OSError, ValueError) as err:
        # A host name the resolver rejects outright.
        return f"cannot connect to {where}: {err}"
