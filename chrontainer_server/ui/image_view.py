"""What the images page shows: its filters and sort, its rows and host groups, a detail page.

Pure functions and small view models, no I/O: :mod:`.image_pages` fetches from the core and
renders these with the ``images*.html`` templates. The disk-use chart's geometry lives in
:mod:`.disk_chart`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final

from chrontainer_core.docker.parse import split_reference
from chrontainer_core.images import SORT_KEYS, ImageFilter, repositories_of
from chrontainer_core.models import HostState, Image, ImageHistoryEntry

from .dashboard_view import duration, size
from .sortable import SortableQuery

__all__ = [
    "DANGLING_CHOICES",
    "SORTS",
    "EnvName",
    "HistoryRow",
    "HostGroup",
    "ImageDetail",
    "ImageRow",
    "ImagesQuery",
    "env_entries",
    "group_images",
    "history_rows",
    "image_dom_id",
    "make_image_row",
    "short_id",
    "tag_names",
]

MAX_QUERY: Final = 256
MB: Final = 1_000_000  # the size filter is in MB (what `docker images` shows), not MiB
# Columns the list sorts by; "-" in front of the value sorts descending.
SORTS: Final = tuple(SORT_KEYS)
DEFAULT_SORT: Final = "repository"
DANGLING_CHOICES: Final = ("", "yes", "no")
# At most this many days in "older than": more is a typo, not a filter (and overflows dates).
MAX_DAYS: Final = 36_500


def _clip(value: str | None) -> str:
    return (value or "").strip()[:MAX_QUERY]


def _count(value: str | None, limit: int) -> str:
    """A non-negative whole number as typed, or "" when it is not one (the filter is dropped)."""
    text = _clip(value)
    return text if text.isdigit() and int(text) <= limit else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImagesQuery(SortableQuery):
    """The page's filters and sort (a GET form); empty strings mean "any".

    Attributes:
        host: a host slug.
        repository: a case-insensitive substring of an image's repositories.
        tag: a case-insensitive substring of an image's tags (the part after ``:``).
        dangling: ``yes``, ``no`` or "" (any).
        min_size: at least this many MB ("" or digits).
        older_than: created more than this many days ago ("" or digits).
        sort: a column of :data:`SORTS`, ``-`` in front for descending.
    """

    PAGE: ClassVar[str] = "/images"
    DEFAULT_SORT: ClassVar[str] = DEFAULT_SORT
    FILTERS: ClassVar[tuple[str, ...]] = ("host", "repository", "tag", "dangling", "min_size",
                                          "older_than")

    host: str = ""
    repository: str = ""
    tag: str = ""
    dangling: str = ""
    min_size: str = ""
    older_than: str = ""
    sort: str = DEFAULT_SORT

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> ImagesQuery:
        """Read the filters from a query string; values that cannot be valid are dropped.

        A page must never fail on a hand-edited URL: an unknown sort or a size that is not a
        number is ignored rather than refused.
        """
        dangling = _clip(query.get("dangling"))
        sort = _clip(query.get("sort"))
        return cls(
            host=_clip(query.get("host")),
            repository=_clip(query.get("repository")),
            tag=_clip(query.get("tag")),
            dangling=dangling if dangling in DANGLING_CHOICES else "",
            min_size=_count(query.get("min_size"), 10**9),
            older_than=_count(query.get("older_than"), MAX_DAYS),
            sort=sort if sort.removeprefix("-") in SORTS else DEFAULT_SORT,
        )

    @property
    def filtered(self) -> bool:
        """True when any filter (not the sort) narrows the list."""
        return any((self.host, self.repository, self.tag, self.dangling, self.min_size,
                    self.older_than))

    def to_filter(self, now: datetime) -> ImageFilter:
        """The core's list filter for these choices (sizes in bytes, age as a date)."""
        return ImageFilter(
            host=self.host or None,
            repository=self.repository or None,
            tag=self.tag or None,
            dangling={"yes": True, "no": False}.get(self.dangling),
            min_size=int(self.min_size) * MB if self.min_size else None,
            created_before=now - timedelta(days=int(self.older_than)) if self.older_than
            else None,
        )


def tag_names(image: Image) -> list[str]:
    """The tag part of each of an image's references (``latest``, ``v1``)."""
    return [split_reference(t)[1] for t in image.tags]


def short_id(image_id: str) -> str:
    """The 12 hex characters ``docker images`` shows."""
    return image_id.removeprefix("sha256:")[:12]


def image_dom_id(host: str, image_id: str) -> str:
    """A row's stable DOM id; also the row's reference for the API (a unique id prefix)."""
    return f"i-{host}-{short_id(image_id)}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageRow:
    """One image as its row shows it."""

    image: Image
    dom_id: str
    ref: str  # the full id without "sha256:": what links and API calls address it by
    short_id: str
    repository: str
    tags: tuple[str, ...]
    size: str
    created: str  # relative ("3 d ago")
    created_title: str  # the date, in the cell's title
    pull_ref: str  # what "Pull again" pulls ("" for an untagged image)
    href: str


def make_image_row(image: Image, now: datetime) -> ImageRow:
    """Everything the row template needs, computed once."""
    ref = image.id.removeprefix("sha256:")
    return ImageRow(
        image=image,
        dom_id=image_dom_id(image.host, image.id),
        ref=ref,
        short_id=short_id(image.id),
        repository=", ".join(dict.fromkeys(repositories_of(image))),
        tags=tuple(tag_names(image)),
        size=size(image.size),
        created=f"{duration(image.created, now)} ago",
        created_title=image.created.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        pull_ref=image.tags[0] if image.tags else "",
        href=f"/images/{image.host}/{ref}",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class HostGroup:
    """The rows of one host, under its heading."""

    key: str
    label: str
    rows: list[ImageRow]
    host: HostState | None


def group_images(rows: Iterable[ImageRow], hosts: Mapping[str, HostState], *,
                 every_host: bool) -> list[HostGroup]:
    """Rows grouped by host (sorted by slug); with ``every_host`` a host without images (or
    offline) gets its heading too."""
    groups: dict[str, list[ImageRow]] = {}
    for row in rows:
        groups.setdefault(row.image.host, []).append(row)
    keys = sorted(set(groups) | (set(hosts) if every_host else set()))
    return [HostGroup(key=k, label=hosts[k].name if k in hosts else k, rows=groups.get(k, []),
                      host=hosts.get(k)) for k in keys]


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvName:
    """An environment variable of an image's config; ``value`` is None when not shown."""

    name: str
    value: str | None


def env_entries(document: Mapping[str, Any], *, hide_values: bool) -> list[EnvName]:
    """The image config's ``Env`` (``NAME=value`` strings); viewers get names only."""
    config = document.get("Config")
    env = config.get("Env") if isinstance(config, dict) else None
    entries = []
    for item in env if isinstance(env, list) else ():
        name, _, value = str(item).partition("=")
        entries.append(EnvName(name=name, value=None if hide_values else value))
    return entries


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryRow:
    """One layer of the history table."""

    created_by: str
    size: str
    created: str
    comment: str
    empty: bool  # a metadata-only step (ENV, CMD...): no bytes


def history_rows(entries: Iterable[ImageHistoryEntry], now: datetime) -> list[HistoryRow]:
    """The history as the table shows it, newest layer first (the engine's order)."""
    rows = []
    for e in entries:
        # Builders prefix shell steps with "/bin/sh -c #(nop) " for metadata: noise to a reader.
        text = e.created_by.replace("/bin/sh -c #(nop) ", "").strip()
        rows.append(HistoryRow(created_by=text, size=size(e.size),
                               created=f"{duration(e.created, now)} ago", comment=e.comment,
                               empty=e.size == 0))
    return rows


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageDetail:
    """What the detail page shows of one image."""

    row: ImageRow
    architecture: str
    os: str
    labels: list[tuple[str, str]]
    env: list[EnvName]
    hide_values: bool
    history: list[HistoryRow]
    history_error: str | None
