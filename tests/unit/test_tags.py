"""Tag and web-UI link validation: the validators shared by the core and the API schemas."""

from __future__ import annotations

import re

import pytest
import voluptuous as vol

from chrontainer_core.tag_rules import TAG_IDS, Colour, TagId, TagName, WebUrl


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("web", "web"),
        ("  media  ", "media"),
        ("Home Assistant", "Home Assistant"),
        ("ünïcødé ✓", "ünïcødé ✓"),
        ("x" * 64, "x" * 64),
    ],
)
def test_tag_names_are_stripped(raw: str, expected: str) -> None:
    assert TagName()(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["", "   ", "x" * 65, " " + "x" * 64, "tab\there", "new\nline", "nul\x00", "c1\x85",
     "del\x7f", 42, None, ["web"]],
)
def test_bad_tag_names_are_refused(raw: object) -> None:
    with pytest.raises(vol.Invalid):
        TagName()(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("#1e88e5", "#1e88e5"), ("#1E88E5", "#1e88e5"), ("#ABCDEF", "#abcdef"),
     ("#000000", "#000000")],
)
def test_colours_are_lowercased(raw: str, expected: str) -> None:
    assert Colour()(raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["1e88e5", "#1e88e", "#1e88e5f", "#ggg000", "red", "#fff", "#1e88e5\n", " #1e88e5", "",
     None, 0x1E88E5],
)
def test_bad_colours_are_refused(raw: object) -> None:
    with pytest.raises(vol.Invalid):
        Colour()(raw)


@pytest.mark.parametrize(
    "url",
    [
        "http://nas:8096",
        "https://grafana.lab.example/d/abc?orgId=1#panel",
        "HTTPS://Example.COM/",
        "http://192.168.1.10:8080/",
        "http://[::1]:3000/",
        "https://example.com/" + "a" * (2048 - len("https://example.com/")),
    ],
)
def test_web_urls_are_kept_unchanged(url: str) -> None:
    assert WebUrl()(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "ftp://files.example/",
        "file:///etc/passwd",
        "//example.com/",
        "example.com",
        "http://",
        "http:///path-only",
        "https://:8080/",
        "http://example.com:99999/",
        "http://[::1/",
        " http://example.com",
        "http://example.com/a b",
        "http://example.com/\t",
        "http://example.com/\n",
        "http://exa\x00mple.com/",
        "http://example.com/\u00a0",
        "http://user:secret@example.com/",
        "http://user@example.com/",
        "https://example.com/" + "a" * 2048,
        "",
        None,
        42,
    ],
)
def test_bad_web_urls_are_refused(url: object) -> None:
    with pytest.raises(vol.Invalid):
        WebUrl()(url)


def test_the_documented_patterns_accept_what_the_validators_accept() -> None:
    """The JSON Schema of each validator is what the OpenAPI document publishes: a value the
    validator accepts must match it (a refused one may too: the schema is the looser)."""
    for validator, samples in (
        (TagName(), ["web", "ünïcødé ✓", "x" * 64]),
        (Colour(), ["#1E88E5"]),
        (WebUrl(), ["HTTPS://Example.COM/", "http://[::1]:3000/x?y=z"]),
    ):
        pattern = re.compile(validator.json_schema["pattern"])
        for sample in samples:
            validator(sample)
            assert pattern.search(sample), (validator, sample)


def test_tag_ids() -> None:
    assert TAG_IDS([3, 1, 3]) == [3, 1, 3]
    assert TAG_IDS([]) == []
    for bad in ([0], [-1], [True], ["1"], [1.0], [2**31], list(range(1, 102)), "1"):
        with pytest.raises(vol.Invalid):
            TAG_IDS(bad)
    assert TagId()(2**31 - 1) == 2**31 - 1
