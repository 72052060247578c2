"""/api/v1/mqtt: the MQTT bridge's settings, its status, and a broker connection test (admin
only: the settings hold the broker's credentials, DESIGN §7).

The password is write-only: ``PATCH`` sets it (a string), clears it (null) or keeps it (absent);
no response carries it, only ``password_set``. Keys set in the config file's ``mqtt:`` section
are read-only (409). ``POST /mqtt/test`` logs in to a broker with the stored settings, or with
the body's values laid over them (an unsaved form), and says whether it worked: 200 either way.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from chrontainer_mqtt.bridge import BridgeStatus, MqttBridge
from chrontainer_mqtt.probe import probe
from chrontainer_mqtt.settings import TEST_SCHEMA, UPDATE_SCHEMA
from chrontainer_mqtt.settings_service import (
    MqttSettingsService,
    MqttSettingsState,
    MqttSettingsView,
)

from .context import actor
from .spec import ApiRoutes, json_response

__all__ = ["MQTT_BRIDGE", "MQTT_SETTINGS", "routes", "status_of"]

routes = ApiRoutes(tag="mqtt")

MQTT_SETTINGS: Final = web.AppKey("chrontainer_mqtt_settings", MqttSettingsService)
MQTT_BRIDGE: Final = web.AppKey("chrontainer_mqtt_bridge", MqttBridge)

MQTT_DOCUMENT: Final = {
    "type": "object",
    "required": ["settings", "read_only", "warnings", "status"],
    "additionalProperties": False,
    "properties": {
        "settings": MqttSettingsView,
        "read_only": {
            "type": "array", "items": {"type": "string"},
            "description": "keys set in the config file: shown, never changed at run time",
        },
        "warnings": {
            "type": "array", "items": {"type": "string"},
            "description": "what needs attention (a stored password that cannot be decrypted)",
        },
        "status": BridgeStatus,
    },
}
TEST_RESULT: Final = {
    "type": "object",
    "required": ["ok", "error"],
    "additionalProperties": False,
    "properties": {
        "ok": {"type": "boolean"},
        "error": {"type": ["string", "null"], "description": "why the broker was not reached"},
    },
}


def service(request: web.Request) -> MqttSettingsService:
    """The MQTT settings service of the application."""
    return request.app[MQTT_SETTINGS]


def status_of(app: web.Application) -> BridgeStatus:
    """The bridge's connection state and what it published, as of now."""
    return app[MQTT_BRIDGE].status()


def _document(request: web.Request, state: MqttSettingsState) -> web.Response:
    return json_response({"settings": state.settings, "read_only": list(state.read_only),
                          "warnings": list(state.warnings), "status": status_of(request.app)})


@routes.get("/mqtt", response=MQTT_DOCUMENT)
async def get_mqtt(request: web.Request) -> web.StreamResponse:
    """The MQTT settings (never the password), which are read-only, and the bridge's status."""
    return _document(request, service(request).state())


@routes.patch("/mqtt", body=UPDATE_SCHEMA, response=MQTT_DOCUMENT, errors=(409,))
async def update_mqtt(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Change some MQTT settings; a key set in the config file is refused with 409."""
    state = await service(request).update(body, actor=actor(request))
    return _document(request, state)


@routes.post("/mqtt/test", body=TEST_SCHEMA, response=TEST_RESULT)
async def test_mqtt(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Log in to the broker with the stored settings, or the body's values laid over them:
    200 either way, ``ok`` false with the reason (refused, unreachable, no answer in 5 s)."""
    error = await probe(service(request).laid_over(body))
    return json_response({"ok": error is None, "error": error})
