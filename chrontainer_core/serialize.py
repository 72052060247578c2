"""Turn core models into JSON-ready values.

:func:`to_jsonable` is the one conversion every outward-facing layer (REST API, SSE, MQTT, the
container cache's JSON form) uses, so the wire format is decided here and nowhere else:

- dataclasses become dicts with one key per field, in field order (``Actor`` therefore becomes
  ``{"kind", "id", "name", "source_ip"}``);
- enums become their value;
- datetimes become ISO 8601 UTC with a ``Z`` suffix and always six fractional digits
  (``2026-01-02T03:04:05.123456Z``); naive datetimes are taken to be UTC already;
- tuples and lists become lists, dicts are converted recursively (keys become strings);
- paths become strings; ``None``, ``str``, ``int``, ``float`` and ``bool`` pass through.

Anything else raises :class:`TypeError`, so an unserializable value fails loudly in tests rather
than producing a surprising wire format.

Speed matters (a container list serializes hundreds of models per request), so the converter of
each class is resolved once and cached; a dataclass's converter holds its precomputed field
names and never calls :func:`dataclasses.fields` again.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

__all__ = ["format_datetime", "to_jsonable"]

_Converter = Callable[[Any], Any]

# Types returned unchanged. Exact types only: subclasses such as StrEnum or bool-like enums must
# go through their own converter.
_PASSTHROUGH: frozenset[type] = frozenset({str, int, float, bool, type(None)})

# Converter per concrete class, filled lazily by _converter_for().
_CONVERTERS: dict[type, _Converter] = {}


def to_jsonable(obj: object) -> Any:
    """Convert a model (or any nesting of supported values) to JSON-ready data.

    Args:
        obj: A dataclass instance, enum, datetime, path, sequence, mapping or JSON scalar.

    Returns:
        Data made only of dicts, lists, strings, numbers, booleans and ``None``.

    Raises:
        TypeError: If ``obj`` contains a value of an unsupported type.
    """
    cls = type(obj)
    if cls in _PASSTHROUGH:
        return obj
    converter = _CONVERTERS.get(cls)
    if converter is None:
        converter = _CONVERTERS[cls] = _converter_for(cls)
    return converter(obj)


def format_datetime(value: datetime) -> str:
    """Format a datetime as ISO 8601 UTC with ``Z``; naive values are taken to be UTC.

    Six fractional digits are always written so that the strings have a fixed width and sort
    like the instants they represent.
    """
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds") + "Z"


def _converter_for(cls: type) -> _Converter:
    """Pick the converter of ``cls``; called once per class."""
    if dataclasses.is_dataclass(cls):
        return _dataclass_converter(tuple(f.name for f in dataclasses.fields(cls)))
    if issubclass(cls, enum.Enum):
        # Enum values of our models are plain str/int, but convert anyway in case of nesting.
        return lambda member: to_jsonable(member.value)
    if issubclass(cls, datetime):
        return format_datetime
    if issubclass(cls, (list, tuple)):
        return _sequence
    if issubclass(cls, dict):
        return _mapping
    if issubclass(cls, PurePath):
        return str
    if issubclass(cls, (str, int, float)):
        # A plain subclass of a JSON scalar (not an enum): emit the base value.
        return _scalar_base(cls)
    return _unsupported


def _dataclass_converter(names: tuple[str, ...]) -> _Converter:
    def convert(obj: Any) -> dict[str, Any]:
        # A plain loop with the scalar test inline measured fastest (most fields are scalars,
        # so this saves a to_jsonable call per field).
        out: dict[str, Any] = {}
        for name in names:
            value = getattr(obj, name)
            out[name] = value if type(value) in _PASSTHROUGH else to_jsonable(value)
        return out

    return convert


def _sequence(items: list[Any] | tuple[Any, ...]) -> list[Any]:
    return [v if type(v) in _PASSTHROUGH else to_jsonable(v) for v in items]


def _mapping(mapping: dict[Any, Any]) -> dict[str, Any]:
    # JSON object keys are strings; enum keys become their value like everywhere else.
    return {
        (key if type(key) is str else _key(key)): (
            value if type(value) in _PASSTHROUGH else to_jsonable(value)
        )
        for key, value in mapping.items()
    }


def _key(key: object) -> str:
    return str(key.value if isinstance(key, enum.Enum) else key)


def _scalar_base(cls: type) -> _Converter:
    for base in (int, float, str):
        if issubclass(cls, base):
            return base
    return _unsupported  # pragma: no cover - unreachable, cls derives from one of the bases


def _unsupported(obj: object) -> Any:
    raise TypeError(f"cannot convert {type(obj).__qualname__} to JSON")
