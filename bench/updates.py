"""Benchmark: update checks and safe updates through Chrontainer against the minimal raw work.

Prints figures; never passes or fails. Needs the local engine from scripts/test-env and Debian's
docker-registry (scripts/test-env installs it):

    .venv/bin/python bench/updates.py --containers 30 --images 10 --rounds 5

It starts a local docker-registry on a free loopback port, builds ``--images`` distinct images
FROM the test image and pushes them there, runs ``--containers`` containers of them on the
local engine (round-robin, ``--network none``, ``--init`` so a stop is quick), plus one container
to update through Chrontainer and one to update by hand. Everything it makes carries the labels
chrontainer.bench=1 and bench.run=<this run> and is removed at the end, with the registry and
the temporary directories. ``chrontainer serve`` runs on a temporary data dir with the local
engine as its only host, and the run measures:

- **check**: ``POST /api/v1/updates/check?wait=120`` naming the N containers (p50/p95 over
  ``--rounds``), and the registry requests per round (the summary's count and the registry's
  access log; both must equal M), vs the raw minimum any checker must do: one
  ``HEAD /v2/<repo>/manifests/<tag>`` per image straight to the registry, plus
  ``GET /images/{id}/json`` per container on the engine socket, both at the checker's
  concurrency (4 in flight);
- **update**: before each round a new image is pushed under the tag of both update containers;
  ``POST /api/v1/hosts/local/containers/{name}/update?wait=120`` (pull, journal, create under a
  temporary name, stop, rename x2, start, verify, remove, re-check), with the grace period set to
  0 through ``PATCH /api/v1/settings {"update_grace_seconds": 0}``, vs a raw sequence on the
  engine API doing the same work without safety (pull, inspect, create under a temp name, stop
  old, rename x2, start new, remove old);
- the server's VmRSS after the checks and the updates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import sys
import time
import uuid
from pathlib import Path

import aiohttp

# The sibling bench script (bench/ is on sys.path when this file runs as a script).
from container_list import ENGINES, LABEL, engine_session, line, prepare_data_dir, vmrss_kib

# The test helpers: a real docker-registry on a free loopback port, image builds.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.images import build
from tests.live import Engine, docker, free_port
from tests.registry import TestRegistry, start_registry

RUN_LABEL = "bench.run"
# What a registry client accepts for a tag's manifest (as Chrontainer's checker asks).
MANIFEST_ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
CONCURRENCY = 4  # chrontainer_core.updates.detect.CHECK_CONCURRENCY


async def publish(engine: Engine, registry: TestRegistry, run: str, repo: str,
                  *steps: str) -> str:
    """Build an image with ``steps`` and push it as ``repo:v1``; returns the reference."""
    local = f"bench-upd/{repo}:src"
    await build(engine, local, *steps, label=f"{LABEL}=1 {RUN_LABEL}={run}")
    try:
        return await registry.push(engine, local, repo, "v1")
    finally:
        await docker(engine, "rmi", local, check=False)


async def run_container(session: aiohttp.ClientSession, base: str, run: str, name: str,
                        image: str) -> None:
    body = {"Image": image, "Cmd": ["sleep", "3600"],
            "Labels": {LABEL: "1", RUN_LABEL: run},
            "HostConfig": {"NetworkMode": "none", "Init": True}}
    async with session.post(f"{base}/containers/create", params={"name": name},
                            json=body) as r:
        r.raise_for_status()
        cid = (await r.json())["Id"]
    async with session.post(f"{base}/containers/{cid}/start") as r:
        r.raise_for_status()


async def engine_pull(session: aiohttp.ClientSession, base: str, reference: str) -> None:
    name, tag = reference.rsplit(":", 1)
    async with session.post(f"{base}/images/create",
                            params={"fromImage": name, "tag": tag}) as r:
        r.raise_for_status()
        async for _ in r.content:
            pass


def manifest_requests(registry: TestRegistry) -> int:
    needle = re.compile(r'"(?:HEAD|GET) /v2/[^ ]+/manifests/')
    return sum(bool(needle.search(row))
               for row in registry.log_path.read_text(errors="replace").splitlines())


async def raw_check(registry: TestRegistry, refs: list[str], image_ids: list[str],
                    engine: aiohttp.ClientSession, base: str) -> float:
    """One HEAD per image on the registry and one image inspect per container, in ms."""
    limit = asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession() as reg:
        async def head(ref: str) -> None:
            repo, tag = ref.split("/", 1)[1].rsplit(":", 1)
            async with limit, reg.head(f"{registry.url}/v2/{repo}/manifests/{tag}",
                                       headers={"Accept": MANIFEST_ACCEPT}) as r:
                r.raise_for_status()
                assert r.headers["Docker-Content-Digest"]

        async def inspect(image_id: str) -> None:
            async with limit, engine.get(f"{base}/images/{image_id}/json") as r:
                r.raise_for_status()
                await r.read()

        t0 = time.perf_counter()
        await asyncio.gather(*(head(ref) for ref in refs))
        await asyncio.gather(*(inspect(i) for i in image_ids))
        return (time.perf_counter() - t0) * 1000


async def raw_update(session: aiohttp.ClientSession, base: str, name: str,
                     reference: str) -> float:
    """Pull, create under a temp name, stop old, rename x2, start new, remove old (ms)."""
    t0 = time.perf_counter()
    await engine_pull(session, base, reference)
    async with session.get(f"{base}/containers/{name}/json") as r:
        r.raise_for_status()
        old = await r.json()
    body = {"Image": reference, "Cmd": old["Config"]["Cmd"], "Env": old["Config"]["Env"],
            "Labels": old["Config"]["Labels"], "HostConfig": old["HostConfig"]}
    async with session.post(f"{base}/containers/create", params={"name": f"{name}-new"},
                            json=body) as r:
        r.raise_for_status()
        new_id = (await r.json())["Id"]
    steps = [("post", f"/containers/{old['Id']}/stop", {}),
             ("post", f"/containers/{old['Id']}/rename", {"name": f"{name}-old"}),
             ("post", f"/containers/{new_id}/rename", {"name": name}),
             ("post", f"/containers/{new_id}/start", {}),
             ("delete", f"/containers/{old['Id']}", {"force": "1"})]
    for method, path, params in steps:
        async with session.request(method, f"{base}{path}", params=params) as r:
            r.raise_for_status()
    return (time.perf_counter() - t0) * 1000


async def wait_listed(session: aiohttp.ClientSession, api: str, names: set[str]) -> None:
    while True:
        try:
            async with session.get(f"{api}/containers") as r:
                if r.status == 200:
                    listed = {c["name"] for c in (await r.json())["items"]}
                    if names <= listed:
                        return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)


async def api_call(session: aiohttp.ClientSession, url: str,
                   **kw: object) -> tuple[float, dict[str, object]]:
    t0 = time.perf_counter()
    async with session.post(url, **kw) as r:  # type: ignore[arg-type]
        body = await r.json()
        elapsed = (time.perf_counter() - t0) * 1000
        if r.status != 200 or body.get("status") != "succeeded":
            raise RuntimeError(f"{url}: {r.status} {json.dumps(body)[:500]}")
    return elapsed, body


async def cleanup(engine: Engine, run: str) -> None:
    session, base = engine_session(engine.url)
    flt = json.dumps({"label": [f"{RUN_LABEL}={run}"]})
    async with session:
        async with session.get(f"{base}/containers/json",
                               params={"all": "1", "filters": flt}) as r:
            containers = await r.json()
        for c in containers:
            async with session.delete(f"{base}/containers/{c['Id']}",
                                      params={"force": "1"}) as r:
                await r.read()
        async with session.get(f"{base}/images/json", params={"filters": flt}) as r:
            images = await r.json()
        for image in images:
            async with session.delete(f"{base}/images/{image['Id']}",
                                      params={"force": "1"}) as r:
                await r.read()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--containers", type=int, default=30)
    ap.add_argument("--images", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    port = args.port or free_port()
    run = uuid.uuid4().hex[:10]
    engine = Engine("local", ENGINES["local"])
    names = [f"bench-upd-{run}-{i}" for i in range(args.containers)]
    target, by_hand = f"bench-upd-{run}-target", f"bench-upd-{run}-raw"

    registry = await asyncio.to_thread(start_registry, "none")
    data_dir: str | None = None
    server: asyncio.subprocess.Process | None = None
    try:
        print(f"pushing {args.images} images to {registry.host}, running {args.containers} "
              "containers ...")
        refs = [await publish(engine, registry, run, f"bench-upd-{run}-{i}",
                              f"ENV BENCH_IMAGE={i}") for i in range(args.images)]
        target_ref = await publish(engine, registry, run, f"bench-upd-{run}-target",
                                   "ENV ROUND=0")
        raw_ref = await publish(engine, registry, run, f"bench-upd-{run}-raw", "ENV ROUND=0")
        es, base = engine_session(engine.url)
        async with es:
            for ref in [*refs, target_ref, raw_ref]:
                await engine_pull(es, base, ref)  # pulled: the image has its RepoDigest
            for i, name in enumerate(names):
                await run_container(es, base, run, name, refs[i % len(refs)])
            await run_container(es, base, run, target, target_ref)
            await run_container(es, base, run, by_hand, raw_ref)
            image_ids = []
            for name in names:
                async with es.get(f"{base}/containers/{name}/json") as r:
                    image_ids.append((await r.json())["Image"])

        serve, env, key = await prepare_data_dir({"local": engine.url}, port)
        data_dir = env["CHRONTAINER_DATA_DIR"]
        server = await asyncio.create_subprocess_exec(*serve, env=env)
        api = f"http://127.0.0.1:{port}/api/v1"
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
            await wait_listed(session, api, {*names, target, by_hand})
            async with session.patch(f"{api}/settings",
                                     json={"update_grace_seconds": 0}) as r:
                r.raise_for_status()
            print("grace period set to 0 s (PATCH /api/v1/settings) for the update figures")

            targets = {"targets": [{"host": "local", "ref": n} for n in names]}
            checks, raws, requests, logged = [], [], [], []
            es, base = engine_session(engine.url)
            async with es:
                for _ in range(args.rounds):
                    before = manifest_requests(registry)
                    elapsed, op = await api_call(session, f"{api}/updates/check",
                                                 params={"wait": "120"}, json=targets)
                    checks.append(elapsed)
                    result = op["result"]
                    assert isinstance(result, dict)
                    requests.append(int(result["registry_requests"]))
                    logged.append(manifest_requests(registry) - before)
                    raws.append(await raw_check(registry, refs, image_ids, es, base))
            print(f"registry requests per check round: summary {requests}, registry log "
                  f"{logged} (images: {args.images})")
            line(f"POST /updates/check ({args.containers} ctrs, {args.images} imgs)", checks)
            line(f"raw {args.images} HEAD + {args.containers} image inspects", raws)
            print(f"server VmRSS after {args.rounds} checks: "
                  f"{vmrss_kib(server.pid) / 1024:.1f} MiB")

            updates, raw_updates = [], []
            es, base = engine_session(engine.url)
            async with es:
                for r_no in range(1, args.rounds + 1):
                    await publish(engine, registry, run, f"bench-upd-{run}-target",
                                  f"ENV ROUND={r_no}")
                    await publish(engine, registry, run, f"bench-upd-{run}-raw",
                                  f"ENV ROUND={r_no}")
                    elapsed, op = await api_call(
                        session, f"{api}/hosts/local/containers/{target}/update",
                        params={"wait": "120"})
                    result = op["result"]
                    assert isinstance(result, dict) and result["updated"] == "true", op
                    updates.append(elapsed)
                    raw_updates.append(await raw_update(es, base, by_hand, raw_ref))
            line("POST .../containers/{name}/update (grace 0)", updates)
            line("raw pull+create+stop+rename x2+start+remove", raw_updates)
            print(f"server VmRSS after {args.rounds} checks and {args.rounds} updates: "
                  f"{vmrss_kib(server.pid) / 1024:.1f} MiB")
    finally:
        if server is not None:
            server.terminate()
            await server.wait()
        await cleanup(engine, run)
        for ref in [registry.ref(f"bench-upd-{run}-{i}", "v1") for i in range(args.images)]:
            await docker(engine, "rmi", ref, check=False)
        registry.stop()
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
