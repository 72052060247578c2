"""Benchmark: the images list API against the raw Engine list, and a pull through Chrontainer
against the raw Engine pull of the same image.

Prints figures; never passes or fails. Needs the engines from scripts/test-env and Debian's
docker-registry (scripts/test-env installs it):

    .venv/bin/python bench/images.py --images 50 --requests 200

It commits ``--images`` distinct images on each engine (labelled chrontainer.bench=1 and tagged
bench/img-N:v1, removed afterwards), starts ``chrontainer serve`` on a temporary data dir with
both engines as hosts, and measures in the same run:
- GET /api/v1/images latency (p50/p95) vs GET /images/json on each engine alone and summed
  (the API also names the containers using each image, from its cache);
- a pull of an image of 3 x 4 MB random layers from a local registry on the remote engine:
  POST .../images/pull?wait=30 (operation, progress folded, audit row) vs the raw engine's
  POST /images/create of the same reference, each after removing the image;
- the server's VmRSS after the list requests and the pulls.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import aiohttp

# The sibling bench script (bench/ is on sys.path when this file runs as a script).
from container_list import (
    ENGINES,
    IMAGE,
    LABEL,
    engine_session,
    import_floor,
    line,
    prepare_data_dir,
    timed_gets,
    vmrss_kib,
)

# The test registry helpers (a real docker-registry on a free loopback port).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.live import Engine
from tests.registry import build_random_image, start_registry


async def commit_images(slug: str, url: str, count: int) -> None:
    """``count`` distinct images: commits of one stopped container with a different label."""
    session, base = engine_session(url)
    async with session:
        body = {"Image": IMAGE, "Cmd": ["true"], "Labels": {LABEL: "1"},
                "HostConfig": {"NetworkMode": "none"}}
        async with session.post(f"{base}/containers/create",
                                params={"name": f"bench-img-{slug}"}, json=body) as r:
            cid = (await r.json())["Id"]
        for i in range(count):
            params = {"container": cid, "repo": f"bench/img-{i}", "tag": "v1"}
            config = {"Image": IMAGE, "Cmd": ["true"], "Labels": {LABEL: "1", "bench.n": str(i)}}
            async with session.post(f"{base}/commit", params=params, json=config) as r:
                r.raise_for_status()
        async with session.delete(f"{base}/containers/{cid}", params={"force": "1"}) as r:
            r.raise_for_status()


async def remove_images(url: str) -> None:
    session, base = engine_session(url)
    async with session:
        async with session.get(f"{base}/images/json",
                               params={"filters": f'{{"label": ["{LABEL}"]}}'}) as r:
            images = await r.json()
        for image in images:
            async with session.delete(f"{base}/images/{image['Id']}",
                                      params={"force": "1"}) as r:
                await r.read()


async def remove_reference(url: str, reference: str) -> None:
    session, base = engine_session(url)
    async with session, session.delete(f"{base}/images/{reference}",
                                       params={"force": "1"}) as r:
        await r.read()


async def raw_pull(url: str, reference: str) -> float:
    """The raw engine pull of ``reference`` (stream read to its end), in milliseconds."""
    name, tag = reference.rsplit(":", 1)
    session, base = engine_session(url)
    async with session:
        t0 = time.perf_counter()
        async with session.post(f"{base}/images/create",
                                params={"fromImage": name, "tag": tag}) as r:
            async for _ in r.content:
                pass
        return (time.perf_counter() - t0) * 1000


async def api_pull(session: aiohttp.ClientSession, api: str, reference: str) -> float:
    t0 = time.perf_counter()
    async with session.post(f"{api}/hosts/remote/images/pull", params={"wait": "30"},
                            json={"image": reference}) as r:
        body = await r.json()
    elapsed = (time.perf_counter() - t0) * 1000
    if body.get("status") != "succeeded":
        raise RuntimeError(f"pull did not succeed: {body}")
    return elapsed


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=50)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--pulls", type=int, default=5)
    ap.add_argument("--port", type=int, default=15998)
    args = ap.parse_args()

    print(f"committing {args.images} images on each engine ...")
    await asyncio.gather(*(commit_images(s, u, args.images) for s, u in ENGINES.items()))
    registry = await asyncio.to_thread(start_registry, "none")
    local = Engine("local", ENGINES["local"])
    await build_random_image(local, "bench/pull-src:v1", layers=3, layer_bytes=4_000_000)
    reference = await registry.push(local, "bench/pull-src:v1", "bench/pull", "v1")
    serve, env, key = await prepare_data_dir(ENGINES, args.port)
    server = await asyncio.create_subprocess_exec(*serve, env=env)
    api = f"http://127.0.0.1:{args.port}/api/v1"
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
            while True:
                try:
                    async with session.get(f"{api}/images") as r:
                        if r.status == 200:
                            body = await r.json()
                            if all(h["status"] == "online" for h in body["hosts"].values()):
                                break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
            print(f"images listed by the API: {body['total']}")
            api_times = await timed_gets(session, f"{api}/images", args.requests)
            raw = {}
            for slug, url in ENGINES.items():
                es, base = engine_session(url)
                async with es:
                    raw[slug] = await timed_gets(es, f"{base}/images/json", args.requests)
            line("GET /api/v1/images (both hosts)", api_times)
            for slug, values in raw.items():
                line(f"raw engine {slug} /images/json", values)
            line("raw engines summed", [a + b for a, b in zip(*raw.values(), strict=True)])
            print(f"server VmRSS after {args.requests} image list requests: "
                  f"{vmrss_kib(server.pid) / 1024:.1f} MiB "
                  f"(import floor of this interpreter: {await import_floor() / 1024:.1f} MiB)")

            remote = ENGINES["remote"]
            through_api, direct = [], []
            for _ in range(args.pulls):
                await remove_reference(remote, reference)
                through_api.append(await api_pull(session, api, reference))
                await remove_reference(remote, reference)
                direct.append(await raw_pull(remote, reference))
            line("pull 3 x 4 MB via POST .../images/pull?wait=30", through_api)
            line("raw engine POST /images/create (same image)", direct)
            print(f"server VmRSS after {args.pulls} pulls: "
                  f"{vmrss_kib(server.pid) / 1024:.1f} MiB")
    finally:
        server.terminate()
        await server.wait()
        registry.stop()
        await remove_reference(ENGINES["remote"], reference)
        await remove_reference(ENGINES["local"], "bench/pull-src:v1")
        await asyncio.gather(*(remove_images(u) for u in ENGINES.values()))


if __name__ == "__main__":
    asyncio.run(main())
