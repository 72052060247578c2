"""The networks page in a real browser against the real engine: create a bridge network with a
subnet through the dialog, connect a running container with a static address and an alias
(checked with docker inspect), disconnect it, delete the network; inspect; viewers; 360 px."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ..live import TEST_LABEL, Engine, docker, run_container, unique
from .conftest import Tab
from .test_dashboard_live import clean, list_ready

pytestmark = pytest.mark.live

LIVE = 30_000  # ms: an action through the API and the list refresh after it


def row(name: str) -> str:
    return f'#network-list tr.row[data-name="{name}"]'


async def open_networks(tab: Tab, query: str = "") -> Any:
    page = tab.page
    await page.goto(f"{tab.base}/networks{query}")
    await list_ready(page)
    return page


async def networks_of(engine: Engine, cid: str) -> dict[str, Any]:
    return dict(json.loads(await docker(engine, "inspect", "-f",
                                        "{{json .NetworkSettings.Networks}}", cid)))


async def test_create_connect_disconnect_delete(
        tab: Tab, ui: TestClient, local_engine: Engine) -> None:
    name = unique("ct-ui-net")
    cid, member = await run_container(local_engine)
    try:
        page = await open_networks(tab, "?host=local")
        await page.click("#open-create")
        assert await page.locator("#parent-field").is_hidden()
        await page.select_option("#create-driver", "macvlan")
        assert await page.locator("#parent-field").is_visible()
        await page.select_option("#create-driver", "bridge")
        await page.select_option("#create-host", "local")
        await page.fill("#create-name", name)
        await page.fill("#create-subnet", "not-a-cidr")
        await page.fill("#create-labels", f"{TEST_LABEL}=1")
        await page.click("#create-ok")
        error = page.locator("#create-error:not([hidden])")
        await error.wait_for(timeout=LIVE)
        assert "subnet" in (await error.inner_text()).lower()
        assert await docker(local_engine, "network", "ls", "-q", "-f", f"name=^{name}$") == ""
        await page.fill("#create-subnet", "172.31.99.0/24")
        await page.fill("#create-gateway", "172.31.99.1")
        await page.click("#create-ok")
        await page.locator(row(name)).wait_for(timeout=LIVE)
        assert "172.31.99.0/24 via 172.31.99.1" in await page.locator(
            f"{row(name)} td.subnets").inner_text()

        # Inspect: the engine's document.
        await page.click(f"{row(name)} .menu-button")
        await page.click('#row-menu button[data-act="inspect"]')
        inspect = page.locator("#inspect-json")
        await page.locator("#inspect-json:not(:text-is('Loading…'))").wait_for(timeout=LIVE)
        assert json.loads(await inspect.inner_text())["Name"] == name
        await page.click("#inspect-dialog button[type=submit]")

        # Connect the running container with a static address and an alias.
        await page.click(f"{row(name)} .menu-button")
        await page.click('#row-menu button[data-act="connect"]')
        await page.locator(f'#connect-container option[value="{member}"]').wait_for(
            state="attached", timeout=LIVE)
        await page.select_option("#connect-container", member)
        await page.fill("#connect-aliases", "db, primary")
        await page.fill("#connect-ipv4", "172.31.99.20")
        await page.click("#connect-ok")
        attached = page.locator(f'{row(name)} li[data-member="{member}"]')
        await attached.wait_for(timeout=LIVE)
        assert "172.31.99.20" in await attached.inner_text()
        seen = (await networks_of(local_engine, cid))[name]
        assert seen["IPAMConfig"]["IPv4Address"] == "172.31.99.20"
        assert {"db", "primary"} <= set(seen["Aliases"])

        # Delete while in use: the dialog says by whom; the refusal is shown.
        await page.click(f"{row(name)} .menu-button")
        await page.click('#row-menu button[data-act="delete"]')
        assert member in await page.locator("#confirm-users").inner_text()
        await page.click("#confirm-ok")
        refusal = page.locator("#confirm-error:not([hidden])")
        await refusal.wait_for(timeout=LIVE)
        assert member in await refusal.inner_text()
        await page.click("#confirm-dialog [data-close]")

        # Disconnect it, with a confirmation.
        await page.click(f'{row(name)} button.disconnect[data-container="{member}"]')
        await page.click("#confirm-ok")
        await attached.wait_for(state="detached", timeout=LIVE)
        assert name not in await networks_of(local_engine, cid)

        # Delete it; built-in networks offer no delete.
        await page.click(f"{row(name)} .menu-button")
        await page.click('#row-menu button[data-act="delete"]')
        assert await page.locator("#confirm-users").is_hidden()
        await page.click("#confirm-ok")
        await page.locator(row(name)).wait_for(state="detached", timeout=LIVE)
        assert await docker(local_engine, "network", "ls", "-q", "-f", f"name=^{name}$") == ""
        await page.click(f"{row('bridge')} .menu-button")
        assert await page.locator('#row-menu button[data-act="delete"]').is_hidden()
        await clean(tab, refused=(400, 409))
    finally:
        await docker(local_engine, "rm", "-f", cid, check=False)
        await docker(local_engine, "network", "rm", name, check=False)


async def test_viewer_sees_no_controls_and_360_px_fits(viewer_tab: Tab, tab: Tab) -> None:
    page = await open_networks(viewer_tab, "?host=local")
    assert await page.locator(row("bridge")).count() == 1
    for selector in (".menu-button", "#open-create", "#open-prune", "button.disconnect"):
        assert await page.locator(selector).count() == 0, selector
    await page.click(f"{row('bridge')} button.inspect")
    await page.locator("#inspect-json:not(:text-is('Loading…'))").wait_for(timeout=LIVE)
    assert json.loads(await page.locator("#inspect-json").inner_text())["Name"] == "bridge"
    await clean(viewer_tab)

    width = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    for who in (viewer_tab, tab):
        await who.page.set_viewport_size({"width": 360, "height": 740})
        await open_networks(who)
        scroll, client = await who.page.evaluate(width)
        assert scroll <= client, (who, scroll, client)
    page = tab.page
    await page.click("#open-create")
    scroll, client = await page.evaluate(width)
    assert scroll <= client, ("create dialog", scroll, client)
    await clean(tab)


async def test_a_live_refresh_keeps_an_open_row_menu_open(tab: Tab, ui: TestClient,
                                                          local_engine: Engine) -> None:
    first, second = unique("ct-ui-net"), unique("ct-ui-net")
    try:
        await docker(local_engine, "network", "create", "--label", f"{TEST_LABEL}=1", first)
        page = await open_networks(tab, "?host=local")
        await page.click(f"{row(first)} .menu-button")
        assert await page.locator("#row-menu").is_visible()
        # Another network appears: the engine's event refreshes the list under the menu.
        await docker(local_engine, "network", "create", "--label", f"{TEST_LABEL}=1", second)
        await page.locator(row(second)).wait_for(timeout=LIVE)
        assert await page.locator(f"{row(first)} #row-menu").is_visible()
        assert await page.locator('#row-menu button[data-act="connect"]').is_visible()
    finally:
        for name in (first, second):
            await docker(local_engine, "network", "rm", name, check=False)
