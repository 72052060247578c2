"""The volumes, volume browser and networks pages over HTTP against the real engines (no
browser): rows, filters, sort, the size chart, the list fragments, the browser's breadcrumbs,
entries and errors, the navigation group, and what viewers do not get."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.auth.roles import Role

from ..http import core_of
from ..live import TEST_LABEL, Engine, docker, run_container, unique, wait_for
from ..live import test_image as image_of_tests
from .test_dashboard_fragments_live import session_of

pytestmark = pytest.mark.live

VROW = re.compile(r'<tr id="v-local-([^"]+)" class="row')
NROW = re.compile(r'<tr id="n-local-[0-9a-f]{12}" class="row"[^>]*data-name="([^"]+)"')


class Made:
    """Volumes, networks and containers a test made, removed afterwards (other sessions run
    beside this one, so nothing sweeps the engine behind it)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.volumes: list[str] = []
        self.networks: list[str] = []
        self.containers: list[str] = []

    async def volume(self, name: str, *extra: str) -> str:
        await docker(self.engine, "volume", "create", "--label", f"{TEST_LABEL}=1", *extra, name)
        self.volumes.append(name)
        return name

    async def fill(self, volume: str, script: str) -> None:
        """Run ``script`` in a throwaway container with ``volume`` at /data."""
        await docker(self.engine, "run", "--rm", "--label", f"{TEST_LABEL}=1",
                     *(("--network", self.engine.network) if self.engine.network else ()),
                     "-v", f"{volume}:/data", image_of_tests(), "sh", "-c", script)


@pytest.fixture
async def made(local_engine: Engine) -> AsyncIterator[Made]:
    m = Made(local_engine)
    yield m
    for cid in m.containers:
        await docker(local_engine, "rm", "-fv", cid, check=False)
    for name in m.volumes:
        await docker(local_engine, "volume", "rm", "-f", name, check=False)
    for name in m.networks:
        await docker(local_engine, "network", "rm", name, check=False)


async def get(api: TestClient, path: str, status: int = 200, **headers: str) -> str:
    resp = await api.get(path, headers=headers)
    text = await resp.text()
    assert resp.status == status, text[:2000]
    assert resp.headers["Cache-Control"] == "no-store"
    return text


def row_of(html: str, dom_id: str) -> str:
    start = html.index(f'<tr id="{dom_id}"')
    return html[start:html.index("</tr>", start)]


async def test_volumes_list_filters_sort_chart_and_roles(
        api: TestClient, made: Made, local_engine: Engine) -> None:
    prefix = unique("ct-vol")
    big = await made.volume(f"{prefix}-big", "--label", "team=web")
    small = await made.volume(f"{prefix}-small")
    await made.fill(big, "head -c 300000 /dev/urandom > /data/blob")
    cid, user = await run_container(local_engine, options=("-v", f"{small}:/data"))
    made.containers.append(cid)
    watcher = core_of(api).hosts.get("local")
    await wait_for(lambda: watcher.get(cid) is not None, what="the user in the cache")

    html = await get(api, f"/volumes?name={prefix}")
    assert set(VROW.findall(html)) == {big, small}
    used = row_of(html, f"v-local-{small}")
    assert f'href="/containers/local/{user}/logs"' in used
    assert 'data-users="' + user + '"' in used
    unused = row_of(html, f"v-local-{big}")
    assert "unused" in unused and "team=web" in unused
    assert f'href="/volumes/local/{big}"' in unused
    assert f'data-backup="/api/v1/hosts/local/volumes/{big}/backup"' in unused
    assert 'class="menu-button"' in unused and 'id="create-dialog"' in html

    # Filters: in use or not, driver; sorting by size puts the big one first.
    assert VROW.findall(await get(api, f"/volumes?name={prefix}&in_use=yes")) == [small]
    assert VROW.findall(await get(api, f"/volumes?name={prefix}&in_use=no")) == [big]
    assert VROW.findall(await get(api, f"/volumes?name={prefix}&driver=nosuch")) == []
    by_size = await get(api, f"/volumes?name={prefix}&sort=-size")
    assert VROW.findall(by_size) == [big, small]
    assert f'href="/volumes?name={prefix}&amp;sort=size"' in by_size
    assert 'aria-sort="descending"' in by_size

    # The size chart of the host draws the big one, all of it unused (reclaimable).
    chart = html[html.index('id="volume-sizes"'):]
    chart = chart[chart.index('data-host="local"'):chart.index("</figure>")]
    bar = chart[chart.index(f'data-volume="{big}"'):]
    bar = bar[:bar.index("</g>")]
    assert re.search(r'class="free" x="[\d.]+" y="\d+" width="[1-9][\d.]*"', bar), bar

    # The fragment is the list region alone; odd values never fail the page.
    fragment = await get(api, f"/volumes?name={prefix}", **{"X-Fragment": "list"})
    assert fragment.lstrip().startswith('<div id="list-region"')
    odd = await get(api, "/volumes?sort=bogus&in_use=maybe&host=nohost")
    assert "There is no host" in odd

    # Viewers see the list and browse links, but no controls.
    viewer = await session_of(api, Role.VIEWER)
    seen = await get(api, f"/volumes?name={prefix}", **viewer)
    assert set(VROW.findall(seen)) == {big, small}
    assert "menu-button" not in seen and 'id="create-dialog"' not in seen
    assert "/backup" not in seen and 'id="restore-dialog"' not in seen
    assert f'href="/volumes/local/{big}"' in seen
    # The nav: Volumes and Networks are entries; viewers get no Admin group.
    assert '<a href="/volumes" aria-current="page">Volumes</a>' in seen
    assert 'href="/networks"' in seen and "nav-group" not in seen


async def test_volume_browser_page(api: TestClient, made: Made) -> None:
    vol = await made.volume(unique("ct-vol"))
    await made.fill(vol, "mkdir -p /data/conf/deep && echo hello > /data/conf/app.txt"
                         " && head -c 2000 /dev/zero > /data/blob.bin"
                         " && ln -s /etc/passwd /data/outside && echo x > /data/conf/deep/d.log")
    root = await get(api, f"/volumes/local/{vol}")
    # Directories first, as links with ?path=; a symlink shows its target and is no link.
    entries = re.findall(r'<tr class="entry kind-(\w+)" data-path="([^"]+)"', root)
    assert entries[0] == ("directory", "conf")
    assert {p for _, p in entries} == {"conf", "blob.bin", "outside"}
    assert f'<a href="/volumes/local/{vol}?path=conf">conf/</a>' in root
    link = root[root.index('data-path="outside"'):]
    link = link[:link.index("</tr>")]
    assert "→ /etc/passwd" in htmllib.unescape(link) and "<a " not in link
    blob = root[root.index('data-path="blob.bin"'):]
    assert "no preview for this type" in blob[:blob.index("</tr>")]
    assert f'href="/api/v1/hosts/local/volumes/{vol}/backup" download' in root
    assert 'id="restore-dialog"' in root

    # Inside a directory: breadcrumbs back to the root, the current one marked.
    inside = await get(api, f"/volumes/local/{vol}?path=conf")
    start = inside.index('class="crumbs"')
    crumbs = inside[start:inside.index("</nav>", start)]
    assert f'<a href="/volumes/local/{vol}">{vol}</a>' in crumbs
    assert '<span aria-current="page">conf</span>' in crumbs
    app_row = inside[inside.index('data-path="conf/app.txt"'):]
    assert 'class="preview"' in app_row[:app_row.index("</tr>")]
    deeper = await get(api, f"/volumes/local/{vol}?path=conf/deep")
    assert 'data-path="conf/deep/d.log"' in deeper
    assert f'<a href="/volumes/local/{vol}?path=conf">conf</a>' in deeper

    # Errors are a message on the page with the status of the error, not a stack.
    missing = await get(api, f"/volumes/local/{vol}?path=nope", status=404)
    assert 'id="browse-error"' in missing
    through_link = await get(api, f"/volumes/local/{vol}?path=outside", status=400)
    assert 'id="browse-error"' in through_link
    unknown = await get(api, f"/volumes/local/{unique('nosuch')}", status=404)
    assert 'id="browse-error"' in unknown

    # Viewers browse listings but get no previews, backups or restores.
    viewer = await session_of(api, Role.VIEWER)
    seen = await get(api, f"/volumes/local/{vol}?path=conf", **viewer)
    assert 'data-path="conf/app.txt"' in seen
    assert 'class="preview"' not in seen and "/backup" not in seen
    assert 'id="restore-dialog"' not in seen and "volume_browser" not in seen


async def test_networks_page(api: TestClient, made: Made, local_engine: Engine) -> None:
    name = unique("ct-net")
    await docker(local_engine, "network", "create", "--label", f"{TEST_LABEL}=1",
                 "--label", "team=web", "--subnet", "172.31.77.0/24",
                 "--gateway", "172.31.77.1", "--internal", name)
    made.networks.append(name)
    cid, member = await run_container(local_engine, options=("--network", name,
                                                             "--ip", "172.31.77.9"))
    made.containers.append(cid)
    watcher = core_of(api).hosts.get("local")
    # Its address is known once it runs (the engine assigns it at start).
    await wait_for(lambda: (c := watcher.get(cid)) is not None and c.state.value == "running",
                   what="the member running in the cache")

    html = await get(api, "/networks?host=local")
    names = NROW.findall(html)
    assert name in names and "bridge" in names and "none" in names
    row = html[html.index(f'data-name="{name}"'):]
    row = row[:row.index("</tr>")]
    assert "172.31.77.0/24 via 172.31.77.1" in row
    link = f'<a href="/containers/local/{member}/logs">{member}</a>'
    assert f'{link} <span class="mono">172.31.77.9</span>' in row
    assert "Aliases" not in row  # the engine's own alias (the short id) is noise
    assert "internal-badge" in row and "team=web" in row and "builtin-badge" not in row
    assert 'data-predefined="false"' in row and f'data-members="{member}"' in row
    assert 'class="link disconnect"' in row
    builtin = html[html.index('data-name="bridge"'):]
    assert 'data-predefined="true"' in builtin[:builtin.index(">")]
    assert "builtin-badge" in builtin[:builtin.index("</tr>")]
    assert 'id="create-dialog"' in html and 'id="prune-dialog"' in html

    assert NROW.findall(await get(api, f"/networks?host=local&name={name}")) == [name]
    assert NROW.findall(await get(api, "/networks?host=local&driver=macvlan&name=" + name)) == []
    fragment = await get(api, f"/networks?name={name}", **{"X-Fragment": "list"})
    assert fragment.lstrip().startswith('<div id="list-region"')
    assert "There is no host" in await get(api, "/networks?host=nohost")

    viewer = await session_of(api, Role.VIEWER)
    seen = await get(api, f"/networks?name={name}", **viewer)
    assert NROW.findall(seen) == [name]
    assert "menu-button" not in seen and "disconnect" not in seen
    assert 'id="create-dialog"' not in seen and 'class="inspect"' in seen


async def test_admin_pages_are_grouped_in_the_nav(api: TestClient) -> None:
    html = await get(api, "/volumes")
    group = html[html.index('<li class="nav-group">'):]
    group = group[:group.index("</details>")]
    for href in ("/settings", "/notifications", "/users", "/audit"):
        assert f'href="{href}"' in group
    assert "aria-current" not in group
    users = await (await api.get("/users")).text()
    group = users[users.index('<li class="nav-group">'):]
    group = group[:group.index("</details>")]
    assert '<summary aria-current="true">Admin</summary>' in group
    assert '<a href="/users" aria-current="page">Users</a>' in group
