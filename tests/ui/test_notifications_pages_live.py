"""The notifications pages in a real browser: channels made on the page deliver to real local
receivers (tests/notify_receivers.py), the routing matrix round-trips through the API, and the
delivery log shows what ``ch.notifications.emit`` queued, with each attempt.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_core.notify.models import Notification, NotificationEvent, Severity

from ..http import core_of, ok
from ..live import unique, wait_for
from ..notify_receivers import HttpReceiver, SmtpReceiver
from .conftest import Tab
from .test_schedules_pages_live import NO_SIDEWAYS_SCROLL, V1, WAIT, clean

pytestmark = pytest.mark.live

CHANNELS = f"{V1}/notifications/channels"
TEST_TITLE = "Chrontainer test notification"


async def channels(ui: TestClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await ok(await ui.get(CHANNELS)))["items"]
    return items


async def add_channel(ui: TestClient, name: str, kind: str, config: dict[str, Any],
                      **extra: Any) -> dict[str, Any]:
    body = {"name": name, "kind": kind, "config": config, **extra}
    created: dict[str, Any] = await ok(await ui.post(CHANNELS, json=body), 201)
    return created


async def status_says(page: Any, text: str) -> None:
    await page.locator("#notifications-status", has_text=text).wait_for(timeout=WAIT)


async def edit(page: Any, channel: dict[str, Any]) -> None:
    """Click a channel's Edit and wait until the form holds it (it is fetched from the API)."""
    await page.locator(f"#channel-{channel['id']} button[data-action=edit]").click()
    await page.locator("#channel-form-title", has_text="Edit ").wait_for(timeout=WAIT)


async def send_test(page: Any, channel_id: int, outcome: str) -> str:
    """Click "Send test" on a channel's row and return what the row says once it knows."""
    row = page.locator(f"#channel-{channel_id}")
    await row.locator("button[data-action=test]").click()
    result = page.locator(f"#channel-{channel_id}-test.{outcome}")
    await result.wait_for(timeout=WAIT)
    text: str = await result.inner_text()
    return text


async def test_add_an_ntfy_channel_and_send_a_test(tab: Tab, ui: TestClient) -> None:
    page = tab.page
    async with HttpReceiver() as rx:
        await page.goto(f"{tab.base}/notifications")
        assert await page.locator("#channels-empty").is_visible()
        assert await page.locator("#routing-empty").is_visible()
        # The fields follow the kind: Discord's first, ntfy's once chosen.
        assert await page.locator("#ch-discord-webhook-url").is_visible()
        assert not await page.locator("#ch-ntfy-topic").is_visible()
        await page.select_option("#ch-kind", "ntfy")
        assert not await page.locator("#ch-discord-webhook-url").is_visible()
        assert await page.locator("#ch-ntfy-server").input_value() == "https://ntfy.sh"
        assert await page.locator("#ch-ntfy-token").get_attribute("type") == "password"
        await page.fill("#ch-name", "phone")
        await page.fill("#ch-ntfy-server", rx.url)
        await page.fill("#ch-ntfy-topic", "alerts")
        await page.fill("#ch-ntfy-token", "tk_first_token")
        await page.fill("#ch-ntfy-priority", "4")
        await page.fill("#ch-ntfy-tags", "docker, homelab")
        await page.click("#channel-save")
        await status_says(page, "Channel phone added.")

        [channel] = await channels(ui)
        assert channel["kind"] == "ntfy" and channel["enabled"] is True
        assert channel["config"] == {"server": rx.url, "topic": "alerts", "priority": 4,
                                     "tags": ["docker", "homelab"], "secrets_set": ["token"]}
        row = page.locator(f"#channel-{channel['id']}")
        assert await row.locator(".channel-summary").inner_text() == (
            f"{rx.url}/alerts · priority 4 · tags docker, homelab")
        assert await row.locator(".channel-secrets").inner_text() == "Access token: set"
        assert "tk_first_token" not in await page.content()
        # The form is back to adding, with nothing of the secret left in it.
        assert await page.locator("#ch-ntfy-token").input_value() == ""
        assert await page.locator("#channel-form-title").inner_text() == "Add channel"
        # The matrix has a column for it now.
        assert await page.locator("#routing-matrix th.channel-col").all_inner_texts() == [
            "phone"]

        result = await send_test(page, channel["id"], "ok")
        assert result == "Delivered (HTTP 204)"
        [sent] = await rx.wait_for(1)
        assert sent.method == "POST" and sent.path == "/alerts"
        assert sent.header("Title") == TEST_TITLE
        assert sent.header("Priority") == "4"
        assert sent.header("Authorization") == "Bearer tk_first_token"
        assert sent.header("Tags") == "docker,homelab,information_source"

        # A refusal is reported as it happened, with the receiver's words.
        rx.respond(403, "topic is read-only")
        result = await send_test(page, channel["id"], "failed")
        assert result == "Failed: HTTP 403: topic is read-only"
    await clean(tab)


async def test_bad_input_shows_field_errors_and_creates_nothing(tab: Tab, ui: TestClient) -> None:
    page = tab.page
    await page.goto(f"{tab.base}/notifications")
    await page.select_option("#ch-kind", "ntfy")
    await page.fill("#ch-name", "phone")
    await page.fill("#ch-ntfy-topic", "bad topic!")
    await page.click("#channel-save")
    error = page.locator("#ch-ntfy-topic-error")
    await error.wait_for(timeout=WAIT)
    assert await error.inner_text() == "must be 1 to 64 letters, digits, '_' or '-'"
    assert await page.get_attribute("#ch-ntfy-topic", "aria-invalid") == "true"
    assert await page.evaluate("document.activeElement.id") == "ch-ntfy-topic"

    # A name is needed too; fixing the topic clears its error.
    await page.fill("#ch-ntfy-topic", "alerts")
    await page.fill("#ch-name", "")
    await page.click("#channel-save")
    await page.locator("#ch-name-error").wait_for(timeout=WAIT)
    assert await page.locator("#ch-ntfy-topic-error").is_hidden()
    assert await page.get_attribute("#ch-ntfy-topic", "aria-invalid") is None

    # A required secret missing on a new channel: Gotify's token.
    await page.select_option("#ch-kind", "gotify")
    await page.fill("#ch-name", "gotify")
    await page.fill("#ch-gotify-server", "https://gotify.example.com")
    await page.click("#channel-save")
    await page.locator("#ch-gotify-token-error").wait_for(timeout=WAIT)
    assert await page.locator("#ch-gotify-token-error").inner_text() == "required"

    # A bad recipient of an email channel is shown by the recipients field.
    await page.select_option("#ch-kind", "email")
    await page.fill("#ch-name", "mail")
    await page.fill("#ch-email-host", "smtp.example.com")
    await page.fill("#ch-email-sender", "bot@example.com")
    await page.fill("#ch-email-recipients", "me@example.com\nnot an address")
    await page.click("#channel-save")
    await page.locator("#ch-email-recipients-error").wait_for(timeout=WAIT)
    assert await page.get_attribute("#ch-email-recipients", "aria-invalid") == "true"

    assert await channels(ui) == []
    assert await page.locator("#channels-empty").is_visible()
    await clean(tab, refused=(400,), count=4)


async def test_edit_keeps_the_token_left_empty_and_can_remove_it(tab: Tab,
                                                                  ui: TestClient) -> None:
    page = tab.page
    async with HttpReceiver() as rx:
        channel = await add_channel(ui, "phone", "ntfy", {
            "server": rx.url, "topic": "alerts", "token": "tk_keep_me", "priority": 2})
        await page.goto(f"{tab.base}/notifications")
        await edit(page, channel)
        assert await page.locator("#channel-form-title").inner_text() == "Edit phone"
        assert await page.evaluate("document.activeElement.id") == "ch-name"
        assert await page.locator("#ch-kind").is_disabled()
        assert await page.locator("#ch-kind").input_value() == "ntfy"
        assert await page.locator("#ch-ntfy-topic").input_value() == "alerts"
        assert await page.locator("#ch-ntfy-priority").input_value() == "2"
        token = page.locator("#ch-ntfy-token")
        assert await token.input_value() == "" and await token.get_attribute("type") == "password"
        assert await page.locator("#ch-ntfy-token-state").inner_text() == (
            "Set — leave empty to keep")

        await page.fill("#ch-name", "my phone")
        await page.fill("#ch-ntfy-priority", "5")
        await page.click("#channel-save")
        await status_says(page, "Channel my phone saved.")
        assert await page.locator("#channel-form-title").inner_text() == "Add channel"
        [saved] = await channels(ui)
        assert saved["name"] == "my phone" and saved["config"]["secrets_set"] == ["token"]

        assert await send_test(page, channel["id"], "ok") == "Delivered (HTTP 204)"
        [first] = await rx.wait_for(1)
        assert first.header("Authorization") == "Bearer tk_keep_me"
        assert first.header("Priority") == "5"

        # Removing the stored token is a choice of its own, not an empty field.
        await edit(page, channel)
        await page.check("#ch-ntfy-token-clear")
        await page.click("#channel-save")
        await status_says(page, "Channel my phone saved.")
        [saved] = await channels(ui)
        assert saved["config"]["secrets_set"] == []
        assert await page.locator(f"#channel-{channel['id']} .channel-secrets").inner_text() == (
            "Access token: not set")
        await send_test(page, channel["id"], "ok")
        [_, second] = await rx.wait_for(2)
        assert second.header("Authorization") is None

        # Cancel leaves an edit without saving anything.
        await edit(page, channel)
        await page.fill("#ch-name", "not saved")
        await page.click("#channel-cancel")
        assert await page.locator("#ch-name").input_value() == ""
        assert not await page.locator("#ch-kind").is_disabled()
        assert (await channels(ui))[0]["name"] == "my phone"
    await clean(tab)


async def test_webhook_headers_and_email_through_the_form(tab: Tab, ui: TestClient) -> None:
    page = tab.page
    async with HttpReceiver() as rx, SmtpReceiver("starttls", users={"bot": "smtp-pw"}) as smtp:
        await page.goto(f"{tab.base}/notifications")
        await page.select_option("#ch-kind", "webhook")
        await page.fill("#ch-name", "hook")
        await page.fill("#ch-webhook-url", f"{rx.url}/hook")
        # Header rows come and go with the keyboard.
        await page.focus("#ch-webhook-headers-add")
        await page.keyboard.press("Enter")
        await page.keyboard.type("X-Token")
        await page.keyboard.press("Tab")
        await page.keyboard.type("s3cret-value")
        await page.click("#ch-webhook-headers-add")
        await page.keyboard.type("X-Dropped")
        await page.locator(".header-row").nth(1).locator("[data-action=remove-header]").click()
        assert await page.locator(".header-row").count() == 1
        await page.click("#channel-save")
        await status_says(page, "Channel hook added.")
        hook = next(c for c in await channels(ui) if c["name"] == "hook")
        assert hook["config"] == {"secrets_set": ["url", "headers"]}
        assert await send_test(page, hook["id"], "ok") == "Delivered (HTTP 204)"
        [request] = await rx.wait_for(1)
        assert request.path == "/hook" and request.header("X-Token") == "s3cret-value"
        assert request.header("X-Dropped") is None
        assert request.json["title"] == TEST_TITLE

        # Saved again without touching the secrets, it still sends the header.
        await edit(page, hook)
        assert await page.locator("#ch-webhook-headers-state").inner_text() == (
            "Set — leave empty to keep")
        assert await page.locator(".header-row").count() == 0
        await page.click("#channel-save")
        await status_says(page, "Channel hook saved.")
        await send_test(page, hook["id"], "ok")
        [_, again] = await rx.wait_for(2)
        assert again.path == "/hook" and again.header("X-Token") == "s3cret-value"

        # Email: STARTTLS to a relay with a self-signed certificate, a login, two recipients.
        await page.select_option("#ch-kind", "email")
        await page.fill("#ch-name", "mail")
        await page.fill("#ch-email-host", smtp.host)
        await page.fill("#ch-email-port", str(smtp.port))
        assert await page.locator("#ch-email-security").input_value() == "starttls"
        await page.fill("#ch-email-username", "bot")
        await page.fill("#ch-email-password", "smtp-pw")
        await page.fill("#ch-email-sender", "chrontainer@example.com")
        await page.fill("#ch-email-recipients", "a@example.com\nb@example.com")
        await page.uncheck("#ch-email-verify-tls")
        await page.click("#channel-save")
        await status_says(page, "Channel mail added.")
        mail = next(c for c in await channels(ui) if c["name"] == "mail")
        assert mail["config"]["recipients"] == ["a@example.com", "b@example.com"]
        assert mail["config"]["verify_tls"] is False
        assert mail["config"]["secrets_set"] == ["password"]
        assert (await send_test(page, mail["id"], "ok")).startswith("Delivered (250")
        [message] = await smtp.wait_for(1)
        assert message.login == "bot" and message.tls
        assert message.rcpt_tos == ["a@example.com", "b@example.com"]
        assert message.message["Subject"] == TEST_TITLE
    await clean(tab)


async def test_routing_matrix_saves_and_survives_a_reload(tab: Tab, ui: TestClient) -> None:
    first = await add_channel(ui, "first", "ntfy", {"server": "http://127.0.0.1:9",
                                                    "topic": "a"})
    second = await add_channel(ui, "second", "gotify", {"server": "http://127.0.0.1:9",
                                                        "token": "gotify-token"})
    page = tab.page
    await page.goto(f"{tab.base}/notifications")
    matrix = page.locator("#routing-matrix")
    assert await matrix.locator("tbody tr").count() == len(NotificationEvent)
    assert await matrix.locator("th.channel-col").all_inner_texts() == ["first", "second"]
    died = matrix.locator("tr[data-event='container.died']")
    assert "Container died" in await died.locator("th").inner_text()
    assert "non-zero code" in await died.locator(".event-hint").inner_text()
    assert "chrontainer.notify=false" in await page.locator(".routing-note").inner_text()
    assert "10 minutes" in await page.locator(".routing-note").inner_text()

    def box(event: str, channel: dict[str, Any]) -> Any:
        return matrix.locator(f"tr[data-event='{event}'] input[data-channel='{channel['id']}']")

    await box("container.died", first).check()
    await box("host.offline", first).check()
    # The keyboard reaches the boxes too.
    await box("host.offline", second).focus()
    await page.keyboard.press("Space")
    assert await page.locator("#routing-dirty").is_visible()
    await page.click("#routing-save")
    await status_says(page, "Routing saved.")
    assert await page.locator("#routing-dirty").is_hidden()
    routes = (await ok(await ui.get(f"{V1}/notifications/routes")))["routes"]
    expected = {event.value: [] for event in NotificationEvent}
    expected["container.died"] = [first["id"]]
    expected["host.offline"] = sorted([first["id"], second["id"]])
    assert routes == expected

    await page.reload()
    checked = await matrix.locator("input:checked").evaluate_all(
        "boxes => boxes.map(b => `${b.closest('tr').dataset.event}/${b.dataset.channel}`)")
    assert sorted(checked) == sorted([f"container.died/{first['id']}",
                                      f"host.offline/{first['id']}",
                                      f"host.offline/{second['id']}"])

    # Disabling a channel marks its column; an unsaved tick survives the page's refresh.
    await box("action.failed", first).check()
    await page.locator(f"#channel-{second['id']} .enabled-toggle").uncheck()
    await status_says(page, "Channel second disabled.")
    assert (await ok(await ui.get(f"{CHANNELS}/{second['id']}")))["enabled"] is False
    assert await matrix.locator("th.channel-col").all_inner_texts() == ["first",
                                                                         "second (off)"]
    assert await box("action.failed", first).is_checked()
    assert await page.locator("#routing-dirty").is_visible()

    # Deleting a channel (after confirming) takes its column and its routes away.
    await page.locator(f"#channel-{second['id']} button[data-action=delete]").click()
    dialog = page.locator("#channel-confirm")
    assert await dialog.is_visible()
    assert await page.locator("#channel-confirm-title").inner_text() == "Delete channel second?"
    await page.click("#channel-confirm-ok")
    await status_says(page, "Channel second deleted.")
    assert await dialog.is_hidden()
    assert [c["name"] for c in await channels(ui)] == ["first"]
    # The list is re-rendered after the status line: wait for the row to go.
    await page.locator(f"#channel-{second['id']}").wait_for(state="detached", timeout=10_000)
    assert await matrix.locator("th.channel-col").all_inner_texts() == ["first"]
    routes = (await ok(await ui.get(f"{V1}/notifications/routes")))["routes"]
    assert routes["host.offline"] == [first["id"]]
    await clean(tab)


def died(subject: str) -> Notification:
    return Notification(event=NotificationEvent.CONTAINER_DIED, title=f"{subject} died",
                        message="It exited with code 3.", severity=Severity.ERROR,
                        time=datetime.now(UTC), subject=f"local/{subject}", host="local",
                        container=subject)


async def test_delivery_log_lists_attempts_and_filters(tab: Tab, ui: TestClient) -> None:
    async with HttpReceiver() as good, HttpReceiver() as bad:
        bad.respond(500, "boom")
        sent_to = await add_channel(ui, "works", "ntfy", {"server": good.url, "topic": "t"})
        refused_by = await add_channel(ui, "refuses", "ntfy", {"server": bad.url, "topic": "t"})
        await ok(await ui.put(f"{V1}/notifications/routes", json={"routes": {
            "container.died": [sent_to["id"], refused_by["id"]]}}))
        notifications = core_of(ui).notifications
        assert notifications is not None
        subject = unique("web")
        assert await notifications.emit(died(subject)) == 2

        async def settled() -> bool:
            found, _ = await notifications.deliveries()
            by_channel = {d.channel_id: d for d in found}
            return (len(found) == 2 and by_channel[sent_to["id"]].status.value == "sent"
                    and by_channel[refused_by["id"]].attempts >= 1)

        await wait_for(settled, timeout=20, what="both deliveries tried")
        await good.wait_for(1)
        await bad.wait_for(1)

        page = tab.page
        await page.goto(f"{tab.base}/notifications")
        await page.click("#delivery-log-link")
        await page.wait_for_url("**/notifications/deliveries")
        rows = page.locator("#delivery-list tbody tr")
        assert await rows.count() == 2
        assert await page.locator("#deliveries-count").inner_text() == "1\u20132 of 2"
        ok_row = rows.filter(has=page.locator("td[data-label=Channel]", has_text="works"))
        bad_row = rows.filter(has=page.locator("td[data-label=Channel]", has_text="refuses"))
        for row in (ok_row, bad_row):
            assert await row.locator("td[data-label=Event]").inner_text() == "Container died"
            assert await row.locator("td[data-label=Subject]").inner_text() == f"local/{subject}"
            assert await row.locator("td[data-label=Attempts]").inner_text() == "1"
        assert await ok_row.locator(".badge").inner_text() == "sent"
        assert await ok_row.locator("td[data-label='Last error']").inner_text() == ""
        assert await bad_row.locator(".badge").inner_text() == "pending"
        assert "retry at" in await bad_row.locator("td[data-label=Status]").inner_text()
        assert await bad_row.locator("td[data-label='Last error']").inner_text() == (
            "HTTP 500: boom")

        # Filters are a plain GET form.
        await page.select_option("#filter-status", "sent")
        await page.click("#delivery-filters button[type=submit]")
        await page.wait_for_url("**/notifications/deliveries?status=sent*")
        assert await rows.count() == 1
        assert await rows.locator("td[data-label=Channel]").inner_text() == "works"
        await page.select_option("#filter-status", "")
        await page.select_option("#filter-channel", str(refused_by["id"]))
        await page.click("#delivery-filters button[type=submit]")
        await page.wait_for_url(f"**/notifications/deliveries?*channel={refused_by['id']}*")
        assert await rows.count() == 1
        await page.select_option("#filter-status", "failed")
        await page.click("#delivery-filters button[type=submit]")
        await page.wait_for_url("**status=failed*")
        assert await rows.count() == 0
        assert "Nothing matches" in await page.locator("#deliveries-empty").inner_text()

        # A delivery's page shows each attempt.
        await page.select_option("#filter-status", "pending")
        await page.click("#delivery-filters button[type=submit]")
        await page.wait_for_url("**status=pending*")
        await rows.locator(".attempts-link").click()
        await page.wait_for_url("**/notifications/deliveries/*")
        assert await page.locator("h1").inner_text() == f"{subject} died"
        assert await page.locator("#delivery-status").inner_text() == "pending"
        [attempt] = await page.locator("#attempt-list tbody tr").all()
        assert await attempt.get_attribute("data-ok") == "false"
        assert await attempt.locator("td[data-label=Outcome]").inner_text() == "failed"
        assert await attempt.locator("td[data-label=Status]").inner_text() == "500"
        assert await attempt.locator("td[data-label=Detail]").inner_text() == "HTTP 500: boom"
        assert (await attempt.locator("td[data-label=Duration]").inner_text()).endswith(" ms")

    # Bad filters and a missing delivery are answered, not crashed on.
    response = await page.goto(f"{tab.base}/notifications/deliveries?status=bogus&limit=0")
    assert response is not None and response.status == 400
    errors = await page.locator("#deliveries-error").inner_text()
    assert "Status:" in errors and "Limit:" in errors
    response = await page.goto(f"{tab.base}/notifications/deliveries/999999")
    assert response is not None and response.status == 404
    assert await page.locator("#delivery-missing").is_visible()
    await clean(tab, refused=(400, 404), count=2)


async def test_a_viewer_is_refused_and_sees_no_entry(viewer_tab: Tab, ui: TestClient) -> None:
    page = viewer_tab.page
    await page.goto(f"{viewer_tab.base}/containers")
    nav = await page.locator("nav .nav a").all_inner_texts()
    assert "Containers" in nav and "Notifications" not in nav
    for path in ("/notifications", "/notifications/deliveries", "/notifications/deliveries/1"):
        refused = await page.request.get(viewer_tab.base + path)
        assert refused.status == 403, path
    await clean(viewer_tab, count=0)


async def test_no_horizontal_scroll_at_360_px(tab: Tab, ui: TestClient) -> None:
    async with HttpReceiver() as rx:
        long_name = "the notification channel with a rather long name for a phone"
        channel = await add_channel(ui, long_name, "ntfy", {
            "server": rx.url + "/a/long/path/prefix/of/a/self-hosted/ntfy/server",
            "topic": "an_uncommonly_long_topic_name_for_alerts", "tags": ["docker", "homelab"]})
        await add_channel(ui, "mail", "email", {
            "host": "smtp.a-long-mail-relay-host-name.example.com",
            "sender": "chrontainer-notifications@a-long-domain-name.example.com",
            "recipients": ["first.person@a-long-domain-name.example.com"]})
        await ok(await ui.put(f"{V1}/notifications/routes", json={"routes": {
            "container.died": [channel["id"]]}}))
        notifications = core_of(ui).notifications
        assert notifications is not None
        assert await notifications.emit(died(unique("a-container-with-a-long-name"))) == 1
        await rx.wait_for(1)

        async def sent() -> bool:
            found, _ = await notifications.deliveries(status=None)
            return bool(found) and found[0].status.value == "sent"

        await wait_for(sent, timeout=20, what="the delivery sent")
        [delivery], _ = await notifications.deliveries()
        page = tab.page
        await page.set_viewport_size({"width": 360, "height": 740})
        await page.goto(f"{tab.base}/notifications")
        assert await page.evaluate(NO_SIDEWAYS_SCROLL), "/notifications"
        for kind in ("discord", "ntfy", "gotify", "webhook", "email"):
            await page.select_option("#ch-kind", kind)
            assert await page.evaluate(NO_SIDEWAYS_SCROLL), kind
        await page.select_option("#ch-kind", "webhook")
        await page.click("#ch-webhook-headers-add")
        assert await page.evaluate(NO_SIDEWAYS_SCROLL), "a header row"
        await edit(page, channel)
        assert await page.evaluate(NO_SIDEWAYS_SCROLL), "editing"
        await send_test(page, channel["id"], "ok")
        assert await page.evaluate(NO_SIDEWAYS_SCROLL), "test result"
        for path in ("/notifications/deliveries", f"/notifications/deliveries/{delivery.id}"):
            await page.goto(tab.base + path)
            assert await page.evaluate(NO_SIDEWAYS_SCROLL), path
    await clean(tab)
