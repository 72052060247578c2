"""The MQTT section of Settings (admins only, like the API behind it): ``/settings/mqtt``.

The page renders the effective settings (never the password: only whether one is set; keys
set in the config file disabled with "set in config file"), the control warning, and the
bridge's status. ``static/mqtt.js`` saves through ``PATCH /api/v1/mqtt``, tests a connection
through ``POST /api/v1/mqtt/test``, and fetches the status fragment
(``/fragments/mqtt/status``) again after a save and on "Refresh": the bridge publishes no bus
event for its connection, and pages never poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from aiohttp import web

from chrontainer_core.serialize import format_datetime
from chrontainer_mqtt.settings import ControlMode, DiscoveryMode
from chrontainer_mqtt.topics import Topics

from ..api.mqtt import MQTT_SETTINGS, status_of
from .rendering import render

__all__ = ["PAGE", "STATUS_FRAGMENT", "setup"]

PAGE: Final = "/settings/mqtt"
STATUS_FRAGMENT: Final = "/fragments/mqtt/status"


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    """One input of the form: ``kind`` is text, textarea, number or checkbox."""

    key: str
    label: str
    kind: str
    help: str
    minimum: int = 0
    maximum: int = 0


BROKER_FIELDS: Final = (
    Field(key="enabled", label="Enable the MQTT bridge", kind="checkbox",
          help="Publishes containers, hosts and schedules to the broker below."),
    Field(key="host", label="Broker host", kind="text", maximum=253,
          help="Host name or IP address, without mqtt:// and without the port."),
    Field(key="port", label="Port", kind="number", minimum=1, maximum=65535,
          help="1883, or 8883 with TLS."),
    Field(key="tls", label="Use TLS", kind="checkbox", help="Encrypt the connection."),
    Field(key="tls_insecure", label="Accept any broker certificate", kind="checkbox",
          help="Only for a self-signed certificate on your own network."),
    Field(key="tls_ca_cert", label="CA certificate", kind="textarea", maximum=65536,
          help="PEM of the CA that signed the broker's certificate (your own CA); one or more "
               "certificates. Empty trusts the system's CAs."),
    Field(key="username", label="Username", kind="text", maximum=128,
          help="Empty to connect anonymously."),
)
TOPIC_FIELDS: Final = (
    Field(key="base_topic", label="Base topic", kind="text", maximum=100,
          help="Every Chrontainer topic starts with it."),
    Field(key="discovery_prefix", label="Discovery prefix", kind="text", maximum=100,
          help="Home Assistant's, homeassistant unless you changed it there."),
    Field(key="client_id", label="Client id", kind="text", maximum=64,
          help="Unique per Chrontainer instance; empty generates a new one."),
    Field(key="removed_ttl_hours", label="Keep removed containers", kind="number", minimum=1,
          maximum=8760, help="Hours a removed container's entities stay (unavailable) before "
                             "they are removed."),
)
DISCOVERY_CHOICES: Final = (
    (DiscoveryMode.DEVICE, "One config per device (Home Assistant 2024.12 or later)"),
    (DiscoveryMode.COMPONENT, "One config per entity (older Home Assistant)"),
)
CONTROL_CHOICES: Final = (
    (ControlMode.OFF, "Off: read-only, no command is obeyed"),
    (ControlMode.ALL, "All containers, except those labelled chrontainer.mqtt.control=false"),
    (ControlMode.LABELLED, "Only containers labelled chrontainer.mqtt.control=true"),
)
STATE_LABELS: Final = {
    "disabled": "Off",
    "connecting": "Connecting",
    "connected": "Connected",
    "reconnecting": "Reconnecting",
}


def setup(app: web.Application) -> None:
    """Add the MQTT page and its status fragment."""
    app.router.add_get(PAGE, mqtt_page)
    app.router.add_get(STATUS_FRAGMENT, status_fragment)


def _utc_text(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else ""


def _status_context(request: web.Request) -> dict[str, Any]:
    return {"status": status_of(request.app), "state_labels": STATE_LABELS,
            "iso": format_datetime, "utc_text": _utc_text}


async def mqtt_page(request: web.Request) -> web.StreamResponse:
    """The MQTT settings form, the control warning, a connection test and the bridge status."""
    state = request.app[MQTT_SETTINGS].state()
    values = state.settings
    topics = Topics(base=values.base_topic, discovery_prefix=values.discovery_prefix)
    context = {
        "values": values, "read_only": state.read_only, "warnings": state.warnings,
        "broker_fields": BROKER_FIELDS, "topic_fields": TOPIC_FIELDS,
        "discovery_choices": DISCOVERY_CHOICES, "control_choices": CONTROL_CHOICES,
        "command_filters": topics.command_filters, **_status_context(request),
    }
    return render(request, "mqtt.html", context)


async def status_fragment(request: web.Request) -> web.StreamResponse:
    """The bridge's status box alone, for the page to swap after a save or on "Refresh"."""
    return render(request, "mqtt_status.html", _status_context(request))
