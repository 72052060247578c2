"""The streaming tar header reader against archives written by Python's tarfile (ustar, PAX with
long and non-ASCII names, GNU long names), delivered in odd chunk sizes; and its refusals:
truncated streams, bad checksums, limits."""

from __future__ import annotations

import io
import tarfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from chrontainer_core.volumes.tarstream import (
    TarKind,
    TarLimitReached,
    TarStreamError,
    read_member,
    tar_headers,
)

LONG = "deep/" + "d" * 120 + "/" + "ünïcødé-" + "x" * 110 + ".txt"
MTIME = 1_700_000_000


def _archive(fmt: int, *, long_names: bool = True) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        def add(name: str, data: bytes | None = None, **kw: object) -> None:
            info = tarfile.TarInfo(name)
            info.mtime, info.mode = MTIME, 0o640
            for k, v in kw.items():
                setattr(info, k, v)
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)

        add("./", type=tarfile.DIRTYPE, mode=0o755)
        add("./a.txt", b"hello\n")
        add("./sub", type=tarfile.DIRTYPE)
        add("./sub/big.bin", bytes(range(256)) * 5 + b"tail")  # 1284 bytes: odd padding
        add("./link", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        add("./hard", type=tarfile.LNKTYPE, linkname="./a.txt")
        add("./fifo", type=tarfile.FIFOTYPE)
        if long_names:
            add("./" + LONG, b"long one")
            add("./longlink", type=tarfile.SYMTYPE, linkname="t" * 150)
        add("./empty.log", b"")
    return buffer.getvalue()


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def _headers(data: bytes, size: int, **kw: int) -> list:  # type: ignore[type-arg]
    return [h async for h in tar_headers(_chunks(data, size), **kw)]


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
@pytest.mark.parametrize("chunk", [1, 7, 511, 513, 65536])
async def test_headers_of_every_format_in_any_chunking(fmt: int, chunk: int) -> None:
    data = _archive(fmt, long_names=fmt != tarfile.USTAR_FORMAT)
    headers = await _headers(data, chunk)
    by_name = {h.name: h for h in headers}
    expected = ["./a.txt", "./sub", "./sub/big.bin", "./link", "./hard", "./fifo"]
    if fmt != tarfile.USTAR_FORMAT:
        expected += ["./" + LONG, "./longlink"]
    expected.append("./empty.log")
    assert [h.name for h in headers] == [".", *expected]
    assert by_name["./a.txt"].kind is TarKind.FILE and by_name["./a.txt"].size == 6
    assert by_name["./a.txt"].mtime == datetime.fromtimestamp(MTIME, UTC)
    assert by_name["./a.txt"].mode == 0o640
    assert by_name["./sub"].kind is TarKind.DIR and by_name["./sub"].size == 0
    assert by_name["./sub/big.bin"].size == 1284
    assert by_name["./link"].kind is TarKind.SYMLINK
    assert by_name["./link"].link_target == "/etc/passwd"
    assert by_name["./hard"].kind is TarKind.HARDLINK
    assert by_name["./hard"].link_target == "./a.txt"
    assert by_name["./fifo"].kind is TarKind.OTHER
    assert by_name["./empty.log"].size == 0 and by_name["./empty.log"].link_target is None
    if fmt != tarfile.USTAR_FORMAT:
        assert by_name["./" + LONG].size == 8
        assert by_name["./longlink"].link_target == "t" * 150


async def test_ustar_prefix_joins_long_paths() -> None:
    name = "p" * 90 + "/" + "q" * 90 + "/file.txt"  # > 100 chars: split into prefix + name
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    assert buffer.getvalue()[345] != 0  # the prefix field is really used
    assert [h.name for h in await _headers(buffer.getvalue(), 100)] == [name]


async def test_pax_size_and_mtime_override_and_global_headers_are_ignored() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers={"comment": "global"}) as tar:
        info = tarfile.TarInfo("f.txt")
        info.size = 4
        info.pax_headers = {"mtime": "1700000000.5"}
        tar.addfile(info, io.BytesIO(b"data"))
    headers = await _headers(buffer.getvalue(), 13)
    assert [h.name for h in headers] == ["f.txt"]
    assert headers[0].mtime == datetime.fromtimestamp(1700000000.5, UTC)


async def test_bad_checksum_is_a_clear_error() -> None:
    data = bytearray(_archive(tarfile.USTAR_FORMAT, long_names=False))
    data[512 + 10] ^= 0x01  # a name byte of the second header, checksum unchanged
    with pytest.raises(TarStreamError, match="checksum"):
        await _headers(bytes(data), 512)


async def test_not_a_tar_is_refused() -> None:
    with pytest.raises(TarStreamError):
        await _headers(b"this is not a tar archive" * 40, 64)


@pytest.mark.parametrize("cut", [100, 512 * 3 + 5, 512 * 4])
async def test_a_stream_ending_early_is_an_error(cut: int) -> None:
    data = _archive(tarfile.PAX_FORMAT)
    with pytest.raises(TarStreamError, match="ends"):
        await _headers(data[:cut], 7)


async def test_the_end_marker_is_required() -> None:
    data = _archive(tarfile.USTAR_FORMAT, long_names=False)
    end = len(data.rstrip(b"\x00"))
    end += -end % 512  # just after the last member's padded content
    with pytest.raises(TarStreamError, match="end-of-archive"):
        await _headers(data[:end], 512)
    assert len(await _headers(data[:end + 1024], 512)) == 8


async def test_max_bytes_stops_while_skipping_a_member() -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, size in (("small", 10), ("huge", 100_000), ("after", 1)):
            info = tarfile.TarInfo(name)
            info.size = size
            tar.addfile(info, io.BytesIO(bytes(size)))
    seen: list[str] = []
    with pytest.raises(TarLimitReached):
        async for h in tar_headers(_chunks(buffer.getvalue(), 4096), max_bytes=50_000):
            seen.append(h.name)
    # The huge member's header is read (its size is known) before its content passes the limit.
    assert seen == ["small", "huge"]
    assert len(await _headers(buffer.getvalue(), 4096, max_bytes=len(buffer.getvalue()))) == 3


async def test_read_member_returns_the_first_bytes_only() -> None:
    payload = bytes(range(256)) * 40  # 10240 bytes
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("ünï.log")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    consumed: list[int] = []

    async def counting(data: bytes, size: int) -> AsyncIterator[bytes]:
        async for chunk in _chunks(data, size):
            consumed.append(len(chunk))
            yield chunk

    header, head = await read_member(counting(buffer.getvalue(), 7), 1000)
    assert header.name == "ünï.log" and header.size == len(payload)
    assert head == payload[:1000]
    assert sum(consumed) < 3 * 512 + 1000 + 7  # stopped right after the limit
    header, whole = await read_member(_chunks(buffer.getvalue(), 513), 1_000_000)
    assert whole == payload


async def test_read_member_of_an_empty_or_cut_archive() -> None:
    with pytest.raises(TarStreamError, match="empty"):
        await read_member(_chunks(bytes(1024), 512), 10)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("x.txt")
        info.size = 2000
        tar.addfile(info, io.BytesIO(bytes(2000)))
    with pytest.raises(TarStreamError, match="ends"):
        await read_member(_chunks(buffer.getvalue()[:1000], 100), 5000)
