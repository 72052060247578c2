"""JSON Schema from the voluptuous schemas that validate requests and the models of responses.

The API validates input with voluptuous and answers with core dataclasses; this module derives
the JSON Schema (2020-12, as OpenAPI 3.1 uses) of both, so the published document can never
drift from what the server enforces.

Voluptuous (:func:`from_voluptuous`) understands:

=============================================  ================================================
voluptuous                                     JSON Schema
=============================================  ================================================
``vol.Schema(d)`` / plain dict                 ``object``: ``properties``, ``required`` from
                                               ``vol.Required`` (without default),
                                               ``additionalProperties: false`` unless the
                                               schema has ``extra=ALLOW_EXTRA``/``REMOVE_EXTRA``
``vol.Required(k, description=...)``           the property's ``description``
``vol.Optional(k, default=x)``                 the property's ``default``
a type key (``{str: int}``)                    ``additionalProperties`` of that value schema
``str`` ``int`` ``float`` ``bool`` ``None``    ``string`` ``integer`` ``number`` ``boolean``
                                               ``null``
``vol.Coerce(int/float/str/bool/Enum)``        the type (an enum of the values for an Enum)
``vol.Boolean()`` ``vol.Email()`` ``vol.Url()``  ``boolean``; string with format email / uri
``vol.In([...])``                              ``enum``
``vol.Range(min, max)``                        ``minimum``/``maximum`` (or ``exclusive*``)
``vol.Length(min, max)``                       ``minLength``/``maxLength``; ``minItems``/
                                               ``maxItems`` on arrays
``vol.Match(pattern)``                         ``pattern`` (anchored, like ``re.match``)
``vol.All(a, b)``                              a and b merged (``allOf`` if they conflict)
``vol.Any(a, b)`` / ``vol.Maybe(a)``           ``anyOf``; ``enum`` when all are literals
``[x]`` / ``[x, y]``                           ``array`` of x (of ``anyOf`` x, y)
a literal value                                ``const``
anything else                                  ``{}`` (accepts anything; never an error)
=============================================  ================================================

**Self-describing validators.** A custom validator documents itself through a ``json_schema``
attribute: either a mapping, or a method/callable taking no arguments that returns one::

    class Slug:
        json_schema: ClassVar = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,62}$"}

        def __call__(self, value): ...

    class Between:
        def __init__(self, low, high): ...
        def json_schema(self) -> dict[str, Any]:
            return {"type": "integer", "minimum": self.low, "maximum": self.high}

The returned mapping is copied, so it may be a shared constant.

Models (:func:`from_dataclass`, :func:`from_type`) are described from their type hints: ``str``,
``int``, ``float``, ``bool``, ``datetime`` (``date-time`` string), enums (``enum`` of values),
``X | None``, ``tuple[X, ...]``, ``list[X]``, ``dict[str, X]``, ``Literal``, and nested
dataclasses, which become ``{"$ref": "#/components/schemas/<ClassName>"}`` with their own schema
added to a caller-supplied registry (the document's ``components/schemas``). Every field is
listed in ``required``: the serializer always writes every field, ``None`` included.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import enum
import inspect
import re
import types
import typing
from collections import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

import voluptuous as vol

from chrontainer_core.serialize import to_jsonable

__all__ = [
    "REF_PREFIX",
    "JsonSchema",
    "from_dataclass",
    "from_type",
    "from_voluptuous",
]

JsonSchema = dict[str, Any]

REF_PREFIX = "#/components/schemas/"

_TYPES: Mapping[object, JsonSchema] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    dict: {"type": "object"},
    list: {"type": "array"},
    datetime: {"type": "string", "format": "date-time"},
    date: {"type": "string", "format": "date"},
}

# Validators that voluptuous implements as functions. Calling vol.Boolean() returns a new
# wrapper each time, so they are recognised by the function they all wrap.
_FUNCTIONS: Mapping[object, JsonSchema] = {
    inspect.unwrap(vol.Boolean): {"type": "boolean"},
    inspect.unwrap(vol.Email): {"type": "string", "format": "email"},
    inspect.unwrap(vol.Url): {"type": "string", "format": "uri"},
    inspect.unwrap(vol.FqdnUrl): {"type": "string", "format": "uri"},
}

# Length keywords by the type they apply to; Length alone cannot know it (see _merge_all).
_LENGTH_KEYWORDS = {
    "array": ("minItems", "maxItems"),
    "object": ("minProperties", "maxProperties"),
}


# ---------------------------------------------------------------------------------------------
# voluptuous -> JSON Schema


@dataclass(frozen=True, slots=True)
class _Context:
    """Settings a ``vol.Schema`` passes down to the plain dicts nested in it, as voluptuous does."""

    extra: int = vol.PREVENT_EXTRA
    required: bool = False


def from_voluptuous(schema: Any) -> JsonSchema:
    """Describe a voluptuous schema as JSON Schema.

    Args:
        schema: A ``vol.Schema`` or anything voluptuous accepts as one (dict, list, type,
            validator).

    Returns:
        A new JSON Schema dict; ``{}`` for parts this module does not understand.
    """
    return _convert(schema, _Context())


def _convert(node: Any, ctx: _Context) -> JsonSchema:
    if isinstance(node, vol.Schema):
        # A nested Schema brings its own extra/required settings.
        return _convert(node.schema, _Context(extra=node.extra, required=node.required))
    described = _self_described(node)
    if described is not None:
        return described
    if isinstance(node, dict):
        return _object(node, ctx)
    if isinstance(node, (list, tuple)):
        return _array(node, ctx)
    if node is None:
        return {"type": "null"}
    if isinstance(node, type):
        return _from_python_type(node)
    if isinstance(node, (str, int, float, bool, enum.Enum)):
        return {"const": to_jsonable(node)}
    converter = _VALIDATORS.get(type(node))
    if converter is not None:
        return converter(node, ctx)
    if inspect.isfunction(node):
        schema = _FUNCTIONS.get(inspect.unwrap(node))
        if schema is not None:
            return copy.deepcopy(schema)
    return {}


def _self_described(node: Any) -> JsonSchema | None:
    """Apply the ``json_schema`` protocol (see the module docstring); None if not implemented."""
    attr = getattr(node, "json_schema", None)
    if isinstance(attr, Mapping):
        return copy.deepcopy(dict(attr))
    # On a class, a plain method would need an instance: only bound (class) methods count.
    if callable(attr) and (inspect.ismethod(attr) or not isinstance(node, type)):
        return copy.deepcopy(dict(attr()))
    return None


def _from_python_type(cls: type) -> JsonSchema:
    if issubclass(cls, enum.Enum):
        return _enum_schema([member.value for member in cls])
    schema = _TYPES.get(cls)
    return dict(schema) if schema is not None else {}


def _object(node: dict[Any, Any], ctx: _Context) -> JsonSchema:
    properties: dict[str, JsonSchema] = {}
    required: list[str] = []
    # None: extra keys pass (ALLOW_EXTRA keeps them, REMOVE_EXTRA drops them silently).
    additional: Any = False if ctx.extra == vol.PREVENT_EXTRA else None
    for key, value in node.items():
        if isinstance(key, vol.Remove):
            continue
        name = key.schema if isinstance(key, vol.Marker) else key
        if key is vol.Extra:
            additional = None
            continue
        if not isinstance(name, str):
            # A type or validator as key ({str: int}) admits any key whose value matches.
            additional = _convert(value, ctx)
            continue
        prop = _convert(value, ctx)
        if isinstance(key, vol.Marker) and key.description is not None:
            prop["description"] = str(key.description)
        has_default = isinstance(key, (vol.Optional, vol.Required)) and (
            key.default is not vol.UNDEFINED
        )
        if has_default:
            _set_default(prop, key.default)
        # A Required key with a default is filled in by the server: the caller may omit it.
        if not has_default and (
            isinstance(key, vol.Required) or (ctx.required and not isinstance(key, vol.Marker))
        ):
            required.append(name)
        properties[name] = prop
    schema: JsonSchema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if additional is not None:
        schema["additionalProperties"] = additional
    return schema


def _set_default(prop: JsonSchema, factory: Callable[[], Any]) -> None:
    # A default the wire format cannot show (TypeError) is simply left undocumented.
    with contextlib.suppress(TypeError):
        prop["default"] = to_jsonable(factory())


def _array(node: list[Any] | tuple[Any, ...], ctx: _Context) -> JsonSchema:
    schema: JsonSchema = {"type": "array"}
    if node:
        schema["items"] = _any_of([_convert(item, ctx) for item in node])
    return schema


def _any_of(options: list[JsonSchema]) -> JsonSchema:
    if len(options) == 1:
        return options[0]
    if options and all(set(option) == {"const"} for option in options):
        return _enum_schema([option["const"] for option in options])
    return {"anyOf": options}


def _enum_schema(values: list[Any]) -> JsonSchema:
    values = [to_jsonable(value) for value in values]
    schema: JsonSchema = {"enum": values}
    kinds = {type(value) for value in values}
    if kinds == {str}:
        schema["type"] = "string"
    elif kinds == {int}:
        schema["type"] = "integer"
    return schema


def _merge_all(parts: list[JsonSchema]) -> JsonSchema:
    """Merge the schemas of ``vol.All`` members; fall back to ``allOf`` on a conflict."""
    merged: JsonSchema = {}
    for part in parts:
        for key, value in part.items():
            if key in merged and merged[key] != value:
                return {"allOf": [part for part in parts if part]}
            merged[key] = value
    names = _LENGTH_KEYWORDS.get(merged.get("type", ""))
    if names is not None:
        for old, new in zip(("minLength", "maxLength"), names, strict=True):
            if old in merged:
                merged[new] = merged.pop(old)
    return merged


def _all(node: vol.All, ctx: _Context) -> JsonSchema:
    return _merge_all([_convert(validator, ctx) for validator in node.validators])


def _any(node: vol.Any, ctx: _Context) -> JsonSchema:
    return _any_of([_convert(validator, ctx) for validator in node.validators])


def _coerce(node: vol.Coerce, ctx: _Context) -> JsonSchema:
    return _from_python_type(node.type) if isinstance(node.type, type) else {}


def _in(node: vol.In, ctx: _Context) -> JsonSchema:
    container: Any = node.container
    if isinstance(container, type) and issubclass(container, enum.Enum):
        values: list[Any] = [member.value for member in container]
    elif isinstance(container, (set, frozenset)):
        # Sets have no order; sort so the document is stable between runs.
        try:
            values = sorted(container)
        except TypeError:  # mixed types
            values = sorted(container, key=repr)
    else:
        values = list(container)
    return _enum_schema(values)


def _range(node: vol.Range, ctx: _Context) -> JsonSchema:
    schema: JsonSchema = {}
    if node.min is not None:
        schema["minimum" if node.min_included else "exclusiveMinimum"] = node.min
    if node.max is not None:
        schema["maximum" if node.max_included else "exclusiveMaximum"] = node.max
    return schema


def _length(node: vol.Length, ctx: _Context) -> JsonSchema:
    # String keywords by default; _merge_all renames them when the type is known to be array.
    schema: JsonSchema = {}
    if node.min is not None:
        schema["minLength"] = node.min
    if node.max is not None:
        schema["maxLength"] = node.max
    return schema


def _match(node: vol.Match, ctx: _Context) -> JsonSchema:
    pattern: str = node.pattern.pattern
    # voluptuous uses re.match (anchored at the start); JSON Schema patterns search anywhere.
    if not pattern.startswith("^"):
        pattern = f"^(?:{pattern})"
    return {"type": "string", "pattern": pattern}


_VALIDATORS: Mapping[type, Callable[[Any, _Context], JsonSchema]] = {
    vol.All: _all,
    vol.Any: _any,
    vol.Union: _any,
    vol.Coerce: _coerce,
    vol.In: _in,
    vol.Range: _range,
    vol.Length: _length,
    vol.Match: _match,
}


# ---------------------------------------------------------------------------------------------
# type hints / dataclasses -> JSON Schema


def from_dataclass(cls: type, registry: dict[str, JsonSchema] | None = None) -> JsonSchema:
    """Describe a dataclass as a JSON Schema object.

    Args:
        cls: A dataclass type.
        registry: Where the schemas of nested dataclasses are collected, by class name (the
            document's ``components/schemas``). A throwaway dict when omitted.

    Returns:
        The object schema of ``cls`` itself (not a reference to it).

    Raises:
        TypeError: If ``cls`` is not a dataclass.
    """
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"{cls!r} is not a dataclass")
    registry = {} if registry is None else registry
    hints = typing.get_type_hints(cls)
    properties = {f.name: from_type(hints[f.name], registry) for f in dataclasses.fields(cls)}
    schema: JsonSchema = {"type": "object", "properties": properties}
    if properties:
        schema["required"] = list(properties)
    description = _class_description(cls)
    if description:
        schema["description"] = description
    return schema


def from_type(hint: Any, registry: dict[str, JsonSchema]) -> JsonSchema:
    """Describe a type hint; dataclasses become ``$ref``s registered in ``registry``.

    Args:
        hint: A resolved type hint such as ``int``, ``Container``, ``tuple[Mount, ...]`` or
            ``datetime | None``.
        registry: Receives the schema of every dataclass met, keyed by class name.

    Returns:
        A new JSON Schema dict; ``{}`` for ``Any``, ``object`` and unsupported hints.
    """
    origin = typing.get_origin(hint)
    if origin is None:
        return _from_plain_type(hint, registry)
    args = typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return _any_of([from_type(arg, registry) for arg in args])
    if origin is typing.Literal:
        return _enum_schema(list(args))
    if origin in (list, tuple, abc.Sequence):
        return _array_hint(origin, args, registry)
    if origin in (dict, abc.Mapping):
        value = from_type(args[1], registry) if len(args) == 2 else {}
        return {"type": "object", "additionalProperties": value}
    return {}


def _from_plain_type(hint: Any, registry: dict[str, JsonSchema]) -> JsonSchema:
    if not isinstance(hint, type):
        return {}
    if dataclasses.is_dataclass(hint):
        name = hint.__name__
        if name not in registry:
            registry[name] = {}  # placeholder first: a self-referencing model must terminate
            registry[name] = from_dataclass(hint, registry)
        return {"$ref": REF_PREFIX + name}
    if issubclass(hint, PurePath):
        return {"type": "string"}
    return _from_python_type(hint)


def _array_hint(origin: Any, args: tuple[Any, ...], registry: dict[str, JsonSchema]) -> JsonSchema:
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        # A fixed-shape tuple such as tuple[str, int].
        return {
            "type": "array",
            "prefixItems": [from_type(arg, registry) for arg in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    schema: JsonSchema = {"type": "array"}
    if args:
        schema["items"] = from_type(args[0], registry)
    return schema


def _class_description(cls: type) -> str:
    """First paragraph of the class docstring, ignoring the one dataclasses generates."""
    doc = inspect.getdoc(cls) or ""
    if not doc or re.match(rf"{re.escape(cls.__name__)}\(", doc):
        return ""
    return doc.split("\n\n", 1)[0].replace("\n", " ")
