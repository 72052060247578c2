"""Volume JSON parsing and the prune decision per API version, with hand-made engine payloads
(the live engines speak only API 1.41, so the 1.42+ branch is proven here)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chrontainer_core.docker.volumes import (
    is_anonymous,
    parse_volume,
    parse_volume_prune,
    parse_volume_sizes,
    prune_filters,
    unused_anonymous,
)
from chrontainer_core.errors import InvalidInput
from chrontainer_core.models import Volume
from chrontainer_core.volumes.service import VolumeFilter, _sorter, check_name

ANON = "0123456789abcdef" * 4


def test_parse_volume() -> None:
    volume = parse_volume("local", {
        "CreatedAt": "2024-03-01T10:20:30Z", "Driver": "local",
        "Labels": {"a": "1"}, "Mountpoint": "/var/lib/docker/volumes/data/_data",
        "Name": "data", "Options": {"type": "tmpfs", "o": "size=1m"}, "Scope": "local"})
    assert volume == Volume(
        host="local", name="data", driver="local",
        mountpoint="/var/lib/docker/volumes/data/_data",
        created=datetime(2024, 3, 1, 10, 20, 30, tzinfo=UTC), scope="local",
        labels={"a": "1"}, options={"type": "tmpfs", "o": "size=1m"}, anonymous=False)


def test_parse_volume_with_nulls_and_anonymous_name() -> None:
    volume = parse_volume("remote", {"Name": ANON, "Driver": "local", "Labels": None,
                                     "Options": None, "Mountpoint": "/m"})
    assert volume.anonymous and volume.labels == {} and volume.options == {}
    assert volume.created is None and volume.size is None and volume.containers == ()


@pytest.mark.parametrize(("name", "anonymous"), [
    (ANON, True), (ANON.upper(), False), (ANON[:-1], False), (ANON + "0", False),
    ("data", False), ("", False)])
def test_is_anonymous(name: str, anonymous: bool) -> None:
    assert is_anonymous(name) is anonymous


def test_sizes_leave_out_unknown() -> None:
    df = {"Volumes": [
        {"Name": "a", "UsageData": {"Size": 2048, "RefCount": 1}},
        {"Name": "b", "UsageData": {"Size": -1, "RefCount": 0}},  # another driver: unknown
        {"Name": "c", "UsageData": None},
        {"Name": "d", "UsageData": {"Size": 0, "RefCount": 0}},
    ]}
    assert parse_volume_sizes(df) == {"a": 2048, "d": 0}
    assert parse_volume_sizes({"Volumes": None}) == {}


def test_prune_answer() -> None:
    result = parse_volume_prune("local", {"VolumesDeleted": ["x", ANON],
                                          "SpaceReclaimed": 4096})
    assert result.deleted == ("x", ANON) and result.untagged == ()
    assert result.reclaimed_bytes == 4096 and result.host == "local"
    empty = parse_volume_prune("local", {"VolumesDeleted": None, "SpaceReclaimed": 0})
    assert empty.deleted == () and empty.reclaimed_bytes == 0


def test_prune_on_api_1_41_asks_the_engine_only_for_every_unused_volume() -> None:
    # Before 1.42 the engine prunes named volumes too and does not know "all".
    assert prune_filters((1, 41), all_unused=True, label=None) == {}
    assert prune_filters((1, 41), all_unused=True, label="k=v") == {"label": ["k=v"]}
    assert prune_filters((1, 41), all_unused=False, label=None) is None
    assert prune_filters((1, 40), all_unused=False, label="k") is None


def test_prune_on_api_1_42_and_later_uses_the_all_filter() -> None:
    assert prune_filters((1, 42), all_unused=False, label=None) == {}
    assert prune_filters((1, 42), all_unused=True, label=None) == {"all": ["true"]}
    assert prune_filters((1, 45), all_unused=True, label="k=v") == {
        "all": ["true"], "label": ["k=v"]}
    assert prune_filters((1, 43), all_unused=False, label="k") == {"label": ["k"]}


def test_unused_anonymous_picks_generated_names_only() -> None:
    other = "f" * 64
    docs = [{"Name": "named"}, {"Name": other}, {"Name": ANON}, {"Name": "A" * 64}]
    assert unused_anonymous(docs) == [ANON, other]


@pytest.mark.parametrize("name", ["data", "a", "A.b_c-1", "x" * 255, "9lives"])
def test_good_names(name: str) -> None:
    check_name(name)


@pytest.mark.parametrize("name", ["", "-a", ".a", "_a", "a b", "a/b", "../x", "x" * 256,
                                  "a\nb", "é"])
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_name(name)
    assert err.value.field == "name"


def _volume(name: str, **kw: object) -> Volume:
    fields: dict[str, object] = {"host": "local", "driver": "local", **kw}
    return Volume(name=name, mountpoint="", created=None, **fields)  # type: ignore[arg-type]


def test_filter_and_sort() -> None:
    a = _volume("Alpha", size=10, containers=("c1",))
    b = _volume("beta", size=None)
    c = _volume("gamma", size=5, host="remote", driver="nfs", containers=("c2", "c3"))
    assert VolumeFilter(name="ALP").matches(a) and not VolumeFilter(name="alp").matches(b)
    assert VolumeFilter(in_use=False).matches(b) and not VolumeFilter(in_use=False).matches(a)
    assert VolumeFilter(driver="NFS").matches(c) and not VolumeFilter(driver="nfs").matches(a)
    assert VolumeFilter(host="remote").matches(c) and not VolumeFilter(host="remote").matches(a)
    key, reverse = _sorter("-size")
    assert [v.name for v in sorted([a, b, c], key=key, reverse=reverse)] == [
        "Alpha", "gamma", "beta"]  # unknown sizes last when descending
    key, reverse = _sorter("containers")
    assert [v.name for v in sorted([c, a, b], key=key, reverse=reverse)] == [
        "beta", "Alpha", "gamma"]
    with pytest.raises(InvalidInput) as err:
        _sorter("bogus")
    assert err.value.field == "sort"
