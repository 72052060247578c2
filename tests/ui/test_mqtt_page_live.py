"""The MQTT section of Settings in a real browser, against a real Mosquitto (the session's
anonymous broker, under a unique base topic and discovery prefix).

Proves: the Admin menu leads to it; "Test connection" logs in to the broker; choosing control
"all" shows the ACL warning (and "off" hides it); saving stores the values (the password only
as "set", the field emptied) and the refreshed status shows the bridge connected; a bad host and
a CA certificate that is not PEM are shown next to their fields with nothing saved; no
sideways scroll at 360 px; no CSP violation; a viewer gets 403 and no menu entry.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from ..http import ok
from ..live import unique, wait_for
from ..mqtt.broker import Mosquitto
from ..mqtt.conftest import mqtt_broker  # noqa: F401 - a fixture
from .conftest import Tab
from .test_schedules_pages_live import NO_SIDEWAYS_SCROLL, V1, WAIT, clean

pytestmark = pytest.mark.live

PAGE = "/settings/mqtt"
API = f"{V1}/mqtt"


async def settings(ui: TestClient) -> dict[str, Any]:
    body: dict[str, Any] = (await ok(await ui.get(API)))["settings"]
    return body


async def test_configure_test_and_save(tab: Tab, ui: TestClient,
                                       mqtt_broker: Mosquitto) -> None:  # noqa: F811
    page = tab.page
    await page.goto(tab.base + "/containers")
    await page.click(".nav-group summary")
    await page.click(f'.nav-group a[href="{PAGE}"]')
    await page.wait_for_url(tab.base + PAGE)
    assert await page.locator("#mqtt-state").inner_text() == "Off"
    assert await page.locator("#mqtt-control-warning").is_hidden()
    assert await page.locator("#mq-password-state").inner_text() == "No password is set."

    base, prefix = unique("ctui"), unique("haui")
    await page.check("#mq-enabled")
    await page.fill("#mq-host", mqtt_broker.host)
    await page.fill("#mq-port", str(mqtt_broker.port))
    await page.fill("#mq-base_topic", base)
    await page.fill("#mq-discovery_prefix", prefix)

    await page.click("#mqtt-test")
    result = page.locator("#mqtt-test-result.ok")
    await result.wait_for(timeout=WAIT)
    assert "Connected" in await result.inner_text()
    assert (await settings(ui))["host"] == ""  # a test saves nothing

    # Control: the warning shows for "all" and "labelled", not for "off".
    await page.check("#mq-control-all")
    warning = page.locator("#mqtt-control-warning")
    await warning.wait_for(state="visible", timeout=WAIT)
    text = await warning.inner_text()
    assert "/cmd/" in text and "ACLs" in text
    await page.check("#mq-control-off")
    await warning.wait_for(state="hidden", timeout=WAIT)
    await page.check("#mq-control-all")
    await warning.wait_for(state="visible", timeout=WAIT)

    # A bad host is refused next to its field; nothing is saved.
    await page.fill("#mq-host", "mqtt://" + mqtt_broker.host)
    await page.click("#mqtt-save")
    await page.locator("#mq-host-error").wait_for(state="visible", timeout=WAIT)
    assert "scheme" in await page.locator("#mq-host-error").inner_text()
    assert await page.locator("#mq-host").get_attribute("aria-invalid") == "true"
    assert (await settings(ui))["enabled"] is False
    await page.fill("#mq-host", mqtt_broker.host)
    await page.fill("#mq-tls_ca_cert", "my home CA")
    await page.click("#mqtt-save")
    ca_error = page.locator("#mq-tls_ca_cert-error")
    await ca_error.wait_for(state="visible", timeout=WAIT)
    assert "PEM" in await ca_error.inner_text()
    assert (await settings(ui))["enabled"] is False

    await page.fill("#mq-tls_ca_cert", "")
    await page.fill("#mq-password", "not-needed-but-stored")
    await page.click("#mqtt-save")
    await page.locator("#mqtt-notice", has_text="saved").wait_for(timeout=WAIT)
    assert await page.locator("#mq-host-error").is_hidden()
    saved = await settings(ui)
    assert (saved["enabled"], saved["host"], saved["port"], saved["base_topic"],
            saved["discovery_prefix"], saved["control"], saved["password_set"]) == (
                True, mqtt_broker.host, mqtt_broker.port, base, prefix, "all", True)
    assert await page.input_value("#mq-password") == ""
    assert (await page.locator("#mq-password-state").inner_text()).startswith(
        "A password is set")
    assert await page.locator("#mq-clear-password-field").is_visible()

    # The status box is fetched again after a save and on "Refresh" (never polled by the page).
    async def connected() -> bool:
        if await page.locator("#mqtt-state").inner_text() == "Connected":
            return True
        await page.click("#mqtt-status-refresh")
        return False

    await wait_for(connected, timeout=WAIT / 1000, what="the status says Connected")
    assert f"{mqtt_broker.host}:{mqtt_broker.port}" in await page.locator(
        "#mqtt-status").inner_text()
    assert await page.locator("#mqtt-commands").inner_text() == "obeyed (control is on)"

    # A reload shows what was saved; the menu marks the page.
    await page.reload()
    assert await page.input_value("#mq-base_topic") == base
    assert await page.is_checked("#mq-control-all")
    assert await page.locator("#mqtt-control-warning").is_visible()
    assert base in await page.locator("#mqtt-control-warning").inner_text()
    assert await page.locator(f'.nav-group a[href="{PAGE}"]').get_attribute(
        "aria-current") == "page"
    # Only the longest matching entry is marked: not "Settings" (/settings) as well.
    assert await page.locator('.nav-group a[href="/settings"]').get_attribute(
        "aria-current") is None

    # Switching it off again, and 360 px without sideways scroll.
    await page.uncheck("#mq-enabled")
    await page.check("#mq-control-off")
    await page.click("#mqtt-save")
    await page.locator("#mqtt-notice", has_text="saved").wait_for(timeout=WAIT)
    assert (await settings(ui))["enabled"] is False
    await page.set_viewport_size({"width": 360, "height": 740})
    await page.goto(tab.base + PAGE)
    assert await page.evaluate(NO_SIDEWAYS_SCROLL)
    await clean(tab, refused=(400,))


async def test_viewer_gets_no_access(viewer_tab: Tab) -> None:
    page = viewer_tab.page
    response = await page.goto(viewer_tab.base + PAGE)
    assert response is not None and response.status == 403
    assert not await page.locator("#mqtt-form").count()
    await page.goto(viewer_tab.base + "/containers")
    assert await page.locator(f'a[href="{PAGE}"]').count() == 0
