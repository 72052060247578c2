"""The Registries section of Settings in a real browser, against real registries (Debian's
docker-registry with htpasswd and with token auth, tests/registry.py): add, test the login,
edit, delete; browse catalogs and tags to the Images page's pull links; search every registry
at once with Docker Hub offline (this machine has no internet) reported as a notice.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient

from .. import live
from ..http import ok
from ..live import Engine, unique
from ..registry import TestRegistry
from .conftest import Tab, logged_in_tab, until
from .test_schedules_pages_live import NO_SIDEWAYS_SCROLL, V1, WAIT, clean

pytestmark = pytest.mark.live

PAGE = "/settings/registries"
REGISTRIES = f"{V1}/registries"


async def registries(ui: TestClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await ok(await ui.get(REGISTRIES)))["items"]
    return items


async def add_registry(ui: TestClient, name: str, registry: TestRegistry) -> dict[str, Any]:
    body = {"name": name, "kind": "generic", "url": registry.url,
            "username": registry.username, "password": registry.password}
    created: dict[str, Any] = await ok(await ui.post(REGISTRIES, json=body), 201)
    return created


async def status_says(page: Any, text: str) -> None:
    await page.locator("#registries-status", has_text=text).wait_for(timeout=WAIT)


async def form_test(page: Any, outcome: str) -> str:
    """Click the form's "Test login" and return what it says once it knows."""
    await page.click("#registry-form-test")
    result = page.locator(f"#rg-test-result.{outcome}")
    await result.wait_for(timeout=WAIT)
    text: str = await result.inner_text()
    return text


async def row_test(page: Any, registry_id: int, outcome: str) -> str:
    await page.locator(f"#registry-{registry_id} button[data-action=test]").click()
    result = page.locator(f"#registry-{registry_id}-test.{outcome}")
    await result.wait_for(timeout=WAIT)
    text: str = await result.inner_text()
    return text


def pull_href(reference: str) -> str:
    return "/images?pull=" + quote(reference, safe="")


async def test_add_test_edit_and_delete_a_registry(
        tab: Tab, ui: TestClient, htpasswd_registry: TestRegistry) -> None:
    page = tab.page
    reg = htpasswd_registry
    # The settings page and this one link to each other.
    await page.goto(f"{tab.base}/settings")
    await page.click("#settings-registries-link")
    await page.wait_for_url(f"**{PAGE}")
    assert await page.locator("#settings-registries-link").get_attribute("aria-current") == "page"
    assert await page.locator("#registries-empty").is_visible()
    assert not await page.locator("#registry-list").is_visible()

    # Docker Hub is the first choice, its URL filled in and locked; "Other" needs one.
    assert await page.locator("#rg-kind").input_value() == "dockerhub"
    assert await page.locator("#rg-url").input_value() == "https://registry-1.docker.io"
    assert await page.locator("#rg-url").get_attribute("readonly") is not None
    await page.select_option("#rg-kind", "generic")
    assert await page.locator("#rg-url").input_value() == ""
    assert await page.locator("#rg-url").get_attribute("readonly") is None

    # Bad input: the field says what is wrong and nothing is stored.
    await page.fill("#rg-name", "team registry")
    await page.click("#registry-save")
    error = page.locator("#rg-url-error")
    await error.wait_for(timeout=WAIT)
    assert "needs its URL" in await error.inner_text()
    assert await page.locator("#rg-url").get_attribute("aria-invalid") == "true"
    assert await registries(ui) == []

    # The login is tried before saving: refused with a wrong password, accepted with the right.
    await page.fill("#rg-url", reg.url)
    await page.fill("#rg-username", "alice")
    await page.fill("#rg-password", "not-the-password")
    assert await form_test(page, "failed") == f"Credentials refused by {reg.host}"
    assert await registries(ui) == []
    await page.fill("#rg-password", reg.password or "")
    assert await form_test(page, "ok") == "Logged in as alice"

    await page.click("#registry-save")
    await status_says(page, "Registry team registry added.")
    [stored] = await registries(ui)
    assert stored["registry"] == reg.host and stored["has_password"] is True
    row = page.locator(f"#registry-{stored['id']}")
    assert await row.locator(".registry-name").inner_text() == "team registry"
    assert await row.locator(".registry-kind").inner_text() == "Other"
    assert await row.locator(".registry-url").inner_text() == reg.url
    assert await row.locator(".registry-host").inner_text() == reg.host
    assert await row.locator(".registry-username").inner_text() == "alice"
    assert await row.locator(".registry-password").inner_text() == "stored"
    assert await page.locator("#registries-empty").is_hidden()
    # The password never comes back: not in the page, not in the emptied form.
    assert reg.password and reg.password not in await page.content()
    assert await page.locator("#rg-password").input_value() == ""
    await page.reload()
    assert reg.password not in await page.content()

    assert await row_test(page, stored["id"], "ok") == "Logged in as alice"

    # Edit: a blank password keeps the stored one; the stored login can be tested from the form.
    await row.locator("button[data-action=edit]").click()
    await page.locator("#registry-form-title", has_text="Edit team registry").wait_for(
        timeout=WAIT)
    assert await page.locator("#rg-kind").is_disabled()
    assert await page.locator("#rg-password").input_value() == ""
    assert "Stored" in await page.locator("#rg-password-state").inner_text()
    assert await form_test(page, "ok") == "Logged in as alice"
    await page.fill("#rg-name", "team")
    await page.click("#registry-save")
    await status_says(page, "Registry team saved.")
    [stored] = await registries(ui)
    assert stored["name"] == "team" and stored["has_password"] is True
    assert await row_test(page, stored["id"], "ok") == "Logged in as alice"

    # Edit again and remove the stored password: the registry now refuses the login.
    await row.locator("button[data-action=edit]").click()
    await page.locator("#registry-form-title", has_text="Edit team").wait_for(timeout=WAIT)
    await page.check("#rg-clear-password")
    await page.click("#registry-save")
    await status_says(page, "Registry team saved.")
    [stored] = await registries(ui)
    assert stored["has_password"] is False
    assert await row.locator(".registry-password").inner_text() == "none"
    assert await row_test(page, stored["id"], "failed") == f"Credentials refused by {reg.host}"

    # Delete, after a confirmation.
    await row.locator("button[data-action=delete]").click()
    dialog = page.locator("#registry-confirm")
    assert await dialog.locator("h2").inner_text() == "Delete registry team?"
    await dialog.locator("[data-action=close]").click()
    assert await registries(ui) != []
    await row.locator("button[data-action=delete]").click()
    await page.click("#registry-confirm-ok")
    await status_says(page, "Registry team deleted.")
    assert await registries(ui) == []
    # The status speaks first; the list reloads right after it.
    await page.locator("#registries-empty").wait_for(state="visible", timeout=WAIT)
    await clean(tab, refused=(400,), count=1)


async def wait_for_repo(page: Any, repository: str) -> Any:
    """The catalog entry of ``repository``, asking for more pages ("More") until it shows."""
    entry = page.locator(f"#browse-repos li[data-repository='{repository}']")
    while not await entry.count():
        more = page.locator("#browse-more")
        await until(page,
            "() => !document.getElementById('browse-loading').textContent", timeout=WAIT)
        if not await entry.count():
            assert await more.is_visible(), f"{repository} is not in the catalog"
            before = await page.locator("#browse-repos li").count()
            await more.click()
            await until(page,
                f"() => document.querySelectorAll('#browse-repos li').length > {before}",
                timeout=WAIT)
    return entry


async def test_browse_and_search_registries(
        tab: Tab, ui: TestClient, local_engine: Engine, htpasswd_registry: TestRegistry,
        token_registry: TestRegistry) -> None:
    page = tab.page
    prefix = unique("ctui")
    repo = f"{prefix}/app"
    await htpasswd_registry.push(local_engine, live.test_image(), repo, "v1")
    await htpasswd_registry.push(local_engine, live.test_image(), repo, "latest")
    await htpasswd_registry.push(local_engine, live.test_image(), f"{prefix}/other", "v1")
    await token_registry.push(local_engine, live.test_image(), repo, "v2")
    basic = await add_registry(ui, "basic", htpasswd_registry)
    token = await add_registry(ui, "token", token_registry)

    await page.goto(tab.base + PAGE)
    # One repository a page, so that "More" is what brings the next ones.
    await page.evaluate("document.getElementById('browse').dataset.pageSize = '1'")
    await page.locator(f"#registry-{basic['id']} button[data-action=browse]").click()
    assert await page.locator("#browse-title").inner_text() == "Browse basic"
    await page.locator("#browse-repos li").first.wait_for(timeout=WAIT)
    assert await page.locator("#browse-repos li").count() == 1
    entry = await wait_for_repo(page, repo)
    # Keyboard: the repository is a button that expands to its tags.
    toggle = entry.locator("button.repo-toggle")
    await toggle.focus()
    await page.keyboard.press("Enter")
    tags = entry.locator(".tag")
    await tags.first.wait_for(timeout=WAIT)
    assert await toggle.get_attribute("aria-expanded") == "true"
    assert sorted(await entry.locator(".tag-name").all_inner_texts()) == ["latest", "v1"]
    link = entry.locator(".tag", has_text="v1").locator("a.pull-link")
    assert await link.get_attribute("href") == pull_href(f"{htpasswd_registry.host}/{repo}:v1")
    await page.keyboard.press("Enter")
    assert await toggle.get_attribute("aria-expanded") == "false"
    assert await tags.first.is_hidden()

    # The token registry (bearer tokens) at the normal page size.
    await page.evaluate("document.getElementById('browse').dataset.pageSize = '50'")
    await page.locator(f"#registry-{token['id']} button[data-action=browse]").click()
    await page.locator("#browse-title", has_text="Browse token").wait_for(timeout=WAIT)
    entry = await wait_for_repo(page, repo)
    await entry.locator("button.repo-toggle").click()
    link = entry.locator("a.pull-link")
    await link.wait_for(timeout=WAIT)
    assert await entry.locator(".tag-name").all_inner_texts() == ["v2"]
    assert await link.get_attribute("href") == pull_href(f"{token_registry.host}/{repo}:v2")

    # Search: the hits of both registries, grouped, and the Hub's failure as a notice.
    await page.goto(tab.base + PAGE)
    await page.fill("#search-q", prefix.upper())  # case does not matter
    await page.keyboard.press("Enter")
    groups = page.locator("#search-results section.hit-group")
    await groups.first.wait_for(timeout=WAIT)
    basic_hits = page.locator(f"section.hit-group[data-registry='{htpasswd_registry.host}'] li")
    token_hits = page.locator(f"section.hit-group[data-registry='{token_registry.host}'] li")
    assert sorted(await basic_hits.locator(".hit-reference").all_inner_texts()) == [
        f"{htpasswd_registry.host}/{prefix}/app", f"{htpasswd_registry.host}/{prefix}/other"]
    assert await token_hits.locator(".hit-reference").all_inner_texts() == [
        f"{token_registry.host}/{repo}"]
    assert await token_hits.locator("a.pull-link").get_attribute("href") == pull_href(
        f"{token_registry.host}/{repo}")
    assert "basic" in await page.locator(
        f"section.hit-group[data-registry='{htpasswd_registry.host}'] h3").inner_text()
    hub = page.locator("#search-notices li[data-registry='docker.io']")
    assert await hub.is_visible()
    assert (await hub.inner_text()).startswith("Docker Hub: ")

    # Nothing found says so.
    await page.fill("#search-q", unique("nothing-like-this"))
    await page.click("#search-submit")
    await page.locator("#search-empty", has_text="Nothing matches").wait_for(timeout=WAIT)
    assert await groups.count() == 0
    await clean(tab)


async def test_docker_hub_is_one_registry_without_a_catalog(tab: Tab, ui: TestClient) -> None:
    page = tab.page
    await page.goto(tab.base + PAGE)
    await page.fill("#rg-name", "Hub")
    await page.fill("#rg-username", "someone")
    await page.fill("#rg-password", "dckr_pat_secret_value")
    await page.click("#registry-save")
    await status_says(page, "Registry Hub added.")
    [hub] = await registries(ui)
    assert hub["registry"] == "docker.io" and hub["url"] == "https://registry-1.docker.io"
    assert "dckr_pat_secret_value" not in await page.content()

    # A second Docker Hub entry is refused, and the form says why.
    await page.select_option("#rg-kind", "dockerhub")
    await page.fill("#rg-name", "Hub again")
    await page.click("#registry-save")
    error = page.locator("#rg-url-error")
    await error.wait_for(timeout=WAIT)
    assert "docker.io is already configured" in await error.inner_text()
    assert len(await registries(ui)) == 1

    # Browsing the Hub says it has no catalog and points to the search.
    await page.locator(f"#registry-{hub['id']} button[data-action=browse]").click()
    problem = page.locator("#browse-error")
    await problem.wait_for(timeout=WAIT)
    assert "Docker Hub has no catalog" in await problem.inner_text()
    await page.click("#browse-search-link")
    assert await page.evaluate("document.activeElement.id") == "search-q"
    await clean(tab, refused=(409,), count=2)


async def test_operators_and_viewers_are_refused(
        browser: Any, ui: TestClient, viewer_tab: Tab) -> None:
    from chrontainer_server.auth.roles import Role
    from chrontainer_server.auth.service import AUTH

    operator = unique("operator")
    await ui.app[AUTH].users.create(operator, "operator-test-password", Role.OPERATOR)
    async with logged_in_tab(browser, viewer_tab.base, operator,
                             "operator-test-password") as operator_tab:
        for who in (viewer_tab, operator_tab):
            response = await who.page.goto(who.base + PAGE)
            assert response is not None and response.status == 403
            assert not await who.page.locator("#registry-form").count()
            await who.page.goto(who.base + "/containers")
            assert "Settings" not in await who.page.locator("nav .nav a").all_inner_texts()


async def test_no_horizontal_scroll_at_360_px(
        tab: Tab, ui: TestClient, local_engine: Engine, htpasswd_registry: TestRegistry) -> None:
    repo = f"{unique('a-rather-long-team-name')}/an-application-with-a-long-name"
    await htpasswd_registry.push(local_engine, live.test_image(), repo,
                                 "a-long-tag-name-for-a-release-candidate")
    created = await add_registry(ui, "the team registry with a rather long name for a phone",
                                 htpasswd_registry)
    page = tab.page
    await page.set_viewport_size({"width": 360, "height": 740})
    await page.goto(tab.base + PAGE)
    assert await page.evaluate(NO_SIDEWAYS_SCROLL), "the list"
    for kind in ("dockerhub", "ghcr", "quay", "harbor", "generic"):
        await page.select_option("#rg-kind", kind)
        assert await page.evaluate(NO_SIDEWAYS_SCROLL), kind
    await row_test(page, created["id"], "ok")
    await page.locator(f"#registry-{created['id']} button[data-action=edit]").click()
    await page.locator("#registry-form-title", has_text="Edit ").wait_for(timeout=WAIT)
    assert await page.evaluate(NO_SIDEWAYS_SCROLL), "editing"
    await page.locator(f"#registry-{created['id']} button[data-action=browse]").click()
    entry = await wait_for_repo(page, repo)
    await entry.locator("button.repo-toggle").click()
    await entry.locator("a.pull-link").wait_for(timeout=WAIT)
    assert await page.evaluate(NO_SIDEWAYS_SCROLL), "browsing"
    await page.fill("#search-q", repo.split("/")[0])
    await page.click("#search-submit")
    await page.locator("#search-results li").first.wait_for(timeout=WAIT)
    assert await page.evaluate(NO_SIDEWAYS_SCROLL), "search results"
    await page.goto(tab.base + "/settings")
    assert await page.evaluate(NO_SIDEWAYS_SCROLL), "/settings"
    await clean(tab)
