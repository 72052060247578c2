"""Benchmark: volumes and networks through Chrontainer against the raw Engine API.

Prints figures; never passes or fails. Needs the local engine from scripts/test-env:

    .venv/bin/python bench/volumes.py --size-mb 256 --files 2000 --rounds 5

It makes a volume holding ``--size-mb`` MiB of random bytes in one file plus a directory of
``--files`` small files (written by a throwaway container of the test image), and a raw helper
container mounting it (created, never started: what Chrontainer does too). Everything carries
the label chrontainer.bench=1 and is removed at the end. ``chrontainer serve`` runs on a
temporary data dir with the local engine as its only host, and the run measures, each beside
the raw Engine call doing the same work:

- **list**: ``GET /api/v1/volumes`` vs the engine's ``GET /volumes`` plus ``GET /system/df``
  (the sizes); ``GET /api/v1/networks`` vs ``GET /networks``;
- **browse**: ``GET .../volumes/{name}/browse?path=many`` (the directory of small files) vs the
  engine's ``GET /containers/{helper}/archive?path=/vol/many/.`` read to its end;
- **backup**: ``GET .../volumes/{name}/backup`` read to its end, in MiB/s, with the server's
  VmRSS before and the highest seen during the download (sampled every 50 ms), vs the raw
  archive stream alone and the raw stream gzip-compressed here (level 3, as Chrontainer);
- **restore**: ``POST .../volumes/{new}/restore`` of that backup into a new volume, vs a raw
  ``PUT /containers/{helper}/archive`` of the same .tar.gz into a fresh volume.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
import zlib
from pathlib import Path

import aiohttp
from container_list import (
    ENGINES,
    IMAGE,
    LABEL,
    engine_session,
    line,
    prepare_data_dir,
    vmrss_kib,
)

CHUNK = 1 << 20


async def engine_json(session: aiohttp.ClientSession, method: str, url: str,
                      **kw: object) -> object:
    async with session.request(method, url, **kw) as r:  # type: ignore[arg-type]
        r.raise_for_status()
        return await r.json() if r.content_type == "application/json" else None


async def fill_volume(session: aiohttp.ClientSession, base: str, volume: str, size_mb: int,
                      files: int) -> None:
    script = (f"head -c {size_mb * 1024 * 1024} /dev/urandom > /d/big.bin && mkdir /d/many && "
              f"i=0; while [ $i -lt {files} ]; do echo file $i > /d/many/f$i.txt; "
              "i=$((i+1)); done")
    body = {"Image": IMAGE, "Cmd": ["sh", "-c", script], "Labels": {LABEL: "1"},
            "HostConfig": {"Binds": [f"{volume}:/d"], "NetworkMode": "none"}}
    created = await engine_json(session, "POST", f"{base}/containers/create", json=body)
    assert isinstance(created, dict)
    cid = created["Id"]
    await engine_json(session, "POST", f"{base}/containers/{cid}/start")
    await engine_json(session, "POST", f"{base}/containers/{cid}/wait")
    await engine_json(session, "DELETE", f"{base}/containers/{cid}")


async def raw_helper(session: aiohttp.ClientSession, base: str, volume: str) -> str:
    body = {"Image": IMAGE, "Cmd": ["true"], "Labels": {LABEL: "1"},
            "HostConfig": {"Binds": [f"{volume}:/vol"], "NetworkMode": "none"}}
    created = await engine_json(session, "POST", f"{base}/containers/create", json=body)
    assert isinstance(created, dict)
    return str(created["Id"])


async def timed(call) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    await call()
    return (time.perf_counter() - t0) * 1000


async def drain(response: aiohttp.ClientResponse) -> int:
    total = 0
    async for chunk in response.content.iter_chunked(CHUNK):
        total += len(chunk)
    return total


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=256)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    from tests.live import free_port

    port = args.port or free_port()
    run = uuid.uuid4().hex[:8]
    volume, raw_target = f"bench-vol-{run}", f"bench-vol-{run}-raw"
    es, base = engine_session(ENGINES["local"])
    server: asyncio.subprocess.Process | None = None
    helpers: list[str] = []
    made = [volume, raw_target]
    async with es:
        try:
            for name in (volume, raw_target):
                await engine_json(es, "POST", f"{base}/volumes/create",
                                  json={"Name": name, "Labels": {LABEL: "1"}})
            print(f"writing {args.size_mb} MiB and {args.files} files into {volume} ...")
            await fill_volume(es, base, volume, args.size_mb, args.files)
            helper = await raw_helper(es, base, volume)
            helpers.append(helper)

            serve, env, key = await prepare_data_dir({"local": ENGINES["local"]}, port)
            server = await asyncio.create_subprocess_exec(*serve, env=env)
            api = f"http://127.0.0.1:{port}/api/v1"
            headers = {"Authorization": f"Bearer {key}"}
            async with aiohttp.ClientSession(headers=headers) as session:
                for _ in range(100):
                    try:
                        async with session.get(f"{api}/volumes") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.2)

                async def api_get(route: str, **params: str) -> None:
                    async with session.get(f"{api}{route}", params=params) as r:
                        r.raise_for_status()
                        await r.read()

                async def raw_get(path: str) -> None:
                    async with es.get(f"{base}{path}") as r:
                        r.raise_for_status()
                        await r.read()

                async def raw_volumes() -> None:
                    await asyncio.gather(raw_get("/volumes"), raw_get("/system/df"))

                rounds = range(args.rounds)
                line("GET /api/v1/volumes", [await timed(lambda: api_get("/volumes"))
                                             for _ in rounds])
                line("raw GET /volumes + /system/df", [await timed(raw_volumes)
                                                       for _ in rounds])
                line("GET /api/v1/networks", [await timed(lambda: api_get("/networks"))
                                              for _ in rounds])
                line("raw GET /networks", [await timed(lambda: raw_get("/networks"))
                                           for _ in rounds])
                one = f"/hosts/local/volumes/{volume}"
                line(f"GET .../browse ({args.files} files)",
                     [await timed(lambda: api_get(one + "/browse", path="many"))
                      for _ in rounds])
                line("raw GET archive of that directory",
                     [await timed(lambda: raw_get(
                         f"/containers/{helper}/archive?path=/vol/many/."))
                      for _ in rounds])

                backup = Path(tempfile.mkdtemp(prefix="chrontainer-bench-")) / "b.tar.gz"
                before = vmrss_kib(server.pid)
                peak = before
                done = asyncio.Event()

                async def sample() -> None:
                    nonlocal peak
                    assert server is not None
                    while not done.is_set():
                        peak = max(peak, vmrss_kib(server.pid))
                        await asyncio.sleep(0.05)

                sampler = asyncio.create_task(sample())
                t0 = time.perf_counter()
                with backup.open("wb") as out:
                    async with session.get(f"{api}{one}/backup") as r:
                        r.raise_for_status()
                        async for chunk in r.content.iter_chunked(CHUNK):
                            out.write(chunk)
                api_s = time.perf_counter() - t0
                done.set()
                await sampler
                size = backup.stat().st_size
                print(f"backup via API: {size / 2**20:.1f} MiB .tar.gz in {api_s:.2f} s "
                      f"({args.size_mb / api_s:.1f} MiB/s of volume data); server VmRSS "
                      f"{before / 1024:.1f} MiB before, peak {peak / 1024:.1f} MiB during")
                t0 = time.perf_counter()
                async with es.get(f"{base}/containers/{helper}/archive",
                                  params={"path": "/vol/."}) as r:
                    raw_bytes = await drain(r)
                raw_s = time.perf_counter() - t0
                print(f"raw archive stream: {raw_bytes / 2**20:.1f} MiB tar in {raw_s:.2f} s")
                t0 = time.perf_counter()
                gz = zlib.compressobj(3, zlib.DEFLATED, 31)
                async with es.get(f"{base}/containers/{helper}/archive",
                                  params={"path": "/vol/."}) as r:
                    async for chunk in r.content.iter_chunked(CHUNK):
                        await asyncio.to_thread(gz.compress, chunk)
                await asyncio.to_thread(gz.flush)
                print(f"raw archive stream + gzip level 3 here: "
                      f"{time.perf_counter() - t0:.2f} s")

                new = f"bench-vol-{run}-restored"
                made.append(new)
                t0 = time.perf_counter()
                with backup.open("rb") as f:
                    async with session.post(f"{api}/hosts/local/volumes/{new}/restore",
                                            data=f,
                                            headers={"Content-Type": "application/gzip"}) as r:
                        body = await r.text()
                        assert r.status == 200, body
                print(f"restore via API into a new volume: {time.perf_counter() - t0:.2f} s")
                raw_helper_id = await raw_helper(es, base, raw_target)
                helpers.append(raw_helper_id)
                t0 = time.perf_counter()
                with backup.open("rb") as f:
                    async with es.put(f"{base}/containers/{raw_helper_id}/archive",
                                      params={"path": "/vol"}, data=f,
                                      headers={"Content-Type": "application/x-tar"}) as r:
                        r.raise_for_status()
                print(f"raw PUT archive of the same .tar.gz: {time.perf_counter() - t0:.2f} s")
                print(f"server VmRSS at the end: {vmrss_kib(server.pid) / 1024:.1f} MiB")
                backup.unlink()
        finally:
            if server is not None:
                server.terminate()
                await server.wait()
            for cid in helpers:
                async with es.delete(f"{base}/containers/{cid}", params={"force": "1"}):
                    pass
            for name in made:
                async with es.delete(f"{base}/volumes/{name}"):
                    pass


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    asyncio.run(main())
