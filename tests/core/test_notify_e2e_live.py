"""Notifications end to end in a daemon-mode runtime: a real container's death travels from the
engine's events through the detector, the routing and the durable queue to a local receiver,
and a hanging channel never holds up an action."""

from __future__ import annotations

from chrontainer_core import Chrontainer
from chrontainer_core.notify.models import NotificationEvent, WebhookConfig

from ..live import Engine, docker, run_container, wait_for
from ..notify_receivers import HttpReceiver


async def route_to(daemon: Chrontainer, receiver: HttpReceiver,
                   *events: NotificationEvent) -> None:
    notifications = daemon.notifications
    assert notifications is not None
    channel = await notifications.create_channel(
        "receiver", WebhookConfig(url=receiver.url + "/hook"))
    await notifications.set_routes({event: [channel.id] for event in events})


def died(receiver: HttpReceiver, name: str) -> list[dict[str, object]]:
    return [r.json for r in receiver.requests
            if r.json["event"] == "container.died" and name in r.json["title"]]


async def test_a_crash_notifies_once_and_a_manual_stop_not_at_all(
        daemon: Chrontainer, local_engine: Engine) -> None:
    async with HttpReceiver() as receiver:
        await route_to(daemon, receiver, NotificationEvent.CONTAINER_DIED)
        _, stopped = await run_container(local_engine)
        await docker(local_engine, "stop", stopped)  # asked for: no notification
        _, crashed = await run_container(local_engine, "sh", "-c", "sleep 1; exit 3")
        await wait_for(lambda: died(receiver, crashed), timeout=60,
                       what="the crash's notification arrives")
        # A later crash on the same engine arriving proves the earlier events were all weighed.
        _, marker = await run_container(local_engine, "sh", "-c", "sleep 1; exit 4")
        await wait_for(lambda: died(receiver, marker), timeout=60, what="the marker's")
        [crash] = died(receiver, crashed)
        assert crash["severity"] == "error" and crash["host"] == local_engine.slug
        assert "exit 3" in str(crash["title"])
        assert died(receiver, stopped) == []


async def test_a_hanging_channel_does_not_hold_up_actions(
        daemon: Chrontainer, local_engine: Engine) -> None:
    async with HttpReceiver() as receiver:
        receiver.hang()  # accepts the request and never answers
        await route_to(daemon, receiver, NotificationEvent.CONTAINER_DIED,
                       NotificationEvent.ACTION_FAILED)
        await run_container(local_engine, "sh", "-c", "exit 5")
        await receiver.wait_for(1, timeout=60)  # a delivery is now stuck in the channel
        _, name = await run_container(local_engine)
        result = await daemon.containers.action(local_engine.slug, name, "pause")
        assert result.changed and result.container is not None
        assert result.container.state.value == "paused"
        assert len(receiver.requests) == 1  # still hanging: the action did not wait for it
        await daemon.containers.action(local_engine.slug, name, "unpause")
