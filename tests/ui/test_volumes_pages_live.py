"""The volumes page and the file browser in a real browser against the real engines: browsing
a volume (into a directory, breadcrumbs back, previews, the truncation notice, a symlink),
creating a volume through the dialog, the in-use warning of a delete, restoring over a volume
a running container uses (confirm by name, stop the container), restoring into a new volume,
viewers, and a 360 px screen."""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ..http import core_of
from ..live import TEST_LABEL, Engine, docker, run_container, unique, wait_for
from ..live import test_image as image_of_tests
from .conftest import Tab
from .test_dashboard_live import clean, list_ready

pytestmark = pytest.mark.live

LIVE = 30_000  # ms: an action through the API and the list refresh after it


class Made:
    """Volumes and containers a test made, removed afterwards (other sessions run beside this
    one, so nothing sweeps the engine behind it)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.volumes: list[str] = []
        self.containers: list[str] = []

    async def volume(self, name: str) -> str:
        await docker(self.engine, "volume", "create", "--label", f"{TEST_LABEL}=1", name)
        self.volumes.append(name)
        return name

    async def fill(self, volume: str, script: str) -> None:
        await docker(self.engine, "run", "--rm", "--label", f"{TEST_LABEL}=1",
                     "-v", f"{volume}:/data", image_of_tests(), "sh", "-c", script)

    async def files(self, volume: str) -> list[str]:
        out = await docker(self.engine, "run", "--rm", "--label", f"{TEST_LABEL}=1",
                           "-v", f"{volume}:/data", image_of_tests(), "sh", "-c",
                           "cd /data && find . -type f | sort")
        return out.splitlines()


@pytest.fixture
async def made(local_engine: Engine) -> AsyncIterator[Made]:
    m = Made(local_engine)
    yield m
    for cid in m.containers:
        await docker(local_engine, "rm", "-f", cid, check=False)
    for name in m.volumes:
        await docker(local_engine, "volume", "rm", "-f", name, check=False)


def row(name: str) -> str:
    return f'tr[id="v-local-{name}"]'


async def open_volumes(tab: Tab, query: str = "") -> Any:
    page = tab.page
    await page.goto(f"{tab.base}/volumes{query}")
    await list_ready(page)
    return page


def archive(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """A .tar.gz of ``files`` (with their directories), as a backup would be."""
    path = tmp_path / "backup.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        dirs = {str(Path(n).parent) for n in files} - {"."}
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


async def test_browse_a_volume(tab: Tab, made: Made) -> None:
    vol = await made.volume(unique("ct-ui-vol"))
    await made.fill(vol, "mkdir -p /data/conf/deep"
                         " && echo hello-from-the-volume > /data/conf/app.txt"
                         " && echo deeper > /data/conf/deep/d.log"
                         " && yes line-of-a-long-log | head -c 1572864 > /data/big.log"
                         " && head -c 100 /dev/zero > /data/blob.bin"
                         " && ln -s /etc/passwd /data/outside")
    page = await open_volumes(tab, f"?name={vol}")
    await page.click(f"{row(vol)} .menu-button")
    await page.click("#menu-browse")
    await page.wait_for_url(f"{tab.base}/volumes/local/{vol}")
    assert await page.locator("h1").inner_text() == f"Volume {vol} on local"
    names = await page.locator("#entries tr.entry").evaluate_all(
        "rows => rows.map(r => r.dataset.name)")
    assert names[0] == "conf" and set(names) == {"conf", "big.log", "blob.bin", "outside"}
    link = page.locator('tr[data-path="outside"]')
    assert "→ /etc/passwd" in await link.inner_text()
    assert await link.locator("a").count() == 0
    assert await page.locator('tr[data-path="blob.bin"] .no-preview').inner_text() == \
        "no preview for this type"

    # Into a directory by its link, deeper, and back by the breadcrumbs.
    await page.click('tr[data-path="conf"] a')
    await page.wait_for_url(re.compile(r"\?path=conf$"))
    await page.click('tr[data-path="conf/deep"] a')
    await page.wait_for_url(re.compile(r"\?path=conf%2Fdeep$"))
    crumbs = await page.locator(".crumbs li > *").all_inner_texts()
    assert crumbs == [vol, "conf", "deep"]
    assert await page.locator('.crumbs [aria-current="page"]').inner_text() == "deep"
    await page.click('.crumbs a:text-is("conf")')
    await page.wait_for_url(re.compile(r"\?path=conf$"))

    # A preview of a text file.
    await page.click('tr[data-path="conf/app.txt"] button.preview')
    content = page.locator("#preview-content")
    await page.locator('#preview[data-state="ready"]').wait_for(timeout=LIVE)
    assert (await content.inner_text()).strip() == "hello-from-the-volume"
    assert await page.locator("#preview-notice").is_hidden()

    # Back to the root by the breadcrumbs; a large file's preview says it is truncated.
    await page.click(f'.crumbs a:text-is("{vol}")')
    await page.wait_for_url(f"{tab.base}/volumes/local/{vol}")
    await page.click('tr[data-path="big.log"] button.preview')
    await page.locator('#preview[data-state="ready"]').wait_for(timeout=LIVE)
    notice = page.locator("#preview-notice")
    assert await notice.inner_text() == "Truncated: showing the first 1.0 MiB of 1.5 MiB."
    assert (await content.inner_text()).startswith("line-of-a-long-log\n")

    # A path that is not there: a message on the page, not a stack.
    response = await page.goto(f"{tab.base}/volumes/local/{vol}?path=nope")
    assert response is not None and response.status == 404
    assert await page.locator("#browse-error").is_visible()
    await clean(tab, refused=(404,))


async def test_create_and_delete_with_in_use_warning(
        tab: Tab, ui: TestClient, made: Made, local_engine: Engine) -> None:
    name = unique("ct-ui-new")
    made.volumes.append(name)
    page = await open_volumes(tab, f"?name={name}")
    await page.click("#open-create")
    await page.fill("#create-name", name)
    await page.fill("#create-labels", f"{TEST_LABEL}=1\nteam=web")
    await page.fill("#create-options", "not a pair")
    await page.click("#create-ok")
    error = page.locator("#create-error:not([hidden])")
    await error.wait_for()
    assert "key=value" in await error.inner_text()
    await page.fill("#create-options", "")
    await page.click("#create-ok")
    await page.locator(row(name)).wait_for(timeout=LIVE)
    labels = json.loads(await docker(local_engine, "volume", "inspect", "-f",
                                     "{{json .Labels}}", name))
    assert labels == {TEST_LABEL: "1", "team": "web"}

    # The same name again: the API's refusal is shown in the dialog.
    await page.click("#open-create")
    await page.fill("#create-name", name)
    await page.click("#create-ok")
    await error.wait_for()
    assert name in await error.inner_text()
    await page.click("#create-dialog [data-close]")

    # In use: the dialog says by whom before confirming; the engine's refusal follows.
    cid, user = await run_container(local_engine, options=("-v", f"{name}:/data"))
    made.containers.append(cid)
    watcher = core_of(ui).hosts.get("local")
    await wait_for(lambda: watcher.get(cid) is not None, what="the user in the cache")
    await page.locator(f'{row(name)}[data-users="{user}"]').wait_for(timeout=LIVE)
    await page.click(f"{row(name)} .menu-button")
    await page.click('#row-menu button[data-act="delete"]')
    assert user in await page.locator("#delete-users").inner_text()
    await page.click("#delete-ok")
    refusal = page.locator("#delete-error:not([hidden])")
    await refusal.wait_for(timeout=LIVE)
    assert user in await refusal.inner_text()
    await page.click("#delete-dialog [data-close]")
    assert await docker(local_engine, "volume", "ls", "-q", "-f", f"name=^{name}$") == name

    # Unused again: deleted, and the row goes.
    await docker(local_engine, "rm", "-f", cid)
    await page.locator(f'{row(name)}[data-users=""]').wait_for(timeout=LIVE)
    await page.click(f"{row(name)} .menu-button")
    await page.click('#row-menu button[data-act="delete"]')
    assert await page.locator("#delete-users").is_hidden()
    await page.click("#delete-ok")
    await page.locator(row(name)).wait_for(state="detached", timeout=LIVE)
    assert await docker(local_engine, "volume", "ls", "-q", "-f", f"name=^{name}$") == ""
    await clean(tab, refused=(409,))


async def test_restore_over_a_volume_in_use_and_into_a_new_one(
        tab: Tab, ui: TestClient, made: Made, local_engine: Engine, tmp_path: Path) -> None:
    vol = await made.volume(unique("ct-ui-restore"))
    await made.fill(vol, "echo old > /data/old.txt")
    cid, user = await run_container(local_engine, options=("-v", f"{vol}:/data"))
    made.containers.append(cid)
    watcher = core_of(ui).hosts.get("local")
    await wait_for(lambda: (c := watcher.get(cid)) is not None and c.state.value == "running",
                   what="the user running in the cache")
    backup = archive(tmp_path, {"restored/new.txt": b"restored contents\n"})

    page = await open_volumes(tab, f"?name={vol}")
    await page.click(f"{row(vol)} .menu-button")
    await page.click('#row-menu button[data-act="restore"]')
    assert vol in await page.locator("#restore-warning").inner_text()
    await page.set_input_files("#restore-file", str(backup))
    # A wrong name is refused, and nothing changes.
    await page.fill("#restore-confirm", "not-the-name")
    await page.click("#restore-ok")
    result = page.locator("#restore-result.notice-error, #restore-stop-fields:not([hidden])")
    await result.first.wait_for(timeout=LIVE)
    assert await made.files(vol) == ["./old.txt"]

    # The right name: the running user is named, and stopping it is offered.
    await page.fill("#restore-confirm", vol)
    await page.click("#restore-ok")
    await page.locator("#restore-stop-fields:not([hidden])").wait_for(timeout=LIVE)
    assert user in await page.locator("#restore-users").inner_text()
    assert await made.files(vol) == ["./old.txt"]
    await page.check("#restore-stop")
    await page.click("#restore-ok")
    done = page.locator("#restore-result.notice-ok", has_text="Replaced")
    await done.wait_for(timeout=LIVE)
    assert user in await done.inner_text()
    assert await made.files(vol) == ["./restored/new.txt"]
    state = await docker(local_engine, "inspect", "-f", "{{.State.Running}}", cid)
    assert state == "true"
    await page.click("#restore-dialog [data-close]")

    # The browser shows the new contents.
    await page.goto(f"{tab.base}/volumes/local/{vol}?path=restored")
    assert await page.locator('tr[data-path="restored/new.txt"]').count() == 1

    # Into a new volume, from the page's button.
    fresh = unique("ct-ui-fresh")
    made.volumes.append(fresh)
    page = await open_volumes(tab, f"?name={fresh}")
    await page.click("#open-restore-new")
    await page.select_option("#restore-host", "local")
    await page.fill("#restore-name", fresh)
    await page.set_input_files("#restore-file", str(backup))
    await page.click("#restore-ok")
    await page.locator("#restore-result.notice-ok", has_text="Created").wait_for(timeout=LIVE)
    assert await made.files(fresh) == ["./restored/new.txt"]
    await page.click("#restore-dialog [data-close]")
    await page.locator(row(fresh)).wait_for(timeout=LIVE)
    await clean(tab, refused=(409,))


async def test_viewer_sees_no_controls_and_360_px_fits(
        viewer_tab: Tab, tab: Tab, made: Made) -> None:
    vol = await made.volume(unique("ct-ui-view-a-rather-long-volume-name-for-phones"))
    await made.fill(vol, "mkdir -p /data/dir && echo hi > /data/dir/notes.txt")
    page = await open_volumes(viewer_tab, f"?name={vol}")
    assert await page.locator(row(vol)).count() == 1
    for selector in (".menu-button", "#open-create", "#open-prune", "#open-restore-new",
                     "#restore-dialog"):
        assert await page.locator(selector).count() == 0, selector
    await page.click(f"{row(vol)} td.act a")
    await page.wait_for_url(f"{viewer_tab.base}/volumes/local/{vol}")
    await page.click('tr[data-path="dir"] a')
    await page.locator('tr[data-path="dir/notes.txt"]').wait_for()
    for selector in ("button.preview", "#backup-link", "#open-restore"):
        assert await page.locator(selector).count() == 0, selector
    await clean(viewer_tab)

    width = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    for who in (viewer_tab, tab):
        await who.page.set_viewport_size({"width": 360, "height": 740})
        for path in (f"/volumes?name={vol}", "/volumes", f"/volumes/local/{vol}?path=dir"):
            await who.page.goto(who.base + path)
            scroll, client = await who.page.evaluate(width)
            assert scroll <= client, (path, scroll, client)
    # The open row menu, the restore dialog and the Admin group fit too.
    page = await open_volumes(tab, f"?name={vol}")
    await page.click(f"{row(vol)} .menu-button")
    scroll, client = await page.evaluate(width)
    assert scroll <= client, ("menu", scroll, client)
    await page.keyboard.press("Escape")
    await page.click(".nav-group summary")
    await page.locator('.nav-group a[href="/settings"]').wait_for()
    scroll, client = await page.evaluate(width)
    assert scroll <= client, ("admin group", scroll, client)
    await clean(tab)
