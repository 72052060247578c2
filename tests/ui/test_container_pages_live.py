"""One container's pages in a real browser: the logs viewer, inspect and processes."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.api.context import CORE

from ..accounts import ADMIN_PASSWORD
from ..live import Engine, docker, run_container, unique, wait_for
from .conftest import WATCH_CSP, Tab, until
from .test_shell_live import INLINE_CODE

pytestmark = pytest.mark.live

NO_INLINE_CODE = {"inlineScripts": 0, "styleElements": 0, "styleAttributes": 0,
                  "handlerAttributes": [], "htmx": "safe"}
TICKER = ("seq 1 150; echo boot-problem >&2; "
          "i=0; while true; do echo line-$i; i=$((i+1)); sleep 0.5; done")
AT_BOTTOM = "(el) => el.scrollTop + el.clientHeight >= el.scrollHeight - 8"
SECRET = "hunter2-do-not-show"


async def _cached(ui: TestClient, host: str, name: str) -> None:
    core = ui.app[CORE]
    await wait_for(lambda: any(c.name == name for c in core.hosts.get(host).containers()),
                   what=f"{name} in the cache")


async def _clean(tab: Tab) -> None:
    assert await tab.page.evaluate(INLINE_CODE) == NO_INLINE_CODE
    assert await tab.csp_violations() == []
    assert tab.console_errors == []


async def _newest_line(page: Any) -> int:
    texts = await page.locator("#log-output .line .text").all_inner_texts()
    numbers = [int(m[1]) for t in texts if (m := re.fullmatch(r"line-(\d+)", t))]
    return max(numbers, default=-1)


async def test_logs_follow_shows_new_lines_marks_stderr_and_searches(
    tab: Tab, ui: TestClient, local_engine: Engine
) -> None:
    _, name = await run_container(local_engine, "sh", "-c", TICKER, name=unique("logs"))
    await _cached(ui, "local", name)
    page = tab.page
    host = ui.app[CORE].hosts.get("local").host
    streams_before = host.open_streams  # the events watcher's own stream

    await page.goto(f"{tab.base}/containers/local/{name}/logs?follow=true&tail=500")
    assert await page.locator("h1").inner_text() == name
    assert await page.locator("#tab-logs").get_attribute("aria-current") == "page"
    await page.locator("#log-output .line", has_text="line-").first.wait_for()
    assert "Following" in await page.locator("#log-status").inner_text()
    # A later line arrives without reloading the page.
    seen = await _newest_line(page)
    await until(page,
        """(seen) => [...document.querySelectorAll('#log-output .text')]
             .some((el) => /^line-\\d+$/.test(el.textContent)
                           && Number(el.textContent.slice(5)) > seen + 1)""",
        arg=seen, timeout=15_000)
    assert await _newest_line(page) > seen + 1
    await wait_for(lambda: host.open_streams == streams_before + 1, what="the follow stream")

    # New lines keep the newest in view, until the user scrolls up to read.
    box = page.locator("#log-output")
    assert await box.evaluate(AT_BOTTOM)
    await box.evaluate("(el) => { el.scrollTop = 0; }")
    await page.locator("#log-jump").wait_for()
    later = await _newest_line(page)
    await until(page,
        """(seen) => [...document.querySelectorAll('#log-output .text')]
             .some((el) => el.textContent === `line-${seen + 1}`)""", arg=later)
    assert await box.evaluate("(el) => el.scrollTop") == 0
    await page.click("#log-jump")
    assert await box.evaluate(AT_BOTTOM)
    assert not await page.locator("#log-jump").is_visible()

    # stderr is marked by colour and by a marker that reads without colour.
    problem = page.locator("#log-output .line.stderr", has_text="boot-problem")
    assert await problem.count() == 1
    assert await problem.locator(".marker").inner_text() == "err"
    plain = page.locator("#log-output .line", has_text="line-0").first
    assert await plain.locator(".marker").count() == 0
    assert (await problem.evaluate("(el) => getComputedStyle(el).color")
            != await plain.evaluate("(el) => getComputedStyle(el).color"))

    # Search highlights matches; "only matching" hides the other lines.
    await page.fill("#log-search", "LINE-1")
    await page.locator("#log-output mark").first.wait_for()
    marks = await page.locator("#log-output mark").all_inner_texts()
    assert marks and all(m == "line-1" for m in marks)
    assert await page.locator("#log-output .line:not([hidden])", has_text="boot-problem").count()
    await page.check("#log-only-matching")
    visible = await page.locator("#log-output .line:not([hidden]) .text").all_inner_texts()
    assert visible and all(t.startswith("line-1") for t in visible), visible
    assert "matching line" in await page.locator("#log-matches").inner_text()
    await page.uncheck("#log-only-matching")
    await page.fill("#log-search", "")
    await until(page, "() => !document.querySelector('#log-output mark')")

    # Follow off aborts the request: the engine's log stream closes; the lines stay.
    await page.uncheck("#log-follow")
    await wait_for(lambda: host.open_streams == streams_before, what="the follow to end")
    assert await page.locator("#log-output .line").count() > 2
    assert "follow=false" in page.url

    # The download button hands over the log as a file named after the container.
    async with page.expect_download() as info:
        await page.click("#log-download")
    download = await info.value
    assert re.fullmatch(rf"{name}-\d{{8}}T\d{{6}}Z\.log", download.suggested_filename)
    text = (await download.path()).read_text(encoding="utf-8")  # a small local file
    assert "[stderr] boot-problem\n" in text and "line-0\n" in text

    # Following again; the container stops behind our back: the header's state follows the
    # live stream, the follow ends, and it resumes once the container runs again.
    await page.check("#log-follow")
    await until(page,
        "() => document.getElementById('log-status').textContent.startsWith('Following')")
    await docker(local_engine, "stop", "-t", "0", name)
    await until(page,
        "() => document.getElementById('container-state').textContent === 'exited'")
    await until(page,
        "() => document.getElementById('log-status').textContent.includes('follow ended')")
    await docker(local_engine, "start", name)
    await until(page,
        "() => document.getElementById('container-state').textContent === 'running'")
    await until(page,
        "() => document.getElementById('log-status').textContent.startsWith('Following')")
    await _clean(tab)


async def test_logs_page_options_empty_state_and_follow_ending(
    tab: Tab, ui: TestClient, remote_engine: Engine
) -> None:
    # A container that wrote nothing and stopped: the viewer says so instead of a blank box.
    _, quiet = await run_container(remote_engine, "true", name=unique("quiet"))
    await _cached(ui, "remote", quiet)
    page = tab.page
    await page.goto(f"{tab.base}/containers/remote/{quiet}/logs")
    await page.locator("#log-empty").wait_for()
    assert await page.locator("#log-output .line").count() == 0
    await until(page,
        "() => document.getElementById('log-status').textContent.includes('follow ended')")

    # Timestamps and tail come from the form and are kept in the URL.
    _, name = await run_container(remote_engine, "sh", "-c",
                                  "for i in 1 2 3 4 5; do echo row-$i; done; exec sleep 3600",
                                  name=unique("opts"))
    await _cached(ui, "remote", name)
    await page.goto(f"{tab.base}/containers/remote/{name}/logs?follow=false&tail=100")
    await until(page,
        "() => document.querySelectorAll('#log-output .line').length === 5")
    assert await page.locator("#log-output .ts").count() == 0
    await page.check("#log-timestamps")
    await page.locator("#log-output .ts").first.wait_for()
    stamp = await page.locator("#log-output .ts").first.inner_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", stamp), stamp
    assert "timestamps=true" in page.url
    assert "timestamps=true" in (await page.get_attribute("#log-download", "href") or "")
    await page.reload()
    assert await page.locator("#log-timestamps").is_checked()
    assert not await page.locator("#log-follow").is_checked()

    # A long log keeps only the newest 10,000 lines in the page, and says so.
    _, chatty = await run_container(remote_engine, "sh", "-c", "seq 1 12000; exec sleep 3600",
                                    name=unique("chatty"))
    await _cached(ui, "remote", chatty)
    await wait_for(lambda: _log_count(ui, chatty, 12_000), what="the 12,000 lines logged")
    await page.goto(f"{tab.base}/containers/remote/{chatty}/logs?follow=false&tail=all")
    await page.locator("#log-capped").wait_for()
    assert await page.locator("#log-output .line").count() == 10_000
    texts = page.locator("#log-output .line .text")
    assert (await texts.first.inner_text(), await texts.last.inner_text()) == ("2001", "12000")
    assert "2,000 older" in await page.locator("#log-capped").inner_text()
    await _clean(tab)


async def _log_count(ui: TestClient, name: str, lines: int) -> bool:
    resp = await ui.get(f"/api/v1/hosts/remote/containers/{name}/logs", params={"tail": "all"})
    return resp.status == 200 and len(await resp.json()) >= lines


async def test_inspect_search_finds_a_key_and_folds_back(
    tab: Tab, ui: TestClient, local_engine: Engine
) -> None:
    cid, name = await run_container(
        local_engine, name=unique("insp"),
        options=("--restart", "unless-stopped", "-e", f"TOKEN={SECRET}"))
    await _cached(ui, "local", name)
    page = tab.page
    response = await page.goto(f"{tab.base}/containers/local/{name}/inspect")
    assert response is not None and response.status == 200
    restart = page.locator("#inspect-tree li", has=page.locator(":scope > details > summary > .k",
                                                                has_text="RestartPolicy"))
    host_config = page.locator("#inspect-tree > li > details",
                               has=page.locator(":scope > summary > .k", has_text="HostConfig"))
    assert await restart.count() == 1
    assert not await restart.is_visible()  # HostConfig starts folded
    assert await host_config.get_attribute("open") is None
    hostname = page.locator("#inspect-tree li", has=page.locator(":scope > .k",
                                                                 has_text=re.compile("^Hostname$")))
    # An admin sees environment values.
    assert SECRET in await page.locator("#inspect-json").text_content()

    await page.fill("#inspect-search", "restartpolicy")
    await page.locator("#inspect-tree mark").first.wait_for()
    assert await restart.is_visible()
    assert await host_config.get_attribute("open") is not None
    assert await restart.locator("mark").first.inner_text() == "RestartPolicy"
    assert await restart.locator(".v", has_text='"unless-stopped"').is_visible()
    assert not await hostname.is_visible()  # a branch without a match is hidden
    assert await page.locator("#inspect-status").inner_text() == "1 match"

    # A value is found too.
    await page.fill("#inspect-search", cid[:20])
    await page.locator("#inspect-tree mark", has_text=cid[:20]).first.wait_for()
    assert not await restart.is_visible()

    # Clearing the search brings back the folding; expand and collapse all.
    await page.fill("#inspect-search", "")
    await until(page, "() => !document.querySelector('#inspect-tree mark')")
    assert await host_config.get_attribute("open") is None
    assert await hostname.count() == 1 and not await page.locator(
        "#inspect-tree li[hidden]").count()
    await page.click("#inspect-expand")
    assert await restart.is_visible()
    await page.click("#inspect-collapse")
    assert await page.locator("#inspect-tree details[open]").count() == 0

    # Copy JSON puts the engine's document on the clipboard.
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=tab.base)
    await page.click("#inspect-copy")
    await until(page,
        "() => document.getElementById('inspect-status').textContent.includes('copied')")
    copied = json.loads(await page.evaluate("navigator.clipboard.readText()"))
    assert copied["Id"] == cid
    await _clean(tab)


async def test_viewer_inspect_shows_env_names_but_not_values(
    browser: Any, ui: TestClient, local_engine: Engine
) -> None:
    _, name = await run_container(local_engine, name=unique("insp"),
                                  options=("-e", f"TOKEN={SECRET}", "-e", "PLAIN=visible"))
    await _cached(ui, "local", name)
    viewer = unique("viewer")
    resp = await ui.post("/api/v1/users", json={"username": viewer, "password": ADMIN_PASSWORD,
                                                "role": "viewer"})
    assert resp.status == 201, await resp.text()
    base = str(ui.make_url("")).rstrip("/")
    context = await browser.new_context()
    try:
        await context.add_init_script(WATCH_CSP)
        login = await context.request.post(base + "/api/v1/auth/login",
                                           data={"username": viewer, "password": ADMIN_PASSWORD})
        assert login.ok, await login.text()
        page = await context.new_page()
        response = await page.goto(f"{base}/containers/local/{name}/inspect")
        assert response is not None and response.status == 200
        html = await page.content()
        assert "TOKEN=" in html and "PLAIN=" in html
        assert SECRET not in html and "visible" not in html.replace("visibility", "")
        await page.fill("#inspect-search", "TOKEN")
        await page.locator("#inspect-tree mark").first.wait_for()
        assert await page.locator("#inspect-tree .v", has_text='"TOKEN="').is_visible()
        assert await page.evaluate("window.__cspViolations") == []
    finally:
        await context.close()


async def test_processes_page_lists_processes_and_refreshes_in_place(
    tab: Tab, ui: TestClient, remote_engine: Engine
) -> None:
    _, name = await run_container(remote_engine, "sleep", "3600", name=unique("top"))
    await _cached(ui, "remote", name)
    page = tab.page
    await page.goto(f"{tab.base}/containers/remote/{name}/top")
    table = page.locator("#top-table")
    assert "PID" in await table.locator("thead").inner_text()
    assert await table.locator("tbody td.cmd", has_text="sleep 3600").count() == 1
    # Stopped behind Chrontainer's back: a refresh shows it in place, without a page load.
    await page.evaluate("window.__samePage = true")
    await docker(remote_engine, "stop", "-t", "0", name)
    core = ui.app[CORE]
    await wait_for(lambda: any(c.name == name and c.state.value == "exited"
                               for c in core.hosts.get("remote").containers()),
                   what="the stop in the cache")
    await page.click("#top-refresh")
    await page.locator("#top-stopped").wait_for()
    assert "exited" in await page.locator("#top-stopped").inner_text()
    assert await page.locator("#top-table").count() == 0
    assert await page.evaluate("window.__samePage") is True
    # Loaded directly, the stopped container's page is a page, not an error.
    response = await page.goto(f"{tab.base}/containers/remote/{name}/top")
    assert response is not None and response.status == 200
    assert await page.locator("#top-stopped").is_visible()
    await _clean(tab)


async def test_unknown_containers_and_hosts_get_a_404_page(tab: Tab, ui: TestClient) -> None:
    page = tab.page
    for path in (f"/containers/local/{unique('gone')}/logs",
                 f"/containers/local/{unique('gone')}/top",
                 f"/containers/nowhere/{unique('gone')}/inspect"):
        response = await page.goto(tab.base + path)
        assert response is not None and response.status == 404, path
        assert await page.locator("h1").inner_text() == "Container not found"
        assert await page.locator("#container-error").is_visible()
        assert await page.locator("a[href='/containers']").count() >= 1
    assert await page.evaluate(INLINE_CODE) == NO_INLINE_CODE
    assert await tab.csp_violations() == []
    # The browser reports each 404 document in the console; nothing else may be there.
    assert [e for e in tab.console_errors if "status of 404" not in e] == []


async def test_pages_fit_a_phone_and_are_keyboard_usable(
    tab: Tab, ui: TestClient, local_engine: Engine
) -> None:
    long_line = "x" * 600
    _, name = await run_container(local_engine, "sh", "-c",
                                  f"echo {long_line}; echo {long_line} >&2; exec sleep 3600",
                                  name=unique("phone"))
    await _cached(ui, "local", name)
    page = tab.page
    await page.set_viewport_size({"width": 360, "height": 740})
    overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    for tab_name in ("logs", "inspect", "top"):
        await page.goto(f"{tab.base}/containers/local/{name}/{tab_name}")
        if tab_name == "logs":
            await page.locator("#log-output .line.stderr").wait_for()
        if tab_name == "inspect":
            await page.click("#inspect-expand")
        assert await page.evaluate(overflow) <= 0, tab_name

    # Keyboard only: Tab reaches the tail choice and the log box, with a visible focus ring.
    await page.goto(f"{tab.base}/containers/local/{name}/logs?follow=false")
    await page.locator("#log-output .line").first.wait_for()
    reached = []
    for _ in range(40):
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement.id")
        reached.append(focused)
        if focused == "log-output":
            break
    assert "log-tail" in reached and reached[-1] == "log-output", reached
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    await _clean(tab)
