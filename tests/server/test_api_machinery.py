"""The declared-route machinery, the error middleware and the OpenAPI document, on a demo app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import voluptuous as vol
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from openapi_spec_validator import validate

from chrontainer_core.errors import (
    AmbiguousRef,
    Busy,
    ChrontainerError,
    ConfigError,
    Conflict,
    EngineError,
    HostUnreachable,
    InstanceLocked,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from chrontainer_core.models import BulkItemResult, LogRecord, LogStream
from chrontainer_server.api import openapi
from chrontainer_server.api.spec import (
    JSON,
    NDJSON,
    ApiRoutes,
    Content,
    ListOf,
    declared_routes,
    json_response,
    list_response,
    route_of,
)
from chrontainer_server.middlewares import (
    add_security_headers,
    error_middleware,
    status_for,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Thing:
    """A demo resource."""

    host: str
    ref: str
    created: datetime


routes = ApiRoutes(tag="things")

LIST_QUERY = vol.Schema(
    {
        vol.Optional("limit", default=50): vol.All(vol.Coerce(int), vol.Range(min=1, max=500)),
        vol.Optional("label", description="Repeatable label filter"): [str],
        vol.Optional("all", default=False): vol.Boolean(),
    }
)
TARGET = {vol.Required("host"): vol.All(str, vol.Length(min=1)), vol.Required("ref"): str}
BULK_BODY = vol.Schema(
    {
        vol.Required("action"): vol.In(["start", "stop"]),
        vol.Required("targets"): vol.All([TARGET], vol.Length(min=1)),
    }
)
ACTION_BODY = {vol.Optional("timeout", default=10): vol.All(int, vol.Range(min=0, max=600))}


@routes.get("/hosts/{host}/things", query=LIST_QUERY, response=ListOf(Thing), errors=(404,))
async def list_things(request: web.Request, *, query: dict[str, Any]) -> web.StreamResponse:
    """List the things of a host."""
    host = request.match_info["host"]
    things = [Thing(host=host, ref=f"t{i}", created=T0) for i in range(3)]
    return list_response(things[: query["limit"]], total=len(things), query=query)


@routes.get("/hosts/{host}/things/{ref}", response=Thing, errors=(404, 409, 502))
async def get_thing(request: web.Request) -> web.StreamResponse:
    """Get one thing; some refs fail on purpose."""
    ref = request.match_info["ref"]
    if ref == "missing":
        raise NotFound(f"no thing {ref!r}", details={"ref": ref})
    if ref == "busy":
        raise Busy("another action holds the thing")
    if ref == "boom":
        raise RuntimeError("secret database password in a message")
    return json_response(Thing(host=request.match_info["host"], ref=ref, created=T0))


@routes.post(
    "/hosts/{host}/things/{ref}/{action}",
    path_params={
        vol.Required("host", description="Host slug"): str,
        vol.Required("ref"): str,
        vol.Required("action"): vol.In(["start", "stop", "restart"]),
    },
    body=ACTION_BODY,
    response={"type": "object", "properties": {"thing": Thing, "changed": {"type": "boolean"}}},
    errors=(404, 409),
)
async def thing_action(
    request: web.Request, *, path_params: dict[str, str], body: dict[str, Any]
) -> web.StreamResponse:
    """Run an action on a thing."""
    return json_response({"path": path_params, "body": body})


@routes.post("/things/actions", body=BULK_BODY, response=ListOf(BulkItemResult))
async def bulk_action(request: web.Request, *, body: dict[str, Any]) -> web.StreamResponse:
    """Run one action on many things."""
    items = [BulkItemResult(host=t["host"], ref=t["ref"], ok=True) for t in body["targets"]]
    return list_response(items)


@routes.get(
    "/hosts/{host}/things/{ref}/logs",
    response=[Content(JSON, list[LogRecord]), Content(NDJSON, LogRecord)],
)
async def thing_logs(request: web.Request) -> web.StreamResponse:
    """Logs as a JSON list."""
    return json_response([LogRecord(t=T0, stream=LogStream.STDOUT, line="hi")])


@routes.delete("/hosts/{host}/things/{ref}", status=204, public=True)
async def delete_thing(request: web.Request) -> web.StreamResponse:
    """Delete a thing (public, for the route_of test)."""
    declaration = route_of(request)
    assert declaration is not None and declaration.public
    return web.Response(status=204)


def make_app(*, client_max_size: int = 4096) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=client_max_size)
    app.on_response_prepare.append(add_security_headers)
    routes.register(app)
    openapi.routes.register(app)
    return app


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(make_app())) as test_client:
        yield test_client


Client = TestClient[web.Request, web.Application]


async def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body: dict[str, dict[str, Any]] = await response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]


# ---------------------------------------------------------------------------------------------
# valid requests


async def test_path_and_query_are_validated_and_coerced(client: Client) -> None:
    response = await client.get("/api/v1/hosts/local/things?limit=2&label=a&label=b&all=yes")
    assert response.status == 200
    assert response.content_type == "application/json"
    body = await response.json()
    assert body["total"] == 3
    assert [item["ref"] for item in body["items"]] == ["t0", "t1"]
    assert body["items"][0] == {
        "host": "local",
        "ref": "t0",
        "created": "2026-01-02T03:04:05.000000Z",
    }
    assert body["query"] == {"limit": 2, "label": ["a", "b"], "all": True}


async def test_query_defaults(client: Client) -> None:
    body = await (await client.get("/api/v1/hosts/local/things")).json()
    assert body["query"] == {"limit": 50, "all": False}


async def test_body_with_nested_list(client: Client) -> None:
    response = await client.post(
        "/api/v1/things/actions",
        json={"action": "start", "targets": [{"host": "a", "ref": "x"}, {"host": "b", "ref": "y"}]},
    )
    assert response.status == 200
    body = await response.json()
    assert body["total"] == 2
    assert body["items"][1] == {
        "host": "b",
        "ref": "y",
        "ok": True,
        "changed": False,
        "error": None,
    }


async def test_path_params_schema_and_empty_body_as_defaults(client: Client) -> None:
    response = await client.post("/api/v1/hosts/local/things/web/restart")
    assert response.status == 200
    assert await response.json() == {
        "path": {"host": "local", "ref": "web", "action": "restart"},
        "body": {"timeout": 10},
    }


async def test_json_response_is_compact(client: Client) -> None:
    text = await (await client.get("/api/v1/hosts/local/things/web")).text()
    assert text == '{"host":"local","ref":"web","created":"2026-01-02T03:04:05.000000Z"}'


async def test_route_of_and_204(client: Client) -> None:
    response = await client.delete("/api/v1/hosts/local/things/web")
    assert response.status == 204


# ---------------------------------------------------------------------------------------------
# invalid input


async def test_invalid_json(client: Client) -> None:
    response = await client.post(
        "/api/v1/things/actions", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    error = await error_of(response, 400)
    assert error["code"] == "invalid_input"
    assert error["message"] == "body is not valid JSON"


async def test_invalid_utf8_is_invalid_json(client: Client) -> None:
    response = await client.post("/api/v1/things/actions", data=b'{"action": "\xff"}',
                                 headers={"Content-Type": "application/json"})
    assert (await error_of(response, 400))["message"] == "body is not valid JSON"


async def test_json_body_must_say_it_is_json(client: Client) -> None:
    # A cross-site form can post text/plain that parses as JSON; it must not be accepted.
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {"Content-Type": content_type} if content_type else {}
        response = await client.post("/api/v1/things/actions",
                                     data=b'{"action": "start", "targets": []}', headers=headers)
        error = await error_of(response, 400)
        assert error["details"]["field"] == "body" and "application/json" in error["message"]


async def test_schema_error_names_the_field(client: Client) -> None:
    response = await client.post(
        "/api/v1/things/actions",
        json={"action": "start", "targets": [{"host": 5, "ref": "x"}]},
    )
    error = await error_of(response, 400)
    assert error["code"] == "invalid_input"
    assert error["details"]["field"] == "targets[0].host"
    assert error["message"].startswith("targets[0].host: ")


async def test_missing_required_key(client: Client) -> None:
    response = await client.post("/api/v1/things/actions", json={"action": "start"})
    error = await error_of(response, 400)
    assert error["details"]["field"] == "targets"
    assert error["message"] == "targets: required key not provided"


async def test_extra_key_is_refused(client: Client) -> None:
    response = await client.post(
        "/api/v1/things/actions", json={"action": "start", "targets": [], "force": True}
    )
    error = await error_of(response, 400)
    # Two problems: both listed, the first one named.
    fields = {e["field"] for e in error["details"]["errors"]}
    assert fields == {"force", "targets"}
    assert error["details"]["field"] in fields


async def test_bad_query_value(client: Client) -> None:
    error = await error_of(await client.get("/api/v1/hosts/local/things?limit=lots"), 400)
    assert error["details"]["field"] == "limit"


async def test_bad_path_param(client: Client) -> None:
    error = await error_of(await client.post("/api/v1/hosts/local/things/web/jump"), 400)
    assert error["details"]["field"] == "action"


async def test_body_too_large() -> None:
    async with TestClient(TestServer(make_app(client_max_size=64))) as small:
        response = await small.post(
            "/api/v1/things/actions", json={"action": "start", "targets": [{"host": "x" * 200}]}
        )
        assert (await error_of(response, 413))["code"] == "too_large"


# ---------------------------------------------------------------------------------------------
# errors from routing and handlers


async def test_unknown_api_route_is_json_404(client: Client) -> None:
    error = await error_of(await client.get("/api/v1/nothing/here"), 404)
    assert error["code"] == "not_found"


async def test_wrong_method_is_json_405(client: Client) -> None:
    response = await client.put("/api/v1/things/actions")
    error = await error_of(response, 405)
    assert error["code"] == "method_not_allowed"
    assert error["details"]["allowed"] == ["POST"]
    assert response.headers["Allow"] == "POST"


async def test_unknown_non_api_route_keeps_aiohttp_page(client: Client) -> None:
    response = await client.get("/nothing")
    assert response.status == 404
    assert response.content_type == "text/plain"
    assert response.headers["X-Frame-Options"] == "DENY"


async def test_handler_not_found(client: Client) -> None:
    error = await error_of(await client.get("/api/v1/hosts/local/things/missing"), 404)
    assert error == {
        "code": "not_found",
        "message": "no thing 'missing'",
        "details": {"ref": "missing"},
    }


async def test_handler_busy(client: Client) -> None:
    error = await error_of(await client.get("/api/v1/hosts/local/things/busy"), 409)
    assert error["code"] == "busy"


async def test_unexpected_error_is_500_without_message(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="chrontainer_server.middlewares"):
        response = await client.get("/api/v1/hosts/local/things/boom")
        error = await error_of(response, 500)
    assert error == {"code": "internal", "message": "internal error", "details": {}}
    assert "secret" not in await response.text()
    # Logged with the traceback, by route pattern rather than raw path.
    record = next(r for r in caplog.records if r.name == "chrontainer_server.middlewares")
    assert record.exc_info is not None
    assert "/api/v1/hosts/{host}/things/{ref}" in record.getMessage()


async def test_security_headers(client: Client) -> None:
    for response in (
        await client.get("/api/v1/hosts/local/things/web"),
        await client.get("/api/v1/hosts/local/things/missing"),
        await client.get("/api/v1/nothing"),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["X-Frame-Options"] == "DENY"


async def test_cancelled_error_passes_through() -> None:
    async def cancelled(request: web.Request) -> web.StreamResponse:
        raise asyncio.CancelledError

    request = make_mocked_request("GET", "/api/v1/x")
    with pytest.raises(asyncio.CancelledError):
        await error_middleware(request, cancelled)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidInput("x", field="a"), 400),
        (ConfigError("x", path="a"), 400),
        (PermissionDenied("x"), 403),
        (NotFound("x"), 404),
        (Conflict("x"), 409),
        (AmbiguousRef("x"), 409),
        (Busy("x"), 409),
        (InstanceLocked("x"), 409),
        (HostUnreachable("x"), 502),
        (EngineError("x"), 502),
        (ChrontainerError("x"), 500),
    ],
)
def test_status_table(error: ChrontainerError, status: int) -> None:
    assert status_for(error) == status


# ---------------------------------------------------------------------------------------------
# declarations


def test_handler_must_accept_declared_inputs() -> None:
    group = ApiRoutes()
    with pytest.raises(TypeError, match="body"):

        @group.post("/x", body={"a": int})
        async def no_body(request: web.Request) -> web.StreamResponse:
            raise AssertionError

    with pytest.raises(TypeError, match="query"):

        @group.get("/y")
        async def undeclared_query(request: web.Request, *, query: dict[str, Any]) -> web.Response:
            raise AssertionError


def test_path_params_must_match_path() -> None:
    group = ApiRoutes()
    with pytest.raises(ValueError, match="path_params"):

        @group.get("/hosts/{host}", path_params={vol.Required("name"): str})
        async def wrong(request: web.Request, *, path_params: dict[str, str]) -> web.Response:
            raise AssertionError


def test_duplicate_operation_id_is_refused() -> None:
    app = web.Application()
    routes.register(app)
    twin = ApiRoutes()

    @twin.get("/other")
    async def get_thing(request: web.Request) -> web.StreamResponse:
        raise AssertionError

    with pytest.raises(ValueError, match="get_thing"):
        twin.register(app)


# ---------------------------------------------------------------------------------------------
# the OpenAPI document


async def test_openapi_document_is_valid_and_complete(client: Client) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    document = await response.json()
    validate(document)
    app = client.app
    assert app is not None
    assert openapi.missing_routes(app, document) == []
    assert len(declared_routes(app)) == len(routes) + 1


def test_missing_routes_reports_undeclared_api_routes() -> None:
    app = make_app()

    async def sneaky(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/api/v1/sneaky", sneaky)  # adds HEAD too, which must not be reported
    app.router.add_post("/api/v1/hosts/{host}/things", sneaky)
    app.router.add_get("/ui/page", sneaky)  # outside /api/: not the document's business
    document = openapi.document_for(app)
    assert openapi.missing_routes(app, document) == [
        ("GET", "/api/v1/sneaky"),
        ("POST", "/api/v1/hosts/{host}/things"),
    ]


def test_document_contents() -> None:
    document = openapi.document_for(make_app())
    paths = document["paths"]
    error_ref = {"$ref": "#/components/schemas/Error"}

    listing = paths["/api/v1/hosts/{host}/things"]["get"]
    assert listing["operationId"] == "list_things"
    assert listing["summary"] == "List the things of a host."
    assert listing["tags"] == ["things"]
    params = {(p["in"], p["name"]): p for p in listing["parameters"]}
    assert params["path", "host"] == {
        "name": "host",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    assert params["query", "limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 500,
        "default": 50,
    }
    assert params["query", "label"]["description"] == "Repeatable label filter"
    assert params["query", "label"]["required"] is False
    envelope = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert envelope["properties"]["items"]["items"] == {"$ref": "#/components/schemas/Thing"}
    assert envelope["required"] == ["items", "total"]
    assert set(listing["responses"]) == {"200", "400", "401", "403", "404", "500"}
    assert listing["responses"]["404"]["content"]["application/json"]["schema"] == error_ref

    action = paths["/api/v1/hosts/{host}/things/{ref}/{action}"]["post"]
    action_params = {p["name"]: p for p in action["parameters"]}
    assert action_params["action"]["schema"]["enum"] == ["start", "stop", "restart"]
    assert action_params["host"]["description"] == "Host slug"
    assert action["requestBody"]["required"] is False  # every body key is optional
    assert set(action["responses"]) == {"200", "400", "401", "403", "404", "409", "413", "500"}
    thing = action["responses"]["200"]["content"]["application/json"]["schema"]
    assert thing["properties"]["thing"] == {"$ref": "#/components/schemas/Thing"}

    bulk = paths["/api/v1/things/actions"]["post"]
    body = bulk["requestBody"]
    assert body["required"] is True
    targets = body["content"]["application/json"]["schema"]["properties"]["targets"]
    assert targets["items"]["required"] == ["host", "ref"]

    get = paths["/api/v1/hosts/{host}/things/{ref}"]["get"]
    # no input: no 400; not public: 401 and 403
    assert set(get["responses"]) == {"200", "401", "403", "404", "409", "500", "502"}
    assert "security" not in get

    delete = paths["/api/v1/hosts/{host}/things/{ref}"]["delete"]
    assert "content" not in delete["responses"]["204"]
    assert delete["security"] == []

    logs = paths["/api/v1/hosts/{host}/things/{ref}/logs"]["get"]["responses"]["200"]["content"]
    assert logs["application/x-ndjson"]["schema"] == {"$ref": "#/components/schemas/LogRecord"}
    assert logs["application/json"]["schema"]["type"] == "array"

    schemas = document["components"]["schemas"]
    assert {"Error", "Thing", "BulkItemResult", "LogRecord"} <= set(schemas)
    assert schemas["Thing"]["description"] == "A demo resource."

    assert paths["/api/v1/openapi.json"]["get"]["security"] == []


def test_document_is_cached_per_app() -> None:
    app = make_app()
    assert openapi.document_for(app) is openapi.document_for(app)
