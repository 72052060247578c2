"""to_jsonable: the one wire format of core models."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path, PurePosixPath

import pytest

from chrontainer_core.actor import Actor, ActorKind
from chrontainer_core.models import (
    ActionResult,
    AuditEntry,
    Container,
    ContainerState,
    EnvVar,
    HostState,
    HostStatus,
    LogRecord,
    LogStream,
    PortBinding,
    ProcessList,
)
from chrontainer_core.serialize import format_datetime, to_jsonable

T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def make_container(**overrides: object) -> Container:
    values: dict[str, object] = {
        "host": "local",
        "id": "c0ffee" * 10 + "abcd",
        "name": "web",
        "key": "web",
        "image": "nginx:1",
        "image_id": "sha256:abc",
        "command": "nginx -g 'daemon off;'",
        "created": T0,
        "state": ContainerState.RUNNING,
    }
    values.update(overrides)
    return Container(**values)  # type: ignore[arg-type]


class TestScalars:
    @pytest.mark.parametrize("value", ["x", 1, 1.5, True, False, None])
    def test_json_scalars_pass_through(self, value: object) -> None:
        assert to_jsonable(value) is value

    def test_str_enum_becomes_its_value(self) -> None:
        out = to_jsonable(ContainerState.PAUSED)
        assert out == "paused"
        assert type(out) is str

    def test_int_enum_becomes_its_value(self) -> None:
        class Level(enum.IntEnum):
            HIGH = 3

        out = to_jsonable(Level.HIGH)
        assert out == 3
        assert type(out) is int

    def test_path_becomes_str(self) -> None:
        assert to_jsonable(Path("/var/lib/x")) == "/var/lib/x"
        assert to_jsonable(PurePosixPath("a/b")) == "a/b"

    def test_unknown_type_raises_type_error(self) -> None:
        with pytest.raises(TypeError, match="object"):
            to_jsonable(object())

    def test_unknown_type_nested_in_model_raises(self) -> None:
        with pytest.raises(TypeError, match="set"):
            to_jsonable({"a": {1, 2}})


class TestDatetime:
    def test_utc_with_z_and_microseconds(self) -> None:
        assert to_jsonable(T0) == "2026-01-02T03:04:05.123456Z"

    def test_naive_is_treated_as_utc(self) -> None:
        assert to_jsonable(datetime(2026, 1, 2, 3, 4, 5, 123456)) == "2026-01-02T03:04:05.123456Z"

    def test_other_zone_is_converted_to_utc(self) -> None:
        plus2 = timezone(timedelta(hours=2))
        assert to_jsonable(datetime(2026, 1, 2, 5, 4, 5, tzinfo=plus2)) == (
            "2026-01-02T03:04:05.000000Z"
        )

    def test_fixed_width_keeps_string_order(self) -> None:
        earlier = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        later = earlier + timedelta(microseconds=1)
        assert format_datetime(earlier) < format_datetime(later)


class TestContainers:
    def test_tuples_lists_and_dicts(self) -> None:
        data = {"a": (1, [ContainerState.DEAD]), "b": {"c": T0}}
        assert to_jsonable(data) == {"a": [1, ["dead"]], "b": {"c": "2026-01-02T03:04:05.123456Z"}}

    def test_dict_keys_become_strings(self) -> None:
        assert to_jsonable({1: "a", HostStatus.ONLINE: "b"}) == {"1": "a", "online": "b"}


class TestDataclasses:
    def test_container_is_fully_converted(self) -> None:
        container = make_container(
            labels={"com.example": "1"},
            ports=(PortBinding(container_port=80, protocol="tcp", host_port=8080),),
            env=(EnvVar(name="A", value="b"),),
        )
        out = to_jsonable(container)
        assert out["state"] == "running"
        assert out["created"] == "2026-01-02T03:04:05.123456Z"
        assert out["health"] is None
        assert out["labels"] == {"com.example": "1"}
        assert out["ports"] == [
            {"container_port": 80, "protocol": "tcp", "host_ip": None, "host_port": 8080}
        ]
        assert out["env"] == [{"name": "A", "value": "b"}]
        assert out["restart_policy"] == {"name": "no", "maximum_retry_count": 0}
        # Every field, in field order, and the result is plain JSON.
        assert list(out)[:3] == ["host", "id", "name"]
        assert json.loads(json.dumps(out)) == out

    def test_actor_shape(self) -> None:
        actor = Actor(kind=ActorKind.USER, id="7", name="alice", source_ip="10.0.0.2")
        assert to_jsonable(actor) == {
            "kind": "user",
            "id": "7",
            "name": "alice",
            "source_ip": "10.0.0.2",
        }

    def test_nested_models(self) -> None:
        entry = AuditEntry(
            id=1, time=T0, actor=Actor.library(), action="restart", target="local/web", result="ok"
        )
        out = to_jsonable(entry)
        assert out["actor"] == {
            "kind": "library",
            "id": "library",
            "name": "library",
            "source_ip": None,
        }
        assert to_jsonable(ActionResult(container=None, changed=False)) == {
            "container": None,
            "changed": False,
        }

    def test_tuple_of_tuples(self) -> None:
        procs = ProcessList(titles=("PID", "CMD"), processes=(("1", "init"),))
        assert to_jsonable(procs) == {"titles": ["PID", "CMD"], "processes": [["1", "init"]]}

    def test_optional_datetime_fields(self) -> None:
        host = HostState(slug="a", name="A", url="unix:///x.sock", status=HostStatus.ONLINE)
        assert to_jsonable(host)["last_seen"] is None
        record = LogRecord(t=T0, stream=LogStream.STDERR, line="boom")
        assert to_jsonable(record) == {
            "t": "2026-01-02T03:04:05.123456Z",
            "stream": "stderr",
            "line": "boom",
        }

    def test_list_of_models(self) -> None:
        out = to_jsonable([make_container(name=f"c{i}") for i in range(3)])
        assert [c["name"] for c in out] == ["c0", "c1", "c2"]

    def test_plain_dataclass_without_slots(self) -> None:
        @dataclass
        class Plain:
            a: int
            b: list[str] = field(default_factory=list)

        assert to_jsonable(Plain(a=1, b=["x"])) == {"a": 1, "b": ["x"]}
