"""The containers dashboard in a real browser against the real engines: both hosts listed, row
and bulk actions changing real containers, live updates from changes made with the docker CLI,
keyboard use, tags, details with masked secrets, viewers, and narrow screens."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.api.context import CORE
from chrontainer_server.app import create_app
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.service import AUTH

from ..accounts import admin_client
from ..live import Engine, TcpProxy, docker, run_container, unique, wait_for
from .conftest import PINNED, Tab, logged_in_tab

pytestmark = pytest.mark.live

LIVE = 10_000  # ms: how long a change made elsewhere may take to show (issue 5: 10 s)
PASSWORD = "viewer-password-long"


@pytest.fixture
async def ui(clean_engines: None, daemon_config) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    """The UI server of tests/ui/conftest.py, sampling metrics every 5 s instead of 15 s so
    that the live CPU and memory cells have something to show soon."""
    config = dataclasses.replace(daemon_config, settings=dict(PINNED), metrics_interval=5.0)
    async with admin_client(create_app(config), config.database_url) as client:
        yield client


class Made:
    """Containers a test made, removed afterwards (other test sessions may run beside ours,
    so nothing sweeps the engines behind them)."""

    def __init__(self, local: Engine, remote: Engine) -> None:
        self.engines = {"local": local, "remote": remote}
        self.ids: list[tuple[Engine, str]] = []

    async def run(self, host: str, *cmd: str, name: str | None = None,
                  options: tuple[str, ...] = (), start: bool = True) -> tuple[str, str]:
        engine = self.engines[host]
        cid, made = await run_container(engine, *cmd, name=name or unique("dash"),
                                        options=options, start=start)
        self.ids.append((engine, cid))
        return cid, made


@pytest.fixture
async def made(local_engine: Engine, remote_engine: Engine) -> AsyncIterator[Made]:
    made = Made(local_engine, remote_engine)
    yield made
    for engine, cid in made.ids:
        await docker(engine, "rm", "-fv", cid, check=False)


def row(host: str, container_id: str) -> str:
    """The CSS selector of a container's row (its DOM id is stable: host + id prefix)."""
    return f"#c-{host}-{container_id[:12]}"


async def inspect(engine: Engine, cid: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(await docker(engine, "inspect", cid))[0]
    return doc


async def cached(ui: TestClient, host: str, cid: str, state: str) -> None:
    watcher = ui.app[CORE].hosts.get(host)
    await wait_for(lambda: (c := watcher.get(cid)) is not None and c.state.value == state,
                   what=f"{cid[:12]} {state} in the server's cache")


async def clean(tab: Tab, *, refused: tuple[int, ...] = ()) -> None:
    """The page reported no CSP violation and no script error.

    ``refused``: statuses the test provokes on purpose, which the browser logs as failed loads
    (a 409 for a refused action; a 404 for a row fetched while its container is removed).
    """
    assert await tab.csp_violations() == [], tab.page.url
    expected = tuple(f"the server responded with a status of {s} " for s in refused)
    errors = [e for e in tab.console_errors if not any(x in e for x in expected)]
    assert errors == [], tab.page.url


async def open_page(tab: Tab, query: str = "") -> Any:
    page = tab.page
    await page.goto(f"{tab.base}/containers{query}")
    # The script marks the moment the list is wired up (the bench measures it).
    await list_ready(page)
    return page


async def list_ready(page: Any) -> None:
    # Polled from here: wait_for_function would evaluate strings in the page, which its CSP
    # (no unsafe-eval) refuses.
    await wait_for(lambda: page.evaluate(
        "performance.getEntriesByName('list-ready').length === 1"), what="list-ready")


@contextlib.asynccontextmanager
async def viewer_tab(browser: Any, ui: TestClient, base: str) -> AsyncIterator[Tab]:
    """A tab of a new viewer (the shared helper: it redoes loads Docker's interface changes
    aborted, which a page with several modules would otherwise sometimes lose)."""
    name = unique("viewer")
    await ui.app[AUTH].users.create(name, PASSWORD, Role.VIEWER)
    async with logged_in_tab(browser, base, name, PASSWORD, color_scheme="light") as viewer:
        yield viewer


async def test_both_engines_listed_and_cli_changes_show_live(
    tab: Tab, ui: TestClient, made: Made
) -> None:
    local_id, _ = await made.run("local")
    remote_id, _ = await made.run("remote")
    for host, cid in (("local", local_id), ("remote", remote_id)):
        await cached(ui, host, cid, "running")
    page = await open_page(tab)
    assert await page.locator(row("local", local_id)).get_attribute("data-state") == "running"
    assert await page.locator(row("remote", remote_id)).get_attribute("data-state") == "running"
    # Each row sits under its host's heading.
    assert await page.locator(f'tbody[data-group="remote"] {row("remote", remote_id)}').count()

    # Created and started with the docker CLI after the page loaded: it appears, running,
    # without a reload; stopped with the CLI, its row follows; removed, it goes away.
    new_id, new_name = await made.run("local", start=False)
    await page.wait_for_selector(f'{row("local", new_id)}[data-state="created"]', timeout=LIVE)
    await docker(made.engines["local"], "start", new_id)
    await page.wait_for_selector(f'{row("local", new_id)}[data-state="running"]', timeout=LIVE)
    assert await page.locator(f"{row('local', new_id)} .disclose").inner_text() == new_name
    await docker(made.engines["remote"], "stop", "-t", "0", remote_id)
    await page.wait_for_selector(f'{row("remote", remote_id)}[data-state="exited"]',
                                 timeout=LIVE)
    await docker(made.engines["local"], "rm", "-f", new_id)
    await page.wait_for_selector(row("local", new_id), state="detached", timeout=LIVE)
    assert await page.evaluate("document.documentElement.dataset.live") == "open"

    # CPU and memory follow the sampler's rounds in place (its first round has no CPU rate).
    cpu = page.locator(f"{row('local', local_id)} td.cpu")
    await wait_for(lambda: _matches(cpu, r"^\d+\.\d %$"), timeout=30, what="a live CPU figure")
    memory = await page.locator(f"{row('local', local_id)} td.mem").inner_text()
    assert re.fullmatch(r"\d+(\.\d)? (B|KiB|MiB|GiB)", memory), memory
    await clean(tab, refused=(404,))


async def _matches(locator: Any, pattern: str) -> bool:
    return re.fullmatch(pattern, await locator.inner_text()) is not None


async def test_row_actions_change_the_real_containers(
    tab: Tab, ui: TestClient, made: Made, local_engine: Engine
) -> None:
    cid, name = await made.run("local")
    _, taken = await made.run("local")
    await cached(ui, "local", cid, "running")
    page = await open_page(tab, f"?q={name}")
    selector = row("local", cid)

    # Stop asks first; its dialog's confirm button has the focus.
    await page.click(f"{selector} .menu-button")
    assert await page.locator("#row-menu [data-act='start']").is_hidden()
    await page.click("#row-menu [data-act='stop']")
    dialog = page.locator("#confirm-dialog")
    await dialog.wait_for()
    assert await page.evaluate("document.activeElement.id") == "confirm-ok"
    await page.click("#confirm-ok")
    await wait_for(lambda: _state(local_engine, cid, "exited"), what="stopped by the page")
    await page.wait_for_selector(f'{selector}[data-state="exited"]', timeout=LIVE)
    assert f"{name} stopped." in await page.locator("#dash-status").inner_text()

    # A refused action is explained in the status region, and nothing changes.
    await page.click(f"{selector} .menu-button")
    await page.click("#row-menu [data-act='rename']")
    await page.fill("#rename-name", taken)
    await page.keyboard.press("Enter")
    status = page.locator("#dash-status.notice-error")
    await status.wait_for()
    assert "Could not rename" in await status.inner_text()
    assert (await inspect(local_engine, cid))["Name"] == f"/{name}"

    # Rename for real, then start it again: the same row follows.
    renamed = unique("renamed")
    await page.click(f"{selector} .menu-button")
    await page.click("#row-menu [data-act='rename']")
    await page.fill("#rename-name", renamed)
    await page.click("#rename-dialog button.primary")
    await wait_for(lambda: _named(local_engine, cid, renamed), what="renamed by the page")
    await page.goto(f"{tab.base}/containers?q={renamed}")
    await page.click(f"{selector} .menu-button")
    await page.click("#row-menu [data-act='start']")
    await wait_for(lambda: _state(local_engine, cid, "running"), what="started by the page")
    await page.wait_for_selector(f'{selector}[data-state="running"]', timeout=LIVE)

    # Delete a running container: force is required, volumes optional.
    await page.click(f"{selector} .menu-button")
    await page.click("#row-menu [data-act='remove']")
    assert await page.evaluate("document.activeElement.id") == "remove-ok"
    assert await page.locator("#remove-force-row").is_visible()
    await page.click("#remove-ok")  # refused by the form: force is not checked yet
    assert await page.locator("#remove-dialog").is_visible()
    await page.check("#remove-force")
    await page.check("#remove-volumes")
    await page.click("#remove-ok")
    await wait_for(lambda: _gone(local_engine, cid), what="deleted by the page")
    await page.wait_for_selector(selector, state="detached", timeout=LIVE)
    await clean(tab, refused=(409, 404))


async def _state(engine: Engine, cid: str, status: str) -> bool:
    return bool((await inspect(engine, cid))["State"]["Status"] == status)


async def _named(engine: Engine, cid: str, name: str) -> bool:
    return bool((await inspect(engine, cid))["Name"] == f"/{name}")


async def _gone(engine: Engine, cid: str) -> bool:
    return not await docker(engine, "ps", "-aq", "--no-trunc", "--filter", f"id={cid}")


async def test_bulk_stop_reports_each_item(
    tab: Tab, ui: TestClient, made: Made, local_engine: Engine, remote_engine: Engine
) -> None:
    batch = unique("bulk")
    running, _ = await made.run("local", name=f"{batch}-a")
    exited, _ = await made.run("remote", "true", name=f"{batch}-b")
    # busybox sleep as PID 1 ignores SIGTERM: a stop holds the container for its whole grace
    # period, so a second stop meanwhile is refused as busy.
    held, _ = await made.run("local", name=f"{batch}-c")
    await docker(remote_engine, "wait", exited)
    for host, cid, state in (("local", running, "running"), ("remote", exited, "exited"),
                             ("local", held, "running")):
        await cached(ui, host, cid, state)
    page = await open_page(tab, f"?q={batch}")
    assert await page.locator("tr.row").count() == 3
    await page.check("#select-all")
    assert await page.locator("#bulk-count").inner_text() == "3 selected"

    other_stop = asyncio.create_task(
        ui.post(f"/api/v1/hosts/local/containers/{held}/stop", json={"timeout": 60}))
    try:
        await wait_for(lambda: ui.app[CORE].containers._locks.get(("local", held)) is not None
                       and ui.app[CORE].containers._locks[("local", held)].locked(),
                       what="the other stop holding the container")
        await page.click("#bulk [data-bulk='stop']")
        await page.click("#confirm-ok")
        await page.locator("#bulk-result").wait_for()
        items = page.locator("#bulk-items li")
        await wait_for(lambda: _count(items, 3), what="three results")
        assert await page.locator("#bulk-result-title").inner_text() == \
            "Stop: 2 succeeded, 1 failed"
        result = {await li.get_attribute("data-ref"): (await li.get_attribute("class"),
                                                       await li.inner_text())
                  for li in await items.all()}
        # Items are named by the 12 hex digits starting the container id.
        assert result[running[:12]][0] == "result-ok" and "stopped" in result[running[:12]][1]
        assert result[exited[:12]] == ("result-unchanged",
                                       f"{batch}-b (remote): no change needed")
        assert result[held[:12]][0] == "result-failed" and "busy" in result[held[:12]][1]
        assert await _state(local_engine, running, "exited")
        await page.wait_for_selector(f'{row("local", running)}[data-state="exited"]',
                                     timeout=LIVE)
    finally:
        await docker(local_engine, "kill", held, check=False)
        with contextlib.suppress(Exception):
            await other_stop
    await clean(tab)


async def _count(locator: Any, n: int) -> bool:
    return bool(await locator.count() == n)


async def test_restart_with_only_tab_and_enter(
    tab: Tab, ui: TestClient, made: Made, local_engine: Engine
) -> None:
    cid, name = await made.run("local", options=("--stop-timeout", "1"))
    await cached(ui, "local", cid, "running")
    before = (await inspect(local_engine, cid))["State"]["StartedAt"]
    page = await open_page(tab, f"?q={name}")
    focused = "document.activeElement"

    async def tab_to(condition: str) -> None:
        for _ in range(60):
            await page.keyboard.press("Tab")
            if await page.evaluate(f"(() => {{ const e = {focused}; return {condition}; }})()"):
                return
        raise AssertionError(f"Tab never reached {condition}")

    await tab_to(f"e.classList.contains('menu-button') && e.closest('tr').id === "
                 f"'{row('local', cid)[1:]}'")
    # The keyboard focus is visible.
    assert await page.evaluate(f"getComputedStyle({focused}).outlineStyle") != "none"
    await page.keyboard.press("Enter")
    await tab_to("e.dataset.act === 'restart'")
    await page.keyboard.press("Enter")

    async def restarted() -> bool:
        state = (await inspect(local_engine, cid))["State"]
        return bool(state["Running"] and state["StartedAt"] != before)

    await wait_for(restarted, timeout=30, what="restarted from the keyboard")
    await page.locator("#dash-status", has_text=f"{name} restarted.").wait_for()
    await clean(tab)


async def test_tags_filter_and_the_tags_form(tab: Tab, ui: TestClient, made: Made) -> None:
    batch = unique("tagged")
    first, first_name = await made.run("local", name=f"{batch}-one")
    second, _ = await made.run("remote", name=f"{batch}-two")
    for host, cid in (("local", first), ("remote", second)):
        await cached(ui, host, cid, "running")
    tag_name = unique("tag")
    resp = await ui.post("/api/v1/tags", json={"name": tag_name, "colour": "#7c3aed"})
    assert resp.status == 201, await resp.text()
    tag = await resp.json()
    resp = await ui.put(f"/api/v1/hosts/local/containers/{first_name}/tags",
                        json={"tags": [tag["id"]]})
    assert resp.status == 200, await resp.text()

    page = await open_page(tab, f"?q={batch}")
    chip = page.locator(f"{row('local', first)} .chip.tag-{tag['id']}")
    assert await chip.inner_text() == tag_name
    # Coloured by /tags.css (the CSP forbids style attributes).
    assert await chip.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(124, 58, 237)"
    await page.select_option("#f-tag", tag_name)  # the selects submit the form
    await page.wait_for_url(lambda url: url.endswith(f"/containers?q={batch}&tag={tag_name}"))
    await list_ready(page)
    assert await page.locator("tr.row").count() == 1
    assert await page.locator(row("local", first)).count() == 1

    # The details' form attaches the tag to the second container: it joins the filtered list.
    await page.goto(f"{tab.base}/containers?q={batch}")
    await page.click(f"{row('remote', second)} .disclose")
    form = page.locator(f"#d-c-remote-{second[:12]} form.meta-form")
    await form.locator(f"input[name=tag][value='{tag['id']}']").check()
    await form.locator("input[name=web_url]").fill("https://example.org/admin")
    await form.locator("button[type=submit]").click()
    await form.locator(".meta-status", has_text="Saved.").wait_for()
    await page.wait_for_selector(f"{row('remote', second)} .chip.tag-{tag['id']}", timeout=LIVE)
    link = page.locator(f"{row('remote', second)} a.button")
    assert await link.get_attribute("href") == "https://example.org/admin"
    assert await link.get_attribute("rel") == "noopener noreferrer"
    await page.goto(f"{tab.base}/containers?tag={tag_name}")
    assert await page.locator("tr.row").count() == 2
    await clean(tab)


async def test_details_mask_secrets_and_viewers_get_no_values(
    tab: Tab, browser: Any, ui: TestClient, made: Made
) -> None:
    secret, plain = unique("s3cret"), unique("plain")
    cid, name = await made.run("local", options=("-e", f"API_TOKEN={secret}",
                                                 "-e", f"LOG_LEVEL={plain}"))
    await cached(ui, "local", cid, "running")
    page = await open_page(tab, f"?q={name}")
    await page.click(f"{row('local', cid)} .disclose")
    details = page.locator(f"#d-c-local-{cid[:12]}")
    await details.locator(".details-body").wait_for()
    assert await page.locator(f"{row('local', cid)} .disclose").get_attribute(
        "aria-expanded") == "true"
    assert plain in await details.inner_text()
    assert secret not in await details.inner_text()  # masked until revealed
    await details.locator("button.reveal").click()
    assert secret in await details.inner_text()
    await details.locator("button.reveal").click()
    assert secret not in await details.inner_text()
    await clean(tab)

    async with viewer_tab(browser, ui, tab.base) as viewer:
        page = await open_page(viewer, f"?q={name}")
        assert await page.locator(".menu-button, .pick, #bulk, #manage-tags").count() == 0
        await page.click(f"{row('local', cid)} .disclose")
        details = page.locator(f"#d-c-local-{cid[:12]}")
        await details.locator(".details-body").wait_for()
        text = await details.inner_text()
        assert "API_TOKEN" in text and "LOG_LEVEL" in text
        assert "Values are hidden for viewers." in text
        html = await page.content()
        assert secret not in html and plain not in html
        await clean(viewer)


async def test_no_horizontal_scroll_at_360_px(
    tab: Tab, ui: TestClient, made: Made
) -> None:
    long_value = "A_VERY_LONG_VARIABLE_NAME_WITHOUT_BREAKS=" + "x" * 120
    cid, _ = await made.run("local", name=unique("a-rather-long-container-name-for-phones"),
                            options=("-p", "127.0.0.1::8080", "-p", "127.0.0.1::9090",
                                     "-e", long_value,
                                     "--label", "com.example.some.very.long.label.key=v"))
    await made.run("remote")
    await cached(ui, "local", cid, "running")
    page = tab.page
    await page.set_viewport_size({"width": 360, "height": 740})
    await open_page(tab)
    assert await page.locator("tr.row").count() >= 2
    width = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    scroll, client = await page.evaluate(width)
    assert scroll <= client, (scroll, client)
    # Rows are cards: the image column is hidden, the name and state still shown.
    selector = row("local", cid)
    assert await page.locator(f"{selector} td.image").is_hidden()
    assert await page.locator(f"{selector} .disclose").is_visible()
    # The expanded details and the open actions menu fit too.
    await page.click(f"{selector} .disclose")
    await page.locator(f"#d-c-local-{cid[:12]} .details-body").wait_for()
    await page.click(f"{selector} .menu-button")
    scroll, client = await page.evaluate(width)
    assert scroll <= client, (scroll, client)
    await clean(tab)


async def test_offline_host_is_marked_live(
    tab: Tab, ui: TestClient, made: Made, proxy: TcpProxy
) -> None:
    resp = await ui.post("/api/v1/hosts", json={"slug": "flaky", "name": "Flaky",
                                                "url": proxy.url})
    assert resp.status == 201, await resp.text()
    watcher = ui.app[CORE].hosts.get("flaky")
    assert await watcher.wait_synced(15)
    cid, name = await made.run("remote")
    await cached(ui, "flaky", cid, "running")
    page = await open_page(tab, f"?q={name}")
    selector = row("flaky", cid)
    assert await page.locator(f"{selector} .menu-button").count() == 1
    assert await page.locator(".host-offline").count() == 0

    # The engine seems gone: a notice says so, and its rows are marked stale, without actions.
    await proxy.cut()
    notice = page.locator('.host-offline[data-host="flaky"]')
    await notice.wait_for(timeout=LIVE)
    assert "Host Flaky is offline" in await notice.inner_text()
    await page.wait_for_selector(f"{selector}.stale", timeout=LIVE)
    assert await page.locator(f"{selector} .badge.state-stale").inner_text() == "stale"
    assert await page.locator(f"{selector} .menu-button").count() == 0
    # The same engine's direct host is untouched.
    assert await page.locator(f"{row('remote', cid)}:not(.stale) .menu-button").count() == 1

    # Back online: the notice and the marks go away.
    await proxy.start()
    await notice.wait_for(state="detached", timeout=60_000)
    await page.wait_for_selector(f"{selector}:not(.stale) .menu-button", timeout=LIVE)
    await clean(tab)


async def test_manage_tags_dialog(tab: Tab, ui: TestClient) -> None:
    taken = unique("taken")
    assert (await ui.post("/api/v1/tags", json={"name": taken, "colour": "#111111"})).status == 201
    page = await open_page(tab)
    await page.click("#manage-tags")
    await page.locator("#tags-dialog #tags-loading").wait_for(state="hidden")
    name = unique("dialog")
    await page.fill("#tag-new-name", name)
    await page.locator("#tag-new-colour").evaluate(
        "(e) => { e.value = '#0891b2'; e.dispatchEvent(new Event('input')); }")
    await page.click("#tag-new button[type=submit]")
    await page.locator("#tags-status", has_text=f"Tag {name} created.").wait_for()
    tags = {t["name"]: t for t in (await (await ui.get("/api/v1/tags")).json())["items"]}
    assert tags[name]["colour"] == "#0891b2"
    # The filter offers it at once.
    await page.locator(f"#f-tag option[value='{name}']").wait_for(state="attached")

    # A name already taken is refused with the reason, and nothing changes.
    item = page.locator("#tag-list li", has=page.locator(f".chip.tag-{tags[name]['id']}"))
    await item.locator("input[type=text]").fill(taken)
    await item.locator("button", has_text="Save").click()
    await page.locator("#tags-status.notice-error").wait_for()
    assert name in [t["name"] for t in (await (await ui.get("/api/v1/tags")).json())["items"]]

    # Rename and recolour it.
    renamed = unique("renamed")
    await item.locator("input[type=text]").fill(renamed)
    await item.locator("input[type=color]").evaluate("(e) => { e.value = '#be123c'; }")
    await item.locator("button", has_text="Save").click()
    await page.locator("#tags-status", has_text=f"Tag {renamed} saved.").wait_for()
    after = {t["id"]: t for t in (await (await ui.get("/api/v1/tags")).json())["items"]}
    assert (after[tags[name]["id"]]["name"], after[tags[name]["id"]]["colour"]) == \
        (renamed, "#be123c")

    # Delete it.
    item = page.locator("#tag-list li", has=page.locator(f".chip.tag-{tags[name]['id']}"))
    await item.locator("button", has_text="Delete").click()
    await page.locator("#tags-status", has_text="deleted.").wait_for()
    remaining = [t["id"] for t in (await (await ui.get("/api/v1/tags")).json())["items"]]
    assert tags[name]["id"] not in remaining
    await page.locator(f"#f-tag option[value='{renamed}']").wait_for(state="detached")
    await page.click("#tags-dialog [data-close]")
    assert await page.locator("#tags-dialog").is_hidden()
    await clean(tab, refused=(409,))
