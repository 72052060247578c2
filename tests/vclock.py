"""A virtual clock for code that takes an injected ``clock`` and ``sleep`` (DESIGN §3 "Time").

``clock()`` returns the virtual now; ``await clock.sleep(s)`` parks the caller until a test
calls :meth:`VirtualClock.advance` past its deadline. Tests therefore drive timeouts, retries,
jitter and the scheduler's waits without waiting in real time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta


class VirtualClock:
    """Virtual time: ``now`` only moves when :meth:`advance` or :meth:`set` is called."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.sleeps: list[float] = []  # every duration asked for, in order
        self._heap: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> datetime:
        return self.now

    @property
    def sleeping(self) -> int:
        """How many callers are parked in :meth:`sleep` now."""
        return sum(1 for _, _, fut in self._heap if not fut.done())

    async def sleep(self, seconds: float) -> None:
        """Park until virtual time reaches now + ``seconds``."""
        self.sleeps.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._heap, (self.now + timedelta(seconds=seconds), next(self._seq), fut))
        await fut

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper at its own deadline, in order."""
        await self.set(self.now + timedelta(seconds=seconds))

    async def set(self, when: datetime) -> None:
        """Move time forward to ``when`` (never backwards), waking sleepers on the way."""
        while self._heap and self._heap[0][0] <= when:
            deadline, _, fut = heapq.heappop(self._heap)
            if fut.done():
                continue  # its sleeper was cancelled
            self.now = max(self.now, deadline)
            fut.set_result(None)
            await asyncio.sleep(0)
        self.now = max(self.now, when)

    async def wait_until(self, condition: Callable[[], bool], what: str,
                         timeout: float = 10.0) -> None:
        """Let the event loop run until ``condition()`` holds (see :func:`eventually`)."""
        await eventually(condition, what, timeout)


async def eventually(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Let the event loop run (real time) until ``condition()`` holds.

    For work that also waits on real I/O (the database): the test waits for a *state*, never
    for an amount of time.
    """
    try:
        async with asyncio.timeout(timeout):
            while not condition():  # noqa: ASYNC110 - a condition, not an event, is awaited
                await asyncio.sleep(0.002)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None
