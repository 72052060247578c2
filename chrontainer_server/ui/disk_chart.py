"""Disk-use charts: one horizontal bar per item (an image repository, a volume), as
server-rendered SVG.

The CSP forbids ``style`` attributes, so every length is an SVG attribute computed here and
colours come from classes in ``static/images.css``. Each bar is the repository's total size; its
reclaimable part (what removing its unused images would free) is drawn in a second colour at the
bar's end. ``images_chart.html`` renders :class:`DiskChart` with a ``<title>``, a ``<desc>`` and a
table holding the same numbers. :func:`size_chart` lays out any sized items: the volumes page
draws a volume no container uses as reclaimable (what pruning every unused volume frees).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from chrontainer_core.models import ImageDiskUsage

from .dashboard_view import size

__all__ = ["MAX_BARS", "Bar", "DiskChart", "SizedItem", "disk_chart", "size_chart"]

WIDTH: Final = 640  # the viewBox width; the SVG scales to its box
LABEL_WIDTH: Final = 200  # repository names, right-aligned before the bars
VALUE_WIDTH: Final = 90  # the size written after the longest bar
BAR_HEIGHT: Final = 18
GAP: Final = 8
LABEL_CHARS: Final = 28  # longer names are shortened (the full name is in the bar's <title>)
MAX_BARS: Final = 25  # the largest repositories; the rest are summed in a note


@dataclass(frozen=True, slots=True, kw_only=True)
class SizedItem:
    """What one bar shows: a name, how many things it counts, its bytes and the reclaimable part."""

    name: str
    count: int
    size: int
    reclaimable: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Bar:
    """One item's bar (``repository`` is its name, ``images`` its count: the images page's
    words); ``used_width + free_width`` is proportional to its size."""

    repository: str
    label: str
    images: int
    size: str
    reclaimable: str
    y: int
    text_y: int
    used_width: float
    free_x: float
    free_width: float
    value_x: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DiskChart:
    """One host's chart."""

    host: str
    total: str
    reclaimable: str
    bars: list[Bar]
    hidden: int  # repositories left out of the chart (listed in the table)
    table: list[tuple[str, int, str, str]]  # every repository: name, images, size, reclaimable
    height: int
    width: int
    bar_x: int
    description: str


def _shorten(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else "…" + name[-(LABEL_CHARS - 1):]


def disk_chart(usage: ImageDiskUsage) -> DiskChart:
    """Lay out ``usage`` (repositories largest first) as bars scaled to the largest one."""
    items = [SizedItem(name=r.repository, count=r.images, size=r.size, reclaimable=r.reclaimable)
             for r in usage.repositories]
    return size_chart(
        usage.host, items, total=usage.total, reclaimable=usage.reclaimable,
        description=(f"{len(items)} repositories use {size(usage.total)} on "
                     f"{usage.host}; {size(usage.reclaimable)} of it is reclaimable."),
    )


def size_chart(host: str, items: list[SizedItem], *, total: int, reclaimable: int,
               description: str) -> DiskChart:
    """Lay out ``items`` (largest first) as bars scaled to the largest one; past
    :data:`MAX_BARS` they are only in the table."""
    shown = items[:MAX_BARS]
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    largest = max((r.size for r in shown), default=0) or 1
    bars = []
    for i, r in enumerate(shown):
        y = GAP + i * (BAR_HEIGHT + GAP)
        whole = span * r.size / largest
        free = min(span * r.reclaimable / largest, whole)
        bars.append(Bar(
            repository=r.name, label=_shorten(r.name), images=r.count,
            size=size(r.size), reclaimable=size(r.reclaimable), y=y,
            text_y=y + BAR_HEIGHT - 5, used_width=round(whole - free, 1),
            free_x=round(LABEL_WIDTH + whole - free, 1), free_width=round(free, 1),
            value_x=round(LABEL_WIDTH + whole + 6, 1),
        ))
    return DiskChart(
        host=host, total=size(total), reclaimable=size(reclaimable),
        bars=bars, hidden=max(len(items) - MAX_BARS, 0),
        table=[(r.name, r.count, size(r.size), size(r.reclaimable)) for r in items],
        height=GAP + len(bars) * (BAR_HEIGHT + GAP), width=WIDTH, bar_x=LABEL_WIDTH,
        description=description,
    )
