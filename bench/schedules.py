"""Benchmark: the scheduler with 1000 enabled schedules — idle CPU, memory and firing delay.

Prints figures; never passes or fails. Needs the engines from scripts/test-env:

    .venv/bin/python bench/schedules.py --schedules 1000 --idle 60 --burst 20

It starts ``chrontainer serve`` on a temporary data dir with the local engine, creates
``--burst`` running containers (labelled chrontainer.bench=1, removed afterwards) and, through
the REST API, ``--schedules`` enabled cron schedules spread over the day on them, so that none
falls due while measuring. Then, in the same run:
- the server's VmRSS before and after creating the schedules (and the interpreter's import
  floor);
- idle CPU: the server's CPU time (utime + stime) over ``--idle`` seconds with 1000 schedules
  loaded and nothing due, as a percentage of one core;
- firing delay: ``--burst`` one-time schedules (one per container, action pause) all due at the
  same second, then single ones one after another: the delay from each run's due time to its
  start (as the server recorded it) and to its end, beside the raw Engine pause round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

# The sibling bench script (bench/ is on sys.path when this file runs as a script).
from container_list import (
    ENGINES,
    LABEL,
    create_containers,
    engine_session,
    import_floor,
    line,
    prepare_data_dir,
    remove_containers,
    vmrss_kib,
)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def idle_cpu(pid: int, seconds: float) -> float:
    """The server's CPU use over ``seconds`` of idling, in % of one core."""
    cpu0, wall0 = cpu_seconds(pid), time.perf_counter()
    await asyncio.sleep(seconds)
    return 100 * (cpu_seconds(pid) - cpu0) / (time.perf_counter() - wall0)


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def wait_ready(session: aiohttp.ClientSession, api: str, containers: int) -> None:
    while True:
        try:
            async with session.get(f"{api}/containers", params={"host": "local"}) as r:
                if r.status == 200:
                    body = await r.json()
                    if sum(1 for c in body["items"] if LABEL in c["labels"]) >= containers:
                        return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)


async def create_schedule(session: aiohttp.ClientSession, api: str, body: dict) -> dict:  # type: ignore[type-arg]
    async with session.post(f"{api}/schedules", json=body) as r:
        if r.status != 201:
            raise RuntimeError(f"create schedule: {r.status} {await r.text()}")
        return await r.json()  # type: ignore[no-any-return]


async def load_schedules(session: aiohttp.ClientSession, api: str, count: int,
                         keys: list[str]) -> None:
    """``count`` daily cron schedules at random minutes, none due in the next hour."""
    now = datetime.now(UTC)
    rng = random.Random(6)
    sem = asyncio.Semaphore(8)

    async def one(i: int) -> None:
        while True:
            hour, minute = rng.randrange(24), rng.randrange(60)
            due_today = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
            if not timedelta(0) <= due_today - now <= timedelta(hours=1):
                break
        body = {"name": f"bench {i}", "action": "restart",
                "target": {"kind": "container", "host": "local", "key": keys[i % len(keys)]},
                "trigger": {"kind": "cron", "cron": f"{minute} {hour} * * *", "timezone": "UTC"}}
        async with sem:
            await create_schedule(session, api, body)

    await asyncio.gather(*(one(i) for i in range(count)))


async def fire_once(session: aiohttp.ClientSession, api: str, keys: list[str],
                    lead: float) -> list[dict]:  # type: ignore[type-arg]
    """One-time pause schedules on ``keys``, all due ``lead`` seconds from now; their runs."""
    at = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0) + timedelta(
        seconds=1)
    made = [await create_schedule(session, api, {
        "name": f"burst {k}", "action": "pause",
        "target": {"kind": "container", "host": "local", "key": k},
        "trigger": {"kind": "once", "at": at.isoformat()}}) for k in keys]
    runs: list[dict] = []  # type: ignore[type-arg]
    for s in made:
        while True:
            async with session.get(f"{api}/schedules/{s['id']}/runs") as r:
                items = (await r.json())["items"]
            if items and items[0]["finished_at"]:
                runs.append(items[0])
                break
            await asyncio.sleep(0.1)
        async with session.delete(f"{api}/schedules/{s['id']}") as r:
            await r.read()
    return runs


def delays(runs: list[dict]) -> tuple[list[float], list[float]]:  # type: ignore[type-arg]
    start = [(parse_time(r["started_at"]) - parse_time(r["scheduled_for"])).total_seconds()
             * 1000 for r in runs]
    end = [(parse_time(r["finished_at"]) - parse_time(r["scheduled_for"])).total_seconds()
           * 1000 for r in runs]
    return start, end


async def unpause_all(url: str) -> None:
    session, base = engine_session(url)
    async with session:
        params = {"filters": f'{{"label":["{LABEL}"],"status":["paused"]}}'}
        async with session.get(f"{base}/containers/json", params=params) as r:
            ids = [c["Id"] for c in await r.json()]
        for cid in ids:
            async with session.post(f"{base}/containers/{cid}/unpause") as r:
                await r.read()


async def raw_pause_round_trips(url: str, rounds: int) -> list[float]:
    session, base = engine_session(url)
    out = []
    async with session:
        params = {"filters": f'{{"label":["{LABEL}"],"status":["running"]}}'}
        async with session.get(f"{base}/containers/json", params=params) as r:
            cid = (await r.json())[0]["Id"]
        for _ in range(rounds):
            t0 = time.perf_counter()
            async with session.post(f"{base}/containers/{cid}/pause") as r:
                r.raise_for_status()
            out.append((time.perf_counter() - t0) * 1000)
            for _ in range(10):  # the engine sometimes answers 500 to an unpause right away
                async with session.post(f"{base}/containers/{cid}/unpause") as r:
                    if r.status < 300:
                        break
                    print(f"(raw unpause answered {r.status}: {(await r.text()).strip()})")
                await asyncio.sleep(0.2)
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--schedules", type=int, default=1000)
    ap.add_argument("--idle", type=float, default=60.0)
    ap.add_argument("--burst", type=int, default=20)
    ap.add_argument("--singles", type=int, default=5)
    ap.add_argument("--port", type=int, default=15998)
    args = ap.parse_args()

    print(f"creating {args.burst} running containers on the local engine ...")
    await create_containers("local", ENGINES["local"], args.burst)
    keys = [f"bench-local-{i}" for i in range(args.burst)]
    serve, env, key = await prepare_data_dir({"local": ENGINES["local"]}, args.port)
    server = await asyncio.create_subprocess_exec(*serve, env=env)
    api = f"http://127.0.0.1:{args.port}/api/v1"
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
            await wait_ready(session, api, args.burst)
            await asyncio.sleep(2)  # let start-up settle before reading memory
            before = vmrss_kib(server.pid)
            print(f"idle CPU with no schedule over {args.idle:.0f} s (the sampler and "
                  f"watchers on {args.burst} containers): "
                  f"{await idle_cpu(server.pid, args.idle):.2f} % of one core")
            t0 = time.perf_counter()
            await load_schedules(session, api, args.schedules, keys)
            print(f"created {args.schedules} schedules through the API in "
                  f"{time.perf_counter() - t0:.1f} s")
            await asyncio.sleep(2)
            loaded = vmrss_kib(server.pid)
            print(f"idle CPU with {args.schedules} schedules over {args.idle:.0f} s: "
                  f"{await idle_cpu(server.pid, args.idle):.2f} % of one core")
            for attempt in ("first", "second"):
                t0 = time.perf_counter()
                async with session.get(f"{api}/schedules") as r:
                    listed = await r.json()
                print(f"GET /api/v1/schedules ({attempt}) with {listed['total']} "
                      f"(enabled: {sum(1 for s in listed['items'] if s['enabled'])}): "
                      f"{(time.perf_counter() - t0) * 1000:.1f} ms")
            await asyncio.sleep(2)
            print(f"server VmRSS: {before / 1024:.1f} MiB before the schedules, "
                  f"{loaded / 1024:.1f} MiB with {args.schedules} loaded, "
                  f"{vmrss_kib(server.pid) / 1024:.1f} MiB after listing them "
                  f"(import floor: {await import_floor() / 1024:.1f} MiB)")

            burst = await fire_once(session, api, keys, lead=5)
            assert all(r["result"] == "ok" for r in burst), burst
            start, end = delays(burst)
            line(f"burst of {len(burst)} due at one second: due -> run start", start)
            line(f"burst of {len(burst)}: due -> run end (pause done)", end)
            await unpause_all(ENGINES["local"])
            singles: list[dict] = []  # type: ignore[type-arg]
            for i in range(args.singles):
                singles += await fire_once(session, api, [keys[i % len(keys)]], lead=3)
                await unpause_all(ENGINES["local"])
            start, end = delays(singles)
            line("single schedules: due -> run start", start)
            line("single schedules: due -> run end (pause done)", end)
            line("raw engine pause round trip", await raw_pause_round_trips(ENGINES["local"],
                                                                            20))
            print(f"(mean of the single starts: {statistics.mean(start):.1f} ms)")
    finally:
        server.terminate()
        await server.wait()
        await remove_containers(ENGINES["local"])


if __name__ == "__main__":
    asyncio.run(main())
