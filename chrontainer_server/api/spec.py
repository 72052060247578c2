"""Declared API routes: one declaration registers, validates and documents an endpoint.

A resource module owns an :class:`ApiRoutes` and declares each endpoint on it with a decorator.
The declaration is the single source for three things: the aiohttp route (under
:data:`API_PREFIX`), the input validation that runs before the handler, and the operation in the
OpenAPI document (``openapi.py``), so the document cannot drift from what the server does.

Example::

    import voluptuous as vol
    from aiohttp import web
    from chrontainer_core.models import ActionResult
    from chrontainer_server.api.spec import ApiRoutes, json_response

    routes = ApiRoutes(tag="containers")

    @routes.post(
        "/hosts/{host}/containers/{ref}/restart",
        summary="Restart a container",
        body={vol.Optional("timeout", default=10): vol.All(int, vol.Range(min=0, max=600))},
        query={vol.Optional("wait", default=False): vol.Boolean()},
        response=ActionResult,
        errors=(404, 409, 502),
    )
    async def restart(request: web.Request, *, body: dict, query: dict) -> web.StreamResponse:
        host, ref = request.match_info["host"], request.match_info["ref"]
        return json_response(await core.containers.restart(host, ref, timeout=body["timeout"]))

    # app.py
    containers.routes.register(app)

Inputs. Each of ``body``, ``query`` and ``path_params`` is a voluptuous schema (a plain dict is
wrapped in ``vol.Schema``); when declared, the validated value is passed to the handler as the
keyword argument of the same name, and a failure becomes :class:`InvalidInput` (400) whose
``field`` is the path of the offending input (``targets[0].host`` for a body, the parameter name
for query and path). Details:

- ``body``: the request body must be JSON (else "body is not valid JSON"); an empty body counts
  as ``{}``, so an all-optional body may be left out. A schema may end with a converter, e.g.
  ``vol.All(SCHEMA, lambda d: BulkRequest(**d))``, to hand the handler a dataclass.
- ``query``: values arrive as strings, so use ``vol.Coerce(int)`` and ``vol.Boolean()``; a key
  whose schema is a list (``[str]``) receives every occurrence, other keys the last one.
- ``path_params``: optional; without it the handler reads ``request.match_info`` and the
  document types each parameter as a string. With it, it must name every ``{param}`` of the path.
- Integers in a body: use :class:`Integer`, not ``int``; voluptuous's ``int`` also accepts
  ``true``/``false`` (``bool`` is an ``int`` in Python), which the document's ``integer`` refuses.

Responses. ``response`` describes the body sent with ``status`` (default 200):

- a dataclass type or another type hint (``list[LogRecord]``) -> JSON of that type;
- a JSON Schema dict (dataclass types inside it are resolved, e.g. ``{"items": Container}``);
- ``ListOf(Model)`` or ``("list", Model)`` -> the ``{"items": [...], "total": N}`` envelope that
  :func:`list_response` produces;
- ``Content(media_type, schema)``, or a list of them, for other content types (``NDJSON``
  streams, ``TEXT``, ``SSE``), e.g. logs that are a JSON list or, when following, NDJSON:
  ``[Content(JSON, list[LogRecord]), Content(NDJSON, LogRecord)]``;
- ``None`` -> no body (use with ``status=204``).

``also`` documents other success statuses a handler may answer, each with its body spec as
above, e.g. ``status=202, response=ScheduleRun, also={200: ScheduleRun}`` for "accepted, or
done already when it finished within the wait".

``upload`` declares a raw (non-JSON) request body instead of ``body``: a ``Content`` (or a list
of them) naming the media types; the handler reads ``request.content`` itself (streaming: no
``client_max_size``) and the document gives each media type a binary string schema.

``errors`` lists the error statuses the handler can produce (404, 409, ...); the document adds
400 when there is input to validate, 413 when there is a body, and 500 always. Declare
``public=True`` for endpoints that need no login; the auth middleware reads it with
:func:`route_of`.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import voluptuous as vol
from aiohttp import web
from aiohttp.typedefs import LooseHeaders
from multidict import MultiMapping

from chrontainer_core.errors import InvalidInput
from chrontainer_core.serialize import to_jsonable
from chrontainer_core.validate import format_path

from .jsonschema import from_voluptuous

__all__ = [
    "API_PREFIX",
    "API_STATE",
    "JSON",
    "NDJSON",
    "SSE",
    "TEXT",
    "ApiRoute",
    "ApiRoutes",
    "ApiState",
    "Content",
    "Handler",
    "Integer",
    "ListOf",
    "declared_routes",
    "json_response",
    "list_response",
    "route_of",
]

API_PREFIX: Final = "/api/v1"

JSON: Final = "application/json"
NDJSON: Final = "application/x-ndjson"
SSE: Final = "text/event-stream"
TEXT: Final = "text/plain"

Handler = Callable[..., Awaitable[web.StreamResponse]]
Endpoint = Callable[[web.Request], Awaitable[web.StreamResponse]]

# "{name}" or "{name:regex}" in an aiohttp path; regexes with braces are not supported.
_PATH_PARAM = re.compile(r"\{(\w+)(?::[^{}]+)?\}")
_INPUT_KWARGS: Final = ("path_params", "query", "body")


@dataclass(frozen=True, slots=True)
class ListOf:
    """Response marker for the list envelope ``{"items": [item, ...], "total": N, **extra}``.

    Attributes:
        item: Type (or schema) of one item.
        extra: More envelope keys and their types/schemas, e.g. ``{"hosts": dict[str, HostState]}``.
    """

    item: Any
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Content:
    """A response body of a given media type; ``schema`` is a type, JSON Schema or None."""

    media_type: str
    schema: Any = None


class Integer:
    """Validate a JSON integer: an ``int`` but not a ``bool`` (voluptuous's ``int`` takes both)."""

    json_schema: Final = {"type": "integer"}

    def __call__(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise vol.TypeInvalid("expected int")
        return value


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class ApiRoute:
    """One declared endpoint; see the module docstring for the meaning of each option."""

    method: str
    path: str
    handler: Handler
    operation_id: str
    summary: str
    description: str
    tag: str
    status: int
    response: Any
    errors: tuple[int, ...]
    # Other success statuses and their body specs (see the module docstring).
    also: tuple[tuple[int, Any], ...]
    body: vol.Schema | None
    query: vol.Schema | None
    path_params: vol.Schema | None
    public: bool
    # Query keys whose schema is a list: they receive every occurrence (?label=a&label=b).
    query_arrays: frozenset[str]
    # A raw request body the handler streams itself, by media type (see the module docstring).
    upload: tuple[Content, ...] = ()

    @property
    def url(self) -> str:
        """The aiohttp path, prefix included (``/api/v1/hosts/{host}``)."""
        return API_PREFIX + self.path

    @property
    def openapi_path(self) -> str:
        """The full path in OpenAPI syntax: any ``{name:regex}`` becomes ``{name}``."""
        return _PATH_PARAM.sub(r"{\1}", self.url)

    @property
    def path_names(self) -> tuple[str, ...]:
        """Names of the path parameters, in path order."""
        return tuple(_PATH_PARAM.findall(self.path))


@dataclass(slots=True)
class ApiState:
    """What an application knows about its declared routes (stored under :data:`API_STATE`)."""

    routes: list[ApiRoute] = field(default_factory=list)
    by_endpoint: dict[Endpoint, ApiRoute] = field(default_factory=dict)
    # Artifacts derived from the routes (the OpenAPI document); cleared whenever routes change.
    cache: dict[str, Any] = field(default_factory=dict)


API_STATE: Final = web.AppKey("chrontainer_api_state", ApiState)


class ApiRoutes:
    """The declared routes of one resource module.

    Args:
        tag: OpenAPI tag of every route declared here unless a route names its own.
    """

    def __init__(self, *, tag: str = "") -> None:
        self.tag = tag
        self._routes: list[ApiRoute] = []

    def __iter__(self) -> Iterator[ApiRoute]:
        return iter(self._routes)

    def __len__(self) -> int:
        return len(self._routes)

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        """Declare a GET route; see :meth:`route` for the options."""
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        """Declare a POST route; see :meth:`route` for the options."""
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        """Declare a PUT route; see :meth:`route` for the options."""
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        """Declare a PATCH route; see :meth:`route` for the options."""
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        """Declare a DELETE route; see :meth:`route` for the options."""
        return self.route("DELETE", path, **options)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str | None = None,
        description: str = "",
        tag: str | None = None,
        response: Any = None,
        status: int = 200,
        errors: Sequence[int] = (),
        also: Mapping[int, Any] | None = None,
        body: Any = None,
        query: Any = None,
        path_params: Any = None,
        public: bool = False,
        operation_id: str | None = None,
        upload: Content | Sequence[Content] | None = None,
    ) -> Callable[[Handler], Handler]:
        """Declare a route; the decorated handler is returned unchanged.

        Args:
            method: HTTP method.
            path: Path below :data:`API_PREFIX`, in aiohttp syntax (``/hosts/{host}``).
            summary: One line for the document; defaults to the handler docstring's first line.
            description: Longer text for the document.
            tag: OpenAPI tag; defaults to the group's tag.
            response: What a success returns (see the module docstring).
            status: The success status code.
            errors: Error statuses the handler can produce, documented with the Error schema.
            also: Other success statuses and their bodies, e.g. ``{200: ScheduleRun}``.
            body: Voluptuous schema of the JSON body, passed to the handler as ``body``.
            query: Voluptuous schema of the query string, passed as ``query``.
            path_params: Voluptuous schema of the path parameters, passed as ``path_params``.
            public: True if the endpoint needs no authentication.
            operation_id: OpenAPI operationId; defaults to the handler's name.
            upload: Media type(s) of a raw request body the handler reads itself.

        Raises:
            ValueError: On a malformed path or a ``path_params`` schema not matching it.
            TypeError: If the handler does not accept the declared inputs as keyword arguments.
        """

        def declare(handler: Handler) -> Handler:
            route = ApiRoute(
                method=method.upper(),
                path=path,
                handler=handler,
                operation_id=operation_id or handler.__name__,
                summary=summary if summary is not None else _first_line(handler),
                description=description,
                tag=tag if tag is not None else self.tag,
                status=status,
                response=response,
                errors=tuple(errors),
                also=tuple((also or {}).items()),
                body=_schema(body),
                query=_schema(query),
                path_params=_schema(path_params),
                public=public,
                query_arrays=_array_keys(query),
                upload=(upload,) if isinstance(upload, Content) else tuple(upload or ()),
            )
            _check_route(route)
            self._routes.append(route)
            return handler

        return declare

    def register(self, app: web.Application) -> None:
        """Add every route declared here to ``app``'s router and to its :class:`ApiState`.

        Raises:
            ValueError: If an operationId is already used by a registered route.
        """
        state = app.get(API_STATE)
        if state is None:
            state = app[API_STATE] = ApiState()
        taken = {route.operation_id for route in state.routes}
        for route in self._routes:
            if route.operation_id in taken:
                raise ValueError(f"operationId {route.operation_id!r} is declared twice")
            taken.add(route.operation_id)
            endpoint = _endpoint(route)
            app.router.add_route(route.method, route.url, endpoint)
            state.routes.append(route)
            state.by_endpoint[endpoint] = route
        state.cache.clear()


def declared_routes(app: web.Application) -> tuple[ApiRoute, ...]:
    """Every route registered on ``app`` through :meth:`ApiRoutes.register`."""
    state = app.get(API_STATE)
    return tuple(state.routes) if state is not None else ()


def route_of(request: web.Request) -> ApiRoute | None:
    """The declaration behind the route ``request`` matched; None for undeclared routes."""
    state = request.app.get(API_STATE)
    if state is None:
        return None
    return state.by_endpoint.get(request.match_info.route.handler)


def json_response(
    data: Any, status: int = 200, *, headers: LooseHeaders | None = None
) -> web.Response:
    """A JSON response of ``data`` converted by :func:`to_jsonable`, compactly encoded.

    Raises:
        TypeError: If ``data`` holds a value the serializer does not know.
        ValueError: If ``data`` holds NaN or infinity, which JSON (and browsers) cannot parse.
    """
    return jsonable_response(to_jsonable(data), status, headers=headers)


def jsonable_response(
    data: Any, status: int = 200, *, headers: LooseHeaders | None = None
) -> web.Response:
    """A JSON response of data that is already JSON-ready (e.g. the container cache's forms).

    Skips :func:`to_jsonable`, which matters on the hot list path.
    """
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return web.Response(text=text, status=status, headers=headers, content_type=JSON)


def list_response(
    items: Sequence[Any], *, total: int | None = None, status: int = 200, **extra: Any
) -> web.Response:
    """The list envelope ``{"items": [...], "total": N, **extra}`` that :class:`ListOf` documents.

    Args:
        items: This page of items.
        total: Number of items across all pages; defaults to ``len(items)``.
        status: HTTP status.
        **extra: More envelope keys, e.g. ``hosts=...`` on cross-host lists.
    """
    envelope = {"items": items, "total": len(items) if total is None else total, **extra}
    return json_response(envelope, status)


# ---------------------------------------------------------------------------------------------
# declaration helpers


def _schema(value: Any) -> vol.Schema | None:
    if value is None or isinstance(value, vol.Schema):
        return value
    return vol.Schema(value)


def _array_keys(query: Any) -> frozenset[str]:
    if query is None:
        return frozenset()
    properties = from_voluptuous(query).get("properties", {})
    return frozenset(name for name, prop in properties.items() if prop.get("type") == "array")


def _first_line(handler: Handler) -> str:
    doc = inspect.getdoc(handler) or ""
    return doc.strip().split("\n", 1)[0]


def _check_route(route: ApiRoute) -> None:
    """Fail at import time, not at the first request, on a declaration that cannot work."""
    if not route.path.startswith("/"):
        raise ValueError(f"{route.operation_id}: path {route.path!r} must start with '/'")
    if route.path_params is not None:
        declared = set(from_voluptuous(route.path_params).get("properties", {}))
        if declared != set(route.path_names):
            raise ValueError(
                f"{route.operation_id}: path_params {sorted(declared)} do not match the "
                f"parameters of {route.path!r} {sorted(route.path_names)}"
            )
    inputs = {
        "path_params": route.path_params is not None,
        "query": route.query is not None,
        "body": route.body is not None,
    }
    parameters = inspect.signature(route.handler).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    for name, declared_input in inputs.items():
        param = parameters.get(name)
        if declared_input and param is None and not takes_any:
            raise TypeError(f"{route.operation_id} must accept the keyword argument {name!r}")
        if not declared_input and param is not None and param.default is param.empty:
            raise TypeError(f"{route.operation_id} takes {name!r} but the route declares none")


# ---------------------------------------------------------------------------------------------
# the request side


def _endpoint(route: ApiRoute) -> Endpoint:
    """Wrap the handler of ``route`` with the validation of its declared inputs."""

    @functools.wraps(route.handler)
    async def endpoint(request: web.Request) -> web.StreamResponse:
        inputs: dict[str, Any] = {}
        if route.path_params is not None:
            inputs["path_params"] = _validate(route.path_params, dict(request.match_info))
        if route.query is not None:
            inputs["query"] = _validate(route.query, _query_dict(request.query, route.query_arrays))
        if route.body is not None:
            inputs["body"] = _validate(route.body, await _read_json(request))
        return await route.handler(request, **inputs)

    return endpoint


def _query_dict(query: MultiMapping[str], arrays: frozenset[str]) -> dict[str, Any]:
    # A repeated single-valued key keeps its last occurrence, as most frameworks do.
    return {key: query.getall(key) if key in arrays else query.getall(key)[-1] for key in query}


async def _read_json(request: web.Request) -> Any:
    # read() enforces client_max_size (HTTPRequestEntityTooLarge -> 413 in the middleware).
    raw = await request.read()
    if not raw.strip():
        return {}
    if request.content_type != JSON:
        # A cross-site HTML form can post text/plain that happens to parse as JSON (login
        # CSRF); browsers cannot send application/json cross-site without a CORS preflight,
        # which this server never grants. So JSON bodies must say they are JSON.
        raise InvalidInput("the body must be sent as application/json", field="body")
    try:
        return json.loads(raw)
    # ValueError covers malformed JSON and bad UTF-8; RecursionError absurdly deep nesting.
    except (ValueError, RecursionError) as err:
        raise InvalidInput("body is not valid JSON", field="body") from err


def _validate(schema: vol.Schema, data: Any) -> Any:
    try:
        return schema(data)
    except vol.MultipleInvalid as err:
        raise _invalid_input(err.errors) from err
    except vol.Invalid as err:
        raise _invalid_input([err]) from err


def _invalid_input(errors: Sequence[vol.Invalid]) -> InvalidInput:
    problems = [(format_path(err.path), err.msg) for err in errors]
    field_name, message = problems[0]
    details: dict[str, Any] = {}
    if len(problems) > 1:
        details["errors"] = [{"field": f, "message": m} for f, m in problems]
    return InvalidInput(
        f"{field_name}: {message}" if field_name else message,
        field=field_name or None,
        details=details,
    )
