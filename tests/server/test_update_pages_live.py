"""The updates page over HTTP against the real engines and a local registry: an available update
is listed (with Update and Update all for operators, no buttons for viewers), other results
(local-only, registry errors) are under "Other checks", the history shows an update's outcome
and pages by 25, the next scheduled check (or "off"), the sections fragment the page's script
fetches, and the system check notice on the schedules page.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient
from markupsafe import escape

from chrontainer_core.store.db import Database
from chrontainer_core.updates.models import JournalEntry, JournalStatus, UpdateStep
from chrontainer_core.updates.store import UpdateJournal
from chrontainer_server.app import create_app
from chrontainer_server.auth.roles import Role

from ..accounts import admin_client
from ..http import core_of, ok
from ..images import build, drop
from ..live import TEST_LABEL, Engine, docker, unique, wait_for
from ..live import test_image as image_of_tests
from ..registry import TestRegistry, start_registry
from .test_dashboard_fragments_live import session_of

pytestmark = pytest.mark.live

V1 = "/api/v1"
BUTTONS = ('class="update-one"', 'id="update-all"', 'id="check-updates"', 'id="update-dialog"')


@pytest.fixture
async def api(clean_engines: None, daemon_config) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    """The API server with a 1 s update grace period (the check schedule stays editable)."""
    config = dataclasses.replace(daemon_config, settings={"update_grace_seconds": 1})
    async with admin_client(create_app(config), config.database_url) as client:
        yield client


@dataclasses.dataclass
class Published:
    """A container running v1 of ``ref`` while v2 is published under the same tag."""

    name: str
    ref: str
    v1_id: str
    v2_id: str


@pytest.fixture
async def outdated(api: TestClient, plain_registry: TestRegistry,
                   local_engine: Engine) -> AsyncIterator[Published]:
    tag = unique("ct-update-page")
    v1_id = await build(local_engine, f"{tag}:v1", "ENV APP_VERSION=1")
    v2_id = await build(local_engine, f"{tag}:v2", "ENV APP_VERSION=2")
    repo = unique("updates/page")
    ref = await plain_registry.push(local_engine, f"{tag}:v1", repo, "v1")
    name = unique("upd-page")
    try:
        await run(local_engine, name, ref)
        await plain_registry.push(local_engine, f"{tag}:v2", repo, "v1")
        await cached(api, name)
        done = await check(api, name)
        assert done["result"]["available"] == "1", done
        yield Published(name=name, ref=ref, v1_id=v1_id, v2_id=v2_id)
    finally:
        await docker(local_engine, "rm", "-f", name, check=False)
        await drop(local_engine, ref, f"{tag}:v1", f"{tag}:v2", v1_id, v2_id)


async def run(engine: Engine, name: str, image: str) -> None:
    await docker(engine, "run", "-d", "--name", name, "--label", f"{TEST_LABEL}=1",
                 "--stop-timeout", "1", "--network", "none", image, "sleep", "3600")


async def cached(api: TestClient, name: str) -> None:
    watcher = core_of(api).hosts.get("local")
    await wait_for(lambda: any(c.name == name for c in watcher.containers()),
                   what=f"{name} in the server's cache")


async def check(api: TestClient, *names: str) -> dict[str, str]:
    done = await ok(await api.post(f"{V1}/updates/check", params={"wait": "60"}, json={
        "targets": [{"host": "local", "ref": n} for n in names]}))
    assert done["status"] == "succeeded", done
    return done  # type: ignore[no-any-return]


async def page(api: TestClient, query: str = "", **headers: str) -> str:
    resp = await api.get("/updates" + query, headers=headers)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Cache-Control"] == "no-store"
    return await resp.text()


def section(html: str, element_id: str) -> str:
    """The element with ``element_id`` up to the end of its section (or details)."""
    start = html.index(f'id="{element_id}"')
    ends = [i for i in (html.find("</section>", start), html.find("</details>", start)) if i > 0]
    return html[start:min(ends)]


def row_of(html: str, name: str) -> str:
    start = html.rindex("<tr", 0, html.index(f">{name}<"))
    return html[start:html.index("</tr>", start)]


async def test_available_update_for_viewers_and_operators(
    api: TestClient, outdated: Published, local_engine: Engine,
) -> None:
    check_ = core_of(api).updates.status("local", outdated.name)
    assert check_ is not None and check_.local_digest and check_.remote_digest

    viewer = await page(api, **await session_of(api, Role.VIEWER))
    assert '<a href="/updates" aria-current="page">Updates</a>' in viewer
    available = section(viewer, "available")
    row = row_of(available, outdated.name)
    assert outdated.ref in row
    local_short = check_.local_digest.split(":")[1][:12]
    remote_short = check_.remote_digest.split(":")[1][:12]
    assert re.search(rf"{local_short}</span> → <span[^>]*>{remote_short}", row), row
    assert 'href="/containers/local/' in row and "/logs" in row
    assert "Every checked container runs the newest image" not in viewer
    for button in BUTTONS:
        assert button not in viewer, button
    # Viewers see the schedule, not the way to change it (Settings is for admins).
    assert 'id="system-check"' in viewer and 'id="system-check-settings"' not in viewer

    operator = await page(api, **await session_of(api, Role.OPERATOR))
    for button in BUTTONS:
        assert button in operator, button
    assert f'aria-label="Update {outdated.name} on local">Update</button>' in operator
    assert 'id="system-check-settings"' not in operator

    admin = await page(api)
    assert 'href="/settings#update_check_cron" id="system-check-settings"' in admin


async def test_other_results_are_listed_collapsed_with_the_error(
    api: TestClient, local_engine: Engine,
) -> None:
    local_name, broken_name = unique("upd-local"), unique("upd-broken")
    # A container pulled from a registry that is gone by the check: an error, not an update.
    registry = await asyncio.to_thread(start_registry, "none")
    repo = unique("updates/gone")
    ref = registry.ref(repo, "v1")
    try:
        try:
            await registry.push(local_engine, image_of_tests(), repo, "v1")
            await run(local_engine, broken_name, ref)  # pulled from the registry
        finally:
            await asyncio.to_thread(registry.stop)
        await run(local_engine, local_name, image_of_tests())
        await cached(api, local_name)
        await cached(api, broken_name)
        summary = await check(api, local_name, broken_name)
        assert (summary["result"]["errors"], summary["result"]["local"]) == ("1", "1"), summary

        html = await page(api)
        opening = html[html.rindex("<", 0, html.index('id="others"')):
                       html.index(">", html.index('id="others"'))]
        assert opening.startswith("<details") and " open" not in opening  # collapsed
        others = section(html, "others")
        assert 'data-state="local"' in row_of(others, local_name)
        broken = row_of(others, broken_name)
        error = core_of(api).updates.status("local", broken_name)
        assert error is not None and error.error
        assert 'data-state="error"' in broken and str(escape(error.error)) in broken, broken
        # Neither is an available update.
        assert local_name not in section(html, "available")
        assert broken_name not in section(html, "available")
    finally:
        await docker(local_engine, "rm", "-f", local_name, broken_name, check=False)
        await docker(local_engine, "rmi", ref, check=False)


async def test_an_update_appears_in_the_history_and_leaves_the_list(
    api: TestClient, outdated: Published,
) -> None:
    done = await ok(await api.post(
        f"{V1}/hosts/local/containers/{outdated.name}/update", params={"wait": "120"}))
    assert done["status"] == "succeeded", done

    html = await page(api, **await session_of(api, Role.VIEWER))
    assert outdated.name not in section(html, "available")
    assert 'id="available-empty"' in html
    assert "Every checked container runs the newest image" in html
    assert "Last check:" in section(html, "available")
    history = section(html, "history")
    row = row_of(history, outdated.name)
    assert 'data-status="done"' in row and ">done</span>" in row
    old, new = outdated.v1_id.split(":")[1][:12], outdated.v2_id.split(":")[1][:12]
    assert f"{old} → {new}" in row, row
    assert outdated.ref in row and "admin" in row

    # The fragment the page's script swaps in: the sections alone.
    fragment = await page(api, **{"X-Fragment": "sections"})
    assert fragment.lstrip().startswith('<div id="update-sections">'), fragment[:200]
    assert "<html" not in fragment and 'id="system-check"' not in fragment
    assert row_of(section(fragment, "history"), outdated.name)


def entry(n: int, status: JournalStatus, error: str | None = None) -> JournalEntry:
    now = datetime.now(UTC)
    return JournalEntry(
        id=0, host="local", key=f"paged-{n:02d}", name=f"paged-{n:02d}", image="web:1",
        old_id="a" * 64, old_image_id="sha256:" + "1" * 64, temp_name=f"paged-{n:02d}-new",
        backup_name=f"paged-{n:02d}-old", was_running=True, step=UpdateStep.REMOVE_OLD,
        status=status, started_at=now, updated_at=now, actor="tester",
        new_image_id="sha256:" + "2" * 64, error=error)


async def test_history_pages_by_25(api: TestClient, daemon_config) -> None:  # type: ignore[no-untyped-def]
    # 27 finished updates, written through the journal the server reads.
    db = Database(daemon_config.database_url)
    try:
        journal = UpdateJournal(db)
        for n in range(27):
            status = JournalStatus.ROLLED_BACK if n == 26 else JournalStatus.DONE
            await journal.begin(entry(n, status, "the new container exited" if n == 26
                                      else None))
    finally:
        await db.close()

    first = await page(api)
    history = section(first, "history")
    names = re.findall(r'data-label="Container" class="wrap">(paged-\d\d)<', history)
    assert names == [f"paged-{n:02d}" for n in range(26, 1, -1)]  # newest first, 25
    newest = row_of(history, "paged-26")
    assert ">rolled back</span>" in newest and "the new container exited" in newest
    assert "Updates 1 to 25 of 27" in history
    assert 'href="/updates?offset=25" id="history-next"' in history
    assert 'id="history-prev"' not in history

    second = section(await page(api, "?offset=25"), "history")
    names = re.findall(r'data-label="Container" class="wrap">(paged-\d\d)<', second)
    assert names == ["paged-01", "paged-00"]
    assert "Updates 26 to 27 of 27" in second
    assert 'href="/updates?offset=0" id="history-prev"' in second
    assert 'id="history-next"' not in second

    # Nonsense offsets are read as the first page, never an error.
    assert "Updates 1 to 25 of 27" in section(await page(api, "?offset=abc"), "history")


async def test_the_next_scheduled_check_or_off(api: TestClient) -> None:
    await ok(await api.patch(f"{V1}/settings", json={"update_check_cron": "0 4 * * *",
                                                     "default_timezone": "Europe/Berlin"}))
    html = await page(api)
    notice = section(html, "system-check")
    assert "At 04:00 every day" in notice and "(Europe/Berlin)" in notice
    due = re.search(r'<time class="local" id="system-check-next" datetime="([^"]+)"', notice)
    assert due is not None
    moment = datetime.fromisoformat(due.group(1).replace("Z", "+00:00"))
    assert moment > datetime.now(UTC)
    assert moment.astimezone(ZoneInfo("Europe/Berlin")).hour == 4

    await ok(await api.patch(f"{V1}/settings", json={"update_check_cron": ""}))
    html = await page(api)
    notice = section(html, "system-check")
    assert "never: scheduled checks are off" in notice and "system-check-next" not in notice
    assert 'data-off="true"' in html


async def test_the_schedules_page_shows_the_system_check(api: TestClient) -> None:
    await ok(await api.patch(f"{V1}/settings", json={"update_check_cron": "30 2 * * 1"}))
    for headers in ({}, await session_of(api, Role.OPERATOR)):
        resp = await api.get("/schedules", headers=headers)
        assert resp.status == 200
        html = await resp.text()
        notice = html[html.index('id="system-check"'):html.index("</p>",
                                                                  html.index('id="system-check"'))]
        assert "check every container for updates" in notice
        assert "At 02:30" in notice and "Monday" in notice and "system-check-next" in notice
        # Not a stored schedule: no buttons of its own.
        assert "<button" not in notice and "Run now" not in notice
        assert ("system-check-settings" in notice) is (headers == {})

    await ok(await api.patch(f"{V1}/settings", json={"update_check_cron": ""}))
    html = await (await api.get("/schedules")).text()
    assert "never: scheduled checks are off" in html
