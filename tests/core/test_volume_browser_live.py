"""The read-only volume file browser through the core against the real engines: listings with
sizes, times and link targets; previews (whole and truncated); every way out of the volume
refused (``..``, symbolic links in any component); limits that truncate a listing; no helper
container left behind, also after an error; and memory that stays flat while a listing skips a
300 MiB file.

Volumes are filled by a throwaway labelled busybox container; every volume is labelled.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chrontainer_core import Chrontainer
from chrontainer_core.errors import InvalidInput, NotFound
from chrontainer_core.volumes.browser import PREVIEW_LIMIT, VolumeBrowser
from chrontainer_core.volumes.models import EntryKind

from ..live import TEST_LABEL, Engine, docker, unique
from ..live import test_image as busybox_image

pytestmark = pytest.mark.live

MIB = 1024 * 1024
LONG = "n" * 150 + ".md"
UNICODE = "ünïcødé.txt"
# Built with busybox sh; names and sizes the tests check.
FILL = f"""
set -e
cd /v
mkdir -p sub/deeper empty many notes.txt
head -c 1000 /dev/zero > sub/a.txt
touch -d '2020-01-02 03:04:05' sub/a.txt
head -c 2500 /dev/zero > sub/deeper/b.bin
touch sub/{LONG}
yes 'a line of the log' | head -c {2 * MIB} > big.log
printf '{{"ok": true, "name": "\\303\\274"}}\\n' > conf.json
printf 'KEY=value\\n' > .env
head -c 300 /dev/urandom > data.bin
ln -s /etc/passwd passwd-link
ln -s /etc/hostname secret.txt
ln -s ../.. up
ln -s sub sublink
echo hi > '{UNICODE}'
for i in $(seq 1 60); do echo $i > many/f$i.txt; done
"""


async def fill_volume(engine: Engine, script: str = FILL) -> str:
    """A new labelled volume filled by ``script`` (run by busybox sh with it at /v)."""
    name = unique("ctvolb")
    await docker(engine, "volume", "create", "--label", f"{TEST_LABEL}=1", name)
    await docker(engine, "run", "--rm", "--label", f"{TEST_LABEL}=1",
                 *(["--network", engine.network] if engine.network else []),
                 "-v", f"{name}:/v", busybox_image(), "sh", "-c", script)
    return name


async def drop_volume(engine: Engine, name: str) -> None:
    await docker(engine, "volume", "rm", "-f", name, check=False)


async def helpers_of(engine: Engine, volume: str) -> list[str]:
    """Helper containers (any state) that mount ``volume``: none once a call returned."""
    out = await docker(engine, "ps", "-aq", "--filter", "label=chrontainer.helper",
                       "--filter", f"label=chrontainer.volume={volume}")
    return out.split()


@pytest.fixture(scope="module")
async def filled(clean_engines: None, local_engine: Engine) -> AsyncIterator[str]:
    name = await fill_volume(local_engine)
    try:
        yield name
    finally:
        await drop_volume(local_engine, name)


async def test_root_listing(library: Chrontainer, filled: str, local_engine: Engine) -> None:
    listing = await library.volume_browser.browse("local", filled)
    assert (listing.host, listing.volume, listing.path) == ("local", filled, "")
    assert not listing.truncated and listing.truncated_reason is None
    names = [e.name for e in listing.entries]
    assert names == ["empty", "many", "notes.txt", "sub",  # directories first, then by name
                     ".env", "big.log", "conf.json", "data.bin", "passwd-link", "secret.txt",
                     "sublink", "up", UNICODE]
    by = {e.name: e for e in listing.entries}
    assert by["sub"].kind is EntryKind.DIRECTORY and by["sub"].size == 3500  # files below
    assert by["empty"].size == 0 and by["many"].size > 60
    assert by["big.log"].kind is EntryKind.FILE and by["big.log"].size == 2 * MIB
    assert by["big.log"].previewable and by[".env"].previewable and by[UNICODE].previewable
    assert not by["data.bin"].previewable and not by["notes.txt"].previewable
    assert by["passwd-link"].kind is EntryKind.SYMLINK
    assert by["passwd-link"].link_target == "/etc/passwd"
    assert by["up"].link_target == "../.." and by["sublink"].link_target == "sub"
    assert not by["secret.txt"].previewable  # a link, whatever its name
    assert by["conf.json"].path == "conf.json"
    assert all(e.mtime is not None for e in listing.entries)
    assert await helpers_of(local_engine, filled) == []


async def test_subdirectories_absolute_paths_and_long_names(library: Chrontainer,
                                                            filled: str) -> None:
    browser = library.volume_browser
    sub = await browser.browse("local", filled, "/sub")
    assert sub.path == "sub"
    assert sub == await browser.browse("local", filled, "sub/")
    assert sub == await browser.browse("local", filled, "//./sub/.")
    assert [(e.name, e.path, e.kind, e.size) for e in sub.entries] == [
        ("deeper", "sub/deeper", EntryKind.DIRECTORY, 2500),
        ("a.txt", "sub/a.txt", EntryKind.FILE, 1000),
        (LONG, f"sub/{LONG}", EntryKind.FILE, 0),
    ]
    assert sub.entries[1].mtime == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    deeper = await browser.browse("local", filled, "sub/deeper")
    assert [(e.name, e.size, e.previewable) for e in deeper.entries] == [("b.bin", 2500, False)]
    empty = await browser.browse("local", filled, "empty")
    assert empty.entries == () and not empty.truncated
    assert (await browser.preview("local", filled, f"/sub/{LONG}")).content == ""


async def test_previews(library: Chrontainer, filled: str, local_engine: Engine) -> None:
    browser = library.volume_browser
    conf = await browser.preview("local", filled, "conf.json")
    assert json.loads(conf.content) == {"ok": True, "name": "ü"}
    assert not conf.truncated and conf.size == len(conf.content.encode())
    assert conf.limit == PREVIEW_LIMIT and conf.mtime is not None
    env = await browser.preview("local", filled, ".env")
    assert env.content == "KEY=value\n"
    assert (await browser.preview("local", filled, UNICODE)).content == "hi\n"
    big = await browser.preview("local", filled, "/big.log")
    assert big.truncated and big.size == 2 * MIB
    assert len(big.content) == PREVIEW_LIMIT  # ASCII: one character a byte
    assert big.content.startswith("a line of the log\na line")
    assert await helpers_of(local_engine, filled) == []


@pytest.mark.parametrize(("call", "path", "words"), [
    ("preview", "data.bin", "not a previewable"),
    ("preview", "sub", "not a previewable"),
    ("preview", "notes.txt", "not a regular file"),  # a directory with a text extension
    ("preview", "secret.txt", "symbolic link"),  # a link to the helper's /etc/hostname
    ("preview", "sublink/a.txt", "symbolic link"),  # through a link to a directory inside
    ("preview", "sub/../conf.json", ".."),
    ("preview", "../conf.json", ".."),
    ("preview", "", "directory"),
    ("browse", "up", "symbolic link"),  # ../..
    ("browse", "up/etc", "symbolic link"),
    ("browse", "passwd-link", "symbolic link"),
    ("browse", "sublink", "symbolic link"),
    ("browse", "sub/..", ".."),
    ("browse", "..", ".."),
    ("browse", "conf.json", "not a directory"),
    ("browse", "sub\x00x", "control"),
])
async def test_refusals(library: Chrontainer, filled: str, local_engine: Engine, call: str,
                        path: str, words: str) -> None:
    method = getattr(library.volume_browser, call)
    with pytest.raises(InvalidInput, match=words) as caught:
        await method("local", filled, path)
    assert caught.value.field == "path"
    assert await helpers_of(local_engine, filled) == []


async def test_unknown_volume_host_and_path(library: Chrontainer, filled: str,
                                            local_engine: Engine) -> None:
    browser = library.volume_browser
    missing = unique("ctvolb-missing")
    with pytest.raises(NotFound):
        await browser.browse("local", missing)
    with pytest.raises(NotFound):
        await browser.preview("local", missing, "a.txt")
    # The browser looks the volume up first: mounting an unknown name would create it.
    assert await docker(local_engine, "volume", "ls", "-q", "--filter",
                        f"name={missing}") == ""
    with pytest.raises(NotFound):
        await browser.browse("nohost", filled)
    with pytest.raises(NotFound, match="no nope"):
        await browser.browse("local", filled, "nope")
    with pytest.raises(NotFound):
        await browser.browse("local", filled, "sub/nope/deeper")
    with pytest.raises(NotFound):
        await browser.preview("local", filled, "sub/nope.txt")
    assert await helpers_of(local_engine, filled) == []


async def test_limits_truncate_the_listing(library: Chrontainer, filled: str,
                                           local_engine: Engine) -> None:
    few = VolumeBrowser(library.hosts, library.volumes, library._volume_helpers, max_entries=50)
    many = await few.browse("local", filled, "many")
    assert many.truncated and many.truncated_reason == "more than 50 entries"
    assert 40 <= len(many.entries) <= 50
    assert not (await few.browse("local", filled, "sub")).truncated
    small = VolumeBrowser(library.hosts, library.volumes, library._volume_helpers,
                          max_bytes=MIB)
    root = await small.browse("local", filled)
    assert root.truncated and root.truncated_reason == "more than 1 MiB below this directory"
    # Entries read before the limit are listed; big.log's header came before its content.
    assert "big.log" in {e.name for e in root.entries}
    tiny = VolumeBrowser(library.hosts, library.volumes, library._volume_helpers,
                         preview_limit=5)
    head = await tiny.preview("local", filled, "conf.json")
    assert head.truncated and head.content == '{"ok"' and head.limit == 5
    assert await helpers_of(local_engine, filled) == []


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {key} in /proc/self/status")


async def test_listing_skips_contents_memory_stays_flat(library: Chrontainer,
                                                        local_engine: Engine) -> None:
    # A sparse file: the engine still streams all of its 300 MiB (of zeros), without the
    # seconds that writing random bytes would take.
    name = await fill_volume(local_engine, f"mkdir /v/d /v/e && truncate -s {300 * MIB} "
                                           "/v/d/huge.bin && echo x > /v/small.txt")
    try:
        browser = library.volume_browser
        await browser.browse("local", name, "e")  # warm up: helper image, connections
        # Reset the peak RSS (VmHWM) so it measures this listing alone.
        await asyncio.to_thread(Path("/proc/self/clear_refs").write_text, "5")
        before = _status("VmRSS")
        listing = await browser.browse("local", name)
        peak = _status("VmHWM")
        assert [(e.name, e.size) for e in listing.entries] == [("d", 300 * MIB), ("e", 0),
                                                               ("small.txt", 2)]
        assert peak - before < 8 * MIB, f"RSS grew by {(peak - before) / MIB:.1f} MiB"
        assert await helpers_of(local_engine, name) == []
    finally:
        await drop_volume(local_engine, name)


async def test_remote_engine(library: Chrontainer, remote_engine: Engine) -> None:
    name = await fill_volume(remote_engine)
    try:
        browser = library.volume_browser
        listing = await browser.browse("remote", name, "sub")
        assert [(e.name, e.size) for e in listing.entries] == [
            ("deeper", 2500), ("a.txt", 1000), (LONG, 0)]
        assert (await browser.preview("remote", name, UNICODE)).content == "hi\n"
        with pytest.raises(InvalidInput, match="symbolic link"):
            await browser.browse("remote", name, "up")
        assert await helpers_of(remote_engine, name) == []
    finally:
        await drop_volume(remote_engine, name)
