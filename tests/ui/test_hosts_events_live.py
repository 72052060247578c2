"""The hosts page and the events page in a real browser, against the real engines.

Live updates arrive through the tab's one SSE stream (live.js); every wait below polls the page
with a generous timeout and never measures a duration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_core.eventlog import EventFilter
from chrontainer_server.api.context import CORE

from ..live import Engine, docker, free_port, run_container, unique, wait_for
from .conftest import Tab

pytestmark = pytest.mark.live

V1 = "/api/v1"
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"
# What sticks out on the right when the page scrolls sideways (for the failure message).
WIDEST = """() => [...document.querySelectorAll("body *")]
  .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
  .slice(0, 5).map((el) => `${el.tagName}.${el.className} ${el.textContent.slice(0, 60)}`)"""
WAIT = 15_000  # ms: a safety net for Docker and the stream, not a measure


async def live(page: Any) -> None:
    """Wait until the tab's live stream is open (live.js marks <html data-live="open">).

    Locator waits, not wait_for_function: polling a string predicate needs eval, which the
    page's CSP forbids.
    """
    await page.locator("html[data-live=open]").wait_for(state="attached", timeout=WAIT)


async def clean(tab: Tab, *, refused_requests: int = 0) -> None:
    """No CSP violation and no script error; ``refused_requests`` 4xx answers the test caused
    (the browser logs each refused request as a console error itself)."""
    assert await tab.csp_violations() == [], tab.page.url
    errors = [e for e in tab.console_errors if "Failed to load resource" not in e]
    assert errors == [], errors
    assert len(tab.console_errors) - len(errors) == refused_requests, tab.console_errors


# --- hosts ------------------------------------------------------------------------------------


async def test_hosts_page_shows_both_engines_online(tab: Tab) -> None:
    page = tab.page
    await page.goto(tab.base + "/hosts")
    assert await page.locator("#host-list tr.host-row").count() == 2
    for slug in ("local", "remote"):
        badge = page.locator(f"#host-{slug} .badge")
        assert await badge.inner_text() == "online"
        assert "Docker " in await page.locator(f"#host-{slug} [data-label=Engine]").inner_text()
    await clean(tab)


async def test_admin_adds_edits_tests_and_removes_a_host(
    tab: Tab, ui: TestClient, remote_engine: Engine
) -> None:
    page = tab.page
    hosts = ui.app[CORE].hosts
    await page.goto(tab.base + "/hosts")
    await live(page)
    slug = unique("nas")

    # A bad URL: the error shows next to the URL field and no host is added.
    await page.fill("#host-add-slug", slug)
    await page.fill("#host-add-url", "http://192.0.2.1:2375")
    await page.click("#host-add button[type=submit]")
    error = page.locator("#host-add-url-error")
    await error.wait_for(state="visible")
    assert "tcp://" in await error.inner_text()
    assert await page.get_attribute("#host-add-url", "aria-invalid") == "true"
    assert slug not in hosts and await page.locator(f"#host-{slug}").count() == 0

    # Test the new URL, then add it: the row appears at once and turns online by itself.
    await page.fill("#host-add-name", "Attic NAS")
    await page.fill("#host-add-url", remote_engine.url)
    await page.click("#host-add [data-action=test-new]")
    result = page.locator("#host-add-result")
    await result.filter(has_text="Connected: Docker").wait_for(timeout=WAIT)
    assert "Docker " in await result.inner_text()
    assert await error.is_hidden()
    await page.click("#host-add button[type=submit]")
    row = page.locator(f"#host-{slug}")
    await row.wait_for(timeout=WAIT)
    assert await row.locator(".host-name").inner_text() == "Attic NAS"
    await row.locator(".badge", has_text="online").wait_for(timeout=WAIT)
    assert slug in hosts
    assert await page.input_value("#host-add-slug") == ""  # the form was reset

    # Edit its name in the dialog.
    await row.locator("[data-action=edit]").click()
    dialog = page.locator("#host-edit")
    await dialog.wait_for(state="visible")
    assert await page.input_value("#host-edit-url") == remote_engine.url
    await page.fill("#host-edit-name", "Basement NAS")
    await dialog.locator("button[type=submit]").click()
    await dialog.wait_for(state="hidden")
    await row.locator(".host-name", has_text="Basement NAS").wait_for(timeout=WAIT)
    assert hosts.get(slug).state().name == "Basement NAS"
    # Focus went back to the Edit button of the (re-rendered) row.
    assert await page.evaluate("document.activeElement.dataset.action") == "edit"

    # Test the saved host.
    await row.locator("[data-action=test]").click()
    await page.locator("#hosts-status", has_text="connected to Docker").wait_for(timeout=WAIT)

    # Remove it: the dialog names the host; the row goes without a reload.
    await row.locator("[data-action=remove]").click()
    remove = page.locator("#host-remove")
    await remove.wait_for(state="visible")
    assert f"Basement NAS ({slug})" in await remove.locator("h2").inner_text()
    await remove.locator("button[type=submit]").click()
    await row.wait_for(state="detached", timeout=WAIT)
    assert slug not in hosts
    assert "removed" in await page.inner_text("#hosts-status")
    await clean(tab, refused_requests=1)


async def test_a_host_added_elsewhere_appears_live_with_its_status(
    tab: Tab, ui: TestClient
) -> None:
    page = tab.page
    await page.goto(tab.base + "/hosts")
    await live(page)
    slug = unique("dead")
    # Nothing listens on this port: the new host goes offline, which the page hears about.
    resp = await ui.post(f"{V1}/hosts", json={"slug": slug, "url": f"tcp://127.0.0.1:{free_port()}"})
    assert resp.status == 201, await resp.text()
    row = page.locator(f"#host-{slug}")
    await row.locator(".badge", has_text="offline").wait_for(timeout=WAIT)
    assert await row.locator(".host-error").inner_text() != ""
    # Its details say why they cannot be read.
    await row.locator("[data-action=details]").click()
    info = page.locator(f"#host-{slug}-info")
    await info.locator(".notice-error").wait_for(timeout=WAIT)
    assert "Could not read the details" in await info.inner_text()
    await clean(tab, refused_requests=1)  # the details fragment answers 502


async def test_expanding_a_host_shows_engine_info_and_disk_usage(
    tab: Tab, local_engine: Engine
) -> None:
    page = tab.page
    await page.goto(tab.base + "/hosts")
    button = page.locator("#host-local [data-action=details]")
    # Keyboard: focus the button and press Enter.
    await button.focus()
    await page.keyboard.press("Enter")
    assert await button.get_attribute("aria-expanded") == "true"
    info = page.locator("#host-local-info")
    await info.locator("table.disk-usage").wait_for(timeout=WAIT)
    driver = await docker(local_engine, "info", "--format", "{{.Driver}}")
    text = await info.inner_text()
    assert "Storage driver" in text and driver in text and "Kernel" in text
    for kind in ("Images", "Containers", "Volumes", "Build cache"):
        assert kind in text
    assert await info.locator("tr[data-kind=images] td.num").count() == 3
    # Read again now: the disk usage comes back (freshly read).
    await info.locator("[data-action=info-refresh]").click()
    await info.locator("table.disk-usage").wait_for(timeout=WAIT)
    # Collapse.
    await button.click()
    assert await info.count() == 0 and await button.get_attribute("aria-expanded") == "false"
    # The remote host has not been asked: nothing loads until expanded.
    assert await page.locator("#host-remote-info").count() == 0
    await clean(tab)


async def test_a_viewer_sees_no_management_controls(viewer_tab: Tab) -> None:
    page = viewer_tab.page
    await page.goto(viewer_tab.base + "/hosts")
    assert await page.locator("#host-list tr.host-row").count() == 2
    for selector in ("#host-add", "#host-edit", "#host-remove", "[data-action=edit]",
                     "[data-action=test]", "[data-action=remove]"):
        assert await page.locator(selector).count() == 0, selector
    await page.click("#host-remote [data-action=details]")
    await page.locator("#host-remote-info table.disk-usage").wait_for(timeout=WAIT)
    await clean(viewer_tab)


# --- events -----------------------------------------------------------------------------------


@pytest.fixture
async def volumes(local_engine: Engine) -> AsyncIterator[list[str]]:
    """Names of volumes the test creates; removed afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        await docker(local_engine, "volume", "rm", "-f", name, check=False)


async def make_volume(engine: Engine, volumes: list[str]) -> str:
    name = unique("evvol")
    volumes.append(name)
    await docker(engine, "volume", "create", "--label", "chrontainer.test=1", name)
    return name


def event_rows(page: Any, name: str, kind: str | None = None) -> Any:
    selector = "#event-list tbody tr" + (f"[data-type={kind}]" if kind else "")
    return page.locator(selector, has_text=name)


async def test_events_page_live_feed_history_and_filters(
    tab: Tab, ui: TestClient, local_engine: Engine, volumes: list[str]
) -> None:
    page = tab.page
    await page.goto(tab.base + "/events")
    await live(page)

    # Live: events made with the docker CLI appear without a reload.
    _, name = await run_container(local_engine, "sleep", "3600", name=unique("evct"))
    start = page.locator("#event-list tbody tr[data-type=container][data-action=start]",
                         has_text=name)
    await start.wait_for(timeout=WAIT)
    link = start.locator("a")
    assert await link.get_attribute("href") == f"/containers/local/{name}/logs"
    volume = await make_volume(local_engine, volumes)
    await event_rows(page, volume, "volume").first.wait_for(timeout=WAIT)
    # Newest first: the volume's row is above the container's.
    first = await page.locator("#event-list tbody tr").first.get_attribute("data-type")
    assert first == "volume"

    # History: after a reload, the same events come from the log (written in batches).
    async def logged() -> bool:
        _, total = await ui.app[CORE].events.list(EventFilter(name=volume), limit=1)
        return total > 0

    await wait_for(logged, what="the volume's event in the log")
    await page.reload()
    await start.wait_for(timeout=WAIT)
    await event_rows(page, volume, "volume").first.wait_for()

    # Filters narrow the list: volumes only, through the GET form.
    await page.select_option("#filter-type", "volume")
    await page.click("#event-filters button[type=submit]")
    await page.wait_for_url("**/events?*type=volume*")
    assert await page.locator("#event-list tbody tr").count() > 0
    types = await page.locator("#event-list tbody tr").evaluate_all(
        "rows => [...new Set(rows.map(r => r.dataset.type))]")
    assert types == ["volume"]
    assert await event_rows(page, name).count() == 0

    # The live feed keeps to the filters: a container does not show, a volume does.
    await live(page)
    _, other = await run_container(local_engine, "true", name=unique("evct"))
    second = await make_volume(local_engine, volumes)
    await event_rows(page, second, "volume").first.wait_for(timeout=WAIT)
    assert await event_rows(page, other).count() == 0

    # Pause holds new events back; resume shows them.
    await page.click("#events-pause")
    assert await page.get_attribute("#events-pause", "aria-pressed") == "true"
    third = await make_volume(local_engine, volumes)
    await page.locator("#events-waiting", has_text="waiting").wait_for(timeout=WAIT)
    assert await event_rows(page, third).count() == 0
    await page.click("#events-pause")
    await event_rows(page, third, "volume").first.wait_for(timeout=WAIT)
    assert await page.locator("#events-waiting").is_hidden()

    # A filter matching nothing says so.
    await page.goto(tab.base + f"/events?name={unique('nothing')}")
    assert "Nothing matches" in await page.inner_text("#events-empty")
    assert await page.locator("#event-list").is_hidden()
    await clean(tab)


async def test_events_page_refuses_a_bad_filter_in_the_page(tab: Tab) -> None:
    page = tab.page
    response = await page.goto(tab.base + "/events?type=planet&limit=9999")
    assert response is not None and response.status == 400
    text = await page.inner_text("#events-error")
    assert "Type" in text and "Limit" in text
    assert await page.locator("#events-live").count() == 0
    await clean(tab, refused_requests=1)


# --- narrow screens ----------------------------------------------------------------------------


async def test_no_horizontal_scroll_at_360_px(tab: Tab, ui: TestClient, volumes: list[str],
                                              local_engine: Engine) -> None:
    page = tab.page
    await page.set_viewport_size({"width": 360, "height": 740})
    volume = await make_volume(local_engine, volumes)
    await page.goto(tab.base + "/hosts")
    assert await page.evaluate(NO_SIDEWAYS_SCROLL)
    await page.click("#host-local [data-action=details]")
    await page.locator("#host-local-info table.disk-usage").wait_for(timeout=WAIT)
    await page.click("#host-remote [data-action=edit]")
    await page.locator("#host-edit").wait_for(state="visible")
    await page.select_option("#host-edit-tls-mode", "set")
    assert await page.evaluate(NO_SIDEWAYS_SCROLL)
    await page.keyboard.press("Escape")
    await page.check("#host-add-use-tls")
    assert await page.evaluate(NO_SIDEWAYS_SCROLL)

    events = ui.app[CORE].events  # type: ignore[union-attr]

    async def recorded() -> bool:  # the event log writes in batches: wait for this one
        return (await events.list(EventFilter(name=volume)))[1] > 0

    await wait_for(recorded, what="the volume's event in the event log")
    await page.goto(tab.base + "/events")
    assert await page.locator("#event-list tbody tr").count() > 0
    assert await page.evaluate(NO_SIDEWAYS_SCROLL), await page.evaluate(WIDEST)
    # Rows are stacked cards: each cell on its own line with its label.
    cell = page.locator("#event-list tbody tr").first.locator("td[data-label=Type]")
    assert await cell.evaluate("td => getComputedStyle(td).display") == "block"
    await clean(tab)
