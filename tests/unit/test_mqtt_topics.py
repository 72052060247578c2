"""The MQTT topic layout and the reversible encoding of container keys (pure)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chrontainer_mqtt.topics import CommandTopic, Topics, decode, encode

TOPIC_SAFE = re.compile(r"[A-Za-z0-9_-]+")


@pytest.mark.parametrize(("key", "encoded"), [
    ("web", "web"),
    ("my-app", "my-app"),
    ("proj_web", "proj__web"),
    ("proj_web_2", "proj__web__2"),
    ("a.b", "a_2eb"),
    ("Caps/slash", "Caps_2fslash"),
    ("x+y#z", "x_2by_23z"),
    ("café", "caf_c3_a9"),
])
def test_encode_examples(key: str, encoded: str) -> None:
    assert encode(key) == encoded
    assert decode(encoded) == key


@given(st.text(min_size=1, max_size=40))
def test_encoding_is_reversible_and_topic_safe(key: str) -> None:
    encoded = encode(key)
    assert TOPIC_SAFE.fullmatch(encoded)
    assert decode(encoded) == key


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_distinct_keys_never_share_ids(a: str, b: str) -> None:
    t = Topics()
    if a != b:
        assert t.container_device_id("local", a) != t.container_device_id("local", b)


@pytest.mark.parametrize("bad", ["_", "_zz", "a_1", "a.b", "a/b", "__x_"])
def test_decode_refuses_what_encode_never_makes(bad: str) -> None:
    with pytest.raises(ValueError):
        decode(bad)


def test_ids_and_topics() -> None:
    t = Topics("chrontainer", "homeassistant")
    device = t.container_device_id("nas-1", "proj_web")
    assert device == "chrontainer_c_nas-1_proj__web"
    assert t.unique_id(device, "power") == "chrontainer_c_nas-1_proj__web_power"
    assert t.device_config(device) == "homeassistant/device/chrontainer_c_nas-1_proj__web/config"
    assert t.component_config("switch", device, "power") == \
        "homeassistant/switch/chrontainer_c_nas-1_proj__web/power/config"
    assert t.container("nas-1", "proj_web", "state") == \
        "chrontainer/container/nas-1/proj__web/state"
    assert t.host("nas-1") == "chrontainer/host/nas-1/state"
    assert t.schedule(7) == "chrontainer/schedule/7/state"
    assert t.status == "chrontainer/status"
    assert t.ha_status == "homeassistant/status"
    assert t.host_device_id("nas-1") == "chrontainer_h_nas-1"
    assert t.schedule_device_id(7) == "chrontainer_s_7"


def test_a_second_instance_gets_other_ids() -> None:
    a, b = Topics("chrontainer"), Topics("home/chrontainer2")
    assert a.container_device_id("local", "web") != b.container_device_id("local", "web")
    assert b.namespace == "home_2fchrontainer2"


def test_parse_command_round_trip() -> None:
    t = Topics("base/x")
    for command in ("power", "restart", "pause", "update"):
        topic = t.container_command("local", "proj_web.1", command)
        assert t.parse_command(topic) == CommandTopic(
            kind="container", command=command, host="local", key="proj_web.1")
    assert t.parse_command(t.schedule_command(12, "run")) == CommandTopic(
        kind="schedule", command="run", schedule_id=12)


@pytest.mark.parametrize("topic", [
    "other/container/local/web/cmd/power",       # another base topic
    "base/x/container/local/web/cmd/explode",    # unknown command
    "base/x/container/local/web/state",          # not a command
    "base/x/container//web/cmd/power",           # no host
    "base/x/container/local/a.b/cmd/power",      # not an encoded key
    "base/x/schedule/abc/cmd/run",               # not an id
    "base/x/schedule/1/cmd/power",               # a container command on a schedule
    "base/x/container/local/web/cmd/power/extra",
])
def test_parse_command_refuses(topic: str) -> None:
    assert Topics("base/x").parse_command(topic) is None


def test_command_filters_cover_command_topics() -> None:
    t = Topics()
    filters = t.command_filters
    assert f"{t.base}/container/+/+/cmd/+" in filters
    assert f"{t.base}/schedule/+/cmd/+" in filters
