"""The webhooks page and the activity page in a real browser, against the real engines.

A webhook made on the page is called over HTTP with the URL the page showed, and restarts a
real container; the activity page lists container actions done through the API by people, API
keys and schedules.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from ..live import Engine, docker, run_container, unique
from .conftest import Tab
from .test_schedules_pages_live import (
    NO_SIDEWAYS_SCROLL,
    V1,
    WAIT,
    clean,
    make_schedule,
    started_at,
)

pytestmark = pytest.mark.live

TRIGGER = f"{V1}/webhooks/trigger/"


async def webhooks(ui: TestClient) -> list[dict[str, Any]]:
    resp = await ui.get(f"{V1}/webhooks")
    assert resp.status == 200, await resp.text()
    items: list[dict[str, Any]] = (await resp.json())["items"]
    return items


async def call(url: str) -> tuple[int, dict[str, Any]]:
    """POST a webhook URL from outside the browser, as a CI job would."""
    async with aiohttp.ClientSession() as session, session.post(url) as resp:
        return resp.status, await resp.json()


async def create_on_page(page: Any, name: str, key: str) -> None:
    await page.fill("#wh-name", name)
    await page.check("#wh-fields [data-role=kind][value=container]")
    await page.select_option("#wh-host", "local")
    await page.select_option("#wh-key-local", key)
    await page.select_option("#wh-action", "restart")
    await page.click("#webhook-create")


async def test_create_a_locked_webhook_and_call_its_url_once_shown(
    tab: Tab, ui: TestClient, local_engine: Engine
) -> None:
    _, name = await run_container(local_engine, name=unique("hook"))
    page = tab.page
    await page.goto(f"{tab.base}/webhooks")
    assert await page.locator("#webhooks-empty").is_visible()
    await create_on_page(page, "deploy web", name)

    # The one-time panel: the full URL, a copy button and an example curl call.
    panel = page.locator("#webhook-secret")
    await panel.wait_for(state="visible", timeout=WAIT)
    url = await page.locator("#webhook-url").input_value()
    assert url.startswith(tab.base + TRIGGER)
    token = url.removeprefix(tab.base + TRIGGER)
    assert len(token) >= 40
    curl = await page.locator("#webhook-curl").inner_text()
    assert curl == f"curl -X POST '{url}?wait=10'"
    await page.click("#webhook-copy")
    copied = page.locator("#webhook-copy-state:not(:empty)")
    await copied.wait_for()
    if "Selected" in await copied.inner_text():  # no clipboard here: the text is selected
        selected = await page.evaluate("document.getSelection().toString() || "
                                       "document.activeElement.value.slice("
                                       "document.activeElement.selectionStart, "
                                       "document.activeElement.selectionEnd)")
        assert selected == url

    # The list shows it, by its prefix only; the API has it bound to the container.
    made = await webhooks(ui)
    assert len(made) == 1
    hook = made[0]
    assert hook["locked"] and hook["action"] == "restart" and hook["target"]["key"] == name
    assert token.startswith(hook["token_prefix"])
    row = page.locator(f"#webhook-{hook['id']}")
    await row.wait_for()
    assert f"container {name} on local" in await row.locator("[data-label=Runs]").inner_text()
    assert await row.locator("[data-label=Calls]").inner_text() == "0"

    # The URL shown works: it restarts the real container.
    before = await started_at(local_engine, name)
    status, run = await call(f"{url}?wait=20")
    assert status == 200 and run["result"] == "ok", run
    assert await started_at(local_engine, name) != before

    # Done hides it, and a reload never shows the token again.
    await page.click("#webhook-secret-close")
    assert await panel.is_hidden()
    await page.reload()
    assert await panel.is_hidden()
    assert token not in await page.content()
    assert await row.locator("[data-label=Calls]").inner_text() == "1"
    await clean(tab)


async def test_new_token_disable_and_delete(tab: Tab, ui: TestClient,
                                            local_engine: Engine) -> None:
    _, name = await run_container(local_engine, name=unique("hook"))
    page = tab.page
    await page.goto(f"{tab.base}/webhooks")
    await create_on_page(page, "rotate me", name)
    await page.locator("#webhook-secret").wait_for(state="visible", timeout=WAIT)
    old_url = await page.locator("#webhook-url").input_value()
    hook = (await webhooks(ui))[0]
    row = page.locator(f"#webhook-{hook['id']}")

    # A new token asks first; the old URL stops working, the new one is shown once.
    await page.click("#webhook-secret-close")
    await row.locator("[data-action=regenerate]").click()
    dialog = page.locator("#webhook-confirm")
    await dialog.wait_for()
    await page.click("#webhook-confirm-ok")
    await page.locator("#webhook-secret").wait_for(state="visible", timeout=WAIT)
    new_url = await page.locator("#webhook-url").input_value()
    assert new_url != old_url and new_url.startswith(tab.base + TRIGGER)
    assert (await call(old_url))[0] == 404

    # Disabled, a call is refused; the switch persists.
    await row.locator(".enabled-toggle").uncheck()
    await page.locator(f"#webhook-{hook['id']} [data-label=Enabled]",
                       has_text="off").wait_for(timeout=WAIT)
    assert (await webhooks(ui))[0]["enabled"] is False
    assert (await call(new_url))[0] == 403

    # Delete asks first, then the row goes and the empty state returns.
    await page.locator(f"#webhook-{hook['id']} [data-action=delete]").click()
    await page.click("#webhook-confirm-ok")
    await page.locator(f"#webhook-{hook['id']}").wait_for(state="detached", timeout=WAIT)
    assert await page.locator("#webhooks-empty").is_visible()
    assert await webhooks(ui) == []
    await clean(tab)


async def test_a_bad_network_is_named_and_nothing_is_created(tab: Tab, ui: TestClient,
                                                             local_engine: Engine) -> None:
    _, name = await run_container(local_engine, name=unique("hook"))
    page = tab.page
    await page.goto(f"{tab.base}/webhooks")
    await page.fill("#wh-cidrs", "10.0.0.0/33")
    await create_on_page(page, "bad network", name)
    error = page.locator("#wh-cidrs-error")
    await error.wait_for(state="visible", timeout=WAIT)
    assert await error.inner_text()
    assert await page.locator("#webhook-secret").is_hidden()
    assert await webhooks(ui) == []
    await clean(tab, refused=(400,), count=1)


async def test_viewer_sees_webhooks_without_controls(viewer_tab: Tab,
                                                     ui: TestClient,
                                                     local_engine: Engine) -> None:
    _, name = await run_container(local_engine, name=unique("hook"))
    resp = await ui.post(f"{V1}/webhooks", json={
        "name": "deploy", "action": "restart",
        "target": {"kind": "container", "host": "local", "key": name}})
    assert resp.status == 201, await resp.text()
    hook = (await resp.json())["webhook"]
    page = viewer_tab.page
    await page.goto(f"{viewer_tab.base}/webhooks")
    row = page.locator(f"#webhook-{hook['id']}")
    await row.wait_for()
    assert await row.locator("[data-label=Token]").inner_text() == f"{hook['token_prefix']}…"
    controls = "#webhook-form, .enabled-toggle, [data-action=regenerate], [data-action=delete]"
    assert await page.locator(controls).count() == 0
    await clean(viewer_tab)


async def test_activity_lists_container_actions_by_actor(
    tab: Tab, ui: TestClient, local_engine: Engine
) -> None:
    _, name = await run_container(local_engine, name=unique("act"))
    page = tab.page
    await page.goto(f"{tab.base}/activity")
    assert await page.locator("#activity-empty").is_visible()
    # As the logged-in user, through the API with the page's session and CSRF token.
    csrf = await page.get_attribute('meta[name="csrf-token"]', "content")
    resp = await page.request.post(f"{tab.base}{V1}/hosts/local/containers/{name}/restart",
                                   headers={"X-CSRF-Token": csrf or ""})
    assert resp.ok, await resp.text()
    # As a schedule, and through an API key (the test client's).
    schedule = await make_schedule(ui, name, name="nightly restart")
    run = await ui.post(f"{V1}/schedules/{schedule['id']}/run", params={"wait": "20"})
    assert (await run.json())["result"] == "ok"
    await docker(local_engine, "stop", "-t", "1", name)
    refused = await ui.post(f"{V1}/hosts/local/containers/{name}/kill")
    assert refused.status == 409  # a stopped container cannot be killed: an error entry

    await page.reload()
    rows = page.locator("#activity-list tr.activity-row")
    assert await rows.count() == 3
    texts = [await rows.nth(i).inner_text() for i in range(3)]
    # Newest first: the refused kill, the schedule's restart, the user's restart.
    assert [await rows.nth(i).get_attribute("data-actor-kind") for i in range(3)] == [
        "api_key", "schedule", "user"]
    assert "kill" in texts[0] and "error" in texts[0] and "only a running one" in texts[0]
    assert "schedule: nightly restart" in texts[1] and "ok" in texts[1]
    user_row = rows.nth(2)
    assert await user_row.locator(".actor").inner_text() == "user: admin"
    assert await user_row.locator(".action").inner_text() == "restart"
    assert await user_row.locator("[data-label=Result]").inner_text() == "ok"
    assert name in await user_row.locator("[data-label=Container]").inner_text()

    # Filters: by kind of actor, then by result, through the GET form.
    await page.select_option("#filter-actor_kind", "user")
    await page.click("#activity-filters button[type=submit]")
    await page.wait_for_url("**/activity?*actor_kind=user*")
    assert await rows.count() == 1
    assert await rows.first.get_attribute("data-actor-kind") == "user"
    await page.select_option("#filter-actor_kind", "webhook")
    await page.click("#activity-filters button[type=submit]")
    await page.wait_for_url("**/activity?*actor_kind=webhook*")
    assert await rows.count() == 0
    assert "Nothing matches" in await page.locator("#activity-empty").inner_text()
    await page.goto(f"{tab.base}/activity?result=error")
    assert [await rows.nth(i).get_attribute("data-result") for i in range(await rows.count())] \
        == ["error"]
    # A bad filter value: the page says which, with 400.
    response = await page.goto(f"{tab.base}/activity?actor_kind=robot")
    assert response is not None and response.status == 400
    assert "actor kind" in (await page.locator("#activity-error").inner_text()).lower()
    await clean(tab, refused=(400,), count=1)


async def test_no_horizontal_scroll_at_360_px(tab: Tab, ui: TestClient,
                                              local_engine: Engine) -> None:
    _, name = await run_container(local_engine, name=unique("a-rather-long-container-name"))
    resp = await ui.post(f"{V1}/webhooks", json={
        "name": "deploy the long-named container after each push", "action": "restart",
        "allowed_cidrs": ["192.168.100.0/24", "2001:db8::/32", "127.0.0.0/8"],
        "target": {"kind": "container", "host": "local", "key": name}})
    assert resp.status == 201, await resp.text()
    url = tab.base + (await resp.json())["url_path"]
    status, run = await call(f"{url}?wait=20")
    assert status == 200, run
    page = tab.page
    await page.set_viewport_size({"width": 360, "height": 740})
    await page.goto(f"{tab.base}/webhooks")
    assert await page.evaluate(NO_SIDEWAYS_SCROLL)
    await create_on_page(page, "another", name)
    await page.locator("#webhook-secret").wait_for(state="visible", timeout=WAIT)
    assert await page.evaluate(NO_SIDEWAYS_SCROLL)
    await page.goto(f"{tab.base}/activity")
    assert await page.locator("#activity-list tr").count() > 1
    assert await page.evaluate(NO_SIDEWAYS_SCROLL)
    await clean(tab)
