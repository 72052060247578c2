"""The OpenAPI 3.1 document, built from the declared routes, and the endpoint serving it.

Everything comes from the declarations in ``spec.py``: paths and their parameters, request
bodies (from the voluptuous schemas the server enforces), response schemas (from the core
dataclasses, collected under ``components/schemas``) and error responses, which all reference the
one ``Error`` component. :func:`missing_routes` lets a test prove that every route under
``/api/`` is in the document.

Usage (in ``app.py``)::

    from chrontainer_server.api import openapi

    openapi.routes.register(app)    # GET /api/v1/openapi.json, public
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Iterable
from http import HTTPStatus
from importlib import metadata
from typing import Any, Final

from aiohttp import web

from .jsonschema import REF_PREFIX, JsonSchema, from_type, from_voluptuous
from .spec import API_STATE, JSON, ApiRoute, ApiRoutes, Content, ListOf, json_response

__all__ = [
    "ERROR_SCHEMA",
    "build_document",
    "document_for",
    "missing_routes",
    "routes",
    "schema_of",
]

ERROR_SCHEMA: Final[JsonSchema] = {
    "type": "object",
    "description": "The body of every error response.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "Stable machine code, e.g. not_found."},
                "message": {"type": "string", "description": "Human-readable explanation."},
                "details": {
                    "type": "object",
                    "description": "Context; `field` names the offending input.",
                },
            },
        }
    },
}

# How a client authenticates (chrontainer_server.auth.middleware).
SECURITY_SCHEMES: Final[JsonSchema] = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "An API key as `Authorization: Bearer <key>`."},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                     "description": "Legacy header for an API key."},
    "session": {"type": "apiKey", "in": "cookie", "name": "chrontainer_session",
                "description": "The login session; changes also need the `X-CSRF-Token` "
                               "header."},
}

_ERROR_REF: Final = {"$ref": REF_PREFIX + "Error"}
_DOCUMENT_CACHE_KEY: Final = "openapi"

routes = ApiRoutes(tag="meta")


@routes.get("/openapi.json", response={"type": "object"}, public=True)
async def get_openapi_document(request: web.Request) -> web.StreamResponse:
    """The OpenAPI 3.1 document of this API."""
    return json_response(document_for(request.app))


def document_for(app: web.Application) -> dict[str, Any]:
    """The document of ``app``'s declared routes, built on first use and cached on the app."""
    state = app.get(API_STATE)
    if state is None:
        return build_document(())
    document: dict[str, Any] | None = state.cache.get(_DOCUMENT_CACHE_KEY)
    if document is None:
        document = state.cache[_DOCUMENT_CACHE_KEY] = build_document(state.routes)
    return document


def build_document(
    api_routes: Iterable[ApiRoute],
    *,
    title: str = "Chrontainer API",
    version: str | None = None,
) -> dict[str, Any]:
    """Build the OpenAPI 3.1 document of ``api_routes``.

    Args:
        api_routes: The declared routes to document.
        title: ``info.title``.
        version: ``info.version``; defaults to the installed chrontainer version.

    Returns:
        The document as JSON-ready dicts.
    """
    registry: dict[str, JsonSchema] = {}
    paths: dict[str, dict[str, Any]] = {}
    tags: set[str] = set()
    for route in sorted(api_routes, key=lambda r: r.openapi_path):
        paths.setdefault(route.openapi_path, {})[route.method.lower()] = _operation(route, registry)
        if route.tag:
            tags.add(route.tag)
    registry["Error"] = copy.deepcopy(ERROR_SCHEMA)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version or _package_version()},
        "tags": [{"name": tag} for tag in sorted(tags)],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(registry.items())),
            "securitySchemes": copy.deepcopy(SECURITY_SCHEMES),
        },
        # Any one of them; public operations override this with an empty list.
        "security": [{name: []} for name in SECURITY_SCHEMES],
    }


def missing_routes(
    app: web.Application, document: dict[str, Any], *, prefix: str = "/api/"
) -> list[tuple[str, str]]:
    """Routes on ``app``'s router under ``prefix`` that ``document`` does not describe.

    HEAD routes that aiohttp adds beside a GET are ignored.

    Returns:
        Sorted ``(METHOD, path)`` pairs; empty when the document is complete.
    """
    paths = document.get("paths", {})
    registered = [
        (route.method.upper(), route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith(prefix)
    ]
    gets = {path for method, path in registered if method == "GET"}
    return sorted(
        {
            (method, path)
            for method, path in registered
            if not (method == "HEAD" and path in gets) and method.lower() not in paths.get(path, {})
        }
    )


# ---------------------------------------------------------------------------------------------
# operations


def _operation(route: ApiRoute, registry: dict[str, JsonSchema]) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": route.operation_id}
    if route.summary:
        operation["summary"] = route.summary
    if route.description:
        operation["description"] = route.description
    if route.tag:
        operation["tags"] = [route.tag]
    parameters = _path_parameters(route) + _query_parameters(route)
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = _request_body(route)
    elif route.upload:
        operation["requestBody"] = {"required": True, "content": {
            c.media_type: {"schema": {"type": "string", "format": "binary"}}
            for c in route.upload}}
    operation["responses"] = _responses(route, registry)
    if route.public:
        operation["security"] = []  # overrides any document-wide requirement
    return operation


def _path_parameters(route: ApiRoute) -> list[dict[str, Any]]:
    properties: dict[str, JsonSchema] = {}
    if route.path_params is not None:
        properties = from_voluptuous(route.path_params).get("properties", {})
    return [
        _parameter(name, "path", properties.get(name, {"type": "string"}), required=True)
        for name in route.path_names
    ]


def _query_parameters(route: ApiRoute) -> list[dict[str, Any]]:
    if route.query is None:
        return []
    schema = from_voluptuous(route.query)
    required = set(schema.get("required", ()))
    return [
        _parameter(name, "query", prop, required=name in required)
        for name, prop in schema.get("properties", {}).items()
    ]


def _parameter(name: str, where: str, schema: JsonSchema, *, required: bool) -> dict[str, Any]:
    schema = dict(schema)
    parameter: dict[str, Any] = {"name": name, "in": where, "required": required}
    # OpenAPI shows a parameter's description beside it, not inside its schema.
    description = schema.pop("description", None)
    if description:
        parameter["description"] = description
    parameter["schema"] = schema
    return parameter


def _request_body(route: ApiRoute) -> dict[str, Any]:
    schema = from_voluptuous(route.body)
    # An empty body counts as {} (see spec.py): the body is optional when {} is acceptable.
    optional = schema.get("type") == "object" and not schema.get("required")
    return {"required": not optional, "content": {JSON: {"schema": schema}}}


def _responses(route: ApiRoute, registry: dict[str, JsonSchema]) -> dict[str, Any]:
    success: dict[str, Any] = {"description": HTTPStatus(route.status).phrase}
    content = _content(route.response, registry)
    if content:
        success["content"] = content
    responses: dict[str, Any] = {str(route.status): success}
    for status, spec in route.also:
        other: dict[str, Any] = {"description": HTTPStatus(status).phrase}
        other_content = _content(spec, registry)
        if other_content:
            other["content"] = other_content
        responses[str(status)] = other
    statuses = set(route.errors) | {500}
    if not route.public:
        # No credentials (401), or a role, key scope or CSRF check said no (403).
        statuses |= {401, 403}
    if route.body is not None or route.query is not None or route.path_params is not None:
        statuses.add(400)
    if route.body is not None or route.upload:
        statuses.add(413)
    for status in sorted(statuses):
        responses[str(status)] = {
            "description": HTTPStatus(status).phrase,
            "content": {JSON: {"schema": dict(_ERROR_REF)}},
        }
    return responses


def _content(response: Any, registry: dict[str, JsonSchema]) -> dict[str, Any]:
    if response is None:
        return {}
    if isinstance(response, Content):
        response = [response]
    if isinstance(response, list) and all(isinstance(c, Content) for c in response):
        return {c.media_type: _media(c.schema, registry) for c in response}
    return {JSON: _media(response, registry)}


def _media(spec: Any, registry: dict[str, JsonSchema]) -> dict[str, Any]:
    schema = schema_of(spec, registry)
    return {"schema": schema} if schema is not None else {}


def schema_of(spec: Any, registry: dict[str, JsonSchema]) -> JsonSchema | None:
    """The JSON Schema of a response ``spec`` (see ``spec.py``); None for no body."""
    if spec is None:
        return None
    if isinstance(spec, tuple) and len(spec) == 2 and spec[0] == "list":
        spec = ListOf(spec[1])
    if isinstance(spec, ListOf):
        return _envelope(spec, registry)
    if isinstance(spec, dict):
        resolved: JsonSchema = _resolve_types(spec, registry)
        return resolved
    return from_type(spec, registry)


def _envelope(spec: ListOf, registry: dict[str, JsonSchema]) -> JsonSchema:
    properties: dict[str, Any] = {
        "items": {"type": "array", "items": schema_of(spec.item, registry) or {}},
        "total": {"type": "integer", "minimum": 0},
    }
    for name, extra in spec.extra.items():
        properties[name] = schema_of(extra, registry) or {}
    return {"type": "object", "required": list(properties), "properties": properties}


def _resolve_types(value: Any, registry: dict[str, JsonSchema]) -> Any:
    """Copy a JSON Schema, replacing embedded type hints (``{"items": Container}``) by schemas."""
    if isinstance(value, dict):
        return {key: _resolve_types(item, registry) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve_types(item, registry) for item in value]
    if isinstance(value, type) or typing.get_origin(value) is not None:
        return from_type(value, registry)
    return value


def _package_version() -> str:
    try:
        return metadata.version("chrontainer")
    except metadata.PackageNotFoundError:
        return "0.0.0"  # running from a source tree that is not installed
