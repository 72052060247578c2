"""The read-only volume file browser: directory listings and previews of text files.

Everything is read through a helper container that mounts the volume read-only
(``helper.py``) with the engine's archive API: a listing is the archive of the directory, read
as a stream of tar headers whose contents are skipped (``tarstream.py``); a preview is the
archive of one file, read up to :data:`PREVIEW_LIMIT` bytes. Nothing runs in the helper, and no
image comes from the internet.

No path escapes the volume: user paths are normalised and ``..`` is refused (``paths.py``), and
symbolic links are listed, never followed. The engine would resolve a link in a path's parent
directories inside the helper's root filesystem, which is not the volume, so every component of
a path is checked before anything is read.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final, Protocol

from ..errors import EngineError, InvalidInput, NotFound
from ..models import Volume
from . import paths
from .helper import Helper, VolumeHelpers
from .models import DirectoryListing, DirEntry, EntryKind, FilePreview
from .tarstream import (
    TarHeader,
    TarKind,
    TarLimitReached,
    TarStreamError,
    read_member,
    tar_headers,
)

if TYPE_CHECKING:
    from ..docker.archive import PathStat
    from ..docker.host import DockerHost
    from ..hosts import HostManager

MIB: Final = 1024 * 1024
PREVIEW_LIMIT: Final = 1_048_576
MAX_ENTRIES: Final = 10_000  # tar headers read for one listing
MAX_BYTES: Final = 512 * MIB  # archive bytes read for one listing
PREVIEW_SUFFIXES: Final = (".txt", ".log", ".conf", ".json", ".yaml", ".yml", ".xml", ".md",
                           ".sh", ".env", ".ini", ".toml")
# Go os.FileMode type bits (dir, symlink, device, named pipe, socket, char device, irregular):
# a regular file has none of them.
_GO_MODE_TYPE: Final = (1 << 31) | (1 << 27) | (1 << 26) | (1 << 25) | (1 << 24) | (1 << 21) \
    | (1 << 19)
_KINDS: Final = {TarKind.FILE: EntryKind.FILE, TarKind.DIR: EntryKind.DIRECTORY,
                 TarKind.SYMLINK: EntryKind.SYMLINK, TarKind.HARDLINK: EntryKind.HARDLINK,
                 TarKind.OTHER: EntryKind.OTHER}


class VolumeLookup(Protocol):
    """What the browser needs of the volume service: a volume by name (NotFound otherwise)."""

    async def inspect(self, host: str, name: str) -> Volume: ...


def previewable(name: str) -> bool:
    """A text file by its name's extension (case-insensitive; ``.env`` matches itself)."""
    return name.lower().endswith(PREVIEW_SUFFIXES)


@dataclass(slots=True)
class _Child:
    """A direct child of the listed directory, while the listing is read."""

    name: str
    kind: TarKind
    size: int = 0
    mtime: datetime | None = None
    link_target: str | None = None


class VolumeBrowser:
    """Lists directories and previews text files of volumes, read-only.

    Args:
        hosts: the runtime's hosts.
        volumes: looks a volume up (404 for an unknown one) before a helper mounts it: a
            helper mounting an unknown name would create that volume.
        helpers: the helper containers.
        max_entries: archive entries a listing reads before it stops as truncated.
        max_bytes: archive bytes a listing reads before it stops as truncated.
        preview_limit: bytes of a file a preview shows.
    """

    def __init__(self, hosts: HostManager, volumes: VolumeLookup, helpers: VolumeHelpers, *,
                 max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES,
                 preview_limit: int = PREVIEW_LIMIT) -> None:
        self._hosts = hosts
        self._volumes = volumes
        self._helpers = helpers
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.preview_limit = preview_limit

    async def browse(self, host: str, name: str, path: str = "") -> DirectoryListing:
        """The entries of a directory of a volume (``""``: its root), directories first.

        Directory sizes sum the files below them; the listing stops early, ``truncated``, after
        ``max_entries`` entries or ``max_bytes`` of archive read.

        Raises:
            NotFound: Unknown host, volume or path.
            InvalidInput: A bad path, one through a symbolic link, or not a directory.
            HostUnreachable: The engine did not answer.
        """
        path = paths.normalise(path)
        volume = await self._volumes.inspect(host, name)
        engine = self._hosts.get(host).host
        async with self._helpers.mount(engine, volume.name) as helper:
            if path:
                target = await self._walk(engine, helper, volume, path)
                if not target.is_dir:
                    raise InvalidInput(f"{path} is not a directory", field="path")
            source = f"{helper.root}/{path}/." if path else f"{helper.root}/."
            children, reason = await self._read_listing(engine, helper, source, volume, path)
        entries = [self._entry(path, c) for c in children.values()]
        entries.sort(key=lambda e: (e.kind is not EntryKind.DIRECTORY, e.name))
        return DirectoryListing(host=host, volume=volume.name, path=path,
                                entries=tuple(entries), truncated=reason is not None,
                                truncated_reason=reason)

    async def preview(self, host: str, name: str, path: str) -> FilePreview:
        """The beginning of a text file of a volume: up to ``preview_limit`` bytes as UTF-8
        (undecodable bytes replaced), ``truncated`` when the file is longer.

        Raises:
            NotFound: Unknown host, volume or path.
            InvalidInput: A bad path, one through a symbolic link, a directory, or a file
                without a text extension.
            HostUnreachable: The engine did not answer.
        """
        path = paths.normalise(path)
        if not path:
            raise InvalidInput("the volume's root is a directory, not a file", field="path")
        if not previewable(path.rsplit("/", 1)[-1]):
            raise InvalidInput(
                f"{path} is not a previewable text file (extensions: "
                f"{' '.join(PREVIEW_SUFFIXES)})", field="path")
        volume = await self._volumes.inspect(host, name)
        engine = self._hosts.get(host).host
        async with self._helpers.mount(engine, volume.name) as helper:
            target = await self._walk(engine, helper, volume, path)
            if target.mode & _GO_MODE_TYPE:
                raise InvalidInput(f"{path} is not a regular file", field="path")
            what = f"preview of {path} in volume {volume.name}"
            async with engine.get_archive(helper.container_id,
                                          f"{helper.root}/{path}") as chunks:
                try:
                    header, data = await read_member(chunks, self.preview_limit)
                except TarStreamError as err:
                    raise EngineError(f"host {host}: {what}: unreadable archive: {err}") from err
        if header.kind is not TarKind.FILE:
            raise InvalidInput(f"{path} is not a regular file", field="path")
        truncated = header.size > self.preview_limit
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # A cut inside a multi-byte character drops its first bytes instead of showing "?".
        content = decoder.decode(data, final=not truncated)
        return FilePreview(host=host, volume=volume.name, path=path, size=header.size,
                           mtime=target.mtime or header.mtime, content=content,
                           truncated=truncated, limit=self.preview_limit)

    async def _walk(self, engine: DockerHost, helper: Helper, volume: Volume,
                    path: str) -> PathStat:
        """Stat every component of ``path`` from the root down; refuse symbolic links.

        Returns the last component's stat.
        """
        stat: PathStat | None = None
        for prefix in paths.prefixes(path):
            try:
                stat = await engine.stat_path(helper.container_id, f"{helper.root}/{prefix}")
            except NotFound:
                raise NotFound(f"volume {volume.name} has no {path}",
                               details={"path": path}) from None
            if stat.is_symlink:
                raise InvalidInput(
                    f"{prefix} is a symbolic link (to {stat.link_target}); the browser does "
                    "not follow links", field="path")
        assert stat is not None  # path is not empty
        return stat

    async def _read_listing(self, engine: DockerHost, helper: Helper, source: str,
                            volume: Volume, path: str) -> tuple[dict[str, _Child], str | None]:
        """The direct children seen in the archive of ``source`` and why it stopped early."""
        children: dict[str, _Child] = {}
        reason: str | None = None
        count = 0
        async with engine.get_archive(helper.container_id, source) as chunks:
            try:
                async for header in tar_headers(chunks, max_bytes=self.max_bytes):
                    count += 1
                    if count > self.max_entries:
                        reason = f"more than {self.max_entries} entries"
                        break
                    _add(children, header)
            except TarLimitReached:
                reason = f"more than {self.max_bytes // MIB} MiB below this directory"
            except TarStreamError as err:
                raise EngineError(f"host {engine.slug}: listing of {path or '/'} in volume "
                                  f"{volume.name}: unreadable archive: {err}") from err
        return children, reason

    @staticmethod
    def _entry(parent: str, child: _Child) -> DirEntry:
        kind = _KINDS[child.kind]
        return DirEntry(name=child.name, path=paths.join(parent, child.name), kind=kind,
                        size=child.size, mtime=child.mtime, link_target=child.link_target,
                        previewable=kind is EntryKind.FILE and previewable(child.name))


def _add(children: dict[str, _Child], header: TarHeader) -> None:
    """Account one archive entry (``./x`` or ``./x/y/...``) to the direct child ``x``."""
    parts = [p for p in header.name.split("/") if p not in ("", ".")]
    if not parts:
        return  # the listed directory itself
    child = children.get(parts[0])
    if len(parts) == 1:
        if child is None:
            child = children[parts[0]] = _Child(name=parts[0], kind=header.kind)
        child.kind, child.mtime = header.kind, header.mtime
        child.link_target = header.link_target
        if header.kind is not TarKind.DIR:
            child.size = header.size
        return
    if child is None:
        # Only when the directory's own header was not in the stream (never with the engine).
        child = children[parts[0]] = _Child(name=parts[0], kind=TarKind.DIR)
    if header.kind is TarKind.FILE:
        child.size += header.size
