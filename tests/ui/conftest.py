"""Browser fixtures: one Debian chromium per session, driven by playwright; a UI server.

Playwright is given the system browser (``executable_path``) and never downloads its own:
``playwright install`` needs the internet, which the test machines do not have. In CI a missing
chromium fails the run instead of skipping the browser tests.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.app import create_app

from ..accounts import ADMIN, ADMIN_PASSWORD, admin_client
from ..live import wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
# Set by the config file in the UI server, so the settings page shows it read-only.
PINNED = {"audit_retention_days": 30}

# Runs before any page script: records every CSP violation the page reports.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """The session's one chromium."""
    if not os.access(CHROMIUM, os.X_OK):
        message = f"{CHROMIUM} is missing: scripts/test-env installs Debian's chromium"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def ui(clean_engines: None, daemon_config) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    """A real HTTP server (daemon mode, both engines) whose config file pins :data:`PINNED`.

    The client acts with an admin API key; the admin's password logs the browser in.
    """
    config = dataclasses.replace(daemon_config, settings=dict(PINNED))
    async with admin_client(create_app(config), config.database_url) as client:
        yield client


@dataclasses.dataclass
class Tab:
    """A page in a fresh browser context, and what went wrong in it."""

    page: Any
    base: str
    console_errors: list[str]

    async def csp_violations(self) -> list[str]:
        return list(await self.page.evaluate("window.__cspViolations"))


async def user_context(browser: Any, base: str, username: str, password: str,
                       **options: Any) -> Any:
    """A new browser context (own storage and cookies) logged in as ``username``."""
    context = await browser.new_context(**options)
    await context.add_init_script(WATCH_CSP)
    # The context's request API shares the browser's cookie jar: the session cookie sticks.
    login = await context.request.post(
        base + "/api/v1/auth/login", data={"username": username, "password": password})
    assert login.ok, await login.text()
    return context


async def admin_context(browser: Any, base: str, **options: Any) -> Any:
    """A new browser context (own storage and cookies) logged in as the admin."""
    return await user_context(browser, base, ADMIN, ADMIN_PASSWORD, **options)


@contextlib.asynccontextmanager
async def logged_in_tab(browser: Any, base: str, username: str, password: str,
                        **options: Any) -> AsyncIterator[Tab]:
    """A page in a new context logged in as ``username``, recording console errors and redoing
    navigations Docker's interface changes aborted."""
    context = await user_context(browser, base, username, password, **options)
    page = await context.new_page()
    errors: list[str] = []
    dropped: list[str] = []  # loads Chromium aborted because Docker changed the interfaces

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            (dropped if NETWORK_CHANGED in msg.text else errors).append(msg.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto = _retrying_goto(page.goto, dropped)
    try:
        yield Tab(page=page, base=base, console_errors=errors)
    finally:
        await context.close()


@pytest.fixture
async def tab(browser: Any, ui: TestClient) -> AsyncIterator[Tab]:
    """A page in a new admin context with a light system theme."""
    base = str(ui.make_url("")).rstrip("/")
    async with logged_in_tab(browser, base, ADMIN, ADMIN_PASSWORD,
                             color_scheme="light") as admin_tab:
        yield admin_tab


VIEWER_PASSWORD = "viewer-test-password"


@pytest.fixture
async def viewer_tab(browser: Any, ui: TestClient) -> AsyncIterator[Tab]:
    """A page logged in as a new viewer (light theme)."""
    from chrontainer_server.auth.roles import Role
    from chrontainer_server.auth.service import AUTH

    from ..live import unique

    name = unique("viewer")
    await ui.app[AUTH].users.create(name, VIEWER_PASSWORD, Role.VIEWER)
    base = str(ui.make_url("")).rstrip("/")
    async with logged_in_tab(browser, base, name, VIEWER_PASSWORD,
                             color_scheme="light") as viewer:
        yield viewer


# Chromium aborts its requests with this error whenever a network interface comes or goes, and
# every container Docker starts or removes adds or deletes a veth interface on this machine.
# It says nothing about the page under test, so a navigation it hit is simply done again.
NETWORK_CHANGED = "net::ERR_NETWORK_CHANGED"


def _retrying_goto(goto: Any, dropped: list[str]) -> Any:
    async def retrying(url: str, **options: Any) -> Any:
        for _ in range(3):
            seen = len(dropped)
            try:
                response = await goto(url, **options)
            except Exception as err:  # playwright.Error: the navigation itself was aborted
                if NETWORK_CHANGED not in str(err):
                    raise
                continue
            if len(dropped) == seen:
                return response
        return await goto(url, **options)

    return retrying


async def until(page: Any, expression: str, *, arg: Any = None,
                timeout: float = 20_000) -> None:
    """Wait until a JavaScript expression (or function of ``arg``) is truthy in the page
    (``timeout`` in ms).

    Polled from here with ``page.evaluate``: Playwright's ``wait_for_function`` polls a string
    predicate through eval inside the page, which the page's CSP (no unsafe-eval) refuses as
    soon as the first check is false.
    """
    await wait_for(lambda: page.evaluate(expression, arg), timeout=timeout / 1000,
                   what=expression)
