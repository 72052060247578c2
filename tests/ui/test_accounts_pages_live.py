"""The account pages in a real browser: setup, login with and without a second factor, the
profile (2FA, API keys), user administration and the audit trail, all under the strict CSP."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pyotp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from chrontainer_server.api.context import CORE
from chrontainer_server.app import create_app

from ..accounts import ADMIN, ADMIN_PASSWORD
from ..live import wait_synced
from .conftest import WATCH_CSP, Tab, until

pytestmark = pytest.mark.live

PASSWORD = "first-admin-password"


@dataclasses.dataclass
class Fresh:
    """A server with no account yet, and its one-time setup token."""

    client: TestClient
    token: str


@pytest.fixture
async def fresh(clean_engines: None, daemon_config, caplog) -> AsyncIterator[Fresh]:  # type: ignore[no-untyped-def]
    """A real HTTP server on an empty database (the setup link is in its log)."""
    caplog.set_level(logging.WARNING, logger="chrontainer_server.auth.setup")
    app = create_app(daemon_config)
    async with TestClient(TestServer(app)) as client:
        await wait_synced(app[CORE])
        link = next(r.getMessage() for r in caplog.records if "/setup?token=" in r.getMessage())
        yield Fresh(client=client, token=re.search(r"token=(\S+)", link).group(1))  # type: ignore[union-attr]


async def _clean(tab: Tab) -> None:
    """The page reported no CSP violation and no script error."""
    assert await tab.csp_violations() == [], tab.page.url
    assert tab.console_errors == [], tab.page.url


async def _new_tab(browser: Any, base: str) -> Tab:
    context = await browser.new_context(color_scheme="light")
    await context.add_init_script(WATCH_CSP)
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return Tab(page=page, base=base, console_errors=errors)


async def _fresh_code(totp: pyotp.TOTP, used: set[str]) -> str:
    """A code not used yet: a server rightly refuses a code twice. The next step's code is
    accepted too (one step of clock drift), so only a third code in one step waits for it."""
    for ahead in (0, totp.interval):
        code = totp.at(time.time() + ahead)
        if code not in used:
            used.add(code)
            return code
    await asyncio.sleep(totp.interval - time.time() % totp.interval + 0.5)
    code = totp.now()
    used.add(code)
    return code


async def test_setup_2fa_logout_and_login_with_totp(browser: Any, fresh: Fresh) -> None:
    base = str(fresh.client.make_url("")).rstrip("/")
    tab = await _new_tab(browser, base)
    page = tab.page
    try:
        # Anonymous page views go to the login form; the API keeps answering 401.
        response = await page.goto(base + "/hosts")
        assert response is not None and page.url == base + "/login?next=/hosts"
        assert (await fresh.client.get("/api/v1/hosts")).status == 401
        await _clean(tab)

        # A wrong setup token says so; the right one creates the admin and logs in.
        await page.goto(base + "/setup?token=not-the-token")
        await page.fill("#username", "root")
        await page.fill("#password", PASSWORD)
        await page.fill("#password2", PASSWORD)
        await page.click("#setup-form button[type=submit]")
        await page.locator("#setup-error:not([hidden])").wait_for()
        assert "invalid or has been used" in await page.inner_text("#setup-error")
        tab.console_errors.clear()  # the browser logs the refused request itself
        await page.goto(base + f"/setup?token={fresh.token}")
        await page.fill("#username", "root")
        await page.fill("#password", PASSWORD)
        await page.fill("#password2", PASSWORD)
        await page.click("#setup-form button[type=submit]")
        await page.wait_for_url(base + "/profile")
        assert await page.inner_text("#whoami") == "root"
        await _clean(tab)

        # Turn on 2FA with the secret shown for manual entry; ten recovery codes, once.
        await page.click("#totp-enroll")
        await page.locator("#totp-enrolling:not([hidden])").wait_for()
        secret = (await page.locator("#totp-secret").inner_text()).strip()
        qr = page.locator("#totp-qr")
        await until(page,
            "document.getElementById('totp-qr').complete "
            "&& document.getElementById('totp-qr').naturalWidth > 0")
        assert (await qr.get_attribute("src") or "").startswith("data:image/svg+xml")
        totp, used = pyotp.TOTP(secret), set[str]()
        await page.fill("#totp-confirm-code", await _fresh_code(totp, used))
        await page.click("#totp-confirm-form button[type=submit]")
        await page.locator("#recovery-codes li").nth(9).wait_for()
        assert await page.locator("#recovery-codes li").count() == 10
        await page.locator("#totp-on:not([hidden])").wait_for()
        await _clean(tab)

        # Log out; the next page view needs a login, which now asks for a code.
        await page.click("#logout")
        await page.wait_for_url(base + "/login")
        await page.goto(base + "/hosts")
        assert page.url == base + "/login?next=/hosts"
        await page.fill("#username", "root")
        await page.fill("#password", "wrong-password")
        await page.click("#login-form button[type=submit]")
        await page.locator("#login-error:not([hidden])").wait_for()
        tab.console_errors.clear()  # the browser logs the refused request itself
        await page.fill("#password", PASSWORD)
        await page.click("#login-form button[type=submit]")
        await page.locator("#second-factor-form:not([hidden])").wait_for()
        await page.fill("#second-factor", await _fresh_code(totp, used))
        await page.click("#second-factor-form button[type=submit]")
        await page.wait_for_url(base + "/hosts")
        assert await page.locator("h1").inner_text() == "Hosts"
        await page.goto(base + "/containers")
        assert await page.locator("h1").inner_text() == "Containers"
        # Text contents: the admin pages are inside a closed disclosure (the Admin group).
        nav = await page.locator("nav .nav a").all_text_contents()
        assert nav == ["Containers", "Images", "Volumes", "Networks", "Updates", "Schedules",
                       "Webhooks", "Activity", "Hosts", "Events", "Settings", "MQTT",
                       "Notifications", "Users", "Audit"]
        await _clean(tab)
    finally:
        await page.context.close()


async def test_login_next_is_never_an_open_redirect(ui: TestClient) -> None:
    for bad in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"):
        html = await (await ui.get("/login", params={"next": bad})).text()
        assert 'data-next="/containers"' in html, bad
    html = await (await ui.get("/login", params={"next": "/hosts?x=1"})).text()
    assert 'data-next="/hosts?x=1"' in html


async def test_users_page_creates_a_user_and_changes_its_role(tab: Tab) -> None:
    page = tab.page
    await page.goto(tab.base + "/users")
    await page.locator(f'#users tr[data-username="{ADMIN}"]').wait_for()
    await page.fill("#new-username", "alice")
    await page.fill("#new-password", "alice-password")
    await page.select_option("#new-role", "viewer")
    await page.click("#user-form button[type=submit]")
    row = page.locator('#users tr[data-username="alice"]')
    await row.wait_for()
    assert await row.locator("select").input_value() == "viewer"
    await row.locator("select").select_option("operator")
    await until(page,
        "document.getElementById('users-status').textContent.includes('now operator')")
    await page.reload()
    row = page.locator('#users tr[data-username="alice"]')
    await row.wait_for()
    assert await row.locator("select").input_value() == "operator"
    await _clean(tab)


async def test_audit_page_shows_logins_with_filters_and_paging(tab: Tab) -> None:
    page = tab.page
    # A second login (the fixture made the first): two rows, so there is a page two.
    again = await page.context.request.post(
        tab.base + "/api/v1/auth/login", data={"username": ADMIN, "password": ADMIN_PASSWORD})
    assert again.ok
    await page.goto(tab.base + "/audit?action=auth.login")
    rows = page.locator('#audit tbody tr[data-action="auth.login"]')
    assert await rows.count() >= 2
    assert await page.locator("#audit tbody tr").count() == await rows.count()
    assert ADMIN in await rows.first.inner_text()
    await page.goto(tab.base + "/audit?limit=1")
    assert await page.locator("#audit tbody tr").count() == 1
    await page.click("#audit-next")
    assert "offset=1" in page.url
    await _clean(tab)


async def test_profile_creates_an_api_key_shown_once_and_revokes_it(
    tab: Tab, ui: TestClient
) -> None:
    page = tab.page
    await page.goto(tab.base + "/profile")
    sessions = page.locator("#sessions tbody tr")
    await sessions.first.wait_for()
    assert await page.locator("#sessions tr.current").count() == 1
    await page.fill("#key-name", "browser-key")
    await page.click("#apikey-form button[type=submit]")
    await page.locator("#new-key:not([hidden])").wait_for()
    secret = (await page.inner_text("#new-key-secret")).strip()
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await ui.get("/api/v1/auth/me", headers=headers)).status == 200
    row = page.locator('#apikeys tr[data-key-name="browser-key"]')
    await row.wait_for()
    assert secret not in await row.inner_text()
    await page.reload()  # shown once: a reload does not show it again
    assert secret not in await page.content()
    await row.locator("button").click()
    await row.locator("text=revoked").wait_for()
    assert (await ui.get("/api/v1/auth/me", headers=headers)).status == 401
    await _clean(tab)


async def test_required_2fa_sends_pages_to_the_enrolment_form(tab: Tab, ui: TestClient) -> None:
    resp = await ui.patch("/api/v1/settings", json={"require_2fa": True})
    assert resp.status == 200, await resp.text()
    page = tab.page
    await page.goto(tab.base + "/containers")
    assert page.url == tab.base + "/profile#two-factor"
    await page.locator("#totp-off:not([hidden])").wait_for()
    assert "Required" in await page.inner_text("#totp-state")
    for section in ("#password-section", "#sessions-section", "#apikeys-section"):
        assert await page.locator(section).is_hidden(), section
    await _clean(tab)
