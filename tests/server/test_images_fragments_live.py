"""The images pages over HTTP against the real engines: the list with its filters, sort and
disk charts, the list fragment the page's script fetches, roles, and the detail page (viewers
get environment names without values)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.auth.roles import Role

from ..http import core_of
from ..live import TEST_LABEL, Engine, docker, run_container, unique, wait_for
from ..registry import build_random_image
from .test_dashboard_fragments_live import session_of

pytestmark = pytest.mark.live

ROW = re.compile(r'<tr id="(i-[a-z0-9-]+)" class="row')


class Images:
    """Images (and containers) a test made, removed afterwards: other test sessions run beside
    this one, so nothing sweeps the engines behind it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.refs: list[str] = []
        self.containers: list[str] = []

    async def build(self, tag: str, *, layer_bytes: int = 50_000) -> str:
        image_id = await build_random_image(self.engine, tag, layers=1, layer_bytes=layer_bytes)
        self.refs.append(image_id)
        return image_id


@pytest.fixture
async def images(local_engine: Engine) -> AsyncIterator[Images]:
    made = Images(local_engine)
    yield made
    for cid in made.containers:
        await docker(local_engine, "rm", "-fv", cid, check=False)
    for ref in reversed(made.refs):
        await docker(local_engine, "rmi", "-f", ref, check=False)


def dom_id(host: str, image_id: str) -> str:
    return f"i-{host}-{image_id.removeprefix('sha256:')[:12]}"


def row_html(html: str, host: str, image_id: str) -> str:
    start = html.index(f'<tr id="{dom_id(host, image_id)}"')
    return html[start:html.index("</tr>", start)]


async def page(api: TestClient, query: str = "", **headers: str) -> str:
    resp = await api.get("/images" + query, headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Cache-Control"] == "no-store"
    return await resp.text()


async def test_list_filters_sort_and_charts(api: TestClient, images: Images) -> None:
    repo = unique("ct-img")
    small = await images.build(f"{repo}:small", layer_bytes=20_000)
    big = await images.build(f"{repo}-big:v1", layer_bytes=400_000)
    # Building the same tag again leaves the first build dangling.
    dangling = await images.build(f"{repo}:again")
    await images.build(f"{repo}:again")
    name = unique("user")
    cid = await docker(images.engine, "create", "--label", f"{TEST_LABEL}=1", "--name", name,
                       f"{repo}:small", "true")
    images.containers.append(cid)
    watcher = core_of(api).hosts.get("local")
    await wait_for(lambda: watcher.get(cid) is not None, what="the container in the cache")

    html = await page(api, "?host=local")
    ids = set(ROW.findall(html))
    assert {dom_id("local", i) for i in (small, big, dangling)} <= ids
    assert name in row_html(html, "local", small)
    assert "unused" in row_html(html, "local", big)
    assert "dangling" in row_html(html, "local", dangling)
    assert "dangling" not in row_html(html, "local", small)

    # Filters narrow the rows (a dangling image has no repository left to match); the tag
    # filter matches the tag part only.
    mine = set(ROW.findall(await page(api, f"?host=local&repository={repo}")))
    assert mine == {dom_id("local", i) for i in (small, big, images.refs[-1])}
    only_dangling = set(ROW.findall(await page(api, "?host=local&dangling=yes")))
    assert dom_id("local", dangling) in only_dangling
    assert dom_id("local", small) not in only_dangling
    tagged = set(ROW.findall(await page(api, f"?host=local&repository={repo}&tag=v1")))
    assert tagged == {dom_id("local", big)}
    # Sorting by size, largest first: the big image comes before the small one; the header
    # links keep the filters.
    by_size = await page(api, f"?host=local&repository={repo}&sort=-size")
    order = ROW.findall(by_size)
    assert order.index(dom_id("local", big)) < order.index(dom_id("local", small))
    assert f'href="/images?host=local&amp;repository={repo}&amp;sort=size"' in by_size
    assert 'aria-sort="descending"' in by_size

    # The disk chart of the host has one bar per repository, and a table of the same.
    charts = html[html.index('id="disk-use"'):]
    local_chart = charts[charts.index('data-host="local"'):]
    local_chart = local_chart[:local_chart.index("</figure>")]
    bars = re.findall(r'<g class="bar" data-repository="([^"]+)"', local_chart)
    assert len(bars) == len(set(bars))
    assert repo in bars and f"{repo}-big" in bars
    assert 'class="free"' in local_chart and "<desc" in local_chart

    # The list fragment is the region alone; bad filter values are ignored, never a 500.
    fragment = await page(api, f"?host=local&repository={repo}", **{"X-Fragment": "list"})
    assert fragment.lstrip().startswith('<div id="list-region"')
    odd = await page(api, "?sort=bogus&min_size=-3&older_than=x&dangling=maybe&host=nohost")
    assert "There is no host" in odd


async def test_operator_controls_and_viewer_view(api: TestClient, images: Images) -> None:
    repo = unique("ct-img")
    image_id = await images.build(f"{repo}:v1")
    admin = await page(api, f"?repository={repo}")
    assert 'class="menu-button"' in row_html(admin, "local", image_id)
    assert 'id="pull-dialog"' in admin and 'id="prune-dialog"' in admin

    viewer = await session_of(api, Role.VIEWER)
    html = await page(api, f"?repository={repo}", **viewer)
    row = row_html(html, "local", image_id)
    assert "menu-button" not in row and "pick" not in row
    assert 'id="pull-dialog"' not in html and 'id="open-prune"' not in html
    assert 'href="/images"' in html  # the nav entry


async def test_detail_page_hides_env_values_from_viewers(
        api: TestClient, local_engine: Engine) -> None:
    repo = unique("ct-img")
    cid, _ = await run_container(local_engine, "true", start=False)
    tag = f"{repo}:env"
    try:
        await docker(local_engine, "commit", "--change", "ENV SECRET_TOKEN=hunter2-value",
                     "--change", "LABEL chrontainer.test=1", cid, tag)
        admin = await page(api, f"/local/{tag.replace('/', '%2F')}")
        assert "SECRET_TOKEN" in admin and "hunter2-value" in admin
        assert 'id="image-history"' in admin and 'id="detail-tag"' in admin

        viewer = await session_of(api, Role.VIEWER)
        html = await page(api, f"/local/{tag.replace('/', '%2F')}", **viewer)
        assert "SECRET_TOKEN" in html
        assert "hunter2-value" not in html
        assert 'id="detail-tag"' not in html

        missing = await api.get("/images/local/" + "0" * 64)
        assert missing.status == 404
        assert 'id="image-error"' in await missing.text()
    finally:
        await docker(local_engine, "rm", "-f", cid, check=False)
        await docker(local_engine, "rmi", "-f", tag, check=False)
