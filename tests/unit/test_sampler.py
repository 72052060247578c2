"""Unit tests: the sampler's bookkeeping over a fake host set (the live tests use real engines).

The fakes stand in for HostManager/HostWatcher/DockerHost only where the sampler touches them:
which containers the cache shows running, and one raw stats sample per call.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chrontainer_core.errors import HostUnreachable, NotFound
from chrontainer_core.metrics.sampler import MetricsSampler
from chrontainer_core.models import Container, ContainerState, HostStatus, StatsSample

from ..live import wait_for

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def container(cid: str, state: ContainerState = ContainerState.RUNNING,
              started: datetime = T0) -> Container:
    return Container(host="h", id=cid, name=cid, key=cid, image="i", image_id="sha",
                     command="sleep", created=T0, state=state, started_at=started)


class FakeEngine:
    """Hands out samples whose counters grow by one busy core (of 2) per second per call."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.gone: set[str] = set()
        self.failing = False
        self.block: asyncio.Event | None = None
        self.on_call: Any = None

    async def stats_sample(self, cid: str) -> StatsSample | None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # let the others start: this is what concurrency bounds
            if self.block is not None:
                await self.block.wait()
            if self.on_call is not None:
                self.on_call()
            if cid in self.gone:
                raise NotFound(f"no container {cid}")
            if self.failing:
                raise HostUnreachable("host h: gone")
            n = self.calls[cid] = self.calls.get(cid, 0) + 1
            return StatsSample(
                read_at=T0 + timedelta(seconds=n), cpu_total=n * 1_000_000_000,
                system_cpu=n * 2_000_000_000, online_cpus=2, memory_used=100, memory_limit=1000,
                net_rx=n * 10, net_tx=0, block_read=0, block_write=0, pids=1,
            )
        finally:
            self.in_flight -= 1


class FakeWatcher:
    def __init__(self, slug: str, containers: list[Container]) -> None:
        self.slug = slug
        self.host = FakeEngine()
        self.status = HostStatus.ONLINE
        self.by_id = {c.id: c for c in containers}

    def containers(self) -> list[Container]:
        return list(self.by_id.values())

    def get(self, cid: str) -> Container | None:
        return self.by_id.get(cid)


class FakeHosts:
    def __init__(self, *watchers: FakeWatcher) -> None:
        self.by_slug = {w.slug: w for w in watchers}

    def get(self, slug: str) -> FakeWatcher:
        try:
            return self.by_slug[slug]
        except KeyError:
            raise NotFound(slug) from None

    def watchers(self) -> list[FakeWatcher]:
        return list(self.by_slug.values())


def sampler_for(*watchers: FakeWatcher, **kw: Any) -> tuple[MetricsSampler, FakeHosts]:
    hosts = FakeHosts(*watchers)
    return MetricsSampler(hosts, **kw), hosts  # type: ignore[arg-type]


async def test_two_rounds_give_cpu_and_rates_only_running_are_sampled() -> None:
    w = FakeWatcher("h", [container("run"), container("paused", ContainerState.PAUSED),
                          container("exited", ContainerState.EXITED)])
    sampler, _ = sampler_for(w)
    await sampler.sample_host("h")
    first = sampler.latest("h", "run")
    assert first is not None and first.cpu_percent is None and first.net_rx_rate is None
    assert set(w.host.calls) == {"run"}
    await sampler.sample_host("h")
    second = sampler.latest("h", "run")
    assert second is not None and second.cpu_percent == pytest.approx(100.0)
    assert second.net_rx_rate == 10.0
    assert sampler.host_json("h")["run"]["cpu_percent"] == pytest.approx(100.0)
    assert sampler.host_json("h")["run"]["read_at"].endswith("Z")
    assert sampler.latest("h", "paused") is None and sampler.host_json("nope") == {}


async def test_stopped_paused_removed_and_restarted_containers() -> None:
    w = FakeWatcher("h", [container("a"), container("b"), container("c"), container("d")])
    sampler, _ = sampler_for(w)
    await sampler.sample_host("h")
    await sampler.sample_host("h")
    assert set(sampler.host_metrics("h")) == {"a", "b", "c", "d"}
    w.by_id["a"] = replace(w.by_id["a"], state=ContainerState.PAUSED)
    w.by_id["b"] = replace(w.by_id["b"], state=ContainerState.EXITED)
    w.host.gone.add("c")  # removed on the engine, the cache has not seen it yet
    w.by_id["d"] = replace(w.by_id["d"], started_at=T0 + timedelta(hours=1))
    await sampler.sample_host("h")
    assert set(sampler.host_metrics("h")) == {"d"} and set(sampler.host_json("h")) == {"d"}
    restarted = sampler.latest("h", "d")
    # A new run: its counters are not comparable with the previous run's.
    assert restarted is not None and restarted.cpu_percent is None


async def test_paused_while_in_flight_is_forgotten() -> None:
    w = FakeWatcher("h", [container("a")])
    sampler, _ = sampler_for(w)
    w.host.on_call = lambda: w.by_id.update(a=replace(w.by_id["a"],
                                                     state=ContainerState.PAUSED))
    await sampler.sample_host("h")
    assert sampler.latest("h", "a") is None


async def test_engine_error_keeps_last_metrics_and_offline_host_forgets() -> None:
    w = FakeWatcher("h", [container("a")])
    sampler, _ = sampler_for(w)
    await sampler.sample_host("h")
    w.host.failing = True
    await sampler.sample_host("h")
    assert sampler.latest("h", "a") is not None
    w.status = HostStatus.OFFLINE
    await sampler.sample_host("h")
    assert sampler.latest("h", "a") is None and sampler.host_json("h") == {}


async def test_concurrency_is_bounded_per_host() -> None:
    w = FakeWatcher("h", [container(f"c{i}") for i in range(20)])
    sampler, _ = sampler_for(w, concurrency=3)
    await sampler.sample_host("h")
    assert w.host.max_in_flight == 3 and len(sampler.host_metrics("h")) == 20


async def test_round_timing_uses_the_injected_clock_and_sleep() -> None:
    now = [100.0]
    sleeps: list[float] = []
    w = FakeWatcher("h", [container("a")])

    def advance() -> None:
        now[0] += 3.0  # the round takes 3 s

    w.host.on_call = advance

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0)

    sampler, _ = sampler_for(w, interval=10.0, sleep=sleep, clock=lambda: now[0])
    sampler.start()
    try:
        await wait_for(lambda: 7.0 in sleeps, what="a sleep of interval minus the round")
    finally:
        await sampler.stop()
    assert sampler.host_metrics("h") == {}  # stop forgets everything


async def test_a_stuck_host_does_not_delay_the_others_and_removed_hosts_stop() -> None:
    stuck = FakeWatcher("stuck", [container("s")])
    stuck.host.block = asyncio.Event()
    fine = FakeWatcher("fine", [container("f")])

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(0)

    sampler, hosts = sampler_for(stuck, fine, interval=1.0, sleep=sleep)
    sampler.start()
    try:
        await wait_for(lambda: fine.host.calls.get("f", 0) >= 3, what="rounds on the fine host")
        assert sampler.latest("stuck", "s") is None
        del hosts.by_slug["fine"]
        await wait_for(lambda: sampler.latest("fine", "f") is None, what="removed host forgotten")
    finally:
        await sampler.stop()
    assert not sampler.running


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="interval"):
        MetricsSampler(FakeHosts(), interval=0)  # type: ignore[arg-type]


async def test_a_round_longer_than_the_interval_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    sleeps: list[float] = []
    w = FakeWatcher("h", [container("a")])
    w.host.on_call = lambda: now.__setitem__(0, now[0] + 12.0)

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(0)

    sampler, _ = sampler_for(w, interval=10.0, sleep=sleep, clock=lambda: now[0])
    sampler.start()
    try:
        await wait_for(lambda: sleeps.count(0.0) >= 3, what="three overrunning rounds")
    finally:
        await sampler.stop()
    overruns = [r for r in caplog.records if "longer than the 10.0 s interval" in r.message]
    assert len(overruns) == 1 and "host h" in overruns[0].message
