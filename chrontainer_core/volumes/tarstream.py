"""Reading tar archives as a stream of headers, without holding member contents.

The volume browser lists a directory from the engine's archive of it: a tar that can be as big
as the volume. :func:`tar_headers` reads the 512-byte headers as chunks arrive and skips every
member's content (counting the bytes and dropping them), so memory stays at one chunk whatever
the archive holds. :func:`read_member` reads the first member's content, up to a limit, for a
preview.

Formats: ustar (``name`` + ``prefix``), PAX extended headers (``x``: ``path``, ``linkpath``,
``size``, ``mtime`` of the next member; ``g`` global headers are skipped), GNU long names and
link names (``L``/``K``), base-256 numbers, and the old V7 convention of a directory being a
regular file whose name ends with ``/``. Every header's checksum is verified.

Pure: no I/O beyond the iterator it is given.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

BLOCK: Final = 512
# PAX and GNU long-name headers carry metadata, not contents: a few KiB in practice. Anything
# bigger is not a sane archive, and reading it would hold it in memory.
MAX_META_BYTES: Final = 1024 * 1024

_REGULAR: Final = frozenset(b"07\x00")  # regular, contiguous, old regular (NUL)
_HEADER_ONLY: Final = frozenset(b"123456")  # links, devices, directories, fifos
_KINDS: Final = {ord("1"): "hardlink", ord("2"): "symlink", ord("5"): "dir"}
_PAX: Final = ord("x")
_PAX_GLOBAL: Final = ord("g")
_GNU_LONGNAME: Final = ord("L")
_GNU_LONGLINK: Final = ord("K")
_POSIX_MAGIC: Final = b"ustar\x00"


class TarStreamError(Exception):
    """The stream is not a readable tar archive (bad checksum, corrupt header, ends early).

    Deliberately not a ``ValueError``: callers read inside engine connections that map those
    to engine errors.
    """


class TarLimitReached(Exception):
    """Reading further would pass the ``max_bytes`` the caller allowed."""


class TarKind(enum.StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    OTHER = "other"  # character/block device, fifo, GNU sparse, unknown types


@dataclass(frozen=True, slots=True, kw_only=True)
class TarHeader:
    """One archive member, as its (possibly extended) headers describe it."""

    name: str  # as in the archive ("./a/b"), trailing "/" of directories removed
    size: int  # content bytes that follow the header (0 for links and directories)
    mtime: datetime | None
    kind: TarKind
    link_target: str | None  # symbolic and hard links
    mode: int  # permission bits


class _Reader:
    """Exact reads and skips over an async iterator of chunks of any size."""

    def __init__(self, chunks: AsyncIterator[bytes], max_bytes: int | None) -> None:
        self._chunks = chunks
        self._buffer = bytearray()
        self._max = max_bytes
        self.consumed = 0  # bytes taken from the stream so far (read or skipped)

    def _take(self, n: int) -> None:
        if self._max is not None and self.consumed + n > self._max:
            raise TarLimitReached(f"more than {self._max} bytes")
        self.consumed += n

    async def _fill(self, n: int) -> bool:
        """At least ``n`` bytes buffered; False when the stream ended before."""
        while len(self._buffer) < n:
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                return False
            self._buffer += chunk
        return True

    async def read(self, n: int) -> bytes | None:
        """Exactly ``n`` bytes; None at a clean end (nothing left); an error if cut short."""
        if not await self._fill(n):
            if not self._buffer:
                return None
            raise TarStreamError("archive ends in the middle of a block")
        self._take(n)
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def read_some(self, n: int) -> bytes:
        """Up to ``n`` bytes (at least one), whatever is buffered or arrives next."""
        if not self._buffer and not await self._fill(1):
            raise TarStreamError("archive ends in the middle of a member")
        data = bytes(self._buffer[:n])
        self._take(len(data))
        del self._buffer[:len(data)]
        return data

    async def skip(self, n: int) -> None:
        """Drop ``n`` bytes without keeping them."""
        self._take(n)
        while n > 0:
            if not self._buffer and not await self._fill(1):
                raise TarStreamError("archive ends in the middle of a member")
            step = min(n, len(self._buffer))
            del self._buffer[:step]
            n -= step


def _padded(size: int) -> int:
    return -size % BLOCK


def _text(field: bytes) -> str:
    return field.split(b"\x00", 1)[0].decode("utf-8", "replace")


def _number(field: bytes, what: str) -> int:
    """A numeric header field: octal text, or GNU base-256 (first byte's high bit set)."""
    if field and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        if field[0] == 0xFF:  # negative (a pre-1970 mtime): two's complement
            value -= 1 << (8 * (len(field) - 1))
        return value
    text = field.split(b"\x00", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise TarStreamError(f"corrupt tar header: {what} is not a number") from None


def _check(block: bytes) -> None:
    stored = _number(block[148:156], "checksum")
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])
    # Some old writers summed signed chars.
    signed = unsigned - 256 * sum(1 for b in (*block[:148], *block[156:]) if b > 127)
    if stored not in (unsigned, signed):
        raise TarStreamError("corrupt tar header: bad checksum")


def _pax_records(data: bytes) -> dict[str, str]:
    """The ``length key=value\\n`` records of a PAX extended header."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space]) if space > pos else -1
        except ValueError:
            length = -1
        record = data[space + 1:pos + length]
        if length <= space - pos or not record.endswith(b"\n") or b"=" not in record:
            raise TarStreamError("corrupt PAX header: bad record")
        key, _, value = record[:-1].partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        pos += length
    return records


def _time(value: float) -> datetime | None:
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


async def _meta(reader: _Reader, size: int) -> bytes:
    if size > MAX_META_BYTES:
        raise TarStreamError(f"tar metadata header of {size} bytes: too large")
    data = await reader.read(size + _padded(size)) if size else b""
    if data is None:
        raise TarStreamError("archive ends in the middle of a member")
    return data[:size]


async def _next_header(reader: _Reader) -> TarHeader | None:
    """The next member's header (extended headers applied); None at the end of the archive."""
    pax: dict[str, str] = {}
    long_name: str | None = None
    long_link: str | None = None
    while True:
        block = await reader.read(BLOCK)
        if block is None:
            raise TarStreamError("archive ends without its end-of-archive marker")
        if block.count(0) == BLOCK:
            return None  # the first of the two zero blocks: nothing follows that matters
        _check(block)
        typeflag = block[156]
        size = _number(block[124:136], "size")
        if typeflag == _PAX:
            pax.update(_pax_records(await _meta(reader, size)))
            continue
        if typeflag == _PAX_GLOBAL:
            await _meta(reader, size)
            continue
        if typeflag in (_GNU_LONGNAME, _GNU_LONGLINK):
            value = _text(await _meta(reader, size))
            if typeflag == _GNU_LONGNAME:
                long_name = value
            else:
                long_link = value
            continue
        name = _text(block[0:100])
        if block[257:263] == _POSIX_MAGIC and block[345] != 0:
            name = _text(block[345:500]) + "/" + name
        name = pax.get("path", long_name if long_name is not None else name)
        link = pax.get("linkpath", long_link if long_link is not None else _text(block[157:257]))
        if "size" in pax:
            try:
                size = int(pax["size"])
            except ValueError:
                raise TarStreamError("corrupt PAX header: size is not a number") from None
        if size < 0:
            raise TarStreamError("corrupt tar header: negative size")
        if typeflag in _HEADER_ONLY:
            # No content follows these, whatever the size field says (as Go's and Python's
            # readers agree: a hard link's size is its target's).
            size = 0
        try:
            mtime = _time(float(pax["mtime"]) if "mtime" in pax
                          else _number(block[136:148], "mtime"))
        except ValueError:
            mtime = None
        if typeflag in _REGULAR:
            kind = TarKind.DIR if name.endswith("/") else TarKind.FILE
        else:
            kind = TarKind(_KINDS.get(typeflag, "other"))
        return TarHeader(
            name=name.rstrip("/") if len(name) > 1 else name,
            size=size,
            mtime=mtime,
            kind=kind,
            link_target=link if kind in (TarKind.SYMLINK, TarKind.HARDLINK) else None,
            mode=_number(block[100:108], "mode") & 0o7777,
        )


async def tar_headers(chunks: AsyncIterator[bytes], *,
                      max_bytes: int | None = None) -> AsyncIterator[TarHeader]:
    """The members' headers of the tar arriving as ``chunks``; contents are skipped.

    Args:
        chunks: the archive, in chunks of any size.
        max_bytes: stop (raise :class:`TarLimitReached`) rather than read more than this many
            bytes of the stream; a member whose content passes the limit is still yielded
            (its header is read), the error comes when its content would be skipped.

    Raises:
        TarStreamError: Not a tar, a bad checksum, or the stream ends early.
        TarLimitReached: ``max_bytes`` would be passed.
    """
    reader = _Reader(chunks, max_bytes)
    while (header := await _next_header(reader)) is not None:
        yield header
        await reader.skip(header.size + _padded(header.size))


async def read_member(chunks: AsyncIterator[bytes], limit: int) -> tuple[TarHeader, bytes]:
    """The first member of the tar arriving as ``chunks`` and its first ``limit`` content bytes.

    Reads no further than that: the caller closes the stream.

    Raises:
        TarStreamError: Not a tar, a bad checksum, an empty archive, or the stream ends early.
    """
    reader = _Reader(chunks, None)
    header = await _next_header(reader)
    if header is None:
        raise TarStreamError("empty archive")
    wanted = min(limit, header.size)
    parts: list[bytes] = []
    got = 0
    while got < wanted:
        part = await reader.read_some(wanted - got)
        parts.append(part)
        got += len(part)
    return header, b"".join(parts)
