"""The metrics sampler: the latest stats of every running container, per host (DESIGN §1).

Daemon mode only (library mode runs no background tasks). One supervised loop per host, so a
slow or offline host never delays the others; each round asks the engine for a ``one-shot``
stats reading of every container the cache shows running, a few at a time
(``concurrency``), and pairs it with the previous reading of the same container run to get
CPU % and I/O rates (``metrics.calc``).

Measured on Engine 20.10: the engine's stats collector reads every subscribed container, then
sleeps a second, so a one-shot request answers at once (~20 ms) only when the collector is idle
(no stats request in the past second); otherwise it waits for the next tick (up to 1 s).
Requests in flight together are answered by the same tick, so a round lasts about
``running / concurrency`` seconds; a round longer than the interval is logged once per host.

Paused and stopped containers are not sampled and their metrics are forgotten, as are those of
removed containers and offline or removed hosts.

After each round of a host the sampler publishes one ``MetricsSampled`` event on the bus (the
host's latest metrics by container id), which the browser's live stream carries; nothing is
published per container sample. Lists read the latest values instead: they need them as JSON
for hundreds of containers per request, so each container's JSON form is built once, when its
sample arrives, and list handlers only merge it in.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from ..bus import Bus, MetricsSampled
from ..docker.events import HostWatcher
from ..errors import ChrontainerError, NotFound
from ..hosts import HostManager
from ..models import Container, ContainerMetrics, ContainerState, HostStatus, StatsSample
from ..serialize import to_jsonable
from ..tasks import cancel_and_wait
from .calc import metrics_between

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]

DEFAULT_INTERVAL = 15.0
DEFAULT_CONCURRENCY = 4
# Hosts come and go at run time (API, CLI); this is how soon a new one gets its loop.
RECONCILE_INTERVAL = 1.0

_EMPTY: Mapping[str, dict[str, Any]] = MappingProxyType({})


@dataclass(slots=True, kw_only=True)
class _Latest:
    """What the sampler keeps per container: the last raw sample and what was shown for it."""

    # The run the sample belongs to: after a restart the counters start again from zero.
    started_at: datetime | None
    sample: StatsSample
    metrics: ContainerMetrics


class MetricsSampler:
    """Samples every running container of every host and keeps the latest metrics.

    Args:
        hosts: the hosts (and their container caches) to sample.
        bus: where a ``MetricsSampled`` event is published after each round of a host (none
            when omitted).
        interval: seconds between two rounds of one host.
        concurrency: stats requests in flight per host.
        backoff: (first, maximum) seconds before retrying a host loop after an unexpected error.
        sleep: injectable sleep (tests), defaults to asyncio.sleep.
        clock: injectable monotonic clock for the round timing, defaults to time.monotonic.
    """

    def __init__(
        self,
        hosts: HostManager,
        *,
        bus: Bus | None = None,
        interval: float = DEFAULT_INTERVAL,
        concurrency: int = DEFAULT_CONCURRENCY,
        backoff: tuple[float, float] = (1.0, 60.0),
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        if interval <= 0 or concurrency < 1:
            raise ValueError("interval must be > 0 and concurrency >= 1")
        self._hosts = hosts
        self._bus = bus
        self.interval = interval
        self.concurrency = concurrency
        self._backoff = backoff
        self._sleep = sleep
        self._clock = clock
        self._latest: dict[str, dict[str, _Latest]] = {}
        # host -> container id -> JSON form of the metrics, rebuilt only when a sample arrives.
        self._json: dict[str, dict[str, dict[str, Any]]] = {}
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._supervisor: asyncio.Task[None] | None = None

    # -- reading --------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._supervisor is not None and not self._supervisor.done()

    def latest(self, host: str, container_id: str) -> ContainerMetrics | None:
        """The latest metrics of a container; None when it has not been sampled (yet)."""
        entry = self._latest.get(host, {}).get(container_id)
        return entry.metrics if entry is not None else None

    def host_metrics(self, host: str) -> dict[str, ContainerMetrics]:
        """The latest metrics of every sampled container of a host, by container id."""
        return {cid: e.metrics for cid, e in self._latest.get(host, {}).items()}

    def host_json(self, host: str) -> Mapping[str, dict[str, Any]]:
        """The JSON forms of :meth:`host_metrics`, by container id (read-only; do not mutate)."""
        return self._json.get(host, _EMPTY)

    # -- the loops ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start sampling every host, now and as hosts are added."""
        if not self.running:
            self._supervisor = asyncio.create_task(self._supervise(), name="metrics:supervisor")

    async def stop(self) -> None:
        """Stop every loop and forget all metrics."""
        supervisor, self._supervisor = self._supervisor, None
        await cancel_and_wait(supervisor)
        for slug in list(self._loops):
            await self._stop_host(slug)
        self._latest.clear()
        self._json.clear()

    async def _supervise(self) -> None:
        """Keep one loop per host: start loops for new hosts, stop those of removed ones."""
        while True:
            try:
                await self._reconcile()
            except Exception:  # supervision: a bug must not end sampling for every host
                log.exception("metrics: reconciling the host loops failed")
            await self._sleep(min(self.interval, RECONCILE_INTERVAL))

    async def _reconcile(self) -> None:
        wanted = {w.slug for w in self._hosts.watchers()}
        for slug in set(self._loops) - wanted:
            await self._stop_host(slug)
        for slug in wanted:
            task = self._loops.get(slug)
            if task is None or task.done():
                self._loops[slug] = asyncio.create_task(
                    self._run_host(slug), name=f"metrics:{slug}"
                )

    async def _stop_host(self, slug: str) -> None:
        await cancel_and_wait(self._loops.pop(slug, None))
        self._forget_host(slug)

    async def _run_host(self, slug: str) -> None:
        """Sample one host every ``interval`` seconds; an unexpected error backs off."""
        delay = self._backoff[0]
        failing = overran = False
        while True:
            started = self._clock()
            try:
                await self.sample_host(slug)
            except Exception:  # supervision: log once per outage, retry with backoff
                if not failing:
                    log.exception("host %s: metrics sampling failed", slug)
                failing = True
                await self._sleep(delay)
                delay = min(delay * 2, self._backoff[1])
                continue
            if failing:
                log.info("host %s: metrics sampling works again", slug)
                failing, delay = False, self._backoff[0]
            elapsed = self._clock() - started
            if elapsed > self.interval and not overran:
                # Logged once per host: the engine answers stats requests on its own 1 s tick,
                # so a round lasts about (running containers / concurrency) seconds.
                overran = True
                log.warning(
                    "host %s: a metrics round took %.1f s, longer than the %.1f s interval; "
                    "raise metrics.concurrency (now %d) or metrics.interval",
                    slug, elapsed, self.interval, self.concurrency,
                )
            # Rounds start every interval; a round that took longer starts the next at once.
            await self._sleep(max(0.0, self.interval - elapsed))

    # -- one round ------------------------------------------------------------------------------

    async def sample_host(self, slug: str) -> None:
        """One round: sample every running container of a host, ``concurrency`` at a time."""
        try:
            watcher = self._hosts.get(slug)
        except NotFound:  # removed since the last reconcile
            self._forget_host(slug)
            return
        if watcher.status is not HostStatus.ONLINE:
            # The cache shows the containers as stale; unknown metrics beat old ones.
            self._forget_host(slug)
            return
        running = {c.id: c for c in watcher.containers() if c.state is ContainerState.RUNNING}
        for gone in set(self._latest.get(slug, {})) - set(running):
            self._forget(slug, gone)
        sem = asyncio.Semaphore(self.concurrency)

        async def one(c: Container) -> None:
            async with sem:
                await self._sample(watcher, c)

        async with asyncio.TaskGroup() as group:
            for c in running.values():
                group.create_task(one(c))
        if self._bus is not None:
            # A read-only snapshot: the sampler keeps changing its own dicts after this.
            self._bus.publish(MetricsSampled(
                host=slug, metrics=MappingProxyType(self.host_metrics(slug))))

    async def _sample(self, watcher: HostWatcher, c: Container) -> None:
        slug = watcher.slug
        try:
            sample = await watcher.host.stats_sample(c.id)
        except NotFound:
            self._forget(slug, c.id)
            return
        except ChrontainerError as err:
            # The watcher decides about the host being offline (and logs it once); here the
            # container keeps its last metrics and is simply tried again next round.
            log.debug("host %s: stats of %s failed: %s", slug, c.name, err.message)
            return
        # The container may have been paused or stopped while the request was in flight.
        now = watcher.get(c.id)
        if sample is None or now is None or now.state is not ContainerState.RUNNING:
            self._forget(slug, c.id)
            return
        previous = self._latest.get(slug, {}).get(c.id)
        if previous is not None and previous.started_at != now.started_at:
            previous = None  # it restarted in between: its counters began again from zero
        metrics = metrics_between(previous.sample if previous else None, sample)
        self._latest.setdefault(slug, {})[c.id] = _Latest(
            started_at=now.started_at, sample=sample, metrics=metrics
        )
        self._json.setdefault(slug, {})[c.id] = to_jsonable(metrics)

    def _forget(self, slug: str, container_id: str) -> None:
        self._latest.get(slug, {}).pop(container_id, None)
        self._json.get(slug, {}).pop(container_id, None)

    def _forget_host(self, slug: str) -> None:
        self._latest.pop(slug, None)
        self._json.pop(slug, None)
