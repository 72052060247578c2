"""Benchmark: the container list API against the raw Engine list, plus memory and start-up.

Prints figures; never passes or fails. Needs the engines from scripts/test-env:

    .venv/bin/python bench/container_list.py --per-host 100 --requests 200

It creates ``--per-host`` running containers on each engine (labelled chrontainer.bench=1,
removed afterwards), starts ``chrontainer serve`` on a temporary data dir with both engines
as hosts, and measures in the same run:
- cold start to healthy (process start -> the API lists every container of both hosts),
- GET /api/v1/containers latency (p50/p95) vs GET /containers/json?all=1 on each engine alone
  and on both summed,
- the server's resident memory (VmRSS) beside the import floor of the same interpreter,
- event-to-bus latency: from the engine's reply to a pause/unpause request to the matching
  ContainerChanged event on the bus of a daemon-mode runtime in this process (this includes
  the watcher's coalescing window and its re-inspect).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

LABEL = "chrontainer.bench"
IMAGE = os.environ.get("CHRONTAINER_TEST_IMAGE", "chrontainer-test/busybox:latest")
ENGINES = {
    "local": os.environ.get("CHRONTAINER_TEST_LOCAL", "unix:///var/run/docker.sock"),
    "remote": os.environ.get("CHRONTAINER_TEST_REMOTE", "tcp://127.0.0.1:23751"),
}


def engine_session(url: str) -> tuple[aiohttp.ClientSession, str]:
    if url.startswith("unix://"):
        return aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=url[7:])), "http://d"
    return aiohttp.ClientSession(), "http://" + url.removeprefix("tcp://")


async def create_containers(slug: str, url: str, count: int) -> None:
    session, base = engine_session(url)
    sem = asyncio.Semaphore(8)
    host_config = {"NetworkMode": "none"} if slug == "remote" else {}

    async def one(i: int) -> None:
        async with sem:
            body = {"Image": IMAGE, "Cmd": ["sleep", "3600"], "Labels": {LABEL: "1"},
                    "HostConfig": host_config}
            async with session.post(f"{base}/containers/create",
                                    params={"name": f"bench-{slug}-{i}"}, json=body) as r:
                cid = (await r.json())["Id"]
            async with session.post(f"{base}/containers/{cid}/start") as r:
                r.raise_for_status()

    async with session:
        await asyncio.gather(*(one(i) for i in range(count)))


async def remove_containers(url: str) -> None:
    session, base = engine_session(url)
    async with session:
        params = {"all": "1", "filters": f'{{"label":["{LABEL}"]}}'}
        async with session.get(f"{base}/containers/json", params=params) as r:
            ids = [c["Id"] for c in await r.json()]
        sem = asyncio.Semaphore(8)

        async def rm(cid: str) -> None:
            async with sem, session.delete(f"{base}/containers/{cid}",
                                           params={"force": "1"}) as r:
                await r.read()

        await asyncio.gather(*(rm(c) for c in ids))


async def timed_gets(session: aiohttp.ClientSession, url: str, n: int, **kw: object) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        async with session.get(url, **kw) as r:  # type: ignore[arg-type]
            await r.read()
            r.raise_for_status()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def line(name: str, values: list[float]) -> None:
    print(f"{name:<44} p50 {statistics.median(values):7.2f} ms   p95 {pct(values, 95):7.2f} ms")


def vmrss_kib(pid: int) -> int:
    for row in Path(f"/proc/{pid}/status").read_text().splitlines():
        if row.startswith("VmRSS:"):
            return int(row.split()[1])
    return 0


async def import_floor() -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c",
        "import chrontainer_server.app, chrontainer_server.cli, os;"
        "print([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1])",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    return int(out)


async def event_to_bus(data_dir: str, rounds: int) -> list[float]:
    """Pause/unpause one bench container ``rounds`` times; time engine reply -> bus event."""
    from chrontainer_core import Chrontainer, ContainerChanged, HostSpec
    from chrontainer_core.config import Config
    from chrontainer_core.store import migrate

    config = Config(data_dir=Path(data_dir) / "latency",
                    hosts=(HostSpec(slug="local", name="local", url=ENGINES["local"]),))
    config.data_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(migrate.upgrade, config.database_url)
    session, base = engine_session(ENGINES["local"])
    out = []
    async with session, Chrontainer.from_config(config) as ch:
        watcher = ch.hosts.get("local")
        await watcher.wait_synced(30)
        target = next(c for c in watcher.containers() if c.name == "bench-local-0")
        with ch.bus.subscribe(["container.changed"]) as sub:
            for i in range(rounds):
                verb, state = ("pause", "paused") if i % 2 == 0 else ("unpause", "running")
                async with session.post(f"{base}/containers/{target.id}/{verb}") as r:
                    r.raise_for_status()
                t0 = time.perf_counter()
                while True:
                    ev = await asyncio.wait_for(sub.get(), 10)
                    if (isinstance(ev, ContainerChanged) and ev.id == target.id
                            and ev.container and ev.container.state.value == state):
                        break
                out.append((time.perf_counter() - t0) * 1000)
    return out


async def bench_api_key(cfg: Path, env: dict[str, str]) -> str:
    """An admin and an API key for the bench, made with the CLI as a user would."""
    base = [sys.executable, "-m", "chrontainer_server", "--config", str(cfg)]
    user = await asyncio.create_subprocess_exec(
        *base, "user", "add", "bench", "--role", "admin", "--password-stdin", env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    await user.communicate(b"bench-password-long-enough\n")
    proc = await asyncio.create_subprocess_exec(
        *base, "apikey", "create", "--user", "bench", "--name", "bench", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
    out, _ = await proc.communicate()
    return next(w for w in out.decode().split() if w.startswith("chr_"))


async def prepare_server(per_host: int, port: int) -> tuple[list[str], dict[str, str], str]:
    """Make the bench containers and a migrated data dir with both engines as hosts.

    Returns the ``serve`` command, its environment and an admin API key (made by the CLI).
    """
    print(f"creating {per_host} running containers on each engine ...")
    await asyncio.gather(*(create_containers(s, u, per_host) for s, u in ENGINES.items()))
    return await prepare_data_dir(ENGINES, port)


async def prepare_data_dir(hosts: dict[str, str], port: int) -> tuple[list[str], dict[str, str],
                                                                      str]:
    """A migrated data dir with ``hosts`` (slug -> URL) and an admin API key (by the CLI).

    Returns the ``serve`` command, its environment and the key.
    """
    data = tempfile.mkdtemp(prefix="chrontainer-bench-")
    cfg = Path(data) / "config.yaml"
    cfg.write_text("hosts:\n" + "".join(
        f"  - slug: {s}\n    url: {u}\n" for s, u in hosts.items()))
    env = {**os.environ, "CHRONTAINER_DATA_DIR": data, "CHRONTAINER_PORT": str(port),
           "CHRONTAINER_LOG_LEVEL": "WARNING"}
    # The schema is created first, as on any install after its first start; a fresh database
    # adds one migration run (about a second) to the first start only.
    migrate = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chrontainer_server", "--config", str(cfg), "migrate", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    await migrate.wait()
    key = await bench_api_key(cfg, env)
    return [sys.executable, "-m", "chrontainer_server", "--config", str(cfg), "serve"], env, key


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-host", type=int, default=100)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--port", type=int, default=15999)
    args = ap.parse_args()

    serve, env, key = await prepare_server(args.per_host, args.port)
    t0 = time.perf_counter()
    server = await asyncio.create_subprocess_exec(*serve, env=env)
    api = f"http://127.0.0.1:{args.port}/api/v1"
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
            expected = 2 * args.per_host
            while True:
                try:
                    async with session.get(f"{api}/containers") as r:
                        if r.status == 200:
                            body = await r.json()
                            labelled = [c for c in body["items"] if LABEL in c["labels"]]
                            if len(labelled) >= expected:
                                break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.02)
            cold = time.perf_counter() - t0
            print(f"cold start to healthy and {expected} containers synced: {cold:.2f} s")
            print(f"containers listed by the API: {body['total']}")
            api_times = await timed_gets(session, f"{api}/containers", args.requests)
            async with session.get(f"{api}/containers") as r:
                sampled = sum(1 for c in (await r.json())["items"] if c.get("metrics"))
            print(f"listed containers with metrics (sampler running): {sampled}")
            raw = {}
            for slug, url in ENGINES.items():
                es, base = engine_session(url)
                async with es:
                    raw[slug] = await timed_gets(es, f"{base}/containers/json",
                                                 args.requests, params={"all": "1"})
            line("GET /api/v1/containers (both hosts)", api_times)
            for slug, values in raw.items():
                line(f"raw engine {slug} /containers/json?all=1", values)
            line("raw engines summed", [a + b for a, b in zip(*raw.values(), strict=True)])
            print(f"server VmRSS after {args.requests} list requests: "
                  f"{vmrss_kib(server.pid) / 1024:.1f} MiB "
                  f"(import floor of this interpreter: {await import_floor() / 1024:.1f} MiB)")
        latency = await event_to_bus(env["CHRONTAINER_DATA_DIR"], 40)
        line("event -> bus (engine reply to ContainerChanged)", latency)
    finally:
        server.terminate()
        await server.wait()
        await asyncio.gather(*(remove_containers(u) for u in ENGINES.values()))


if __name__ == "__main__":
    asyncio.run(main())
