"""Paths inside a volume: normalised to root-relative form, or refused when they could escape."""

from __future__ import annotations

import pytest

from chrontainer_core.errors import InvalidInput
from chrontainer_core.volumes.paths import MAX_PATH, breadcrumbs, normalise, prefixes


@pytest.mark.parametrize(("given", "expected"), [
    ("", ""),
    ("/", ""),
    (".", ""),
    ("//./", ""),
    ("/sub", "sub"),
    ("sub/", "sub"),
    ("a//b/./c/", "a/b/c"),
    ("ünï/côdé.txt", "ünï/côdé.txt"),
    ("...", "..."),  # a name, not a parent reference
    ("a/..b/c..", "a/..b/c.."),
])
def test_normalise(given: str, expected: str) -> None:
    assert normalise(given) == expected


@pytest.mark.parametrize("bad", ["..", "/..", "a/../b", "a/b/..", "../etc/passwd", "a/./../.."])
def test_parent_references_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput, match=r"\.\.") as caught:
        normalise(bad)
    assert caught.value.field == "path"


@pytest.mark.parametrize("bad", ["a\x00b", "a\nb", "\x1b[31m", "tab\there", "del\x7f"])
def test_control_characters_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput, match="control") as caught:
        normalise(bad)
    assert caught.value.field == "path"


def test_length_cap() -> None:
    assert normalise("a" * MAX_PATH) == "a" * MAX_PATH
    with pytest.raises(InvalidInput, match="longer"):
        normalise("a" * (MAX_PATH + 1))


def test_prefixes_and_breadcrumbs() -> None:
    assert prefixes("") == []
    assert prefixes("a/b/c") == ["a", "a/b", "a/b/c"]
    assert breadcrumbs("") == [("", "")]
    assert breadcrumbs("a/b") == [("", ""), ("a", "a"), ("b", "a/b")]
