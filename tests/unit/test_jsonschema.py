"""JSON Schema derived from voluptuous schemas and from model dataclasses."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

import jsonschema
import pytest
import voluptuous as vol

from chrontainer_core.models import Container, ContainerState, ProcessList
from chrontainer_server.api.jsonschema import REF_PREFIX, from_dataclass, from_type, from_voluptuous


class Color(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


class TestVoluptuousScalars:
    @pytest.mark.parametrize(
        ("schema", "expected"),
        [
            (str, {"type": "string"}),
            (int, {"type": "integer"}),
            (float, {"type": "number"}),
            (bool, {"type": "boolean"}),
            (None, {"type": "null"}),
            (vol.Coerce(int), {"type": "integer"}),
            (vol.Coerce(float), {"type": "number"}),
            (vol.Coerce(Color), {"type": "string", "enum": ["red", "blue"]}),
            (vol.Boolean(), {"type": "boolean"}),
            (vol.Email(), {"type": "string", "format": "email"}),
            ("literal", {"const": "literal"}),
        ],
    )
    def test_types(self, schema: Any, expected: dict[str, Any]) -> None:
        assert from_voluptuous(schema) == expected

    def test_in_list(self) -> None:
        assert from_voluptuous(vol.In(["a", "b"])) == {"type": "string", "enum": ["a", "b"]}

    def test_in_enum_and_set(self) -> None:
        assert from_voluptuous(vol.In(Color))["enum"] == ["red", "blue"]
        assert from_voluptuous(vol.In({3, 1, 2})) == {"type": "integer", "enum": [1, 2, 3]}

    def test_range(self) -> None:
        assert from_voluptuous(vol.Range(min=1, max=10)) == {"minimum": 1, "maximum": 10}
        assert from_voluptuous(vol.Range(min=0, min_included=False)) == {"exclusiveMinimum": 0}

    def test_length_on_string(self) -> None:
        assert from_voluptuous(vol.All(str, vol.Length(min=1, max=5))) == {
            "type": "string",
            "minLength": 1,
            "maxLength": 5,
        }

    def test_length_on_list_becomes_items_bounds(self) -> None:
        assert from_voluptuous(vol.All([int], vol.Length(min=1, max=3))) == {
            "type": "array",
            "items": {"type": "integer"},
            "minItems": 1,
            "maxItems": 3,
        }

    def test_match_is_anchored_like_re_match(self) -> None:
        assert from_voluptuous(vol.Match(r"^[a-z]+$")) == {"type": "string", "pattern": "^[a-z]+$"}
        assert from_voluptuous(vol.Match(r"a|b")) == {"type": "string", "pattern": "^(?:a|b)"}

    def test_all_merges(self) -> None:
        schema = vol.All(vol.Coerce(int), vol.Range(min=0, max=600))
        assert from_voluptuous(schema) == {"type": "integer", "minimum": 0, "maximum": 600}

    def test_all_conflict_falls_back_to_all_of(self) -> None:
        out = from_voluptuous(vol.All(str, int))
        assert out == {"allOf": [{"type": "string"}, {"type": "integer"}]}

    def test_any_and_maybe(self) -> None:
        assert from_voluptuous(vol.Any(str, None)) == {
            "anyOf": [{"type": "string"}, {"type": "null"}]
        }
        assert from_voluptuous(vol.Maybe(int)) == {"anyOf": [{"type": "null"}, {"type": "integer"}]}

    def test_any_of_literals_is_an_enum(self) -> None:
        assert from_voluptuous(vol.Any("a", "b")) == {"type": "string", "enum": ["a", "b"]}

    def test_list(self) -> None:
        assert from_voluptuous([str]) == {"type": "array", "items": {"type": "string"}}
        assert from_voluptuous([str, int]) == {
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        }
        assert from_voluptuous([]) == {"type": "array"}

    def test_unknown_validators_give_empty_schema(self) -> None:
        assert from_voluptuous(lambda v: v) == {}
        assert from_voluptuous(vol.Clamp(min=1)) == {}
        # ...and an unknown part does not spoil the rest.
        assert from_voluptuous(vol.All(str, vol.Strip)) == {"type": "string"}


class TestVoluptuousObjects:
    def test_required_optional_default_description(self) -> None:
        schema = vol.Schema(
            {
                vol.Required("name", description="Display name"): str,
                vol.Optional("timeout", default=10): int,
                vol.Optional("color", default=Color.RED): vol.Coerce(Color),
                vol.Required("filled", default=True): bool,
                "plain": str,
            }
        )
        assert from_voluptuous(schema) == {
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "Display name"},
                "timeout": {"type": "integer", "default": 10},
                "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                # A Required key with a default may be omitted by the caller.
                "filled": {"type": "boolean", "default": True},
                "plain": {"type": "string"},
            },
            "required": ["name"],
            "additionalProperties": False,
        }

    def test_plain_dict_is_strict(self) -> None:
        assert from_voluptuous({"a": int}) == {
            "type": "object",
            "properties": {"a": {"type": "integer"}},
            "additionalProperties": False,
        }

    def test_allow_extra(self) -> None:
        out = from_voluptuous(vol.Schema({"a": int}, extra=vol.ALLOW_EXTRA))
        assert "additionalProperties" not in out

    def test_schema_required_true_and_inheritance_by_nested_dicts(self) -> None:
        schema = vol.Schema({"a": {"b": int}}, required=True, extra=vol.ALLOW_EXTRA)
        out = from_voluptuous(schema)
        assert out["required"] == ["a"]
        nested = out["properties"]["a"]
        # voluptuous applies the outer Schema's settings to nested plain dicts.
        assert nested["required"] == ["b"]
        assert "additionalProperties" not in nested

    def test_type_key_gives_additional_properties(self) -> None:
        assert from_voluptuous({str: int}) == {
            "type": "object",
            "properties": {},
            "additionalProperties": {"type": "integer"},
        }

    def test_extra_key_and_remove(self) -> None:
        out = from_voluptuous({"a": int, vol.Extra: object, vol.Remove("b"): int})
        assert out == {"type": "object", "properties": {"a": {"type": "integer"}}}

    def test_nested_list_of_objects(self) -> None:
        schema = vol.Schema(
            {
                vol.Required("targets"): vol.All(
                    [{vol.Required("host"): str, vol.Required("ref"): str}], vol.Length(min=1)
                )
            }
        )
        targets = from_voluptuous(schema)["properties"]["targets"]
        assert targets["type"] == "array"
        assert targets["minItems"] == 1
        assert targets["items"]["required"] == ["host", "ref"]

    def test_schema_validates_what_voluptuous_accepts(self) -> None:
        schema = vol.Schema(
            {
                vol.Required("action"): vol.In(["start", "stop"]),
                vol.Optional("timeout", default=10): vol.All(int, vol.Range(min=0, max=600)),
                vol.Optional("labels"): {str: str},
            }
        )
        doc = from_voluptuous(schema)
        good = {"action": "start", "timeout": 5, "labels": {"a": "b"}}
        schema(good)
        jsonschema.validate(good, doc)
        for bad in ({"action": "jump"}, {"action": "start", "x": 1}, {"timeout": -1}):
            with pytest.raises(vol.Invalid):
                schema(bad)
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate(bad, doc)


class TestSelfDescribingValidators:
    def test_attribute_mapping(self) -> None:
        class Slug:
            json_schema: ClassVar[dict[str, str]] = {"type": "string", "pattern": "^[a-z0-9-]+$"}

            def __call__(self, value: object) -> object:
                return value

        out = from_voluptuous({vol.Required("host", description="Host slug"): Slug()})
        assert out["properties"]["host"] == {
            "type": "string",
            "pattern": "^[a-z0-9-]+$",
            "description": "Host slug",
        }
        # The shared class attribute was copied, not mutated.
        assert Slug.json_schema == {"type": "string", "pattern": "^[a-z0-9-]+$"}

    def test_method(self) -> None:
        class Between:
            def __init__(self, low: int, high: int) -> None:
                self.low, self.high = low, high

            def __call__(self, value: object) -> object:
                return value

            def json_schema(self) -> dict[str, Any]:
                return {"type": "integer", "minimum": self.low, "maximum": self.high}

        assert from_voluptuous(vol.All(Between(1, 5))) == {
            "type": "integer",
            "minimum": 1,
            "maximum": 5,
        }

    def test_function_attribute(self) -> None:
        def hexadecimal(value: str) -> str:
            return value

        hexadecimal.json_schema = {"type": "string", "pattern": "^[0-9a-f]+$"}  # type: ignore[attr-defined]
        assert from_voluptuous(hexadecimal)["pattern"] == "^[0-9a-f]+$"


# ---------------------------------------------------------------------------------------------
# dataclasses


@dataclass(frozen=True, slots=True, kw_only=True)
class Leaf:
    """A leaf.

    More text that is not part of the description.
    """

    value: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Everything:
    text: str
    count: int
    ratio: float
    flag: bool
    when: datetime
    color: Color
    maybe_when: datetime | None
    names: tuple[str, ...]
    numbers: list[int]
    labels: dict[str, str]
    leaf: Leaf
    leaves: tuple[Leaf, ...]
    maybe_leaf: Leaf | None = None
    pair: tuple[str, int] = ("a", 1)
    mode: Literal["r", "w"] = "r"
    anything: Any = None
    extra: dict[str, object] = field(default_factory=dict)


@dataclass
class Node:
    children: list[Node]


class TestDataclasses:
    def test_every_supported_hint(self) -> None:
        registry: dict[str, Any] = {}
        schema = from_dataclass(Everything, registry)
        props = schema["properties"]
        leaf_ref = {"$ref": REF_PREFIX + "Leaf"}
        assert props == {
            "text": {"type": "string"},
            "count": {"type": "integer"},
            "ratio": {"type": "number"},
            "flag": {"type": "boolean"},
            "when": {"type": "string", "format": "date-time"},
            "color": {"type": "string", "enum": ["red", "blue"]},
            "maybe_when": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
            "names": {"type": "array", "items": {"type": "string"}},
            "numbers": {"type": "array", "items": {"type": "integer"}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "leaf": leaf_ref,
            "leaves": {"type": "array", "items": leaf_ref},
            "maybe_leaf": {"anyOf": [leaf_ref, {"type": "null"}]},
            "pair": {
                "type": "array",
                "prefixItems": [{"type": "string"}, {"type": "integer"}],
                "minItems": 2,
                "maxItems": 2,
            },
            "mode": {"type": "string", "enum": ["r", "w"]},
            "anything": {},
            "extra": {"type": "object", "additionalProperties": {}},
        }
        # The serializer writes every field, so every field is required.
        assert schema["required"] == list(props)
        assert "description" not in schema  # the generated dataclass docstring is not used
        assert registry == {
            "Leaf": {
                "type": "object",
                "properties": {"value": {"type": "integer"}},
                "required": ["value"],
                "description": "A leaf.",
            }
        }

    def test_from_type_registers_and_refs(self) -> None:
        registry: dict[str, Any] = {}
        assert from_type(Container, registry) == {"$ref": REF_PREFIX + "Container"}
        assert {"Container", "PortBinding", "Mount", "RestartPolicy", "EnvVar"} <= set(registry)
        state = registry["Container"]["properties"]["state"]
        assert state["enum"] == [s.value for s in ContainerState]

    def test_from_type_of_generic_hints(self) -> None:
        registry: dict[str, Any] = {}
        assert from_type(list[ProcessList], registry) == {
            "type": "array",
            "items": {"$ref": REF_PREFIX + "ProcessList"},
        }
        assert from_type(int | str, registry) == {
            "anyOf": [{"type": "integer"}, {"type": "string"}]
        }

    def test_self_reference_terminates(self) -> None:
        registry: dict[str, Any] = {}
        from_type(Node, registry)
        assert registry["Node"]["properties"]["children"]["items"] == {"$ref": REF_PREFIX + "Node"}

    def test_not_a_dataclass(self) -> None:
        with pytest.raises(TypeError):
            from_dataclass(int)

    def test_serialized_model_validates_against_schema(self) -> None:
        from chrontainer_core.serialize import to_jsonable

        from .test_serialize import make_container

        registry: dict[str, Any] = {}
        ref = from_type(Container, registry)
        document = {**ref, "components": {"schemas": registry}}
        # Resolve "#/components/schemas/X" against a document that holds the registry.
        jsonschema.validate(to_jsonable(make_container()), document)
