"""The schedules pages in a real browser, against the real engines.

Schedules are made through the pages (or the API, where the test is about something else), and
their runs act on real containers; run results reach the page through the tab's one SSE stream
(live.js). Every wait polls with a generous timeout and never measures a duration.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ..live import Engine, docker, run_container, unique, wait_for
from .conftest import Tab

pytestmark = pytest.mark.live

V1 = "/api/v1"
WAIT = 20_000  # ms: a safety net for Docker and the stream, not a measure
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


async def clean(tab: Tab, *, refused: tuple[int, ...] = (), count: int | None = None) -> None:
    """No CSP violation and no script error; ``refused`` statuses the test provoked on purpose
    (the browser logs each refused request), ``count`` of them when given."""
    assert await tab.csp_violations() == [], tab.page.url
    expected = tuple(f"the server responded with a status of {s} " for s in refused)
    errors = [e for e in tab.console_errors if not any(x in e for x in expected)]
    assert errors == [], errors
    if count is not None:
        assert len(tab.console_errors) == count, tab.console_errors


async def live(page: Any) -> None:
    """Wait until the tab's live stream is open (live.js marks <html data-live="open">)."""
    await page.locator("html[data-live=open]").wait_for(state="attached", timeout=WAIT)


async def schedules(ui: TestClient) -> list[dict[str, Any]]:
    resp = await ui.get(f"{V1}/schedules")
    assert resp.status == 200, await resp.text()
    items: list[dict[str, Any]] = (await resp.json())["items"]
    return items


async def make_schedule(ui: TestClient, key: str, *, action: str = "restart",
                        name: str | None = None) -> dict[str, Any]:
    body = {"name": name or unique("nightly"), "action": action,
            "target": {"kind": "container", "host": "local", "key": key},
            "trigger": {"kind": "cron", "cron": "0 3 * * *", "timezone": "Europe/Berlin"}}
    resp = await ui.post(f"{V1}/schedules", json=body)
    assert resp.status == 201, await resp.text()
    created: dict[str, Any] = await resp.json()
    return created


async def started_at(engine: Engine, name: str) -> str:
    return str(json.loads(await docker(engine, "inspect", name))[0]["State"]["StartedAt"])


async def test_schedule_a_container_from_its_row_in_at_most_four_clicks(
    tab: Tab, ui: TestClient, local_engine: Engine
) -> None:
    cid, name = await run_container(local_engine, name=unique("sched"))
    page = tab.page
    await page.goto(f"{tab.base}/containers?q={name}")
    row = f"#c-local-{cid[:12]}"
    await page.locator(f"{row} .menu-button").wait_for(timeout=WAIT)
    clicks = 0

    async def click(selector: str) -> None:
        nonlocal clicks
        await page.click(selector)
        clicks += 1

    await click(f"{row} .menu-button")
    await click("#row-menu #menu-schedule")
    await page.wait_for_url("**/schedules/new?*")
    # Pre-filled: this container, restart, every day at 03:00, with its preview.
    assert await page.locator("#target-key-local").input_value() == name
    assert await page.locator("#target-action").input_value() == "restart"
    assert await page.locator("#cron").input_value() == "0 3 * * *"
    await page.locator("#preview-runs li").nth(4).wait_for(timeout=WAIT)
    await click("#schedule-save")
    await page.wait_for_url("**/schedules#schedule-*")
    assert clicks <= 4

    made = [s for s in await schedules(ui) if s["target"].get("key") == name]
    assert len(made) == 1, made
    schedule = made[0]
    assert schedule["action"] == "restart" and schedule["enabled"] is True
    assert schedule["target"]["host"] == "local" and schedule["target"]["kind"] == "container"
    assert schedule["trigger"]["cron"] == "0 3 * * *" and schedule["next_run_at"]
    # The list shows it, with its next run in the browser's time (UTC in the title).
    listed = page.locator(f"#schedule-{schedule['id']}")
    await listed.wait_for()
    assert name in await listed.locator("[data-label=Target]").inner_text()
    next_run = listed.locator(".next-run time")
    assert await next_run.get_attribute("datetime") == schedule["next_run_at"]
    assert (await next_run.get_attribute("title") or "").endswith(" UTC")
    assert await listed.locator(".last-result").inner_text() == "never ran"
    await clean(tab)


async def test_form_previews_presets_and_refuses_a_bad_expression(
    tab: Tab, ui: TestClient, local_engine: Engine
) -> None:
    _, name = await run_container(local_engine, name=unique("sched"))
    page = tab.page
    await page.goto(f"{tab.base}/schedules/new?host=local&key={name}")
    runs = page.locator("#preview-runs li")
    await runs.nth(4).wait_for(timeout=WAIT)
    assert await runs.count() == 5
    description = page.locator("#preview-description")
    assert "03:00" in await description.inner_text()

    # A preset fills the expression; the preview follows.
    await page.select_option("#preset", "0 3 * * 1")
    assert await page.locator("#cron").input_value() == "0 3 * * 1"
    await page.locator("#preview-description", has_text="Monday").wait_for(timeout=WAIT)
    assert await runs.count() == 5
    times = [await runs.nth(i).locator("time").get_attribute("datetime") for i in range(5)]
    assert times == sorted(times) and len(set(times)) == 5

    # A bad custom expression: the error shows by the field, no runs, Save creates nothing.
    await page.fill("#cron", "61 * * * *")
    error = page.locator("#cron-error")
    await error.wait_for(state="visible", timeout=WAIT)
    assert await error.inner_text()
    assert await page.get_attribute("#cron", "aria-invalid") == "true"
    assert await page.locator("#preset").input_value() == ""  # custom now
    assert await runs.count() == 0
    await page.click("#schedule-save")
    await page.locator("#cron-error:not(:empty)").wait_for(timeout=WAIT)
    assert page.url.endswith(f"/schedules/new?host=local&key={name}")
    assert await schedules(ui) == []

    # An unknown zone is named by its field too.
    await page.fill("#cron", "*/15 * * * *")
    await page.fill("#timezone", "Mars/Olympus")
    await page.locator("#timezone-error").wait_for(state="visible", timeout=WAIT)
    assert await error.is_hidden()
    await clean(tab, refused=(400,), count=3)


async def test_an_image_pull_schedule_from_the_images_page_link(tab: Tab, ui: TestClient) -> None:
    page = tab.page
    await page.goto(f"{tab.base}/schedules/new?host=local&image=nginx:1.27")
    assert await page.is_checked('input[name="target-kind"][value="image"]')
    assert await page.locator("#target-image").input_value() == "nginx:1.27"
    assert await page.locator("#target-action").input_value() == "pull"
    assert await page.locator("#target-key-local").is_hidden()
    assert await page.locator("#name").input_value() == "Pull nginx:1.27"

    # Not a reference: the error shows by the image field and nothing is stored.
    await page.fill("#target-image", "Not An Image")
    await page.click("#schedule-save")
    await page.locator("#target-image-error:not(:empty)").wait_for(timeout=WAIT)
    assert await schedules(ui) == []

    await page.fill("#target-image", "ghcr.io/owner/app:2")
    await page.click("#schedule-save")
    await page.wait_for_url(f"{tab.base}/schedules#schedule-*", timeout=WAIT)
    [made] = await schedules(ui)
    assert made["action"] == "pull"
    assert made["target"] == {"kind": "image", "host": "local", "key": None, "label": None,
                              "image": "ghcr.io/owner/app:2"}
    row = page.locator(f"#schedule-{made['id']}")
    await row.wait_for(timeout=WAIT)
    assert "image ghcr.io/owner/app:2 on local" in " ".join((await row.inner_text()).split())
    await clean(tab, refused=(400,), count=1)


async def test_a_one_time_schedule_is_at_a_wall_time_of_its_zone(
    tab: Tab, ui: TestClient, local_engine: Engine
) -> None:
    _, name = await run_container(local_engine, name=unique("sched"))
    page = tab.page
    await page.goto(f"{tab.base}/schedules/new?host=local&key={name}")
    await page.check("input[name=trigger][value=once]")
    assert await page.locator("#cron").is_hidden()
    await page.locator("#preview-state", has_text="Pick a date").wait_for(timeout=WAIT)
    await page.fill("#timezone", "Europe/Berlin")
    await page.fill("#at", "2031-01-02T03:00")
    # 03:00 in Berlin in winter is 02:00 UTC.
    run = page.locator("#preview-runs li time")
    await run.wait_for(timeout=WAIT)
    assert await run.get_attribute("datetime") == "2031-01-02T02:00:00.000000Z"
    assert "2031" in await page.locator("#preview-description").inner_text()
    await page.click("#schedule-save")
    await page.wait_for_url("**/schedules#schedule-*")
    (made,) = await schedules(ui)
    assert made["trigger"]["kind"] == "once" and made["trigger"]["timezone"] == "Europe/Berlin"
    assert made["trigger"]["at"] == "2031-01-02T02:00:00.000000Z"
    # Editing shows the same wall time again.
    await page.goto(f"{tab.base}/schedules/{made['id']}/edit")
    assert await page.locator("#at").input_value() == "2031-01-02T03:00"
    assert await page.locator("input[name=trigger][value=once]").is_checked()
    await clean(tab)


async def test_run_now_shows_the_result_and_restarts_the_container(
    tab: Tab, ui: TestClient, local_engine: Engine
) -> None:
    _, name = await run_container(local_engine, name=unique("sched"))
    schedule = await make_schedule(ui, name)
    before = await started_at(local_engine, name)
    page = tab.page
    await page.goto(f"{tab.base}/schedules")
    await live(page)
    row = page.locator(f"#schedule-{schedule['id']}")
    await row.locator("[data-action=run]").click()
    badge = row.locator(".last-result .badge", has_text="ok")
    await badge.wait_for(timeout=WAIT)
    status = page.locator("#schedules-status")
    await status.filter(has_text=": ok").wait_for(timeout=WAIT)
    assert schedule["name"] in await status.inner_text()
    assert await started_at(local_engine, name) != before

    # A failing run: the container is gone; the badge says error and shows why on expand.
    await docker(local_engine, "rm", "-f", name)
    await row.locator("[data-action=run]").click()
    failed = row.locator(".last-result details.run-why")
    await failed.locator(".badge", has_text="error").wait_for(timeout=WAIT)
    why = failed.locator("p")
    assert await why.is_hidden()
    await failed.locator("summary").click()
    assert name in await why.inner_text()
    await clean(tab)


async def test_enable_toggle_edit_and_delete_persist(
    tab: Tab, ui: TestClient, local_engine: Engine
) -> None:
    _, name = await run_container(local_engine, name=unique("sched"))
    schedule = await make_schedule(ui, name)
    page = tab.page
    await page.goto(f"{tab.base}/schedules")
    toggle = page.locator(f"#schedule-{schedule['id']} .enabled-toggle")
    await toggle.uncheck()

    async def enabled() -> bool | None:
        found = [s for s in await schedules(ui) if s["id"] == schedule["id"]]
        return found[0]["enabled"] if found else None

    await wait_for(lambda: _is(enabled(), False), what="the schedule disabled")
    await page.locator(f"#schedule-{schedule['id']} .next-run", has_text="disabled").wait_for()
    await page.reload()
    assert not await toggle.is_checked()
    await toggle.check()
    await wait_for(lambda: _is(enabled(), True), what="the schedule enabled again")

    # Edit: another name and preset; the list shows the change.
    await page.goto(f"{tab.base}/schedules/{schedule['id']}/edit")
    assert await page.locator("#name").input_value() == schedule["name"]
    assert await page.locator("#timezone").input_value() == "Europe/Berlin"
    await page.fill("#name", "hourly restart")
    await page.select_option("#preset", "0 * * * *")
    await page.click("#schedule-save")
    await page.wait_for_url(f"**/schedules#schedule-{schedule['id']}")
    changed = next(s for s in await schedules(ui) if s["id"] == schedule["id"])
    assert changed["name"] == "hourly restart" and changed["trigger"]["cron"] == "0 * * * *"

    # Delete asks first; Cancel keeps it.
    row = page.locator(f"#schedule-{schedule['id']}")
    await row.locator("[data-action=delete]").click()
    dialog = page.locator("#schedule-delete")
    await dialog.wait_for()
    await dialog.locator("[data-action=close]").click()
    assert await dialog.is_hidden() and len(await schedules(ui)) == 1
    await row.locator("[data-action=delete]").click()
    await page.click("#schedule-delete-ok")
    await row.wait_for(state="detached")
    assert await page.locator("#schedules-empty").is_visible()
    assert await schedules(ui) == []
    await clean(tab)


async def _is(value: Any, expected: Any) -> bool:
    return await value is expected


async def test_history_page_lists_runs_live(tab: Tab, ui: TestClient,
                                            local_engine: Engine) -> None:
    _, name = await run_container(local_engine, name=unique("sched"))
    schedule = await make_schedule(ui, name)
    resp = await ui.post(f"{V1}/schedules/{schedule['id']}/run", params={"wait": "20"})
    assert resp.status == 200, await resp.text()
    page = tab.page
    await page.goto(f"{tab.base}/schedules/{schedule['id']}")
    rows = page.locator("#run-list tr.run-row")
    assert await rows.count() == 1
    first = rows.first
    assert await first.locator("[data-label=Result]").inner_text() == "ok"
    assert await first.locator("[data-label=Trigger]").inner_text() == "run now"
    assert await first.locator("[data-label=Attempt]").inner_text() == "1"
    assert f"{name}" in await first.locator("[data-label='Error or detail']").inner_text()
    assert "Europe/Berlin" in await page.locator("#schedule-facts").inner_text()

    # Run now from this page: the new run appears on top by itself.
    await live(page)
    await page.click(".page-head [data-action=run]")
    await page.locator("#run-list tr.run-row").nth(1).wait_for(timeout=WAIT)
    await page.locator("#run-list tr.run-row").first.locator(
        "[data-label=Result]", has_text="ok").wait_for(timeout=WAIT)
    assert await page.locator("#runs-count").inner_text() == "1\N{EN DASH}2 of 2"
    await clean(tab)


async def test_viewer_sees_no_controls(viewer_tab: Tab, ui: TestClient,
                                       local_engine: Engine) -> None:
    _, name = await run_container(local_engine, name=unique("sched"))
    schedule = await make_schedule(ui, name)
    page = viewer_tab.page
    await page.goto(f"{viewer_tab.base}/schedules")
    row = page.locator(f"#schedule-{schedule['id']}")
    await row.wait_for()
    assert await row.locator("[data-label=Enabled]").inner_text() == "on"
    controls = ("#schedule-new, [data-action=run], [data-action=delete], .enabled-toggle, "
                "a[href$='/edit']")
    assert await page.locator(controls).count() == 0
    assert await row.locator("a", has_text="History").count() == 1
    await page.goto(f"{viewer_tab.base}/schedules/{schedule['id']}")
    assert await page.locator("h1").inner_text() == schedule["name"]
    assert await page.locator(controls).count() == 0
    # The form is for operators: a viewer asking for it is refused.
    for path in ("/schedules/new", f"/schedules/{schedule['id']}/edit"):
        refused = await page.request.get(viewer_tab.base + path)
        assert refused.status == 403, path
    await clean(viewer_tab, count=0)


async def test_empty_state_and_missing_schedule(tab: Tab) -> None:
    page = tab.page
    await page.goto(f"{tab.base}/schedules")
    empty = page.locator("#schedules-empty")
    assert await empty.is_visible()
    assert "A schedule runs an action" in await empty.inner_text()
    await empty.locator("a", has_text="New schedule").click()
    await page.wait_for_url("**/schedules/new")
    response = await page.goto(f"{tab.base}/schedules/999999")
    assert response is not None and response.status == 404
    assert await page.locator("#schedule-missing").is_visible()
    await clean(tab, refused=(404,), count=1)


async def test_no_horizontal_scroll_at_360_px(tab: Tab, ui: TestClient,
                                              local_engine: Engine) -> None:
    _, name = await run_container(local_engine, name=unique("a-rather-long-container-name"))
    schedule = await make_schedule(ui, name, name="restart the long-named container every night")
    resp = await ui.post(f"{V1}/schedules/{schedule['id']}/run", params={"wait": "20"})
    assert resp.status == 200, await resp.text()
    page = tab.page
    await page.set_viewport_size({"width": 360, "height": 740})
    for path in ("/schedules", f"/schedules/{schedule['id']}", f"/schedules/{schedule['id']}/edit",
                 "/schedules/new"):
        await page.goto(tab.base + path)
        if path.endswith(("edit", "new")):
            await page.locator("#preview-runs li").nth(4).wait_for(timeout=WAIT)
            await page.click("#advanced summary")
        assert await page.evaluate(NO_SIDEWAYS_SCROLL), path
    await clean(tab)
