"""The README's library example is executed verbatim, so it can never rot."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from ..live import Engine, run_container

pytestmark = pytest.mark.live

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_snippet() -> str:
    text = README.read_text()
    section = text.split("## Library", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README has no python example under '## Library'"
    return match.group(1)


async def test_readme_library_snippet_runs(clean_engines: None, local_engine: Engine) -> None:
    _, name = await run_container(local_engine)
    snippet = readme_snippet()
    assert "Chrontainer.connect" in snippet
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", snippet,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert f"local {name} running" in out.decode().splitlines()
