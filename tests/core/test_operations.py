"""The operation manager: outcomes, cancel, throttled progress events, listing and forgetting.

The work here is plain coroutines the test controls (the Docker side is tested live in
test_pulls_live.py): what is under test is how operations are run, reported and kept. Time is
virtual (tests/vclock.py, and a fake monotonic clock for the publish throttle).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from chrontainer_core.actor import Actor, ActorKind
from chrontainer_core.audit import LogAuditTrail
from chrontainer_core.bus import Bus, OperationChanged, Subscription
from chrontainer_core.errors import Conflict, ImageNotFound, NotFound
from chrontainer_core.models import LayerProgress, Operation, OperationStatus
from chrontainer_core.operations import OperationHandle, OperationManager

from ..vclock import VirtualClock

ALICE = Actor(kind=ActorKind.USER, id="1", name="alice")


class Monotonic:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**options) -> tuple[OperationManager, Bus, VirtualClock, LogAuditTrail]:  # type: ignore[no-untyped-def]
    bus = Bus()
    clock = VirtualClock(datetime(2030, 1, 1, tzinfo=UTC))
    audit = LogAuditTrail()
    manager = OperationManager(bus, clock=clock, audit=audit, **options)
    return manager, bus, clock, audit


async def next_op(sub: Subscription) -> Operation:
    event = await asyncio.wait_for(sub.get(), 10)
    assert isinstance(event, OperationChanged)
    return event.operation


def gated(result: dict[str, str] | None = None, *, fail: BaseException | None = None,
          ) -> tuple[asyncio.Event, Callable[[OperationHandle], Awaitable[dict[str, str]]]]:
    """Work that waits for the returned event, then returns ``result`` or raises ``fail``."""
    gate = asyncio.Event()

    async def work(handle: OperationHandle) -> dict[str, str]:
        await gate.wait()
        if fail is not None:
            raise fail
        return result or {}

    return gate, work


async def test_success_is_published_from_start_to_end() -> None:
    manager, bus, _, _ = make()
    gate, work = gated({"image_id": "sha256:abc"})
    with bus.subscribe(["operation"]) as sub:
        op = manager.start(kind="image.pull", host="local", target="nginx:latest",
                           actor=ALICE, work=work)
        assert op.status is OperationStatus.RUNNING and op.actor == "user:alice"
        assert len(op.id) >= 16
        first = await next_op(sub)
        assert first == op
        assert manager.get(op.id).status is OperationStatus.RUNNING
        gate.set()
        last = await next_op(sub)
    assert last.status is OperationStatus.SUCCEEDED
    assert last.result == {"image_id": "sha256:abc"}
    assert last.finished_at is not None and last.error is None
    assert manager.get(op.id) == last
    assert await manager.wait(op.id, 5) == last


async def test_core_error_and_unexpected_error_end_failed() -> None:
    manager, _, _, _ = make()
    gate1, known = gated(fail=ImageNotFound("image x not found on registry r"))
    gate2, bug = gated(fail=KeyError("oops"))
    one = manager.start(kind="image.pull", host="h", target="x", actor=None, work=known)
    two = manager.start(kind="image.pull", host="h", target="y", actor=None, work=bug)
    gate1.set()
    gate2.set()
    one = await manager.wait(one.id, 10)
    two = await manager.wait(two.id, 10)
    assert (one.status, one.error_code, one.error) == (
        OperationStatus.FAILED, "image_not_found", "image x not found on registry r")
    assert (two.status, two.error_code) == (OperationStatus.FAILED, "error")
    assert two.error == "internal error: KeyError"
    assert one.actor == "library:library"


async def test_cancel_ends_the_work_and_is_audited() -> None:
    manager, bus, _, audit = make()
    cleaned = asyncio.Event()
    started = asyncio.Event()

    async def work(handle: OperationHandle) -> dict[str, str]:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.set()
        return {}

    op = manager.start(kind="image.pull", host="remote", target="app:1", actor=ALICE,
                       work=work)
    await started.wait()
    with bus.subscribe(["operation"]) as sub:
        cancelled = await manager.cancel(op.id, actor=ALICE)
        # cancel() returns only once the work has ended (its finally ran).
        assert cleaned.is_set()
        assert (await next_op(sub)).status is OperationStatus.CANCELLED
    assert cancelled.status is OperationStatus.CANCELLED
    assert (cancelled.error_code, cancelled.error) == ("cancelled", "cancelled")
    with pytest.raises(Conflict, match="already ended"):
        await manager.cancel(op.id)
    entries, _ = await audit.list(action="operation.cancel")
    assert [(e.actor.name, e.target, e.result) for e in entries] == [
        ("alice", "remote/app:1", "ok")]


async def test_cancel_of_a_finished_operation_is_a_conflict_and_changes_nothing() -> None:
    manager, _, _, audit = make()
    gate, work = gated({"k": "v"})
    op = manager.start(kind="image.pull", host="h", target="t", actor=None, work=work)
    gate.set()
    done = await manager.wait(op.id, 10)
    with pytest.raises(Conflict):
        await manager.cancel(op.id)
    assert manager.get(op.id) == done
    assert (await audit.list(action="operation.cancel"))[1] == 0


async def test_progress_is_throttled_and_the_last_progress_is_never_lost() -> None:
    monotonic = Monotonic()
    manager, bus, _, _ = make(monotonic=monotonic)
    gate = asyncio.Event()
    handles: list[OperationHandle] = []

    async def work(handle: OperationHandle) -> dict[str, str]:
        handles.append(handle)
        await gate.wait()
        return {}

    with bus.subscribe(["operation"]) as sub:
        op = manager.start(kind="image.pull", host="h", target="t", actor=None, work=work)
        assert (await next_op(sub)).id == op.id  # the start
        await asyncio.sleep(0)  # let the work begin
        handle = handles[0]
        for i in range(1, 51):  # a burst within one throttle interval: coalesced
            handle.update(message=f"step {i}", percent=float(i),
                          layers=(LayerProgress(id="l1", status="Downloading", current=i,
                                                total=50),))
        assert handle.operation.message == "step 50"  # the state itself is always current
        flushed = await next_op(sub)  # the delayed publish, carrying the latest progress
        assert (flushed.message, flushed.percent) == ("step 50", 50.0)
        assert flushed.layers[0].current == 50
        monotonic.now += 1  # a full interval later, an update goes out at once
        handle.update(message="later")
        assert sub._queue.qsize() == 1
        assert (await next_op(sub)).message == "later"
        handle.update(message="last words")  # within the interval: delayed...
        gate.set()
        end = await next_op(sub)  # ...but the end carries it
        assert (end.status, end.message) == (OperationStatus.SUCCEEDED, "last words")
        handle.update(message="after the end")  # ignored
        assert manager.get(op.id).message == "last words"
        assert sub._queue.empty()
        # The end cancelled the delayed publish: nothing will follow it.
        assert manager._entries[op.id].flush is None


async def test_none_keeps_a_value_and_percent_may_stay_unknown() -> None:
    manager, _, _, _ = make()
    gate = asyncio.Event()
    seen: list[Operation] = []

    async def work(handle: OperationHandle) -> dict[str, str]:
        handle.update(message="one")
        handle.update(layers=(LayerProgress(id="a", status="Waiting"),))
        seen.append(handle.operation)
        await gate.wait()
        return {}

    op = manager.start(kind="k", host="h", target="t", actor=None, work=work)
    await asyncio.sleep(0)
    assert seen[0].message == "one" and seen[0].percent is None and len(seen[0].layers) == 1
    gate.set()
    await manager.wait(op.id, 10)


async def test_list_is_newest_first_with_filters() -> None:
    manager, _, clock, _ = make()
    gates = []
    ops = []
    for host, kind in (("a", "image.pull"), ("b", "image.pull"), ("a", "stack.deploy")):
        gate, work = gated()
        gates.append(gate)
        ops.append(manager.start(kind=kind, host=host, target="t", actor=None, work=work))
        await clock.advance(1)
    gates[0].set()
    await manager.wait(ops[0].id, 10)
    assert [o.id for o in manager.list()] == [ops[2].id, ops[1].id, ops[0].id]
    assert [o.id for o in manager.list(host="a")] == [ops[2].id, ops[0].id]
    assert [o.id for o in manager.list(kind="image.pull", status="running")] == [ops[1].id]
    assert [o.id for o in manager.list(status=OperationStatus.SUCCEEDED)] == [ops[0].id]
    with pytest.raises(ValueError):
        manager.list(status="exploded")
    await manager.stop()


async def test_finished_operations_are_forgotten_after_keep_running_ones_never() -> None:
    manager, _, clock, _ = make(keep=timedelta(hours=1))
    gate_done, work_done = gated()
    gate_running, work_running = gated()
    done = manager.start(kind="k", host="h", target="t", actor=None, work=work_done)
    running = manager.start(kind="k", host="h", target="t", actor=None, work=work_running)
    gate_done.set()
    await manager.wait(done.id, 10)
    await clock.advance(59 * 60)
    assert manager.get(done.id).status is OperationStatus.SUCCEEDED
    await clock.advance(2 * 60)
    with pytest.raises(NotFound):
        manager.get(done.id)
    await clock.advance(3 * 86400)
    assert manager.get(running.id).status is OperationStatus.RUNNING
    assert [o.id for o in manager.list()] == [running.id]
    gate_running.set()
    await manager.wait(running.id, 10)


async def test_at_most_max_kept_finished_operations_are_kept() -> None:
    manager, _, _, _ = make(max_kept=3)
    ids = []
    for _ in range(5):
        gate, work = gated()
        gate.set()
        op = manager.start(kind="k", host="h", target="t", actor=None, work=work)
        await manager.wait(op.id, 10)
        ids.append(op.id)
    kept = [o.id for o in manager.list()]
    assert kept == list(reversed(ids[-3:]))


async def test_wait_returns_the_running_state_after_the_timeout() -> None:
    manager, _, _, _ = make()
    gate, work = gated()
    op = manager.start(kind="k", host="h", target="t", actor=None, work=work)
    assert (await manager.wait(op.id, 0)).status is OperationStatus.RUNNING
    with pytest.raises(NotFound):
        await manager.wait("nope", 0)
    with pytest.raises(NotFound, match="'nope' not found"):
        manager.get("nope")
    gate.set()
    assert (await manager.wait(op.id, 10)).status is OperationStatus.SUCCEEDED


async def test_stop_cancels_every_running_operation() -> None:
    manager, _, _, _ = make()
    works = [gated() for _ in range(3)]
    ops = [manager.start(kind="k", host="h", target=str(i), actor=None, work=w)
           for i, (_, w) in enumerate(works)]
    works[0][0].set()
    await manager.wait(ops[0].id, 10)
    await manager.stop()
    statuses = [manager.get(o.id).status for o in ops]
    assert statuses == [OperationStatus.SUCCEEDED, OperationStatus.CANCELLED,
                        OperationStatus.CANCELLED]
