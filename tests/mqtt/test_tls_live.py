"""The bridge over TLS to a real Mosquitto whose certificate comes from its own CA (a home
broker): with that CA given (``tls_ca_cert``) it connects and publishes discovery; with the
system's CAs only, or an unrelated CA, the certificate does not verify: the status says so and
nothing reaches the broker; ``tls_insecure`` connects without verifying."""

from __future__ import annotations

import json
from functools import partial

from chrontainer_core import Chrontainer
from chrontainer_mqtt.bridge import MqttBridge

from ..live import Engine, wait_for
from . import bridge_harness
from .bridge_harness import StartBridge, bridge_settings, topics_of, wait_connected
from .broker import Mosquitto, retained

mqtt_core = bridge_harness.mqtt_core
start_bridge = bridge_harness.start_bridge


def unverified(bridge: MqttBridge) -> bool:
    error = bridge.status().error
    return error is not None and "certificate verify failed" in error


async def test_the_bridge_verifies_the_broker_certificate(
        mqtt_core: Chrontainer, start_bridge: StartBridge, tls_broker: Mosquitto,
        local_engine: Engine) -> None:
    assert tls_broker.tls is not None
    pki = tls_broker.tls
    trusted = bridge_settings(tls_broker, tls=True, tls_ca_cert=pki.ca.cert)
    insecure = bridge_settings(tls_broker, tls=True, tls_insecure=True)
    system_cas = bridge_settings(tls_broker, tls=True)
    stranger = bridge_settings(tls_broker, tls=True, tls_ca_cert=pki.other_ca.cert)
    # All at once over one core: each has its own topics and client id.
    bridges = {s.client_id: (s, await start_bridge(s))
               for s in (trusted, insecure, system_cas, stranger)}

    for settings in (trusted, insecure):
        bridge = bridges[settings.client_id][1]
        await wait_connected(bridge)
        assert bridge.status().error is None
        t = topics_of(settings)
        held = await retained(tls_broker, f"{settings.discovery_prefix}/#")
        host_config = json.loads(held[t.device_config(t.host_device_id(local_engine.slug))])
        assert {"online", "containers"} <= set(host_config["components"])
        assert (await retained(tls_broker, t.status)) == {t.status: b"online"}

    for settings in (system_cas, stranger):
        bridge = bridges[settings.client_id][1]
        await wait_for(partial(unverified, bridge),
                       what=f"a certificate error for {settings.client_id}")
        assert bridge.status().state != "connected"
        assert bridge.status().connected_since is None
        # Nothing went out: neither discovery nor state nor the status.
        assert await retained(tls_broker, f"{settings.discovery_prefix}/#") == {}
        assert await retained(tls_broker, f"{settings.base_topic}/#") == {}
