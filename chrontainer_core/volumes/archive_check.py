"""Validation of a volume archive before a restore writes anything (pure; runs in a thread).

An archive is accepted only when every entry stays inside the volume and the whole archive is
intact, because the engine extracts entry by entry: a bad entry found halfway would leave a
half-written volume. So the whole file is read first:

- names: relative, no ``..`` component (even ``a/../b``, which would stay inside), no NUL;
  a leading ``./`` is the volume's root (``.`` is the root directory itself);
- types: regular files, directories, symbolic and hard links; no devices, fifos, sparse files;
- symbolic links: a relative target that, resolved from the link's directory and through the
  archive's other links (they are the volume's only links afterwards), stays inside;
- hard links: to an earlier regular member;
- limits: the total of the file sizes and the number of entries;
- integrity: a gzip stream with its checksum, a tar with its end-of-archive blocks. Python's
  ``tarfile`` takes an archive cut at a block boundary as complete, so the reader below counts
  the bytes itself and the end marker is checked after the last member.
"""

from __future__ import annotations

import tarfile
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from ..errors import InvalidInput, TooLarge

MAX_ENTRIES: Final = 1_000_000
# Symbolic links followed while resolving one target before giving up (as Linux's ELOOP).
_MAX_HOPS: Final = 40
_BLOCK: Final = tarfile.BLOCKSIZE
_READ: Final = 1024 * 1024
_GZIP_MAGIC: Final = b"\x1f\x8b"
_TAIL: Final = 64 * 1024
FIELD: Final = "archive"


@dataclass(frozen=True, slots=True, kw_only=True)
class ArchiveSummary:
    """What a valid archive holds."""

    entries: int
    bytes: int  # the sum of its regular files' sizes
    compressed: bool  # gzip (else a plain tar)


class TarSource:
    """A binary file read as the tar stream it holds: gunzipped when it is gzip.

    Counts the tar bytes it gave out and checks each gzip member's checksum and length
    (``zlib`` does, with ``wbits=31``); concatenated gzip members are read one after another.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        head = raw.read(2)
        self.compressed = head == _GZIP_MAGIC
        self._pending = head  # raw bytes not yet given to the decompressor
        self._inflate: zlib._Decompress | None = zlib.decompressobj(31) if self.compressed \
            else None
        self._out = bytearray()
        self._raw_eof = False
        self.total = 0
        # The last bytes given out (tarfile reads a 10 KiB record at a time): where the end
        # marker is checked after the last member.
        self._tail = bytearray()

    def _fill(self) -> None:
        data = self._pending or self._raw.read(_READ)
        self._pending = b""
        if not data:
            self._raw_eof = True
            return
        if self._inflate is None:
            self._out += data
            return
        while data:
            if self._inflate.eof:
                # The next gzip member (pigz, concatenated files); trailing NULs are padding.
                if not data.strip(b"\x00"):
                    return
                self._inflate = zlib.decompressobj(31)
            self._out += self._inflate.decompress(data)
            data = self._inflate.unused_data

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self._out) < size) and not self._raw_eof:
            self._fill()
        if size < 0:
            size = len(self._out)
        chunk = bytes(self._out[:size])
        del self._out[:size]
        self.total += len(chunk)
        self._tail += chunk
        del self._tail[:-_TAIL]
        return chunk

    def block_at(self, offset: int, size: int) -> bytes:
        """``size`` bytes from ``offset`` of the tar stream (recently read, or next)."""
        if self.total < offset + size:
            self.read(offset + size - self.total)
        start = offset - (self.total - len(self._tail))
        if start < 0:
            raise EOFError("the tar stream cannot be checked at its end")
        return bytes(self._tail[start:start + size])

    def drain(self) -> None:
        """Read to the end (the gzip trailer is checked when the stream ends)."""
        while self.read(_READ):
            pass
        if self._inflate is not None and not self._inflate.eof:
            raise EOFError("the gzip stream ends early")


def normalise(name: str) -> str:
    """A member name relative to the volume's root, "" for the root itself.

    Raises:
        InvalidInput: An absolute name, a ``..`` component or a NUL.
    """
    if "\x00" in name:
        raise _invalid(name, "has a NUL character")
    if name.startswith("/"):
        raise _invalid(name, "is an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _invalid(name, "has a '..' component")
    return "/".join(parts)


def check_archive(path: Path, *, max_bytes: int, max_entries: int = MAX_ENTRIES
                  ) -> ArchiveSummary:
    """Read a whole archive (gzip or plain tar) and check every entry; see the module docstring.

    Args:
        path: The archive file.
        max_bytes: The most file bytes it may expand to.
        max_entries: The most entries it may have.

    Raises:
        InvalidInput: ``field="archive"``: an entry would escape the volume or is of a
            forbidden type (the message names it), or the archive is damaged or truncated.
        TooLarge: More file bytes or entries than allowed.
    """
    with path.open("rb") as raw:
        plain = TarSource(raw)
        try:
            entries, size, links = _members(plain, max_bytes=max_bytes, max_entries=max_entries)
        except (EOFError, tarfile.TarError, zlib.error, OSError, UnicodeError) as err:
            raise InvalidInput(f"the archive is damaged or truncated: {err}",
                               field=FIELD) from err
    for link, target in links.items():
        if _escapes(link, target, links):
            raise _invalid(link, f"is a link pointing outside the volume ({target})")
    return ArchiveSummary(entries=entries, bytes=size, compressed=plain.compressed)


def _members(plain: TarSource, *, max_bytes: int, max_entries: int
             ) -> tuple[int, int, dict[str, str]]:
    entries = size = 0
    links: dict[str, str] = {}  # symbolic links: normalised name -> target
    files: set[str] = set()  # regular members so far, for hard link targets
    with tarfile.open(fileobj=plain, mode="r|", errorlevel=2) as tar:  # type: ignore[call-overload]
        for member in tar:
            entries += 1
            if entries > max_entries:
                raise TooLarge(f"the archive has more than {max_entries} entries",
                               limit=max_entries, field=FIELD)
            name = normalise(member.name)
            _check_type(member, name)
            if member.issym():
                target = member.linkname
                if "\x00" in target or target.startswith("/"):
                    raise _invalid(member.name, f"is a link pointing outside the volume "
                                                f"({target})")
                links[name] = target
            elif member.islnk():
                target = normalise(member.linkname)
                if target not in files:
                    raise _invalid(member.name, f"is a hard link to {member.linkname}, which "
                                                "is not an earlier file of the archive")
            elif member.isreg():
                files.add(name)
                size += member.size
                if size > max_bytes:
                    raise TooLarge(f"the archive expands to more than {max_bytes} bytes "
                                   f"(at {member.name})", limit=max_bytes, field=FIELD)
        end = tar.offset  # where the header after the last member starts
    # tarfile stops quietly at the end of the data and at a damaged header after the first
    # member: demand the two zero blocks every tar writer puts after the last member.
    if plain.block_at(end, 2 * _BLOCK) != bytes(2 * _BLOCK):
        raise EOFError(f"no end-of-archive marker after {entries} entries")
    plain.drain()
    return entries, size, links


def _check_type(member: tarfile.TarInfo, name: str) -> None:
    if member.issparse() or not (member.isreg() or member.isdir() or member.issym()
                                 or member.islnk()):
        kind = {tarfile.CHRTYPE: "a character device", tarfile.BLKTYPE: "a block device",
                tarfile.FIFOTYPE: "a fifo"}.get(member.type, "of an unsupported type")
        raise _invalid(member.name, f"is {kind}")
    if name == "" and not member.isdir():
        raise _invalid(member.name, "names the volume's root but is not a directory")


def _escapes(link: str, target: str, links: dict[str, str]) -> bool:
    """Whether a symbolic link leads outside the root, resolved as the kernel would (links in
    its own directory's path and in its target are followed); a loop leads nowhere."""
    pending = deque(link.split("/")[:-1] + target.split("/"))
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if not resolved:
                return True
            resolved.pop()
            continue
        resolved.append(part)
        hop = links.get("/".join(resolved))
        if hop is not None:
            hops += 1
            if hops > _MAX_HOPS:
                return False
            if hop.startswith("/"):
                return True
            resolved.pop()
            pending.extendleft(reversed(hop.split("/")))
    return False


def _invalid(name: str, why: str) -> InvalidInput:
    return InvalidInput(f"archive entry {name!r} {why}: nothing was written",
                        field=FIELD, details={"entry": name})
