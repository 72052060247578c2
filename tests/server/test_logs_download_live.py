"""The streamed log download: ``GET /api/v1/hosts/{host}/containers/{ref}/logs/download``.

A plain text file, one line per record, oldest first; stderr lines carry ``[stderr] `` and
``timestamps=true`` puts the engine's time (ISO 8601 UTC) in front of each line.
"""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient

from chrontainer_server.api.containers import _download_filename

from ..http import error_of
from ..live import Engine, run_container, unique, wait_for

pytestmark = pytest.mark.live

V1 = "/api/v1"
DISPOSITION = re.compile(r'^attachment; filename="(?P<name>[\w.-]+)-\d{8}T\d{6}Z\.log"$')
STAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (?P<rest>.*)$")


async def _logged(api: TestClient, host: str, name: str, lines: int) -> None:
    """Wait until the engine has ``lines`` log lines of the container."""
    url = f"{V1}/hosts/{host}/containers/{name}/logs"

    async def enough() -> bool:
        resp = await api.get(url, params={"tail": "all"})
        return resp.status == 200 and len(await resp.json()) >= lines

    await wait_for(enough, what=f"{lines} log lines of {name}")



async def test_download_is_a_text_file_of_both_streams_in_order(
    api: TestClient, local_engine: Engine
) -> None:
    _, name = await run_container(
        # stdout and stderr are separate pipes: the pauses give the engine one order to record.
        local_engine, "sh", "-c",
        "echo one; sleep 0.5; echo two >&2; sleep 0.5; echo three; exec sleep 3600",
        name=unique("dl"),
    )
    await _logged(api, "local", name, 3)
    url = f"{V1}/hosts/local/containers/{name}/logs/download"

    resp = await api.get(url)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    disposition = DISPOSITION.match(resp.headers["Content-Disposition"])
    assert disposition is not None and disposition["name"] == name
    assert resp.headers["Cache-Control"] == "no-store"
    # The whole log by default, stderr marked, nothing else added.
    assert await resp.text() == "one\n[stderr] two\nthree\n"

    # tail: only the newest lines.
    resp = await api.get(url, params={"tail": "1"})
    assert await resp.text() == "three\n"
    resp = await api.get(url, params={"tail": "0"})
    assert resp.status == 200 and await resp.text() == ""

    # timestamps: the engine's time first, then the stream marker.
    resp = await api.get(url, params={"timestamps": "true"})
    stamped = (await resp.text()).splitlines()
    rests = [m["rest"] for m in map(STAMPED.match, stamped) if m is not None]
    assert rests == ["one", "[stderr] two", "three"], stamped


async def test_download_of_a_long_log_keeps_every_line_in_order(
    api: TestClient, remote_engine: Engine
) -> None:
    # About 110 KB: more than one write of the streamed response.
    count = 20_000
    _, name = await run_container(remote_engine, "sh", "-c", f"seq 1 {count}; exec sleep 3600",
                                  name=unique("dl"))
    await _logged(api, "remote", name, count)
    resp = await api.get(f"{V1}/hosts/remote/containers/{name}/logs/download",
                         params={"tail": "all"})
    assert resp.status == 200
    assert (await resp.text()).splitlines() == [str(i) for i in range(1, count + 1)]


async def test_download_refuses_bad_input_and_unknown_containers(
    api: TestClient, local_engine: Engine
) -> None:
    _, name = await run_container(local_engine, name=unique("dl"))
    url = f"{V1}/hosts/local/containers/{name}/logs/download"
    bad = (({"tail": "-1"}, "tail"), ({"tail": "many"}, "tail"),
           ({"since": "yesterday"}, "since"), ({"timestamps": "maybe"}, "timestamps"),
           ({"follow": "true"}, "follow"))  # a file has an end: no follow
    for params, field in bad:
        err = await error_of(await api.get(url, params=params), 400)
        assert err["code"] == "invalid_input" and err["details"]["field"] == field, params
    err = await error_of(await api.get(f"{V1}/hosts/local/containers/{unique('gone')}"
                                       "/logs/download"), 404)
    assert err["code"] == "not_found"
    err = await error_of(await api.get(f"{V1}/hosts/nowhere/containers/{name}/logs/download"),
                         404)
    assert err["code"] == "not_found"


def test_download_filename_is_safe() -> None:
    assert re.fullmatch(r"web-1-\d{8}T\d{6}Z\.log", _download_filename("web-1"))
    # Nothing that could end the quoted header value or climb out of a directory.
    assert re.fullmatch(r"_evil_name__x_-\d{8}T\d{6}Z\.log", _download_filename('../evil name"/x"'))
    assert _download_filename("...").startswith("container-")
