"""Temporary files of a restore: the upload, spooled to disk as it arrives, and file streams
read back from disk, each read or write in a thread so the event loop never blocks."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import BinaryIO, Final

from ..errors import TooLarge

# Bytes per write while spooling and per read while streaming a file back: big enough to
# keep the thread hops few, small enough to keep memory flat.
WRITE_BATCH: Final = 1024 * 1024
READ_CHUNK: Final = 64 * 1024
PREFIX: Final = "chrontainer-restore-"


async def temp_file(directory: Path | None, suffix: str) -> tuple[BinaryIO, Path]:
    """A new temporary file, open for writing, in ``directory`` (made when missing; None: the
    system's temporary directory)."""
    def make() -> tuple[BinaryIO, Path]:
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=PREFIX, suffix=suffix, dir=directory)
        return os.fdopen(fd, "wb"), Path(name)

    return await asyncio.to_thread(make)


async def write_all(chunks: AsyncIterable[bytes], directory: Path | None, suffix: str, *,
                    limit: int | None = None) -> tuple[Path, int]:
    """Write ``chunks`` to a new temporary file; returns it and its size.

    The file is removed when this fails (cancellation included).

    Raises:
        TooLarge: More than ``limit`` bytes (``field="archive"``): reading stops at once.
    """
    file, path = await temp_file(directory, suffix)
    size = 0
    batch = bytearray()
    try:
        async for chunk in chunks:
            size += len(chunk)
            if limit is not None and size > limit:
                raise TooLarge(f"the upload is larger than the limit of {limit} bytes",
                               limit=limit, field="archive")
            batch += chunk
            if len(batch) >= WRITE_BATCH:
                data, batch = bytes(batch), bytearray()
                await asyncio.to_thread(file.write, data)
        await asyncio.to_thread(_finish, file, bytes(batch))
    except BaseException:
        file.close()
        path.unlink(missing_ok=True)
        raise
    return path, size


def _finish(file: BinaryIO, data: bytes) -> None:
    try:
        file.write(data)
    finally:
        file.close()


async def read_chunks(path: Path, *, head: bytes = b"",
                      progress: Callable[[int], None] | None = None) -> AsyncIterator[bytes]:
    """A file's bytes (after ``head``), in chunks read in a thread; ``progress`` is called
    with the bytes given so far before each chunk (a test's fault-injection seam)."""
    sent = 0
    if head:
        if progress is not None:
            progress(sent)
        sent += len(head)
        yield head
    file = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(file.read, READ_CHUNK):
            if progress is not None:
                progress(sent)
            sent += len(chunk)
            yield chunk
    finally:
        file.close()


def remove(*paths: Path | None) -> None:
    """Remove temporary files (those already gone are fine)."""
    for path in paths:
        if path is not None:
            path.unlink(missing_ok=True)
