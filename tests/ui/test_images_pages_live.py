"""The images page in a real browser against the real engines and a real registry: the list
with its containers and dangling badge, filters and sort, deleting (and the refusal of an
image in use), a pull from a local registry with live per-layer progress, an unknown tag, the
offline Docker Hub search, the disk chart, viewers, and a 360 px screen."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ..http import core_of
from ..live import TEST_LABEL, Engine, docker, unique, wait_for
from ..registry import build_random_image
from .conftest import Tab
from .test_dashboard_live import clean, list_ready

pytestmark = pytest.mark.live

LIVE = 30_000  # ms: a pull, a delete and the list refresh after it


class Made:
    """Images and containers a test made, removed afterwards (other test sessions may run
    beside ours, so nothing sweeps the engines behind them)."""

    def __init__(self, local: Engine, remote: Engine) -> None:
        self.engines = {"local": local, "remote": remote}
        self.images: list[tuple[Engine, str]] = []
        self.containers: list[tuple[Engine, str]] = []

    async def build(self, host: str, tag: str, *, layers: int = 1,
                    layer_bytes: int = 50_000) -> str:
        engine = self.engines[host]
        image_id = await build_random_image(engine, tag, layers=layers, layer_bytes=layer_bytes)
        self.images.append((engine, image_id))
        return image_id

    async def use(self, ui: TestClient, host: str, image: str) -> str:
        """A stopped container of ``image``, known to the server's cache; its name."""
        engine = self.engines[host]
        name = unique("uses")
        cid = await docker(engine, "create", "--label", f"{TEST_LABEL}=1", "--name", name,
                           *(["--network", engine.network] if engine.network else []),
                           image, "true")
        self.containers.append((engine, cid))
        watcher = core_of(ui).hosts.get(host)
        await wait_for(lambda: watcher.get(cid) is not None, what="the container in the cache")
        return name


@pytest.fixture
async def made(local_engine: Engine, remote_engine: Engine) -> AsyncIterator[Made]:
    made = Made(local_engine, remote_engine)
    yield made
    for engine, cid in made.containers:
        await docker(engine, "rm", "-fv", cid, check=False)
    for engine, image_id in reversed(made.images):
        await docker(engine, "rmi", "-f", image_id, check=False)


def row(host: str, image_id: str) -> str:
    return f"#i-{host}-{image_id.removeprefix('sha256:')[:12]}"


async def open_images(tab: Tab, query: str = "") -> Any:
    page = tab.page
    await page.goto(f"{tab.base}/images{query}")
    await list_ready(page)
    return page


async def test_list_filters_sort_and_disk_chart(tab: Tab, ui: TestClient, made: Made) -> None:
    repo = unique("ct-ui-img")
    small = await made.build("local", f"{repo}:small", layer_bytes=20_000)
    big = await made.build("local", f"{repo}:big", layer_bytes=600_000)
    dangling = await made.build("local", f"{repo}:again")
    await made.build("local", f"{repo}:again")  # the first build of this tag is now dangling
    user = await made.use(ui, "local", f"{repo}:small")

    page = await open_images(tab, "?host=local")
    # With the Images entry the navigation still fits one line at 1280 px (Log out included).
    await page.set_viewport_size({"width": 1280, "height": 800})
    tops = await page.evaluate("['brand', 'logout'].map(id => "
                               "document.getElementById(id).getBoundingClientRect().bottom)")
    assert abs(tops[0] - tops[1]) < 12, tops
    assert await page.locator(f"{row('local', small)} td.users").inner_text() == user
    assert await page.locator(f"{row('local', big)} td.users").inner_text() == "unused"
    assert await page.locator(f"{row('local', dangling)} .dangling-badge").is_visible()
    assert await page.locator(f"{row('local', small)} .dangling-badge").count() == 0

    # The dangling filter (a select: changing it submits the form) keeps only dangling rows.
    await page.select_option("#f-dangling", "yes")
    await page.wait_for_url(re.compile(r"dangling=yes"))
    await list_ready(page)
    assert await page.locator(row("local", dangling)).count() == 1
    assert await page.locator(row("local", small)).count() == 0

    # Repository filter, then sort by size from the column header (largest first).
    page = await open_images(tab, f"?repository={repo}")
    await page.click("th.size a.sort")
    await page.wait_for_url(re.compile(r"sort=-size"))
    await list_ready(page)
    assert f"repository={repo}" in page.url  # the header link kept the filter
    ids = await page.locator("#image-list tr.row").evaluate_all("rows => rows.map(r => r.id)")
    assert ids.index(row("local", big)[1:]) < ids.index(row("local", small)[1:])
    await page.click("th.size a.sort")  # again: smallest first
    await page.wait_for_url(re.compile(r"sort=size"))
    await list_ready(page)
    ids = await page.locator("#image-list tr.row").evaluate_all("rows => rows.map(r => r.id)")
    assert ids.index(row("local", small)[1:]) < ids.index(row("local", big)[1:])

    # The disk chart of each host: one bar per repository, as many as the table's rows.
    chart = page.locator('#disk-use figure[data-host="local"]')
    bars = await chart.locator("g.bar").evaluate_all(
        "bars => bars.map(b => b.dataset.repository)")
    assert repo in bars and len(bars) == len(set(bars))
    assert await chart.locator("details.chart-table tbody tr").count() >= len(bars)
    assert await chart.locator("svg > title").text_content() == "Disk use per repository on local"
    await clean(tab)


async def test_delete_unused_and_refused_in_use(tab: Tab, ui: TestClient, made: Made) -> None:
    repo = unique("ct-ui-del")
    unused = await made.build("local", f"{repo}:unused")
    used = await made.build("local", f"{repo}:used")
    user = await made.use(ui, "local", f"{repo}:used")
    page = await open_images(tab, f"?repository={repo}")

    await page.click(f"{row('local', unused)} .menu-button")
    await page.click('#row-menu button[data-act="delete"]')
    await page.click("#delete-ok")
    await page.locator(row("local", unused)).wait_for(state="detached", timeout=LIVE)
    assert "deleted" in await page.locator("#img-status").inner_text()
    assert (await docker(made.engines["local"], "images", "-q", unused, check=False)) == ""

    await page.click(f"{row('local', used)} .menu-button")
    await page.click('#row-menu button[data-act="delete"]')
    await page.click("#delete-ok")
    status = page.locator("#img-status.notice-error")
    await status.wait_for(timeout=LIVE)
    assert user in await status.inner_text()
    assert await page.locator(row("local", used)).count() == 1
    await clean(tab, refused=(409,))


# A MutationObserver the test installs: what the pull dialog showed, change by change.
RECORD_PULL = """() => {
  window.__pull = [];
  const progress = document.getElementById("pull-progress");
  new MutationObserver(() => {
    const bars = [...document.querySelectorAll("#pull-layers progress")];
    window.__pull.push({
      status: progress.dataset.status || "",
      layers: bars.length,
      partial: bars.some((b) => b.max > 1 && b.value > 0 && b.value < b.max),
    });
  }).observe(document.getElementById("pull-dialog"),
             {subtree: true, childList: true, attributes: true, characterData: true});
}"""


async def test_pull_shows_layer_progress_then_the_image(
        tab: Tab, ui: TestClient, made: Made, plain_registry: Any) -> None:
    remote = made.engines["remote"]
    repo = unique("ct-ui-pull")
    source = await made.build("remote", f"{repo}:src", layers=3, layer_bytes=4_000_000)
    reference = await plain_registry.push(remote, f"{repo}:src", repo, "v1")
    await docker(remote, "rmi", "-f", source)  # the pull must fetch every layer again

    page = await open_images(tab, f"?pull={reference}&host=remote")
    assert await page.locator("#pull-dialog").is_visible()
    assert await page.input_value("#pull-image") == reference
    assert await page.input_value("#pull-host") == "remote"
    await page.evaluate(RECORD_PULL)
    await page.click("#pull-start")
    result = page.locator("#pull-result.notice-ok")
    await result.wait_for(timeout=LIVE)
    assert f"Pulled {reference} on remote" in await result.inner_text()
    assert await page.get_attribute("#pull-progress", "data-status") == "succeeded"
    assert await page.locator("#pull-cancel").is_hidden()
    # Every layer is listed, each complete; the overall bar is full.
    layers = page.locator("#pull-layers li")
    assert await layers.count() >= 3
    assert await page.locator("#pull-layers li.layer-done").count() == await layers.count()
    assert await page.evaluate("document.getElementById('pull-overall').value") == 100
    # Progress was shown while the pull ran: a running state with layers was rendered.
    seen = await page.evaluate("window.__pull")
    assert any(s["status"] == "running" and s["layers"] > 0 for s in seen), seen
    # The image is on the engine, and the list (refreshed live) shows it on the remote host.
    made.images.append((remote, reference))
    await page.locator("#pull-dialog [data-close]").first.click()
    listed = page.locator('#image-list tbody[data-group="remote"] td.repo',
                          has_text=reference.rsplit(":", 1)[0])
    await listed.first.wait_for(timeout=LIVE)

    # An unknown tag: the operation fails with image_not_found, said plainly.
    await page.click("#open-pull")  # a new pull: the last one's progress is cleared
    assert await page.locator("#pull-progress").is_hidden()
    await page.fill("#pull-image", plain_registry.ref(repo, "no-such-tag"))
    await page.click("#pull-start")
    failure = page.locator("#pull-result.notice-error")
    await failure.wait_for(timeout=LIVE)
    assert (await failure.inner_text()).startswith("Image not found")
    await clean(tab)


async def test_hub_search_offline_message(tab: Tab) -> None:
    page = await open_images(tab)
    await page.fill("#hub-term", "nginx")
    await page.click("#hub-form button[type=submit]")
    message = page.locator("#hub-status.notice-error")
    await message.wait_for(timeout=LIVE)
    assert "unreachable" in (await message.inner_text()).lower()
    assert await page.locator("#hub-results li").count() == 0
    await clean(tab, refused=(502,))


async def test_viewer_sees_no_actions_and_360_px_fits(
        viewer_tab: Tab, tab: Tab, made: Made) -> None:
    repo = unique("ct-ui-view-a-rather-long-repository-name-for-phones")
    image_id = await made.build("local", f"{repo}:v1")
    page = await open_images(viewer_tab, f"?repository={repo}")
    assert await page.locator(row("local", image_id)).count() == 1
    for selector in (".menu-button", ".pick", "#open-pull", "#open-prune", "#bulk"):
        assert await page.locator(selector).count() == 0, selector
    assert await page.locator(f"{row('local', image_id)} td.act a").inner_text() == "Details"
    await clean(viewer_tab)

    width = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    for who in (viewer_tab, tab):
        await who.page.set_viewport_size({"width": 360, "height": 740})
        page = await open_images(who)
        scroll, client = await page.evaluate(width)
        assert scroll <= client, (who, scroll, client)
    # The open menu and the pull dialog fit too.
    page = tab.page
    await page.goto(f"{tab.base}/images?repository={repo}")
    await list_ready(page)
    await page.click(f"{row('local', image_id)} .menu-button")
    await page.click("#open-pull")
    scroll, client = await page.evaluate(width)
    assert scroll <= client, (scroll, client)
    await clean(tab)
