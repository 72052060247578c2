"""The images page's disk-use chart: one horizontal bar per repository, as server-rendered SVG.

The CSP forbids ``style`` attributes, so every length is an SVG attribute computed here and
colours come from classes in ``static/images.css``. Each bar is the repository's total size; its
reclaimable part (what removing its unused images would free) is drawn in a second colour at the
bar's end. ``images_chart.html`` renders :class:`DiskChart` with a ``<title>``, a ``<desc>`` and a
table holding the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from chrontainer_core.models import ImageDiskUsage

from .dashboard_view import size

__all__ = ["MAX_BARS", "Bar", "DiskChart", "disk_chart"]

WIDTH: Final = 640  # the viewBox width; the SVG scales to its box
LABEL_WIDTH: Final = 200  # repository names, right-aligned before the bars
VALUE_WIDTH: Final = 90  # the size written after the longest bar
BAR_HEIGHT: Final = 18
GAP: Final = 8
LABEL_CHARS: Final = 28  # longer names are shortened (the full name is in the bar's <title>)
MAX_BARS: Final = 25  # the largest repositories; the rest are summed in a note


@dataclass(frozen=True, slots=True, kw_only=True)
class Bar:
    """One repository's bar; ``used_width + free_width`` is proportional to its size."""

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
    repos = list(usage.repositories)[:MAX_BARS]
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    largest = max((r.size for r in repos), default=0) or 1
    bars = []
    for i, r in enumerate(repos):
        y = GAP + i * (BAR_HEIGHT + GAP)
        whole = span * r.size / largest
        free = min(span * r.reclaimable / largest, whole)
        bars.append(Bar(
            repository=r.repository, label=_shorten(r.repository), images=r.images,
            size=size(r.size), reclaimable=size(r.reclaimable), y=y,
            text_y=y + BAR_HEIGHT - 5, used_width=round(whole - free, 1),
            free_x=round(LABEL_WIDTH + whole - free, 1), free_width=round(free, 1),
            value_x=round(LABEL_WIDTH + whole + 6, 1),
        ))
    return DiskChart(
        host=usage.host, total=size(usage.total), reclaimable=size(usage.reclaimable),
        bars=bars, hidden=max(len(usage.repositories) - MAX_BARS, 0),
        table=[(r.repository, r.images, size(r.size), size(r.reclaimable))
               for r in usage.repositories],
        height=GAP + len(bars) * (BAR_HEIGHT + GAP), width=WIDTH, bar_x=LABEL_WIDTH,
        description=(f"{len(usage.repositories)} repositories use {size(usage.total)} on "
                     f"{usage.host}; {size(usage.reclaimable)} of it is reclaimable."),
    )
