"""What the volumes pages show: the list's filters and sort, its rows and host groups, the size
chart, and the file browser's breadcrumbs and entries.

Pure functions and small view models, no I/O: :mod:`.volume_pages` fetches from the core and
renders these with the ``volumes*.html`` and ``volume_browser*.html`` templates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ClassVar, Final
from urllib.parse import quote, urlencode

from chrontainer_core.models import HostState, Volume
from chrontainer_core.volumes.models import DirectoryListing, DirEntry, EntryKind

from .dashboard_view import duration, size
from .disk_chart import DiskChart, SizedItem, size_chart
from .sortable import SortableQuery

__all__ = [
    "IN_USE_CHOICES",
    "SORTS",
    "Crumb",
    "EntryRow",
    "VolumeGroup",
    "VolumeRow",
    "VolumesQuery",
    "breadcrumbs",
    "entry_rows",
    "group_volumes",
    "make_volume_row",
    "volume_chart",
]

MAX_QUERY: Final = 256
SORTS: Final = ("name", "driver", "size", "created", "containers")
DEFAULT_SORT: Final = "name"
IN_USE_CHOICES: Final = ("", "yes", "no")
SHOWN_USERS: Final = 3  # container names in a row; the rest is "+N more" (all in the title)
SHORT_NAME: Final = 12  # an anonymous volume's 64 hex name is shown like a short id
API: Final = "/api/v1"


def _clip(value: str | None) -> str:
    return (value or "").strip()[:MAX_QUERY]


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumesQuery(SortableQuery):
    """The list's filters and sort (a GET form); empty strings mean "any".

    Attributes:
        host: a host slug.
        name: a case-insensitive substring of the volume's name.
        driver: a driver name (exact).
        in_use: ``yes`` (some container mounts it), ``no`` (none does) or "" (any).
        sort: a column of :data:`SORTS`, ``-`` in front for descending.
    """

    PAGE: ClassVar[str] = "/volumes"
    DEFAULT_SORT: ClassVar[str] = DEFAULT_SORT
    FILTERS: ClassVar[tuple[str, ...]] = ("host", "name", "driver", "in_use")

    host: str = ""
    name: str = ""
    driver: str = ""
    in_use: str = ""
    sort: str = DEFAULT_SORT

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> VolumesQuery:
        """Read the filters from a query string; values that cannot be valid are dropped."""
        in_use = _clip(query.get("in_use"))
        sort = _clip(query.get("sort"))
        return cls(
            host=_clip(query.get("host")),
            name=_clip(query.get("name")),
            driver=_clip(query.get("driver")),
            in_use=in_use if in_use in IN_USE_CHOICES else "",
            sort=sort if sort.removeprefix("-") in SORTS else DEFAULT_SORT,
        )

    @property
    def filtered(self) -> bool:
        """True when any filter (not the sort) narrows the list."""
        return any((self.host, self.name, self.driver, self.in_use))

    @property
    def in_use_flag(self) -> bool | None:
        """The in-use filter as the core takes it."""
        return {"yes": True, "no": False}.get(self.in_use)


def _q(text: str) -> str:
    return quote(text, safe="")


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeRow:
    """One volume as its row shows it."""

    volume: Volume
    dom_id: str
    label: str  # the name, or the first characters of an anonymous volume's generated name
    size: str  # human, or "" when the engine does not know
    users: list[tuple[str, str]]  # the first container names and their page links
    more_users: int
    labels: list[tuple[str, str]]
    created: str
    created_title: str
    href: str  # the file browser
    backup_url: str
    api_path: str  # the volume under /api/v1


def make_volume_row(volume: Volume, now: datetime) -> VolumeRow:
    """Everything the row template needs, computed once."""
    host, name = _q(volume.host), _q(volume.name)
    users = [(c, f"/containers/{host}/{_q(c)}/logs") for c in volume.containers[:SHOWN_USERS]]
    created = volume.created
    return VolumeRow(
        volume=volume,
        dom_id=f"v-{volume.host}-{volume.name}",
        label=volume.name[:SHORT_NAME] + "…" if volume.anonymous else volume.name,
        size=size(volume.size) if volume.size is not None else "",
        users=users,
        more_users=max(len(volume.containers) - SHOWN_USERS, 0),
        labels=sorted(volume.labels.items()),
        created=f"{duration(created, now)} ago" if created else "",
        created_title=created.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if created else "",
        href=f"/volumes/{host}/{name}",
        backup_url=f"{API}/hosts/{host}/volumes/{name}/backup",
        api_path=f"/hosts/{host}/volumes/{name}",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeGroup:
    """The rows of one host, under its heading."""

    key: str
    label: str
    rows: list[VolumeRow]
    host: HostState | None


def group_volumes(rows: Iterable[VolumeRow], hosts: Mapping[str, HostState], *,
                  every_host: bool) -> list[VolumeGroup]:
    """Rows grouped by host (sorted by slug); with ``every_host`` a host without volumes (or
    offline) gets its heading too."""
    groups: dict[str, list[VolumeRow]] = {}
    for row in rows:
        groups.setdefault(row.volume.host, []).append(row)
    keys = sorted(set(groups) | (set(hosts) if every_host else set()))
    return [VolumeGroup(key=k, label=hosts[k].name if k in hosts else k,
                        rows=groups.get(k, []), host=hosts.get(k)) for k in keys]


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeChart:
    """One host's volume sizes: the chart, and the volumes whose size the engine did not give."""

    host: str
    chart: DiskChart | None  # None: no volume of known size
    unknown: list[str]


def volume_chart(host: str, volumes: Iterable[Volume]) -> VolumeChart:
    """The largest volumes of ``host`` as bars; an unused volume's bar is all reclaimable."""
    known = sorted((v for v in volumes if v.size is not None), key=lambda v: -(v.size or 0))
    unknown = sorted(v.name for v in volumes if v.size is None)
    if not known:
        return VolumeChart(host=host, chart=None, unknown=unknown)
    items = [SizedItem(name=v.name, count=len(v.containers), size=v.size or 0,
                       reclaimable=0 if v.containers else v.size or 0) for v in known]
    total = sum(i.size for i in items)
    free = sum(i.reclaimable for i in items)
    description = (f"{len(items)} volumes use {size(total)} on {host}; {size(free)} of it is "
                   "in volumes no container uses.")
    chart = size_chart(host, items, total=total, reclaimable=free, description=description)
    return VolumeChart(host=host, chart=chart, unknown=unknown)


# -- the file browser ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Crumb:
    """One step of the breadcrumbs: a directory's name and link (``href`` "" for the current)."""

    label: str
    href: str


def _browse_href(base: str, path: str) -> str:
    return f"{base}?{urlencode({'path': path})}" if path else base


def breadcrumbs(host: str, volume: str, path: str) -> list[Crumb]:
    """Volume root > dir > dir; the last (the directory shown) has no link."""
    base = f"/volumes/{_q(host)}/{_q(volume)}"
    parts = [p for p in path.split("/") if p]
    crumbs = [Crumb(label=volume, href=_browse_href(base, ""))]
    for i, part in enumerate(parts):
        crumbs.append(Crumb(label=part, href=_browse_href(base, "/".join(parts[: i + 1]))))
    return [*crumbs[:-1], Crumb(label=crumbs[-1].label, href="")]


ICONS: Final = {
    EntryKind.DIRECTORY: "📁",
    EntryKind.FILE: "📄",
    EntryKind.SYMLINK: "🔗",
    EntryKind.HARDLINK: "🔗",
    EntryKind.OTHER: "⚙",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryRow:
    """One entry as the browser's table shows it."""

    entry: DirEntry
    icon: str
    href: str  # directories: the browser at that path; others ""
    size: str
    modified: str
    modified_title: str


def entry_rows(listing: DirectoryListing, now: datetime) -> list[EntryRow]:
    """The listing's entries, directories first (the core's order is kept otherwise)."""
    base = f"/volumes/{_q(listing.host)}/{_q(listing.volume)}"
    ordered = sorted(listing.entries, key=lambda e: e.kind is not EntryKind.DIRECTORY)
    rows = []
    for e in ordered:
        is_dir = e.kind is EntryKind.DIRECTORY
        rows.append(EntryRow(
            entry=e,
            icon=ICONS.get(e.kind, "•"),
            href=_browse_href(base, e.path) if is_dir else "",
            size=size(e.size),
            modified=f"{duration(e.mtime, now)} ago" if e.mtime else "",
            modified_title=e.mtime.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            if e.mtime else "",
        ))
    return rows
