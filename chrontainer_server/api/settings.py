"""/api/v1/settings: read and change the user-editable settings (admin only).

The body schema of PATCH is the core's :data:`~chrontainer_core.settings.UPDATE_SCHEMA`, so the
API, the config file and the core validate each value the same way, and GET returns the JSON
Schema of that same body so that clients can build a form from it.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from chrontainer_core.errors import NotFound
from chrontainer_core.settings import UPDATE_SCHEMA, Settings, SettingsService, SettingsState

from .context import actor, core
from .jsonschema import from_voluptuous
from .spec import ApiRoutes, json_response

routes = ApiRoutes(tag="settings")

SETTINGS_DOCUMENT: Final = {
    "type": "object",
    "required": ["values", "read_only", "schema"],
    "properties": {
        "values": Settings,
        "read_only": {
            "type": "array",
            "items": {"type": "string"},
            "description": "keys set in the config file: shown, never changed at run time",
        },
        "schema": {"type": "object", "description": "JSON Schema of the PATCH body"},
    },
}
# The PATCH body's JSON Schema, derived once: it never changes while the process runs.
UPDATE_JSON_SCHEMA: Final = from_voluptuous(UPDATE_SCHEMA)


def service(request: web.Request) -> SettingsService:
    """The settings service of the runtime; library-mode runtimes have none.

    Raises:
        NotFound: The runtime has no database (never the case under ``serve``).
    """
    settings = core(request).settings
    if settings is None:
        raise NotFound("this server keeps no settings (no database)")
    return settings


def _document(state: SettingsState) -> web.Response:
    body: dict[str, Any] = {
        "values": state.values, "read_only": list(state.read_only), "schema": UPDATE_JSON_SCHEMA,
    }
    return json_response(body)


@routes.get("/settings", response=SETTINGS_DOCUMENT, errors=(404,))
async def get_settings(request: web.Request) -> web.StreamResponse:
    """Every setting's value, which are read-only (set in the config file), and their schema."""
    return _document(service(request).state())


@routes.patch("/settings", body=UPDATE_SCHEMA, response=SETTINGS_DOCUMENT, errors=(404, 409))
async def update_settings(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Change some settings; a key set in the config file is refused with 409."""
    state = await service(request).update(body, actor=actor(request))
    return _document(state)
