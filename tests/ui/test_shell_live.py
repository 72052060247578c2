"""The UI shell in a real browser: strict CSP, no inline code, versioned and compressed assets,
the theme toggle, and the settings page."""

from __future__ import annotations

import gzip
import re

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.api.context import CORE
from chrontainer_server.middlewares import CONTENT_SECURITY_POLICY

from .conftest import Tab, admin_context, until

pytestmark = pytest.mark.live

PAGES = ("/containers", "/hosts", "/settings")
VERSIONED = re.compile(r"^/static/[\w./-]+\.[0-9a-f]{10}\.(js|css|svg)$")
LIGHT_BG = "rgb(246, 247, 249)"
DARK_BG = "rgb(17, 20, 24)"

# Everything a strict CSP would block if it were there, counted in the live DOM.
INLINE_CODE = """() => ({
  inlineScripts: [...document.scripts].filter((s) => !s.src).length,
  styleElements: document.querySelectorAll("style").length,
  styleAttributes: document.querySelectorAll("[style]").length,
  handlerAttributes: [...document.querySelectorAll("*")].flatMap(
    (el) => [...el.attributes].filter((a) => a.name.startsWith("on")).map((a) => a.name)),
  htmx: typeof htmx === "undefined" ? "absent" : htmx.config.allowEval === false ? "safe" : "EVAL",
})"""
# The dashboard does its swaps in its own module and skips htmx (16 KB and a scan of every row).
HTMX = {"/containers": "absent", "/hosts": "safe", "/settings": "safe"}


async def test_pages_load_without_csp_violations(tab: Tab) -> None:
    page = tab.page
    static_encodings: dict[str, str | None] = {}
    page.on("response", lambda r: static_encodings.__setitem__(
        r.url, r.headers.get("content-encoding")) if "/static/" in r.url else None)
    for path in PAGES:
        response = await page.goto(tab.base + path, wait_until="networkidle")
        assert response is not None and response.status == 200, path
        headers = await response.all_headers()
        assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert headers.get("content-encoding") in ("gzip", "deflate", "br"), path
        assert await page.locator("h1").inner_text() == path.strip("/").capitalize()
        assert await page.evaluate(INLINE_CODE) == {
            "inlineScripts": 0, "styleElements": 0, "styleAttributes": 0,
            "handlerAttributes": [], "htmx": HTMX[path],
        }, path
        assert await tab.csp_violations() == [], path
        assert tab.console_errors == [], path
    # The browser received the precompressed scripts, stylesheet and icon.
    assert static_encodings and all(enc == "gzip" for enc in static_encodings.values())

    # The watcher does see a violation: an inline style set by script is refused.
    await page.evaluate("document.body.setAttribute('style', 'color: red')")
    await until(page, "window.__cspViolations.length > 0")
    assert any(v.startswith("style-src") for v in await tab.csp_violations())


async def test_static_assets_are_versioned_precompressed_and_immutable(ui: TestClient) -> None:
    html = await (await ui.get("/containers")).text()
    urls = sorted(set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html)))
    # The shell's four (app.css, favicon, theme.js, session.js) plus the page's own.
    assert len(urls) >= 5 and all(VERSIONED.match(u) for u in urls), urls
    async with aiohttp.ClientSession(auto_decompress=False) as raw:
        for url in urls:
            full = str(ui.make_url(url))
            zipped = await raw.get(full, headers={"Accept-Encoding": "gzip, deflate, br"})
            assert zipped.status == 200
            assert zipped.headers["Content-Encoding"] == "gzip", url
            assert zipped.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert zipped.headers["Vary"] == "Accept-Encoding"
            plain = await raw.get(full, headers={"Accept-Encoding": "identity"})
            assert "Content-Encoding" not in plain.headers
            assert gzip.decompress(await zipped.read()) == await plain.read()
            again = await raw.get(full, headers={"If-None-Match": plain.headers["ETag"]})
            assert again.status == 304
        stale = re.sub(r"\.[0-9a-f]{10}\.", ".0000000000.", urls[0])
        assert (await raw.get(str(ui.make_url(stale)))).status == 404
        unversioned = re.sub(r"\.[0-9a-f]{10}\.", ".", urls[0])
        assert (await raw.get(str(ui.make_url(unversioned)))).status == 404
    # Pages are compressed on the fly (the client here decompresses them itself).
    page = await ui.get("/settings", headers={"Accept-Encoding": "gzip"})
    assert page.headers["Content-Encoding"] == "gzip"
    assert "<h1>Settings</h1>" in await page.text()


async def test_theme_follows_system_and_toggle_persists(tab: Tab, browser) -> None:  # type: ignore[no-untyped-def]
    page = tab.page
    background = "getComputedStyle(document.body).backgroundColor"
    await page.goto(tab.base + "/hosts")
    assert await page.evaluate(background) == LIGHT_BG
    await page.click("#theme-toggle")
    assert await page.get_attribute("html", "data-theme") == "dark"
    assert await page.evaluate(background) == DARK_BG
    await page.reload()
    assert await page.get_attribute("html", "data-theme") == "dark"
    assert await page.evaluate(background) == DARK_BG
    await page.click("#theme-toggle")
    assert await page.evaluate("localStorage.getItem('chrontainer.theme')") == "light"
    assert await page.evaluate(background) == LIGHT_BG
    assert tab.console_errors == [] and await tab.csp_violations() == []

    # With nothing stored, a dark system gets the dark theme.
    context = await admin_context(browser, tab.base, color_scheme="dark")
    try:
        dark_page = await context.new_page()
        await dark_page.goto(tab.base + "/hosts")
        assert await dark_page.evaluate(background) == DARK_BG
    finally:
        await context.close()


async def test_settings_page_saves_and_shows_config_values_read_only(
    tab: Tab, ui: TestClient
) -> None:
    page = tab.page
    await page.goto(tab.base + "/settings")
    pinned = page.locator("#audit_retention_days")
    assert await pinned.is_disabled() and await pinned.input_value() == "30"
    note = page.locator('[data-locked="audit_retention_days"]')
    assert await note.inner_text() == "Set in config file."
    assert not await page.locator("#instance_name").is_disabled()

    # A value out of range is refused with the field named, and nothing is saved.
    before = ui.app[CORE].settings.current.session_idle_timeout_minutes  # type: ignore[union-attr]
    await page.fill("#session_idle_timeout_minutes", "3")
    await page.click("button[type=submit]")
    await page.locator("#session_idle_timeout_minutes-error").wait_for()
    assert "5 to 43200" in await page.locator("#session_idle_timeout_minutes-error").inner_text()
    assert ui.app[CORE].settings.current.session_idle_timeout_minutes == before
    assert await page.locator("#saved-notice").count() == 0

    # Saved last: requiring 2FA confines this admin's session (no TOTP yet) to enrolling.
    await page.fill("#instance_name", "Attic lab")
    await page.fill("#session_idle_timeout_minutes", "60")
    await page.check("#require_2fa")
    await page.select_option("#metrics_retention_days", "30")
    await page.click("button[type=submit]")
    await page.locator("#saved-notice").wait_for()
    assert await page.locator(".brand").inner_text() == "Attic lab"
    assert await page.locator("#require_2fa").is_checked()
    current = ui.app[CORE].settings.current  # type: ignore[union-attr]
    assert (current.instance_name, current.session_idle_timeout_minutes, current.require_2fa,
            current.metrics_retention_days, current.audit_retention_days) == (
        "Attic lab", 60, True, 30, 30)

    assert await tab.csp_violations() == []


async def test_admin_pages_grouped_in_the_nav(tab: Tab) -> None:
    """The admin pages share one disclosure: keyboard usable, current page marked inside and on
    the group, one line at 1280 px, no horizontal scroll at 360 px with it open."""
    page = tab.page
    await page.set_viewport_size({"width": 1280, "height": 800})
    await page.goto(tab.base + "/users")
    summary = page.locator(".nav-group summary")
    assert await summary.get_attribute("aria-current") == "true"
    assert await page.locator('.nav-group a[href="/users"]').get_attribute(
        "aria-current") == "page"
    assert await page.locator('.nav-group a[href="/settings"]').is_hidden()
    # Every entry of the top bar fits one line at 1280 px.
    tops = await page.locator("header.topbar > *").evaluate_all(
        "items => items.map((e) => e.getBoundingClientRect().top)")
    entries = await page.locator(".nav > li").evaluate_all(
        "items => items.map((e) => e.getBoundingClientRect().top)")
    assert len(set(entries)) == 1 and max(tops) - min(tops) < 20, (tops, entries)

    # Keyboard: Enter opens it, Tab reaches its links, Escape closes it back to the summary.
    await summary.focus()
    await page.keyboard.press("Enter")
    await page.locator('.nav-group a[href="/settings"]').wait_for()
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.getAttribute('href')") == "/settings"
    await page.keyboard.press("Escape")
    assert await page.locator('.nav-group a[href="/settings"]').is_hidden()
    assert await page.evaluate("document.activeElement.tagName") == "SUMMARY"
    # A click elsewhere closes it too; its links navigate.
    await summary.click()
    await page.locator("h1").click()
    assert await page.locator('.nav-group a[href="/settings"]').is_hidden()
    await summary.click()
    await page.click('.nav-group a[href="/audit"]')
    await page.wait_for_url(tab.base + "/audit")
    assert await page.locator(".nav-group summary").get_attribute("aria-current") == "true"
    await page.goto(tab.base + "/volumes")
    assert await page.locator(".nav-group summary").get_attribute("aria-current") is None
    assert await page.locator('.nav a[href="/volumes"]').get_attribute("aria-current") == "page"

    await page.set_viewport_size({"width": 360, "height": 740})
    await page.goto(tab.base + "/containers")
    await page.click(".nav-group summary")
    await page.locator('.nav-group a[href="/audit"]').wait_for()
    width = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    scroll, client = await page.evaluate(width)
    assert scroll <= client, (scroll, client)
    assert await tab.csp_violations() == [] and tab.console_errors == []
