"""Update events travel through the notification routing (issue 9): a daemon-mode runtime
routes ``update.available``, ``update.applied``, ``update.rolled_back`` and ``update.failed`` to
a webhook channel whose URL is a real local receiver, and the tests assert on what it received.

The throttle is set to 0 so that "announced once per new image" is proven by the update
service itself, not hidden by the per-(event, container) throttle window.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from chrontainer_core import Chrontainer
from chrontainer_core.errors import RegistryUnreachable, UpdateFailed
from chrontainer_core.models import BulkTarget
from chrontainer_core.notify.models import NotificationEvent, WebhookConfig
from chrontainer_core.updates.models import UpdateState

from ..http import ok
from ..live import TEST_LABEL, Engine, docker, free_port, unique, wait_for
from ..notify_receivers import HttpReceiver
from ..registry import TestRegistry
from .test_updates_live import inspect, named, publish, run_from

pytestmark = pytest.mark.usefixtures("clean_engines")

UPDATE_EVENTS = (NotificationEvent.UPDATE_AVAILABLE, NotificationEvent.UPDATE_APPLIED,
                 NotificationEvent.UPDATE_ROLLED_BACK, NotificationEvent.UPDATE_FAILED)


async def route_updates(daemon: Chrontainer, receiver: HttpReceiver, *,
                        grace: int = 1) -> None:
    """A webhook channel to ``receiver``, the four update events routed to it, no throttle,
    and a short grace period (an update without a healthcheck waits all of it)."""
    notifications, settings = daemon.notifications, daemon.settings
    assert notifications is not None and settings is not None
    channel = await notifications.create_channel(
        "update receiver", WebhookConfig(url=receiver.url + "/hook"))
    await notifications.set_routes({event: [channel.id] for event in UPDATE_EVENTS})
    await settings.update({"notify_throttle_minutes": 0, "update_grace_seconds": grace,
                           "update_check_cron": ""})


def received(receiver: HttpReceiver, event: NotificationEvent,
             container: str) -> list[dict[str, Any]]:
    """The webhook bodies of ``event`` about ``container`` the receiver got."""
    return [r.json for r in receiver.requests
            if r.json["event"] == event.value and r.json["container"] == container]


async def queued(daemon: Chrontainer, container: str) -> list[tuple[str, str]]:
    """(event, subject) of every delivery queued about ``container``.

    ``emit`` writes its rows before ``check``/``update_now`` return, so this sees at once what
    the receiver may only get later.
    """
    assert daemon.notifications is not None
    rows, _ = await daemon.notifications.deliveries(limit=500)
    return [(d.event.value, d.subject) for d in rows if d.subject.endswith(f"/{container}")]


async def seen(daemon: Chrontainer, engine: Engine, *names: str) -> None:
    await wait_for(lambda: {c.name for c in daemon.hosts.get(engine.slug).containers()}
                   >= set(names), what="the watcher lists the containers")


async def check(daemon: Chrontainer, engine: Engine, *names: str) -> None:
    await daemon.updates.check(targets=[BulkTarget(host=engine.slug, ref=n) for n in names])


async def test_available_once_per_new_image_then_applied(
        daemon: Chrontainer, local_engine: Engine, plain_registry: TestRegistry) -> None:
    host = local_engine.slug
    repo = unique("nav")
    ref = await publish(local_engine, plain_registry, repo, "stable", 'CMD ["sleep", "3600"]')
    name = await run_from(local_engine, ref, "--network", "none")
    try:
        async with HttpReceiver() as receiver:
            await route_updates(daemon, receiver)
            await seen(daemon, local_engine, name)
            await check(daemon, local_engine, name)  # up to date: nothing to announce
            assert await queued(daemon, name) == []

            await publish(local_engine, plain_registry, repo, "stable", 'CMD ["sleep", "7200"]')
            await check(daemon, local_engine, name)
            await wait_for(lambda: received(receiver, NotificationEvent.UPDATE_AVAILABLE, name),
                           timeout=60, what="the update.available delivery")
            [available] = received(receiver, NotificationEvent.UPDATE_AVAILABLE, name)
            assert available["host"] == host and name in available["title"]
            assert available["severity"] == "info" and repo in available["message"]

            # The same new image checked again: not announced a second time.
            await check(daemon, local_engine, name)
            status = daemon.updates.status(host, name)
            assert status is not None and status.state is UpdateState.AVAILABLE
            assert await queued(daemon, name) == [("update.available", f"{host}/{name}")]

            # A newer image again is a new announcement.
            await publish(local_engine, plain_registry, repo, "stable", 'CMD ["sleep", "7300"]')
            await check(daemon, local_engine, name)
            await wait_for(lambda: len(received(receiver, NotificationEvent.UPDATE_AVAILABLE,
                                                name)) == 2, timeout=60,
                           what="the second image's update.available")

            outcome = await daemon.updates.update_now(host, name)
            assert outcome.updated
            await wait_for(lambda: received(receiver, NotificationEvent.UPDATE_APPLIED, name),
                           timeout=60, what="the update.applied delivery")
            [applied] = received(receiver, NotificationEvent.UPDATE_APPLIED, name)
            assert applied["host"] == host and "updated" in applied["title"]
            assert outcome.new_image_id.removeprefix("sha256:")[:12] in applied["message"]
            # Applied, so no rollback or failure was announced, and the re-check after the
            # update found it current: no further update.available.
            assert sorted(e for e, _ in await queued(daemon, name)) == [
                "update.applied", "update.available", "update.available"]
    finally:
        await docker(local_engine, "rm", "-f", name, check=False)


async def test_unhealthy_v2_announces_rolled_back(
        daemon: Chrontainer, local_engine: Engine, plain_registry: TestRegistry) -> None:
    host = local_engine.slug
    repo = unique("nrb")
    ref = await publish(local_engine, plain_registry, repo, "stable", 'CMD ["sleep", "3600"]')
    name = await run_from(local_engine, ref, "--network", "none")
    try:
        async with HttpReceiver() as receiver:
            await route_updates(daemon, receiver, grace=60)
            before = await inspect(local_engine, name)
            await publish(local_engine, plain_registry, repo, "stable", 'CMD ["sleep", "3600"]',
                          "HEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD false")
            await seen(daemon, local_engine, name)
            with pytest.raises(UpdateFailed) as caught:
                await daemon.updates.update_now(host, name)
            assert caught.value.details["rolled_back"] is True
            await wait_for(lambda: received(receiver, NotificationEvent.UPDATE_ROLLED_BACK,
                                            name), timeout=60, what="update.rolled_back")
            [rolled] = received(receiver, NotificationEvent.UPDATE_ROLLED_BACK, name)
            assert rolled["severity"] == "warning" and "rolled back" in rolled["title"]
            assert "unhealthy" in rolled["message"]
            assert [e for e, _ in await queued(daemon, name)] == ["update.rolled_back"]
            assert (await inspect(local_engine, name))["Id"] == before["Id"]
    finally:
        await docker(local_engine, "rm", "-f", name, check=False)


async def test_unreachable_registry_announces_failed_and_unchanged(
        daemon: Chrontainer, local_engine: Engine) -> None:
    host = local_engine.slug
    image = f"127.0.0.1:{free_port()}/{unique('ngone')}:v1"
    await docker(local_engine, "tag", "chrontainer-test/busybox:latest", image)
    name = unique("nfail")
    try:
        async with HttpReceiver() as receiver:
            await route_updates(daemon, receiver)
            await docker(local_engine, "run", "-d", "--name", name, "--label",
                         f"{TEST_LABEL}=1", "--network", "none", image, "sleep", "3600")
            before = await inspect(local_engine, name)
            await seen(daemon, local_engine, name)
            with pytest.raises(RegistryUnreachable):
                await daemon.updates.update_now(host, name)
            await wait_for(lambda: received(receiver, NotificationEvent.UPDATE_FAILED, name),
                           timeout=60, what="the update.failed delivery")
            [failed] = received(receiver, NotificationEvent.UPDATE_FAILED, name)
            assert failed["severity"] == "error" and "failed" in failed["title"]
            assert "not changed" in failed["message"]
            assert [e for e, _ in await queued(daemon, name)] == ["update.failed"]
            after = await inspect(local_engine, name)
            assert after["Id"] == before["Id"] and after["State"]["Running"]
            assert await named(local_engine, name) == [name]
    finally:
        await docker(local_engine, "rm", "-f", name, check=False)
        await docker(local_engine, "rmi", image, check=False)


async def test_opted_out_container_is_never_announced(
        daemon: Chrontainer, local_engine: Engine, plain_registry: TestRegistry) -> None:
    host = local_engine.slug
    repo = unique("nopt")
    ref = await publish(local_engine, plain_registry, repo, "stable", 'CMD ["sleep", "3600"]')
    quiet = await run_from(local_engine, ref, "--network", "none", "--label",
                           "chrontainer.notify=false")
    # The control: same image, same check, not opted out.
    loud = await run_from(local_engine, ref, "--network", "none")
    try:
        async with HttpReceiver() as receiver:
            await route_updates(daemon, receiver)
            await publish(local_engine, plain_registry, repo, "stable", 'CMD ["sleep", "7200"]')
            await seen(daemon, local_engine, quiet, loud)
            await check(daemon, local_engine, quiet, loud)
            for n in (quiet, loud):
                status = daemon.updates.status(host, n)
                assert status is not None and status.state is UpdateState.AVAILABLE
            outcome = await daemon.updates.update_now(host, quiet)
            assert outcome.updated
            await wait_for(lambda: received(receiver, NotificationEvent.UPDATE_AVAILABLE, loud),
                           timeout=60, what="the control's update.available")
            assert await queued(daemon, quiet) == []
            assert [r for r in receiver.requests if quiet in r.text] == []
    finally:
        await docker(local_engine, "rm", "-f", quiet, loud, check=False)


async def test_routing_matrix_page_lists_the_update_events(api: Any) -> None:
    channel = await ok(await api.post("/api/v1/notifications/channels", json={
        "name": "hook", "kind": "webhook", "config": {"url": "http://127.0.0.1:9/hook"}}), 201)
    routed = {event.value: [channel["id"]] for event in UPDATE_EVENTS}
    saved = (await ok(await api.put("/api/v1/notifications/routes",
                                    json={"routes": routed})))["routes"]
    assert {e: saved[e] for e in routed} == routed
    page = await api.get("/notifications")
    assert page.status == 200, await page.text()
    html = await page.text()
    rows = dict(re.findall(r'<tr data-event="([a-z_.]+)">(.*?)</tr>', html, re.S))
    labels = {"update.available": "Update available", "update.applied": "Update applied",
              "update.rolled_back": "Update rolled back", "update.failed": "Update failed"}
    for event, label in labels.items():
        assert label in rows[event]
        # Each row's box for the channel is ticked, as routed above.
        assert re.search(rf'data-channel="{channel["id"]}"\s+checked', rows[event])
    assert not re.search(r"\schecked", rows["container.died"])  # not routed: not ticked
