"""Helpers for live image tests: build labelled images FROM the test image, make containers
that use them, list and remove images with the docker CLI (behind Chrontainer's back)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from .live import TEST_LABEL, Engine, docker, unique
from .live import test_image as base_image


async def build(engine: Engine, tag: str, *steps: str, label: str = "") -> str:
    """Build ``tag`` FROM the test image with ``steps`` (Dockerfile lines); returns its id.

    ``label`` is an extra ``key=value`` label (for pruning only this test's images).
    """
    labels = f"LABEL {TEST_LABEL}=1" + (f" {label}" if label else "")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "Dockerfile").write_text(
            "\n".join([f"FROM {base_image()}", labels, *steps]) + "\n")
        out = await docker(engine, "build", "-q", "--network", "none", "-t", tag, tmp)
    return out.splitlines()[-1].strip()


async def container_of(engine: Engine, image: str, *, running: bool) -> str:
    """A labelled container of ``image`` (created, or running ``sleep``); returns its name."""
    name = unique("imguser")
    if running:
        await docker(engine, "run", "-d", "--name", name, "--label", f"{TEST_LABEL}=1",
                     "--stop-timeout", "1", "--network", "none", image, "sleep", "3600")
    else:
        await docker(engine, "create", "--name", name, "--label", f"{TEST_LABEL}=1",
                     "--network", "none", image, "true")
    return name


async def image_ids(engine: Engine) -> set[str]:
    out = await docker(engine, "images", "-q", "--no-trunc")
    return set(out.split())


async def drop(engine: Engine, *refs: str) -> None:
    for ref in refs:
        await docker(engine, "rmi", "-f", ref, check=False)
