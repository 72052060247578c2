"""The containers dashboard over HTTP: the page's filters, the row and details fragments the
page's script fetches, and the tag colours stylesheet."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.api.context import CORE
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.service import AUTH
from chrontainer_server.auth.sessions import COOKIE_NAME

from ..live import Engine, docker, run_container, unique, wait_for

pytestmark = pytest.mark.live

@pytest.fixture
async def made(local_engine: Engine, remote_engine: Engine) -> AsyncIterator[Made]:
    """Runs test containers and removes them afterwards: other test sessions may run beside
    this one, so nothing sweeps the engines behind it."""
    made = Made({"local": local_engine, "remote": remote_engine})
    yield made
    for engine, cid in made.ids:
        await docker(engine, "rm", "-fv", cid, check=False)


class Made:
    def __init__(self, engines: dict[str, Engine]) -> None:
        self.engines = engines
        self.ids: list[tuple[Engine, str]] = []

    async def run(self, host: str, *cmd: str, name: str,
                  options: tuple[str, ...] = ()) -> tuple[str, str]:
        cid, made = await run_container(self.engines[host], *cmd, name=name, options=options)
        self.ids.append((self.engines[host], cid))
        return cid, made


ROW = re.compile(r'<tr id="(c-[a-z0-9-]+)" class="row')


def row_ids(html: str) -> set[str]:
    return set(ROW.findall(html))


def dom_id(host: str, container_id: str) -> str:
    return f"c-{host}-{container_id[:12]}"


async def session_of(api: TestClient, role: Role) -> dict[str, str]:
    """The headers of a browser session of a new user with ``role``."""
    auth = api.app[AUTH]
    user = await auth.users.create(unique(role.value), "a-long-test-password", role)
    token, _ = await auth.sessions.create(user.id)
    return {"Cookie": f"{COOKIE_NAME}={token}", "Authorization": ""}


async def cached(api: TestClient, host: str, container_id: str, state: str) -> None:
    """Wait until the server's cache shows the container in ``state``."""
    watcher = api.app[CORE].hosts.get(host)

    def seen() -> bool:
        c = watcher.get(container_id)
        return c is not None and c.state.value == state

    await wait_for(seen, what=f"{container_id[:12]} {state} in the cache")


async def page(api: TestClient, query: str = "", **headers: str) -> str:
    resp = await api.get("/containers" + query, headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Cache-Control"] == "no-store"
    return await resp.text()


async def test_page_lists_both_engines_and_filters(
    api: TestClient, made: Made, local_engine: Engine
) -> None:
    project, tier = unique("proj"), unique("tier")
    web_id, _ = await made.run("local", name=unique("web"), options=(
        "--label", f"com.docker.compose.project={project}",
        "--label", "com.docker.compose.service=web", "--label", f"tier={tier}"))
    db_id, db = await made.run("remote", name=unique("db"))
    done_id, done = await made.run("local", "true", name=unique("done"))
    await docker(local_engine, "wait", done_id)
    for host, cid, state in (("local", web_id, "running"), ("remote", db_id, "running"),
                             ("local", done_id, "exited")):
        await cached(api, host, cid, state)
    web_row, db_row, done_row = (dom_id("local", web_id), dom_id("remote", db_id),
                                 dom_id("local", done_id))

    html = await page(api)
    assert {web_row, db_row, done_row} <= row_ids(html)
    # Grouped by host: one tbody per host, each row in its host's group.
    assert '<tbody data-group="local">' in html and '<tbody data-group="remote">' in html
    assert html.index('data-group="remote"') < html.index(f'id="{db_row}"')

    # Filters narrow the list; the form shows them.
    assert row_ids(await page(api, "?host=remote")) & {web_row, db_row, done_row} == {db_row}
    assert row_ids(await page(api, "?state=exited")) & {web_row, db_row, done_row} == {done_row}
    assert row_ids(await page(api, f"?label=tier={tier}")) == {web_row}
    assert row_ids(await page(api, f"?label=tier={tier}-not")) == set()
    assert row_ids(await page(api, f"?q={project.upper()}")) == {web_row}
    assert row_ids(await page(api, f"?q={db[3:]}")) == {db_row}
    filtered = await page(api, f"?image=busybox&q={done}")
    assert row_ids(filtered) == {done_row} and f'value="{done}"' in filtered

    # Grouped by compose project: the project heads its group; others go under "No project".
    grouped = await page(api, "?group=project")
    assert f'<tbody data-group="{project}">' in grouped
    assert grouped.index(f'data-group="{project}"') < grouped.index(f'id="{web_row}"')
    assert "No compose project" in grouped

    # Values that cannot be valid are ignored, never a failure; nothing matches is said so.
    assert {web_row, db_row} <= row_ids(await page(api, "?state=sleepy&group=diagonal"))
    nothing = await page(api, "?host=nowhere")
    assert row_ids(nothing) == set() and "No containers match these filters" in nothing

    # Only the list region, for the script's resync after a lagged or reconnected stream.
    # The shared actions menu, sent once, says which actions each state allows.
    by_state = re.search(r'id="row-menu"[^>]* data-by-state="([^"]+)"', html)
    assert by_state is not None
    allowed = json.loads(by_state.group(1).replace("&#34;", '"'))
    assert allowed["running"] == "stop restart pause kill rename remove"
    assert allowed["exited"] == "start restart rename remove"

    region = await page(api, "?host=remote", **{"X-Fragment": "list"})
    assert region.startswith('<div id="list-region"') and "<html" not in region
    assert db_row in row_ids(region)


async def test_row_fragment_found_filtered_out_and_unknown(
    api: TestClient, made: Made, local_engine: Engine
) -> None:
    cid, name = await made.run("local", name=unique("row"),
                                    options=("-p", "127.0.0.1::8080"))
    await cached(api, "local", cid, "running")
    for ref in (name, cid):
        resp = await api.get(f"/fragments/containers/local/{ref}/row")
        assert resp.status == 200
        html = await resp.text()
        assert row_ids(html) == {dom_id("local", cid)}
        assert html.startswith("<tr ") and "<html" not in html
        assert 'data-state="running"' in html and f'data-name="{name}"' in html
        # The admin may select it and open the actions menu.
        assert 'class="menu-button"' in html and 'class="pick"' in html
    # Its published port is a link to where the browser reached this server.
    port = (await docker(local_engine, "port", cid, "8080/tcp")).rsplit(":", 1)[1]
    assert f'href="http://127.0.0.1:{port}" target="_blank" rel="noopener noreferrer"' in html

    # Matching the page's query: the row; no longer matching it: 204 and no body.
    resp = await api.get(f"/fragments/containers/local/{cid}/row", params={"state": "running"})
    assert resp.status == 200
    for query in ({"state": "exited"}, {"host": "remote"}, {"q": "no-such-name"},
                  {"label": "absent"}):
        resp = await api.get(f"/fragments/containers/local/{cid}/row", params=query)
        assert resp.status == 204, query
        assert await resp.read() == b""

    # A container that is gone is a row to drop (204, like a non-matching one); an unknown
    # host is a bad URL (404); details of an unknown container are 404.
    resp = await api.get("/fragments/containers/local/no-such-container-here/row")
    assert resp.status == 204
    resp = await api.get("/fragments/containers/local/no-such-container-here/details")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
    assert (await api.get(f"/fragments/containers/nowhere/{cid}/row")).status == 404
    assert (await api.get("/fragments/containers/local/%2e%2e/details")).status == 404

    # A viewer sees the row, without selection box or actions.
    viewer = await session_of(api, Role.VIEWER)
    resp = await api.get(f"/fragments/containers/local/{cid}/row", headers=viewer)
    html = await resp.text()
    assert resp.status == 200 and dom_id("local", cid) in html
    assert "menu-button" not in html and 'class="pick"' not in html


async def test_details_mask_secrets_for_operators_and_hide_values_from_viewers(
    api: TestClient, made: Made
) -> None:
    secret, plain = unique("hunter2"), unique("visible")
    cid, name = await made.run("local", name=unique("env"), options=(
        "-e", f"DB_PASSWORD={secret}", "-e", f"PLAIN_SETTING={plain}",
        "--label", "team=blue", "--restart", "on-failure:3"))
    await cached(api, "local", cid, "running")
    url = f"/fragments/containers/local/{name}/details"

    resp = await api.get(url)
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    html = await resp.text()
    assert "<html" not in html
    # Secret-looking names are masked with a Reveal button; the value waits hidden.
    assert re.search(r'<span class="mask">[^<]+</span><span class="secret" hidden>'
                     + re.escape(secret) + r'</span> <button type="button" class="reveal"', html)
    assert f"<td class=\"mono\">{plain}</td>" in html
    assert "team" in html and "blue" in html
    assert "on-failure (at most 3 retries)" in html
    for page_name in ("logs", "inspect", "top"):
        assert f'href="/containers/local/{name}/{page_name}"' in html
    assert 'class="meta-form"' in html  # the admin may set tags and the link

    viewer = await session_of(api, Role.VIEWER)
    resp = await api.get(url, headers=viewer)
    assert resp.status == 200
    html = await resp.text()
    assert "DB_PASSWORD" in html and "PLAIN_SETTING" in html
    assert secret not in html and plain not in html
    assert "Values are hidden for viewers." in html and "meta-form" not in html

    operator = await session_of(api, Role.OPERATOR)
    html = await (await api.get(url, headers=operator)).text()
    assert secret in html and plain in html and 'class="meta-form"' in html

    assert (await api.get("/fragments/containers/local/gone-gone-gone/details")).status == 404


async def test_health_log_is_read_on_expand(api: TestClient, made: Made) -> None:
    cid, name = await made.run("local", name=unique("health"), options=(
        "--health-cmd", "echo checked-ok", "--health-interval", "1s"))

    async def healthy() -> bool:
        c = api.app[CORE].hosts.get("local").get(cid)
        return c is not None and c.health is not None and c.health.value == "healthy"

    await wait_for(healthy, timeout=30, what="a healthy container")
    html = await (await api.get(f"/fragments/containers/local/{cid}/details")).text()
    assert "checked-ok" in html and 'class="plain health-log"' in html
    row = await (await api.get(f"/fragments/containers/local/{name}/row")).text()
    assert '<span class="badge health-healthy">healthy</span>' in row


async def test_tags_stylesheet_is_cached_by_version(api: TestClient) -> None:
    html = await page(api)
    link = re.search(r'href="(/tags\.css\?v=([0-9a-f]{12}))" id="tag-styles"', html)
    assert link is not None
    resp = await api.get(link.group(1))
    assert resp.status == 200 and resp.content_type == "text/css"
    assert resp.headers["Cache-Control"] == "private, max-age=31536000, immutable"
    etag = resp.headers["ETag"]
    assert etag == f'"{link.group(2)}"'
    again = await api.get("/tags.css", headers={"If-None-Match": etag})
    assert again.status == 304
    # Another version (an old page) revalidates instead of being cached for good.
    stale = await api.get("/tags.css?v=000000000000")
    assert stale.status == 200 and stale.headers["Cache-Control"] == "private, no-cache"


def test_view_helpers() -> None:
    """The dashboard's pure formatting and parsing, on hand-made values."""
    from datetime import UTC, datetime, timedelta

    from chrontainer_core.models import HostState, HostStatus
    from chrontainer_server.ui.dashboard_view import (
        DashboardQuery,
        duration,
        engine_address,
        health_log,
        safe_web_url,
        size,
    )

    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert [duration(now - timedelta(seconds=s), now) for s in (-5, 45, 720, 3 * 3600, 5 * 86400)] \
        == ["0 s", "45 s", "12 min", "3 h", "5 d"]
    assert [size(n) for n in (0, 512, 12_900_000, 3 * 1024**3, 5 * 1024**4)] == \
        ["0 B", "512 B", "12.3 MiB", "3.0 GiB", "5120.0 GiB"]

    # Links only for http(s) with a host: never javascript: or data: URLs.
    assert safe_web_url("https://nas.lan:5001/") == "https://nas.lan:5001/"
    for bad in ("javascript:alert(1)", "data:text/html,x", "http://", "//evil", "", None):
        assert safe_web_url(bad) is None, bad

    def host(url: str) -> HostState:
        return HostState(slug="h", name="h", url=url, status=HostStatus.ONLINE)

    assert engine_address(host("tcp://10.0.0.7:2376"), "dash.lan") == "10.0.0.7"
    assert engine_address(host("unix:///var/run/docker.sock"), "dash.lan") == "dash.lan"
    assert engine_address(host("unix:///var/run/docker.sock"), "::1") == "[::1]"

    # A hand-edited URL never fails: invalid values are dropped, lengths capped.
    query = DashboardQuery.parse({"state": "sleepy", "group": "x", "q": " web " + "a" * 999})
    assert (query.state, query.group, len(query.q)) == ("", "host", 256)
    assert DashboardQuery.parse({"state": "paused", "group": "project"}).encoded() == \
        "state=paused&group=project"

    # The health log: newest first, at most five, odd entries tolerated.
    log = [{"Start": f"2026-01-02T03:04:0{i}.5Z", "ExitCode": i, "Output": f"run {i}\n"}
           for i in range(7)]
    entries = health_log({"State": {"Health": {"Log": [*log, "junk"]}}})
    assert [e.output for e in entries] == ["run 6", "run 5", "run 4", "run 3"]
    assert entries[0].start == "2026-01-02 03:04:06"
    assert health_log({"State": None}) == [] and health_log({}) == []
