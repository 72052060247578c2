"""Volume backup and restore on the real engines: byte-identical round trips (also across
hosts), replace after confirmation, bad archives and failures changing nothing, running users
refused or stopped and started again, the upload limit, concurrent restores."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chrontainer_core import Chrontainer
from chrontainer_core.errors import Busy, Conflict, EngineError, InvalidInput, TooLarge
from chrontainer_core.volumes.backups import VolumeBackups

from .. import live
from ..live import TEST_LABEL, Engine, docker, run_container, unique, wait_for

pytestmark = pytest.mark.live

MIB = 1024 * 1024
# Files, a nested and an empty directory, modes, owners, a relative symlink, a hard link, a
# name with spaces, and 3 MiB of random bytes (so a replace streams several chunks).
FILL = (
    "mkdir -p /d/conf/deep /d/empty && echo 'a: 1' > /d/conf/app.yml && "
    "echo secret > /d/conf/deep/key && chmod 600 /d/conf/deep/key && "
    "chown 1000:1000 /d/conf/deep/key && "
    "dd if=/dev/urandom of=/d/blob bs=1048576 count=3 2>/dev/null && "
    "ln -s ../blob /d/conf/blob-link && ln /d/conf/app.yml /d/hard && "
    "echo spaced > '/d/with space.txt' && chmod 750 /d/conf"
)
# Every path with its type, mode and owner; link targets; files' checksums and times.
FINGERPRINT = (
    "cd /d && find . | sort | while read -r p; do stat -c '%n %F %a %u %g' \"$p\"; "
    "if [ -L \"$p\" ]; then echo \"  -> $(readlink \"$p\")\"; "
    "elif [ -f \"$p\" ]; then echo \"  $(md5sum < \"$p\") $(stat -c %Y \"$p\")\"; fi; done"
)


async def make_volume(engine: Engine, name: str | None = None) -> str:
    name = name or unique("ctvol")
    await docker(engine, "volume", "create", "--label", f"{TEST_LABEL}=1", name)
    return name


async def sh(engine: Engine, volume: str, script: str) -> str:
    """Run a throwaway labelled container with ``volume`` at /d."""
    return await docker(engine, "run", "--rm", "--label", f"{TEST_LABEL}=1", "--network",
                        "none", "-v", f"{volume}:/d", live.test_image(), "sh", "-c", script)


async def fingerprint(engine: Engine, volume: str) -> str:
    return await sh(engine, volume, FINGERPRINT)


async def exists(engine: Engine, volume: str) -> bool:
    return bool(await docker(engine, "volume", "ls", "-q", "--filter", f"name=^{volume}$"))


async def helpers_of(engine: Engine, volume: str) -> str:
    return await docker(engine, "ps", "-aq", "--filter", f"label=chrontainer.volume={volume}")


async def no_helpers(engine: Engine, *volumes: str) -> None:
    for v in volumes:
        assert await helpers_of(engine, v) == "", f"a helper of {v} was left"


def leftovers(spool: Path) -> list[Path]:
    """The files left in the spool directory."""
    return list(spool.iterdir()) if spool.exists() else []


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    return tmp_path / "spool"


def backups_of(ch: Chrontainer, spool: Path, *, upload: int = 64 * MIB,
               expanded: int = 256 * MIB, fail_after: object = None) -> VolumeBackups:
    return VolumeBackups(ch.hosts, ch.audit, ch.volumes, ch._volume_helpers,
                         containers=ch.containers, limits=lambda: (upload, expanded),
                         spool_dir=spool, fail_after=fail_after)  # type: ignore[arg-type]


async def chunks_of(data: bytes, size: int = 100_000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


async def backup_bytes(b: VolumeBackups, host: str, name: str) -> bytes:
    async with b.backup(host, name) as backup:
        assert backup.filename.startswith(f"{name}-{host}-")
        assert backup.filename.endswith(".tar.gz")
        return b"".join([c async for c in backup.chunks])


def crafted(*entries: tuple[str, str, str]) -> bytes:
    """A .tar.gz of a valid file then ``entries`` (name, kind f/s/c, payload or target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        ok = tarfile.TarInfo("./fine.txt")
        ok.size = 4
        tar.addfile(ok, io.BytesIO(b"fine"))
        for name, kind, payload in entries:
            info = tarfile.TarInfo(name)
            if kind == "f":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload.encode()))
                continue
            info.type = tarfile.SYMTYPE if kind == "s" else tarfile.CHRTYPE
            info.linkname = payload
            tar.addfile(info)
    return buffer.getvalue()


async def test_backup_then_restore_gives_byte_identical_volumes(
        library: Chrontainer, local_engine: Engine, remote_engine: Engine, spool: Path) -> None:
    source = await make_volume(local_engine)
    await sh(local_engine, source, FILL)
    expected = await fingerprint(local_engine, source)
    assert "conf/blob-link" in expected and "1000 1000" in expected
    b = backups_of(library, spool)
    archive = await backup_bytes(b, "local", source)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        names = tar.getnames()
    assert "./blob" in names and "./conf/deep/key" in names

    # Into a new volume on the same engine, and on the other engine.
    copy = unique("ctvol-copy")
    result = await b.restore("local", copy, chunks_of(archive))
    try:
        assert (result.created, result.replaced, result.stopped) == (True, False, ())
        assert result.entries == len(names) and result.bytes >= 3 * MIB
        assert await fingerprint(local_engine, copy) == expected
    finally:
        await docker(local_engine, "volume", "rm", copy, check=False)
    remote_copy = unique("ctvol-copy")
    try:
        await b.restore("remote", remote_copy, chunks_of(archive))
        assert await fingerprint(remote_engine, remote_copy) == expected
    finally:
        await docker(remote_engine, "volume", "rm", remote_copy, check=False)
    await no_helpers(local_engine, source, copy)
    await no_helpers(remote_engine, remote_copy)
    assert leftovers(spool) == []


async def test_replace_needs_confirmation_and_makes_the_contents_equal_the_archive(
        library: Chrontainer, local_engine: Engine, spool: Path) -> None:
    source, target = await make_volume(local_engine), await make_volume(local_engine)
    await sh(local_engine, source, FILL)
    # Things the archive does not have must go; a file where the archive has a directory
    # and a directory where it has a file must become what the archive says.
    await sh(local_engine, target, "mkdir -p /d/old/dir /d/blob && echo x > /d/old/dir/f && "
                                   "echo not-a-dir > /d/conf && echo old > /d/hard")
    before = await fingerprint(local_engine, target)
    b = backups_of(library, spool)
    archive = await backup_bytes(b, "local", source)

    for confirm in (None, "another-name"):
        with pytest.raises(Conflict) as caught:
            await b.restore("local", target, chunks_of(archive), confirm=confirm)
        assert caught.value.details == {"confirm": target}
        assert await fingerprint(local_engine, target) == before

    result = await b.restore("local", target, chunks_of(archive), confirm=target)
    assert (result.created, result.replaced) == (False, True)
    assert await fingerprint(local_engine, target) == await fingerprint(local_engine, source)
    await no_helpers(local_engine, source, target)
    assert leftovers(spool) == []


@pytest.mark.parametrize(("archive", "why"), [
    (crafted(("../escape.txt", "f", "x")), "'..'"),
    (crafted(("./a/../b.txt", "f", "x")), "'..'"),
    (crafted(("/abs.txt", "f", "x")), "absolute"),
    (crafted(("./out", "s", "/etc/passwd")), "outside"),
    (crafted(("./out", "s", "../../../../etc")), "outside"),
    (crafted(("./dev", "c", "")), "device"),
], ids=["traversal", "dotdot-inside", "absolute", "absolute-link", "outside-link", "device"])
async def test_crafted_archives_are_refused_with_nothing_written(
        library: Chrontainer, local_engine: Engine, spool: Path, archive: bytes,
        why: str) -> None:
    target = await make_volume(local_engine)
    await sh(local_engine, target, "echo keep > /d/keep")
    before = await fingerprint(local_engine, target)
    b = backups_of(library, spool)
    with pytest.raises(InvalidInput) as caught:
        await b.restore("local", target, chunks_of(archive), confirm=target)
    assert caught.value.field == "archive" and why in caught.value.message
    assert await fingerprint(local_engine, target) == before
    fresh = unique("ctvol-new")
    with pytest.raises(InvalidInput):
        await b.restore("local", fresh, chunks_of(archive))
    assert not await exists(local_engine, fresh)
    await no_helpers(local_engine, target, fresh)
    assert leftovers(spool) == []


async def test_a_truncated_archive_leaves_the_old_contents_intact(
        library: Chrontainer, local_engine: Engine, spool: Path) -> None:
    source, target = await make_volume(local_engine), await make_volume(local_engine)
    await sh(local_engine, source, FILL)
    await sh(local_engine, target, "echo keep > /d/keep && mkdir /d/dir")
    before = await fingerprint(local_engine, target)
    b = backups_of(library, spool)
    plain = gzip.decompress(await backup_bytes(b, "local", source))
    # Cut right after a complete member (no end marker), and inside a file's data.
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        members = tar.getmembers()
    after_member = members[2].offset_data + -(-members[2].size // 512) * 512
    for data in (gzip.compress(plain[:after_member]), gzip.compress(plain[:len(plain) // 2]),
                 gzip.compress(plain)[:-100]):
        with pytest.raises(InvalidInput, match="damaged or truncated"):
            await b.restore("local", target, chunks_of(data), confirm=target)
        assert await fingerprint(local_engine, target) == before
    assert leftovers(spool) == []


async def test_a_failure_midway_puts_the_old_contents_back(
        library: Chrontainer, local_engine: Engine, spool: Path) -> None:
    source, target = await make_volume(local_engine), await make_volume(local_engine)
    await sh(local_engine, source, FILL)
    await sh(local_engine, target, "mkdir -p /d/x/y && echo keep > /d/x/y/keep && "
                                   "ln -s x/y/keep /d/link && chmod 700 /d/x && "
                                   "dd if=/dev/urandom of=/d/old bs=1048576 count=2 2>/dev/null")
    before = await fingerprint(local_engine, target)
    archive = await backup_bytes(backups_of(library, spool), "local", source)
    sent: list[int] = []

    def fail_after(so_far: int) -> None:
        sent.append(so_far)
        if so_far > 2 * MIB:  # the old tree is gone and part of the new one written by now
            raise EngineError("injected failure")

    b = backups_of(library, spool, fail_after=fail_after)
    with pytest.raises(EngineError, match="old contents were put back"):
        await b.restore("local", target, chunks_of(archive), confirm=target)
    assert sent[-1] > 2 * MIB
    assert await fingerprint(local_engine, target) == before
    await no_helpers(local_engine, target)
    assert leftovers(spool) == []


async def test_a_running_user_is_refused_unless_stopped_for_the_restore(
        library: Chrontainer, local_engine: Engine, spool: Path) -> None:
    source, target = await make_volume(local_engine), await make_volume(local_engine)
    await sh(local_engine, source, "echo new > /d/new")
    _, user = await run_container(local_engine, options=("-v", f"{target}:/data"))
    b = backups_of(library, spool)
    archive = await backup_bytes(b, "local", source)
    before = await fingerprint(local_engine, target)
    with pytest.raises(Conflict) as caught:
        await b.restore("local", target, chunks_of(archive), confirm=target)
    assert caught.value.details == {"containers": [user]} and user in caught.value.message
    assert await fingerprint(local_engine, target) == before

    result = await b.restore("local", target, chunks_of(archive), confirm=target,
                             stop_containers=True)
    assert result.stopped == (user,)
    assert await fingerprint(local_engine, target) == await fingerprint(local_engine, source)

    async def running() -> bool:
        doc = json.loads(await docker(local_engine, "inspect", user))[0]
        return bool(doc["State"]["Running"])

    await wait_for(running, timeout=30, what=f"{user} running again")
    assert (await docker(local_engine, "exec", user, "cat", "/data/new")) == "new"


async def test_the_upload_limit_and_concurrent_restores(
        library: Chrontainer, local_engine: Engine, spool: Path) -> None:
    name = unique("ctvol-new")
    small = backups_of(library, spool, upload=1 * MIB)
    read: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        while True:
            read.append(1)
            yield bytes(256 * 1024)

    with pytest.raises(TooLarge) as caught:
        await small.restore("local", name, endless())
    assert caught.value.details["limit"] == MIB
    assert len(read) == 5  # reading stopped at the first chunk over the limit
    assert not await exists(local_engine, name)
    assert leftovers(spool) == []

    # The expanded size is limited too (a small gzip of many zeros).
    bomb = io.BytesIO()
    with tarfile.open(fileobj=bomb, mode="w:gz") as tar:
        info = tarfile.TarInfo("zeros")
        info.size = 4 * MIB
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    tight = backups_of(library, spool, expanded=2 * MIB)
    with pytest.raises(TooLarge):
        await tight.restore("local", name, chunks_of(bomb.getvalue()))
    assert not await exists(local_engine, name)

    # A second restore of a volume while one runs is refused as busy.
    b = backups_of(library, spool)
    release = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        await release.wait()
        yield bomb.getvalue()

    first = asyncio.create_task(b.restore("local", name, slow()))
    await wait_for(lambda: bool(leftovers(spool)), what="the first restore spooling")
    with pytest.raises(Busy):
        await b.restore("local", name, chunks_of(bomb.getvalue()))
    release.set()
    try:
        assert (await first).created
        assert await sh(local_engine, name, "stat -c %s /d/zeros") == str(4 * MIB)
    finally:
        await docker(local_engine, "volume", "rm", name, check=False)
