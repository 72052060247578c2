"""Container updates on the containers dashboard, in a real browser against the real engines and a
local registry: the update badge, "Update…" from the row menu with its live progress and outcome
(the badge then goes), "Check for updates" with its summary, no update controls for viewers, the
schedule form's "update" action, and a 360 px wide screen."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.app import create_app

from ..accounts import admin_client
from ..http import core_of, ok
from ..images import build, drop
from ..live import TEST_LABEL, Engine, docker, run_container, unique, wait_for
from ..registry import TestRegistry
from .conftest import PINNED, Tab, until

pytestmark = pytest.mark.live

V1 = "/api/v1"
WAIT = 20_000  # ms


@pytest.fixture
async def ui(clean_engines: None, daemon_config) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    """The UI server of tests/ui/conftest.py with a 1 s update grace period and no daily check
    firing during a test."""
    config = dataclasses.replace(daemon_config, settings={
        **PINNED, "update_grace_seconds": 1, "update_check_cron": ""})
    async with admin_client(create_app(config), config.database_url) as client:
        yield client


@dataclasses.dataclass(frozen=True)
class Published:
    """A container running v1 of ``ref`` while v2 is published under the same tag."""

    name: str
    ref: str
    v2_id: str


@contextlib.asynccontextmanager
async def published(ui: TestClient, registry: TestRegistry, engine: Engine,
                    v2_step: str) -> AsyncIterator[Published]:
    """A container running v1 while v2 (v1 + ``v2_step``) is published under its tag, and a
    check that found it."""
    tag = unique("ct-update-ui")
    v1_id = await build(engine, f"{tag}:v1", "ENV APP_VERSION=1")
    v2_id = await build(engine, f"{tag}:v2", v2_step)
    repo = unique("updates/ui")
    ref = await registry.push(engine, f"{tag}:v1", repo, "v1")
    name = unique("upd-ui")
    try:
        await docker(engine, "run", "-d", "--name", name, "--label", f"{TEST_LABEL}=1",
                     "--stop-timeout", "1", "--network", "none", ref, "sleep", "3600")
        await registry.push(engine, f"{tag}:v2", repo, "v1")
        await cached(ui, name)
        done = await ok(await ui.post(f"{V1}/updates/check", params={"wait": "60"},
                                      json={"targets": [{"host": "local", "ref": name}]}))
        assert done["result"]["available"] == "1", done
        yield Published(name=name, ref=ref, v2_id=v2_id)
    finally:
        await docker(engine, "rm", "-f", name, check=False)
        await drop(engine, ref, f"{tag}:v1", f"{tag}:v2", v1_id, v2_id)


@pytest.fixture
async def outdated(ui: TestClient, plain_registry: TestRegistry,
                   local_engine: Engine) -> AsyncIterator[Published]:
    async with published(ui, plain_registry, local_engine, "ENV APP_VERSION=2") as made:
        yield made


async def cached(ui: TestClient, name: str) -> None:
    watcher = core_of(ui).hosts.get("local")
    await wait_for(lambda: any(c.name == name for c in watcher.containers()),
                   what=f"{name} in the server's cache")


def named(name: str) -> str:
    return f'tr.row[data-name="{name}"]'


async def clean(tab: Tab) -> None:
    """The page reported no CSP violation and no script error."""
    assert await tab.csp_violations() == [], tab.page.url
    assert tab.console_errors == [], tab.page.url


async def open_page(tab: Tab, query: str = "") -> Any:
    page = tab.page
    await page.goto(f"{tab.base}/containers{query}")
    await until(page, "performance.getEntriesByName('list-ready').length === 1")
    # The stream is open (its subscriptions are made): live events reach the page from now.
    await until(page, "document.documentElement.dataset.live === 'open'")
    return page


NO_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


async def test_update_from_the_row_menu_shows_progress_then_success(
    tab: Tab, viewer_tab: Tab, outdated: Published, local_engine: Engine,
) -> None:
    # A viewer sees the badge but no way to update.
    viewer = await open_page(viewer_tab, f"?q={outdated.name}")
    badge = viewer.locator(f"{named(outdated.name)} .update-available")
    assert await badge.inner_text() == "update"
    assert await viewer.locator("#menu-update, #check-updates, [data-bulk='update'], "
                                ".menu-button").count() == 0
    await clean(viewer_tab)

    page = await open_page(tab, f"?q={outdated.name}")
    row = page.locator(named(outdated.name))
    title = await row.locator(".update-available").get_attribute("title")
    assert title == f"{outdated.ref}: a newer image is published"
    old_id = await row.get_attribute("id")

    await row.locator(".menu-button").click()
    await page.click("#menu-update")
    dialog = page.locator("#update-dialog")
    await dialog.wait_for(state="visible")
    assert outdated.name in await page.locator("#update-title").inner_text()
    assert outdated.ref in await page.locator("#update-text").inner_text()
    # Every text the step line shows, recorded in the page (steps can be brief).
    await page.evaluate("""() => {
      window.__steps = [];
      const line = document.getElementById("update-message");
      new MutationObserver(() => window.__steps.push(line.textContent))
        .observe(line, { childList: true, characterData: true, subtree: true });
    }""")
    await page.click("#update-start")
    result = page.locator("#update-result")
    await result.wait_for(state="visible", timeout=120_000)
    text = await result.inner_text()
    short = outdated.v2_id.removeprefix("sha256:")[:12]
    assert text == f"{outdated.name} updated to {short}.", text
    assert "notice-ok" in (await result.get_attribute("class") or "")
    steps = await page.evaluate("window.__steps")
    assert any(s and s not in ("Starting…", "Working…") for s in steps), steps
    assert await page.locator("#update-progress").is_hidden()
    assert await page.locator("#dash-status").inner_text() == text

    # The new container took the row's place (a new id), without the badge.
    new_id = json.loads(await docker(local_engine, "inspect", outdated.name))[0]["Id"]
    await page.locator(f"#c-local-{new_id[:12]}").wait_for(timeout=WAIT)
    assert f"c-local-{new_id[:12]}" != old_id
    await until(page, f"!document.querySelector('{named(outdated.name)} .update-available')")
    await page.click("#update-close")
    await dialog.wait_for(state="hidden")
    await clean(tab)


async def test_check_for_updates_shows_the_summary_and_fits_360_px(
    tab: Tab, ui: TestClient, local_engine: Engine,
) -> None:
    _, name = await run_container(local_engine, name=unique("upd-check"))
    await cached(ui, name)
    page = tab.page
    await page.set_viewport_size({"width": 360, "height": 740})
    await open_page(tab, "?host=local")
    assert await page.evaluate(NO_SCROLL)

    await page.click("#check-updates")
    status = page.locator("#dash-status")
    await page.locator("#dash-status:text-matches('^Checked ')").wait_for(timeout=120_000)
    text = await status.inner_text()
    ops = core_of(ui).operations.list(kind="update.check")
    assert ops and ops[0].host == "local" and ops[0].status.value == "succeeded"
    r = ops[0].result
    checked, available = int(r["checked"]), int(r["available"])
    assert checked >= 1
    assert text.startswith(f"Checked {checked} container{'' if checked == 1 else 's'}: ")
    assert ("no update available" if available == 0 else
            f"{available} update{'' if available == 1 else 's'} available") in text
    assert re.fullmatch(r"Checked \d+ containers?: [^.]+\.", text), text
    assert await page.locator("#check-updates").is_enabled()
    # The check found the test image to be local: said in the details, not as an alarm.
    row = page.locator(named(name))
    assert await row.locator(".update-available").count() == 0
    await row.locator(".disclose").click()
    note = page.locator(f"#d-{await row.get_attribute('id')} .update-note")
    await note.wait_for(timeout=WAIT)
    assert (await note.inner_text()).startswith("a local image: no registry to check")

    # The dialog fits the narrow screen too.
    await row.locator(".menu-button").click()
    await page.click("#menu-update")
    await page.locator("#update-dialog").wait_for(state="visible")
    assert await page.evaluate(NO_SCROLL)
    box = await page.locator("#update-dialog").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
    await page.keyboard.press("Escape")
    await page.locator("#update-dialog").wait_for(state="hidden")
    assert await page.evaluate(NO_SCROLL)
    await clean(tab)


async def test_the_schedule_form_offers_update(tab: Tab, ui: TestClient,
                                               local_engine: Engine) -> None:
    _, name = await run_container(local_engine, name=unique("upd-sched"))
    await cached(ui, name)
    page = tab.page
    await page.goto(f"{tab.base}/schedules/new?host=local&key={name}")
    option = page.locator("#target-action option[value='update']")
    assert await option.count() == 1
    assert (await option.inner_text()).lower() == "update"
    assert "container" in (await option.get_attribute("data-kinds") or "").split()
    assert "label" in (await option.get_attribute("data-kinds") or "").split()
    await page.select_option("#target-action", "update")
    assert await page.locator("#target-action").input_value() == "update"
    await clean(tab)


async def test_bulk_update_reports_a_rollback(tab: Tab, ui: TestClient,
                                              plain_registry: TestRegistry,
                                              local_engine: Engine) -> None:
    async with published(ui, plain_registry, local_engine, 'ENTRYPOINT ["false"]') as broken:
        old_id = json.loads(await docker(local_engine, "inspect", broken.name))[0]["Id"]
        page = await open_page(tab, f"?q={broken.name}")
        await page.locator(f"{named(broken.name)} .pick").check()
        await page.click("#bulk [data-bulk='update']")
        await page.locator("#confirm-dialog").wait_for(state="visible")
        assert await page.locator("#confirm-title").inner_text() == "Update 1 container?"
        await page.click("#confirm-ok")
        await page.locator("#bulk-result").wait_for(state="visible", timeout=WAIT)
        assert await page.locator("#bulk-result-title").inner_text() == \
            "Update: 1 started, 0 refused"
        item = page.locator("#bulk-items li")
        await page.locator("#bulk-items li.result-failed").wait_for(timeout=120_000)
        text = await item.inner_text()
        assert text.startswith(f"Update of {broken.name} rolled back: "), text
        # The old container runs on under its name, still outdated.
        doc = json.loads(await docker(local_engine, "inspect", broken.name))[0]
        assert doc["Id"] == old_id and doc["State"]["Running"]
        assert await page.locator(f"#c-local-{old_id[:12]} .update-available").count() == 1
    await clean(tab)
