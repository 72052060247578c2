"""Sortable list pages: the query string of a page's filters and sort, the links of its column
headers and their ``aria-sort`` (the images and volumes pages)."""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlencode

__all__ = ["SortableQuery"]


class SortableQuery:
    """Mixed into a list page's frozen query dataclass, which has a ``sort`` field and names its
    page, its default sort and its filter fields (empty values are left out of links)."""

    __slots__ = ()

    PAGE: ClassVar[str]
    DEFAULT_SORT: ClassVar[str]
    FILTERS: ClassVar[tuple[str, ...]]
    # Sizes, dates and counts start largest/newest first; names start A to Z.
    DESCENDING_FIRST: ClassVar[frozenset[str]] = frozenset({"size", "created", "containers"})

    sort: str

    def encoded(self, *, sort: str | None = None) -> str:
        """The filters and sort as a query string (without ``?``), defaults left out."""
        pairs = {name: getattr(self, name) for name in self.FILTERS}
        chosen = self.sort if sort is None else sort
        if chosen != self.DEFAULT_SORT:
            pairs["sort"] = chosen
        return urlencode({k: v for k, v in pairs.items() if v})

    def sort_href(self, column: str) -> str:
        """A column header's link: sort by it, or reverse the order when it is the sort."""
        if self.sort.removeprefix("-") == column:
            target = column if self.sort.startswith("-") else f"-{column}"
        else:
            target = f"-{column}" if column in self.DESCENDING_FIRST else column
        query = self.encoded(sort=target)
        return f"{self.PAGE}?{query}" if query else self.PAGE

    def aria_sort(self, column: str) -> str:
        """``aria-sort`` of a column header."""
        if self.sort.removeprefix("-") != column:
            return "none"
        return "descending" if self.sort.startswith("-") else "ascending"
