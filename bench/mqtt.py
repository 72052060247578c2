"""Benchmark: Docker event -> MQTT state latency of the bridge, publish counts and memory.

Prints figures; never passes or fails. Needs the engines from scripts/test-env and mosquitto:

    .venv/bin/python bench/mqtt.py --containers 50 --rounds 40

It creates ``--containers`` running containers on the local engine (labelled chrontainer.bench=1,
removed afterwards), runs a daemon-mode runtime in this process over a temporary data dir and
a private mosquitto, and measures in the same run:
- the raw engine latency: from an event's own time (``timeNano``) to its arrival on a separate
  ``/events`` stream read by this process;
- the bridge latency: from the engine's ``die``/``start`` event time to the arrival of the
  matching container state on MQTT (the watcher's coalescing, its re-inspect, the bridge and
  the broker round trip), over ``--rounds`` stop/start cycles spread over the containers;
- messages the bridge published at connect and during the rounds;
- this process's resident memory (VmRSS) with the runtime alone and with the bridge connected.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt

LABEL = "chrontainer.bench"
IMAGE = os.environ.get("CHRONTAINER_TEST_IMAGE", "chrontainer-test/busybox:latest")
ENGINE = os.environ.get("CHRONTAINER_TEST_LOCAL", "unix:///var/run/docker.sock")


def engine_session() -> tuple[aiohttp.ClientSession, str]:
    if ENGINE.startswith("unix://"):
        return aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=ENGINE[7:])), "http://d"
    return aiohttp.ClientSession(), "http://" + ENGINE.removeprefix("tcp://")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vmrss_kib() -> int:
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1])
    return 0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def line(name: str, values: list[float]) -> None:
    if not values:
        print(f"{name:<44} no samples")
        return
    print(f"{name:<44} p50 {statistics.median(values):7.1f} ms   p95 {pct(values, 95):7.1f} ms"
          f"   max {max(values):7.1f} ms   n={len(values)}")


async def create_containers(session: aiohttp.ClientSession, base: str, n: int) -> list[str]:
    names = []
    for i in range(n):
        name = f"bench-mqtt-{i}"
        body = {"Image": IMAGE, "Cmd": ["sleep", "3600"], "Labels": {LABEL: "1"},
                "StopTimeout": 1}
        async with session.post(f"{base}/containers/create", params={"name": name},
                                json=body) as r:
            r.raise_for_status()
            cid = (await r.json())["Id"]
        async with session.post(f"{base}/containers/{cid}/start") as r:
            r.raise_for_status()
        names.append(name)
    return names


async def remove_containers(session: aiohttp.ClientSession, base: str) -> None:
    params = {"all": "1", "filters": json.dumps({"label": [LABEL]})}
    async with session.get(f"{base}/containers/json", params=params) as r:
        ids = [c["Id"] for c in await r.json()]
    for cid in ids:
        async with session.delete(f"{base}/containers/{cid}", params={"force": "1"}) as r:
            await r.read()


class EngineEvents:
    """A raw ``/events`` stream: each container die/start by name, with its own time and the
    time it arrived here."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], tuple[float, float]] = {}
        self.raw: list[float] = []

    async def follow(self, session: aiohttp.ClientSession, base: str) -> None:
        params = {"filters": json.dumps({"type": ["container"], "event": ["die", "start"]})}
        async with session.get(f"{base}/events", params=params,
                               timeout=aiohttp.ClientTimeout(total=None)) as r:
            async for raw_line in r.content:
                arrived = time.time()
                event = json.loads(raw_line)
                at = event["timeNano"] / 1e9
                name = event["Actor"]["Attributes"].get("name", "")
                self.seen[(name, event["Action"])] = (at, arrived)
                self.raw.append((arrived - at) * 1000)


async def run(args: argparse.Namespace) -> None:
    from chrontainer_core import Chrontainer, HostSpec
    from chrontainer_core.config import Config
    from chrontainer_core.store import migrate
    from chrontainer_mqtt.bridge import MqttBridge
    from chrontainer_mqtt.settings import MqttSettings
    from chrontainer_mqtt.topics import Topics

    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    work = Path(tempfile.mkdtemp(prefix="bench-mqtt-"))
    port = free_port()
    (work / "m.conf").write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                                 "persistence false\nuser root\n")
    broker = await asyncio.create_subprocess_exec(
        mosquitto, "-c", str(work / "m.conf"),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    session, base = engine_session()
    events = EngineEvents()
    try:
        await remove_containers(session, base)
        names = await create_containers(session, base, args.containers)
        config = Config(data_dir=work, hosts=(HostSpec(slug="local", name="local", url=ENGINE),))
        await asyncio.to_thread(migrate.upgrade, config.database_url)
        follower = asyncio.create_task(events.follow(session, base))
        async with Chrontainer.from_config(config) as core:
            await core.hosts.get("local").wait_synced(30)
            await asyncio.sleep(2)
            rss_off = vmrss_kib()
            settings = MqttSettings(enabled=True, host="127.0.0.1", port=port,
                                    client_id="bench")
            topics = Topics(settings.base_topic, settings.discovery_prefix)

            class Source:
                current = settings

                def on_change(self, listener: Any) -> None:
                    pass

            arrivals: dict[str, list[tuple[float, bool]]] = {}
            counts = {"connect": 0, "rounds": 0}
            phase = "connect"
            async with aiomqtt.Client("127.0.0.1", port) as watcher:
                await watcher.subscribe("#", qos=1)

                async def record() -> None:
                    async for msg in watcher.messages:
                        counts[phase] += 1
                        topic = str(msg.topic)
                        if topic.endswith("/state") and msg.payload:
                            doc = json.loads(msg.payload)  # type: ignore[arg-type]
                            if isinstance(doc, dict) and "running" in doc:
                                arrivals.setdefault(topic, []).append(
                                    (time.time(), bool(doc["running"])))

                recorder = asyncio.create_task(record())
                bridge = MqttBridge(core, Source(), own_ids=frozenset)
                t0 = time.perf_counter()
                await bridge.start()
                while bridge.status().state != "connected":  # noqa: ASYNC110 - no event to wait on
                    await asyncio.sleep(0.01)
                connect_ms = (time.perf_counter() - t0) * 1000
                await asyncio.sleep(2)
                rss_on = vmrss_kib()
                phase = "rounds"
                latencies: list[float] = []
                for i in range(args.rounds):
                    name = names[i % len(names)]
                    running = (i // len(names)) % 2 == 1  # first pass stops, second starts
                    verb, action = ("start", "start") if running else ("stop", "die")
                    async with session.post(f"{base}/containers/{name}/{verb}") as r:
                        await r.read()
                    topic = topics.container("local", name, "state")
                    deadline = time.time() + 10
                    while time.time() < deadline:
                        got = [t for t, run_ in arrivals.get(topic, []) if run_ is running]
                        if got and (name, action) in events.seen:
                            at, _ = events.seen[(name, action)]
                            latencies.append((got[-1] - at) * 1000)
                            break
                        await asyncio.sleep(0.005)
                    arrivals.pop(topic, None)
                    events.seen.pop((name, action), None)
                await bridge.stop()
                recorder.cancel()
        follower.cancel()
        print(f"containers: {args.containers} on local; rounds: {args.rounds}")
        line("engine event -> raw /events reader", events.raw)
        line("engine event -> MQTT state (bridge)", latencies)
        print(f"{'connect -> everything published':<44} {connect_ms:7.1f} ms")
        print(f"{'messages at connect':<44} {counts['connect']}")
        print(f"{'messages during the rounds':<44} {counts['rounds']} "
              f"({counts['rounds'] / max(1, args.rounds):.1f} per stop/start)")
        print(f"{'VmRSS runtime alone':<44} {rss_off / 1024:7.1f} MiB")
        print(f"{'VmRSS runtime + bridge connected':<44} {rss_on / 1024:7.1f} MiB "
              f"(+{(rss_on - rss_off) / 1024:.1f} MiB)")
    finally:
        await remove_containers(session, base)
        await session.close()
        broker.terminate()
        await broker.wait()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--containers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=40)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
