"""What the volume services return besides :class:`~chrontainer_core.models.Volume`."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from ..models import HostState, Volume


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeListing:
    """A cross-host volume list and each host's status (the container listing's envelope)."""

    items: list[Volume]
    hosts: dict[str, HostState]


class EntryKind(enum.StrEnum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    OTHER = "other"  # device, fifo, socket


@dataclass(frozen=True, slots=True, kw_only=True)
class DirEntry:
    """One entry of a directory listing."""

    name: str
    path: str  # from the volume's root, "/" separated, no leading slash ("conf/app.yml")
    kind: EntryKind
    # A file's size; a directory's is the sum of the files below it that the listing read
    # (a lower bound when the listing was truncated).
    size: int
    mtime: datetime | None
    link_target: str | None = None  # symlinks and hard links
    previewable: bool = False  # a text file by its extension (see browser.PREVIEW_SUFFIXES)


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectoryListing:
    """A directory of a volume: its entries (directories first, then by name)."""

    host: str
    volume: str
    path: str  # "" is the volume's root
    entries: tuple[DirEntry, ...]
    # True when the listing stopped early (too many entries or bytes below the directory);
    # ``truncated_reason`` then says which limit, for the "listing truncated" notice.
    truncated: bool = False
    truncated_reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FilePreview:
    """The beginning of a text file of a volume."""

    host: str
    volume: str
    path: str
    size: int
    mtime: datetime | None
    content: str  # UTF-8, undecodable bytes replaced
    truncated: bool  # the file is larger than ``limit``: only its first ``limit`` bytes
    limit: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreResult:
    """What a restore did."""

    host: str
    volume: str
    created: bool  # a new volume was made for it
    replaced: bool  # an existing volume's contents were replaced
    entries: int  # archive entries written
    bytes: int  # file bytes written
    stopped: tuple[str, ...] = ()  # containers stopped for it (started again afterwards)
