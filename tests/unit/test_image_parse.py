"""Unit tests: engine image JSON -> models, image addressing, filters, sorting, tag checks, and
the Docker Hub search parser on a recorded-format engine response."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chrontainer_core.docker.parse import (
    parse_hub_search,
    parse_image_delete,
    parse_image_disk_usage,
    parse_image_history,
    parse_image_summary,
    split_reference,
)
from chrontainer_core.errors import AmbiguousRef, InvalidInput
from chrontainer_core.images import ImageFilter, _check_tag, _sorter, resolve_image
from chrontainer_core.models import HubSearchResult

DATA = Path(__file__).resolve().parent.parent / "data"
ID_A = "sha256:" + "ab12cd34ef56" + "0" * 52
ID_B = "sha256:" + "ab12cd34ef56" + "1" * 52
ID_C = "sha256:" + "ffee" * 16


def summary(image_id: str, tags: list[str] | None, size: int = 100, created: int = 1_700_000_000,
            digests: list[str] | None = None) -> dict[str, object]:
    """One entry of GET /images/json as Engine 20.10 sends it."""
    return {"Containers": -1, "Created": created, "Id": image_id, "Labels": None,
            "ParentId": "", "RepoDigests": digests, "RepoTags": tags, "SharedSize": -1,
            "Size": size, "VirtualSize": size}


def test_hub_search_parser_reads_the_recorded_engine_response() -> None:
    docs = json.loads((DATA / "engine_images_search_nginx.json").read_text())
    results = parse_hub_search(docs)
    assert results[0] == HubSearchResult(name="nginx", description="Official build of Nginx.",
                                         stars=20683, official=True, automated=False)
    assert results[1].automated and not results[1].official and results[1].stars == 187
    assert [r.name for r in results] == ["nginx", "bitnami/nginx",
                                         "nginxinc/nginx-unprivileged", "someone/nginx-test"]
    assert results[3].description == "" and results[3].stars == 0
    assert parse_hub_search(None) == []


def test_summary_sorts_tags_and_marks_dangling() -> None:
    image = parse_image_summary("local", summary(
        ID_A, ["zeta/app:1", "127.0.0.1:5999/team/app:v1"],
        digests=["127.0.0.1:5999/team/app@sha256:" + "9" * 64]))
    assert image.tags == ("127.0.0.1:5999/team/app:v1", "zeta/app:1")
    assert image.repository == "127.0.0.1:5999/team/app"
    assert not image.dangling and image.size == 100
    assert image.created == datetime.fromtimestamp(1_700_000_000, UTC)
    assert image.labels == {}

    dangling = parse_image_summary("local", summary(ID_B, ["<none>:<none>"],
                                                    digests=["<none>@<none>"]))
    assert dangling.dangling and dangling.tags == () and dangling.digests == ()
    assert dangling.repository == "<none>"
    by_digest = parse_image_summary("local",
                                    summary(ID_C, None, digests=["a/b@sha256:" + "1" * 64]))
    assert by_digest.dangling and by_digest.repository == "a/b"


def test_split_reference_keeps_a_registry_port() -> None:
    assert split_reference("127.0.0.1:5999/team/app:v1") == ("127.0.0.1:5999/team/app", "v1")
    assert split_reference("127.0.0.1:5999/team/app") == ("127.0.0.1:5999/team/app", "")
    assert split_reference("a/b@sha256:12") == ("a/b", "sha256:12")
    assert split_reference("nginx") == ("nginx", "")


def test_history_and_delete_answers() -> None:
    history = parse_image_history([
        {"Comment": "", "Created": 1_700_000_100, "CreatedBy": "/bin/sh -c echo 2 > /two",
         "Id": ID_A, "Size": 2, "Tags": ["app:v1"]},
        {"Comment": "Imported from -", "Created": 1_700_000_000, "CreatedBy": "",
         "Id": "<missing>", "Size": 1984172, "Tags": None},
    ])
    assert [h.id for h in history] == [ID_A, "<missing>"]
    assert history[0].created_by.endswith("> /two") and history[0].tags == ("app:v1",)
    assert history[1].comment == "Imported from -" and history[1].tags == ()
    untagged, deleted = parse_image_delete([{"Untagged": "app:v1"}, {"Deleted": ID_A},
                                            {"Deleted": ID_B}])
    assert untagged == ("app:v1",) and deleted == (ID_A, ID_B)
    assert parse_image_delete(None) == ((), ())


def test_disk_usage_per_repository_counts_unique_bytes_of_unused_images() -> None:
    doc = {
        "LayersSize": 1500,
        "Images": [
            # Two images of one repository sharing a 600-byte base; the first one is in use.
            {**summary(ID_A, ["team/app:v1"], size=1000), "SharedSize": 600, "Containers": 1},
            {**summary(ID_B, ["team/app:v2"], size=800), "SharedSize": 600, "Containers": 0},
            {**summary(ID_C, ["<none>:<none>"], size=300), "SharedSize": 0, "Containers": 0},
        ],
    }
    usage = parse_image_disk_usage("local", doc)
    assert usage.total == 1500 and usage.reclaimable == 200 + 300
    app, none = usage.repositories
    assert (app.repository, app.images, app.size, app.reclaimable) == ("team/app", 2, 1800, 200)
    assert (none.repository, none.images, none.size, none.reclaimable) == ("<none>", 1, 300, 300)


IMAGES = [
    parse_image_summary("local", summary(ID_A, ["nginx:latest", "team/app:v1"])),
    parse_image_summary("local", summary(ID_B, ["127.0.0.1:5999/team/app:v1"],
                                         digests=["127.0.0.1:5999/team/app@sha256:" + "9" * 64])),
    parse_image_summary("local", summary(ID_C, None)),
]


@pytest.mark.parametrize(("ref", "expected"), [
    (ID_A, (ID_A, ID_A)),
    (ID_A.removeprefix("sha256:"), (ID_A, ID_A)),
    ("nginx", (ID_A, "nginx:latest")),
    ("docker.io/library/nginx:latest", (ID_A, "nginx:latest")),
    ("team/app:v1", (ID_A, "team/app:v1")),
    ("127.0.0.1:5999/team/app:v1", (ID_B, "127.0.0.1:5999/team/app:v1")),
    ("127.0.0.1:5999/team/app@sha256:" + "9" * 64,
     (ID_B, "127.0.0.1:5999/team/app@sha256:" + "9" * 64)),
    ("ffeeffeeffee", (ID_C, ID_C)),
    ("sha256:ffeeffeeffee", (ID_C, ID_C)),
])
def test_resolve_image(ref: str, expected: tuple[str, str]) -> None:
    hit = resolve_image(IMAGES, ref)
    assert hit is not None
    assert (hit[0].id, hit[1]) == expected


@pytest.mark.parametrize("ref", ["team/app:v2", "nginx:1", "ffeeffee", "sha256:" + "0" * 64,
                                 "127.0.0.1:5998/team/app:v1"])
def test_resolve_image_unknown(ref: str) -> None:
    assert resolve_image(IMAGES, ref) is None


def test_resolve_image_ambiguous_prefix_and_bad_ref() -> None:
    with pytest.raises(AmbiguousRef) as err:
        resolve_image(IMAGES, "ab12cd34ef56")
    assert [m["id"] for m in err.value.details["matches"]] == [ID_A, ID_B]
    # Shorter than 12: no id prefix, just a (valid, unknown) repository name.
    assert resolve_image(IMAGES, "ab12cd34ef5") is None
    with pytest.raises(InvalidInput) as bad:
        resolve_image(IMAGES, "Not/Valid")
    assert bad.value.field == "ref"


def test_filter() -> None:
    a, b, c = IMAGES
    assert [i.id for i in IMAGES if ImageFilter(repository="TEAM/app").matches(i)] == [a.id, b.id]
    assert [i.id for i in IMAGES if ImageFilter(repository="5999").matches(i)] == [b.id]
    assert [i.id for i in IMAGES if ImageFilter(tag="V1").matches(i)] == [a.id, b.id]
    assert [i.id for i in IMAGES if ImageFilter(tag="latest").matches(i)] == [a.id]
    assert [i.id for i in IMAGES if ImageFilter(dangling=True).matches(i)] == [c.id]
    assert [i.id for i in IMAGES if ImageFilter(dangling=False).matches(i)] == [a.id, b.id]
    assert not ImageFilter(min_size=101).matches(a) and ImageFilter(min_size=100).matches(a)
    assert not ImageFilter(max_size=99).matches(a) and ImageFilter(max_size=100).matches(a)
    made = a.created
    assert ImageFilter(created_after=made - timedelta(days=1)).matches(a)
    assert not ImageFilter(created_after=made + timedelta(seconds=1)).matches(a)
    assert ImageFilter(created_before=made).matches(a)
    assert not ImageFilter(created_before=made - timedelta(seconds=1)).matches(a)
    assert not ImageFilter(host="remote").matches(a)


def test_sorter() -> None:
    key, reverse = _sorter("-size")
    assert reverse and key(IMAGES[0])[0] == 100
    key, reverse = _sorter("repository")
    assert not reverse and key(IMAGES[0])[0] == ("nginx", "latest")
    for bad in ("name", "--size", "", "-"):
        with pytest.raises(InvalidInput) as err:
            _sorter(bad)
        assert err.value.field == "sort"


@pytest.mark.parametrize(("repository", "tag", "field"), [
    ("Team/App", "v1", "repository"),
    ("team/app:v1", "v2", "repository"),
    ("team/app@sha256:" + "1" * 64, "v2", "repository"),
    ("", "v1", "repository"),
    ("team/app", "", "tag"),
    ("team/app", "-v1", "tag"),
    ("team/app", "v1/x", "tag"),
    ("team/app", "a:b", "tag"),
    ("team/app", "x" * 129, "tag"),
])
def test_bad_tags_are_refused(repository: str, tag: str, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        _check_tag(repository, tag)
    assert err.value.field == field


def test_good_tags() -> None:
    assert _check_tag("127.0.0.1:5999/team/app", "v1.2_rc-1") == "127.0.0.1:5999/team/app:v1.2_rc-1"
    assert _check_tag("app", "latest") == "app:latest"
