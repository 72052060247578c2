"""Unit tests: the bus never blocks and tells a slow subscriber it lagged."""

from __future__ import annotations

from chrontainer_core.bus import Bus, ContainerChanged, HostChanged, Lagged
from chrontainer_core.models import HostState, HostStatus


def changed(i: int) -> ContainerChanged:
    return ContainerChanged(host="h", id=str(i), key=str(i), container=None)


async def test_topics_filter_and_order() -> None:
    bus = Bus()
    with bus.subscribe(["container.changed"]) as sub:
        bus.publish(HostChanged(host=HostState(slug="h", name="h", url="unix:///x",
                                               status=HostStatus.ONLINE)))
        bus.publish(changed(1))
        bus.publish(changed(2))
        first, second = await sub.get(), await sub.get()
        assert isinstance(first, ContainerChanged) and first.id == "1"
        assert isinstance(second, ContainerChanged) and second.id == "2"
    assert bus.subscriber_count == 0


async def test_full_queue_becomes_one_lagged_marker() -> None:
    bus = Bus()
    sub = bus.subscribe(maxsize=3)
    for i in range(5):
        bus.publish(changed(i))
    first = await sub.get()
    assert isinstance(first, Lagged) and first.dropped == 4
    nxt = await sub.get()
    assert isinstance(nxt, ContainerChanged) and nxt.id == "4"
