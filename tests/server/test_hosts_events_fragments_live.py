"""The hosts page, its fragments, and the events page, as HTML from a real server.

The browser tests (tests/ui/test_hosts_events_live.py) drive the same pages; these check what
the server renders: rows and details of real engines, 404s, the role-dependent controls, and the
events page's filters, paging and refusals of bad query values.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html import unescape

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_core import HostSpec
from chrontainer_core.store.db import Database
from chrontainer_server.api.context import CORE
from chrontainer_server.auth.apikeys import ApiKeyStore, KeyScope
from chrontainer_server.auth.passwords import Passwords
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.users import UserRepository

from ..accounts import ADMIN
from ..live import Engine, docker, run_container, unique, wait_for

pytestmark = pytest.mark.live


async def key_of(client: TestClient, role: Role, scope: KeyScope | None = None) -> dict[str, str]:
    """Headers of an API key of the test admin whose ceiling is ``role`` (and its scope)."""
    db = Database(client.app[CORE].config.database_url)
    try:
        user = (await UserRepository(db, Passwords()).find(ADMIN))[0]
        secret, _ = await ApiKeyStore(db).create(user.id, name=f"{role}", role_ceiling=role,
                                                 scope=scope)
    finally:
        await db.close()
    return {"Authorization": f"Bearer {secret}"}


async def html_of(resp, status: int = 200) -> str:  # type: ignore[no-untyped-def]
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == "text/html"
    return text


def rows(html: str, cls: str) -> list[str]:
    return re.findall(rf'<tr[^>]*class="{cls}"[^>]*>.*?</tr>', html, re.S)


async def test_hosts_page_rows_and_row_fragment(api: TestClient) -> None:
    html = await html_of(await api.get("/hosts"))
    host_rows = rows(html, "host-row")
    assert [re.search(r'data-host="([^"]+)"', r).group(1) for r in host_rows] == [  # type: ignore[union-attr]
        "local", "remote"]
    for row in host_rows:
        assert 'data-status="online"' in row and "Docker " in row and "API 1." in row
    # An admin gets the management controls.
    assert 'id="host-add"' in html and 'data-action="remove"' in html

    state = api.app[CORE].hosts.get("remote").state()
    row = await html_of(await api.get("/fragments/hosts/remote/row"))
    assert row.strip().startswith('<tr id="host-remote"') and len(rows(row, "host-row")) == 1
    assert unescape(row).count(state.url) == 2  # data-url and the URL cell
    assert f"<td data-label=\"Containers\" class=\"num\">{state.containers}</td>" in row
    assert 'data-action="edit"' in row

    resp = await api.get("/fragments/hosts/nowhere/row")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"
    resp = await api.get("/fragments/hosts/nowhere/info")
    assert resp.status == 404


async def test_host_info_fragment_shows_engine_info_and_disk_usage(
    api: TestClient, local_engine: Engine
) -> None:
    html = await html_of(await api.get("/fragments/hosts/local/info"))
    driver = await docker(local_engine, "info", "--format", "{{.Driver}}")
    kernel = await docker(local_engine, "info", "--format", "{{.KernelVersion}}")
    cpus = await docker(local_engine, "info", "--format", "{{.NCPU}}")
    assert f"<dt>Storage driver</dt><dd>{driver}</dd>" in html
    assert f'<dd class="mono">{kernel}</dd>' in html and f"<dt>CPUs</dt><dd>{cpus}</dd>" in html
    kinds = re.findall(r'<tr data-kind="(\w+)">', html)
    assert kinds == ["images", "containers", "volumes", "build_cache"]
    images = int(await docker(local_engine, "info", "--format", "{{.Images}}"))
    image_row = rows(html.replace('<tr data-kind="images">', '<tr class="x">'), "x")[0]
    assert f'<td class="num">{images}</td>' in image_row
    assert re.search(r'<td class="num">[\d.]+ (B|KB|MB|GB|TB)</td>', image_row)
    assert 'data-action="info-refresh"' in html
    # refresh=1 reads again and still renders.
    assert "Disk usage" in await html_of(await api.get("/fragments/hosts/local/info?refresh=1"))


async def test_info_of_an_unreachable_host_is_a_502_fragment(api: TestClient) -> None:
    await api.app[CORE].hosts.add(HostSpec(slug="gone", name="Gone", url="tcp://127.0.0.1:9"))
    html = await html_of(await api.get("/fragments/hosts/gone/info"), 502)
    assert "Could not read the details of Gone" in html and 'data-action="info-retry"' in html
    # The page itself still loads, showing the host offline (or unknown while it connects).
    page = await html_of(await api.get("/hosts"))
    assert 'id="host-gone"' in page


async def test_hosts_page_without_hosts_says_so(api: TestClient) -> None:
    for slug in ("local", "remote"):
        await api.app[CORE].hosts.remove(slug)
    html = await html_of(await api.get("/hosts"))
    assert re.search(r'<p class="empty" id="hosts-empty">No hosts yet\.', html)
    assert '<table class="list stack" id="host-list" data-manage="true" hidden>' in html
    assert 'id="host-add"' in html  # so the admin can add one


@pytest.mark.parametrize("role", [Role.VIEWER, Role.OPERATOR])
async def test_non_admins_get_the_hosts_page_read_only(api: TestClient, role: Role) -> None:
    headers = await key_of(api, role)
    html = await html_of(await api.get("/hosts", headers=headers))
    assert len(rows(html, "host-row")) == 2 and 'data-action="details"' in html
    for control in ('id="host-add"', 'id="host-edit"', 'id="host-remove"',
                    'data-action="edit"', 'data-action="test"', 'data-action="remove"'):
        assert control not in html, control
    row = await html_of(await api.get("/fragments/hosts/local/row", headers=headers))
    assert 'data-action="details"' in row and 'data-action="edit"' not in row
    assert "Disk usage" in await html_of(await api.get("/fragments/hosts/local/info",
                                                       headers=headers))


async def test_scoped_key_sees_only_its_hosts(api: TestClient) -> None:
    headers = await key_of(api, Role.VIEWER, KeyScope(hosts=("remote",)))
    html = await html_of(await api.get("/hosts", headers=headers))
    assert 'id="host-remote"' in html and 'id="host-local"' not in html
    # The auth middleware refuses a host outside the key's scope.
    assert (await api.get("/fragments/hosts/local/row", headers=headers)).status == 403
    assert (await api.get("/fragments/hosts/remote/row", headers=headers)).status == 200


# --- events -----------------------------------------------------------------------------------


@pytest.fixture
async def volume(local_engine: Engine) -> AsyncIterator[str]:
    name = unique("evvol")
    await docker(local_engine, "volume", "create", "--label", "chrontainer.test=1", name)
    try:
        yield name
    finally:
        await docker(local_engine, "volume", "rm", "-f", name, check=False)


async def logged(api: TestClient, **filters: str) -> int:
    from chrontainer_core.eventlog import EventFilter

    log = api.app[CORE].events
    _, total = await log.list(EventFilter(**filters), limit=1)
    return total


async def test_events_page_filters_and_pages(
    api: TestClient, local_engine: Engine, volume: str
) -> None:
    _, name = await run_container(local_engine, "sleep", "3600", name=unique("evct"))
    await wait_for(lambda: logged(api, name=volume), what="the volume event in the log")
    await wait_for(lambda: _started(api, name), what="the container's start in the log")

    html = await html_of(await api.get("/events"))
    assert "<h1>Events</h1>" in html and volume in html and name in html
    assert f'href="/containers/local/{name}/logs"' in html
    assert 'data-live="true"' in html

    html = await html_of(await api.get("/events", params={"type": "volume"}))
    types = re.findall(r'<tr class="event-row" data-type="(\w+)"', html)
    assert types and set(types) == {"volume"} and volume in html and name not in html
    assert '<option value="volume" selected>' in html

    # Empty values mean "any", as the form sends them.
    html = await html_of(await api.get("/events", params={
        "host": "local", "type": "", "action": "start", "name": name.upper(), "limit": ""}))
    found = rows(html, "event-row")
    assert len(found) == 1 and 'data-action="start"' in found[0] and name in found[0]
    assert re.search(r">[0-9a-f]{12}</td>", found[0])

    # Paging: the container's create and start, one per page, newest first.
    first = await html_of(await api.get("/events", params={"name": name, "limit": "1"}))
    assert 'data-action="start"' in first and 'id="events-next"' in first
    assert 'id="events-prev"' not in first and "1\u20131 of 2" in first
    second = await html_of(await api.get("/events", params={"name": name, "limit": "1",
                                                            "offset": "1"}))
    assert 'data-action="create"' in second and 'id="events-prev"' in second
    assert 'data-live="false"' in second and 'id="events-next"' not in second

    html = await html_of(await api.get("/events", params={"name": unique("nothing")}))
    assert "Nothing matches these filters." in html and not rows(html, "event-row")


async def _started(api: TestClient, name: str) -> bool:
    return await logged(api, name=name, action="start") == 1


@pytest.mark.parametrize(("query", "field"), [
    ({"type": "planet"}, "Type"),
    ({"limit": "lots"}, "Limit"),
    ({"limit": "0"}, "Limit"),
    ({"limit": "501"}, "Limit"),
    ({"offset": "-1"}, "Offset"),
    ({"host": "Not A Slug!"}, "Host"),
    ({"action": "x" * 65}, "Action"),
    ({"name": "n" * 257}, "Name"),
])
async def test_events_page_refuses_bad_filters_with_400_and_a_message(
    api: TestClient, query: dict[str, str], field: str
) -> None:
    html = await html_of(await api.get("/events", params=query), 400)
    error = re.search(r'<div class="notice notice-error" role="alert" id="events-error">'
                      r"(.*?)</div>", html, re.S)
    assert error is not None
    assert f'<p id="filter-{field.lower()}-error">{field} ' in error.group(1)
    assert "<h1>Events</h1>" in html and 'data-live="false"' in html
    assert not rows(html, "event-row")


async def test_events_page_for_viewers_and_scoped_keys(api: TestClient, volume: str) -> None:
    await wait_for(lambda: logged(api, name=volume), what="the volume event in the log")
    viewer = await key_of(api, Role.VIEWER)
    assert volume in await html_of(await api.get("/events", headers=viewer))
    remote_only = await key_of(api, Role.VIEWER, KeyScope(hosts=("remote",)))
    html = await html_of(await api.get("/events", params={"name": volume}, headers=remote_only))
    assert not rows(html, "event-row") and "Nothing matches these filters." in html
    assert '<option value="local"' not in html
