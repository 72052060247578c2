"""Benchmark: the containers page in a real browser — its weight and how soon it is usable.

Prints figures; never passes or fails. Needs the engines from scripts/test-env and Debian's
chromium (both installed by scripts/test-env):

    .venv/bin/python bench/ui_page.py --per-host 100 --loads 5

It creates ``--per-host`` running containers on each engine (labelled chrontainer.bench=1,
removed afterwards), starts ``chrontainer serve`` with both engines as hosts, logs a browser in
and measures (DESIGN §6 budgets: 150 KB, 300 ms):
- the compressed bytes of the containers page: the HTML document plus every stylesheet and
  script it loads (encodedBodySize of the navigation and resource timing entries),
- navigation start to the page's ``list-ready`` performance mark, over ``--loads`` cold loads
  (a new browser context each time: empty HTTP cache), median and each value, with its phases,
- and, as the floor of the same browser on the same machine, when the small settings page (same
  shell, no list) finished running its scripts.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

import aiohttp
from container_list import (  # the same directory: python puts it on sys.path
    ENGINES,
    LABEL,
    prepare_server,
    remove_containers,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
USER, PASSWORD = "bench", "bench-password-long-enough"  # made by bench_api_key

# What the page downloaded, by kind, from the browser's own timing entries.
PAGE_BYTES = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const out = {html: nav.encodedBodySize, css: 0, js: 0, other: 0, files: 1};
  for (const r of performance.getEntriesByType("resource")) {
    if (r.initiatorType === "fetch" || r.initiatorType === "xmlhttprequest") continue;
    const kind = r.name.split("?")[0].endsWith(".css") ? "css"
      : r.name.split("?")[0].endsWith(".js") ? "js" : "other";
    out[kind] += r.encodedBodySize;
    out.files += 1;
  }
  return out;
}"""
LIST_READY = """() => {
  const mark = performance.getEntriesByName("list-ready")[0];
  return mark ? mark.startTime : null;
}"""
# Where the time before list-ready goes: first byte, last byte, HTML parsed.
PHASES = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  return [nav.responseStart, nav.responseEnd, nav.domInteractive];
}"""


async def wait_listed(base: str, key: str, expected: int) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:
        while True:
            try:
                async with session.get(f"{base}/api/v1/containers") as r:
                    if r.status == 200:
                        body = await r.json()
                        if sum(LABEL in c["labels"] for c in body["items"]) >= expected:
                            return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


async def measure(
    base: str, loads: int
) -> tuple[dict[str, int], list[float], list[list[float]], list[float], int]:
    from playwright.async_api import async_playwright

    ready: list[float] = []
    phases: list[list[float]] = []
    floor: list[float] = []
    weight: dict[str, int] = {}
    rows = 0
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # A warm-up load, not counted: the server's first render compiles nothing (templates
            # are compiled at start) but Python's own caches warm up like on any used server.
            for i in range(loads + 1):
                context = await browser.new_context()  # cold: no HTTP cache, no cookies
                login = await context.request.post(
                    base + "/api/v1/auth/login", data={"username": USER, "password": PASSWORD})
                assert login.ok, await login.text()
                page = await context.new_page()
                await page.goto(base + "/containers")
                # Polled from here: wait_for_function needs eval, which the page's CSP forbids.
                mark = None
                for _ in range(3000):
                    mark = await page.evaluate(LIST_READY)
                    if mark is not None:
                        break
                    await asyncio.sleep(0.01)
                assert mark is not None, "the page never set the list-ready mark"
                if i > 0:
                    ready.append(float(mark))
                    phases.append(await page.evaluate(PHASES))
                if i == loads:
                    await page.wait_for_load_state("load")
                    weight = await page.evaluate(PAGE_BYTES)
                    rows = await page.locator("tr[data-host]").count()
                await context.close()
            for _ in range(loads):
                # The floor in the same run: the small settings page, same shell and scripts
                # but no list, cold, until its deferred scripts ran (DOMContentLoaded ended).
                context = await browser.new_context()
                await context.request.post(
                    base + "/api/v1/auth/login", data={"username": USER, "password": PASSWORD})
                page = await context.new_page()
                await page.goto(base + "/settings", wait_until="domcontentloaded")
                floor.append(float(await page.evaluate(
                    "performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")))
                await context.close()
        finally:
            await browser.close()
    return weight, ready, phases, floor, rows


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-host", type=int, default=100)
    ap.add_argument("--loads", type=int, default=5)
    ap.add_argument("--port", type=int, default=15998)
    args = ap.parse_args()

    serve, env, key = await prepare_server(args.per_host, args.port)
    server = await asyncio.create_subprocess_exec(*serve, env=env)
    base = f"http://127.0.0.1:{args.port}"
    try:
        await asyncio.wait_for(wait_listed(base, key, 2 * args.per_host), 120)
        weight, ready, phases, floor, rows = await measure(base, args.loads)
    finally:
        server.terminate()
        await server.wait()
        print("removing the bench containers ...")
        await asyncio.gather(*(remove_containers(u) for u in ENGINES.values()))

    total = weight["html"] + weight["css"] + weight["js"]
    print(f"\ncontainers page with {rows} rows ({weight['files']} files)")
    kb = {kind: weight[kind] / 1024 for kind in ("html", "css", "js")}
    print(f"  compressed bytes: HTML {kb['html']:6.1f} KB  CSS {kb['css']:5.1f} KB  JS "
          f"{kb['js']:5.1f} KB  total {total / 1024:6.1f} KB   (budget 150 KB)")
    print(f"  navigation start -> list-ready: median {statistics.median(ready):6.1f} ms over "
          f"{len(ready)} cold loads  ({', '.join(f'{v:.0f}' for v in ready)})   (budget 300 ms)")
    first, last, parsed = (statistics.median(p[i] for p in phases) for i in range(3))
    print(f"  of which (medians): first byte {first:.0f} ms, last byte {last:.0f} ms, "
          f"HTML parsed {parsed:.0f} ms")
    print(f"  floor of this machine: the settings page's scripts ran at median "
          f"{statistics.median(floor):.0f} ms ({', '.join(f'{v:.0f}' for v in floor)})")


if __name__ == "__main__":
    asyncio.run(main())
