"""The updates page in a real browser against the real engines and a local registry, on a 360 px
wide screen: an available update is listed; "Update" (from the keyboard) opens the dialog with
live progress; when it ends the item leaves the list and a "done" history row appears, without a
reload (the page follows the tab's event stream); viewers get no buttons."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.app import create_app

from ..accounts import admin_client
from ..live import Engine
from ..registry import TestRegistry
from .conftest import PINNED, Tab, until
from .test_updates_ui import NO_SCROLL, Published, clean, published

pytestmark = pytest.mark.live

WAIT = 20_000  # ms


@pytest.fixture
async def ui(clean_engines: None, daemon_config) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    """The UI server of tests/ui/conftest.py with a 1 s update grace period and no scheduled
    check firing during a test."""
    config = dataclasses.replace(daemon_config, settings={
        **PINNED, "update_grace_seconds": 1, "update_check_cron": ""})
    async with admin_client(create_app(config), config.database_url) as client:
        yield client


@pytest.fixture
async def outdated(ui: TestClient, plain_registry: TestRegistry,
                   local_engine: Engine) -> AsyncIterator[Published]:
    async with published(ui, plain_registry, local_engine, "ENV APP_VERSION=2") as made:
        yield made


def listed(name: str) -> str:
    return f'#available-list tr.row[data-name="{name}"]'


async def open_updates(tab: Tab) -> None:
    page = tab.page
    await page.set_viewport_size({"width": 360, "height": 740})
    await page.goto(f"{tab.base}/updates")
    # The stream is open (its subscriptions are made): live events reach the page from now.
    await until(page, "document.documentElement.dataset.live === 'open'")


async def test_update_from_the_page_moves_the_item_to_the_history(
    tab: Tab, viewer_tab: Tab, outdated: Published,
) -> None:
    # A viewer sees the update, and no button.
    await open_updates(viewer_tab)
    viewer = viewer_tab.page
    assert await viewer.locator(listed(outdated.name)).count() == 1
    assert await viewer.locator("main button").count() == 0
    assert await viewer.evaluate(NO_SCROLL)
    await clean(viewer_tab)

    await open_updates(tab)
    page = tab.page
    row = page.locator(listed(outdated.name))
    assert outdated.ref in await row.locator("td.image").inner_text()
    assert await page.evaluate(NO_SCROLL)
    notice = " ".join((await page.locator("#system-check").inner_text()).split())
    assert notice == ("System: check every container for updates: never: scheduled checks are "
                      "off. Change in Settings"), notice

    # Keyboard: focus the row's Update button, Enter opens the dialog.
    await row.locator("button.update-one").focus()
    await page.keyboard.press("Enter")
    dialog = page.locator("#update-dialog")
    await dialog.wait_for(state="visible")
    assert outdated.name in await page.locator("#update-title").inner_text()
    assert outdated.ref in await page.locator("#update-text").inner_text()
    box = await dialog.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
    # Every text the step line shows, recorded in the page (steps can be brief).
    await page.evaluate("""() => {
      window.__steps = [];
      const line = document.getElementById("update-message");
      new MutationObserver(() => window.__steps.push(line.textContent))
        .observe(line, { childList: true, characterData: true, subtree: true });
    }""")
    await page.locator("#update-start").focus()
    await page.keyboard.press("Enter")
    result = page.locator("#update-result")
    await result.wait_for(state="visible", timeout=120_000)
    short = outdated.v2_id.removeprefix("sha256:")[:12]
    assert await result.inner_text() == f"{outdated.name} updated to {short}."
    steps = await page.evaluate("window.__steps")
    assert any(s and s not in ("Starting…", "Working…") for s in steps), steps
    assert await page.locator("#updates-status").inner_text() == (
        f"{outdated.name} updated to {short}.")

    # Without a reload: the item leaves the list, a "done" row tops the history.
    await until(page, f"!document.querySelector('{listed(outdated.name)}')", timeout=WAIT)
    await until(page, "document.getElementById('available-empty') !== null", timeout=WAIT)
    done = page.locator(f'#history-list tr.history-row[data-key="{outdated.name}"]')
    await done.first.wait_for(timeout=WAIT)
    assert await done.first.get_attribute("data-status") == "done"
    assert await done.first.locator(".badge").inner_text() == "done"
    assert short in await done.first.inner_text()
    await page.keyboard.press("Escape")
    await dialog.wait_for(state="hidden")
    assert await page.evaluate(NO_SCROLL)
    await clean(tab)


async def test_update_all_reports_each_item(tab: Tab, outdated: Published) -> None:
    await open_updates(tab)
    page = tab.page
    await page.click("#update-all")
    confirm = page.locator("#confirm-dialog")
    await confirm.wait_for(state="visible")
    assert await page.locator("#confirm-title").inner_text() == "Update 1 container?"
    await page.click("#confirm-ok")
    results = page.locator("#bulk-result")
    await results.wait_for(state="visible", timeout=WAIT)
    assert await page.locator("#bulk-result-title").inner_text() == "Update: 1 started, 0 refused"
    items = page.locator("#bulk-items li")
    assert await items.count() == 1
    short = outdated.v2_id.removeprefix("sha256:")[:12]
    await until(page, "document.querySelector('#bulk-items li.result-ok') !== null",
                timeout=120_000)
    assert await items.inner_text() == f"{outdated.name} updated to {short} (local)."
    await until(page, f"!document.querySelector('{listed(outdated.name)}')", timeout=WAIT)
    await page.click("#bulk-result-close")
    assert await results.is_hidden()
    await clean(tab)
