"""MQTT fixtures: a session broker shared by the bridge tests, a session TLS broker, and a
private one per test for tests that stop or restart the broker (never the shared ones)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..pki import make_pki
from .broker import Mosquitto


@pytest.fixture(scope="session")
def mqtt_broker() -> Iterator[Mosquitto]:
    """A Mosquitto allowing anonymous clients, for the whole session. Tests sharing it use a
    unique base topic and discovery prefix each (see tests/mqtt/bridge_harness.py)."""
    broker = Mosquitto()
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture
def own_broker() -> Iterator[Mosquitto]:
    """A private Mosquitto with a password, which a test may stop and start again."""
    broker = Mosquitto(password=True)
    broker.start()
    try:
        yield broker
    finally:
        broker.close()


@pytest.fixture(scope="session")
def tls_broker() -> Iterator[Mosquitto]:
    """A Mosquitto speaking only TLS (anonymous), its certificate for 127.0.0.1 signed by
    ``broker.tls.ca``; ``broker.tls.other_ca`` is an unrelated CA. Shared like ``mqtt_broker``."""
    broker = Mosquitto(tls=make_pki())
    broker.start()
    try:
        yield broker
    finally:
        broker.close()
