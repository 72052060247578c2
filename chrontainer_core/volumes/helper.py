"""The helper containers through which volumes are read and written.

A helper is a container that is created and never started: the engine's archive endpoints
mount its volumes and binds for the length of each call, so a volume is read (browser, backup)
and written (restore) with no process running and no image from the internet. Its image is
Chrontainer's own, imported on first use from a tar built here (a single marker file, a
``CMD`` that is never run), so it exists on any engine, offline too, on
any CPU architecture.

Helpers carry :data:`~chrontainer_core.identity.HELPER_LABEL` (container lists leave them
out) and are removed when their context ends. Leftovers of a crash are swept the first time a
host is used after a start.
"""

from __future__ import annotations

import asyncio
import io
import logging
import posixpath
import secrets
import tarfile
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Final

from ..docker.host import DockerHost
from ..errors import ChrontainerError, Conflict, NotFound
from ..identity import HELPER_LABEL

log = logging.getLogger(__name__)

IMAGE_REPOSITORY: Final = "chrontainer/volume-helper"
IMAGE_TAG: Final = "1"
IMAGE: Final = f"{IMAGE_REPOSITORY}:{IMAGE_TAG}"
HELPER_KIND: Final = "volume"
# Where a helper mounts the volume, and (for a replace) the volume's parent directory.
VOLUME_ROOT: Final = "/vol"
PARENT_ROOT: Final = "/parent"
# The local driver keeps a volume's files in "<parent>/_data"; a replace swaps that directory.
LOCAL_DATA_DIR: Final = "_data"
_MARKER: Final = (b"Chrontainer's volume helper image: containers of it are created, never "
                  b"started, to read and write volumes through the engine's archive API.\n")


def _image_tar() -> bytes:
    """The helper image's filesystem: one marker file (an image needs some content)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("chrontainer-volume-helper")
        info.size, info.mode, info.mtime = len(_MARKER), 0o444, 0
        tar.addfile(info, io.BytesIO(_MARKER))
    return buffer.getvalue()


@dataclass(frozen=True, slots=True, kw_only=True)
class Helper:
    """A helper container and the path inside it where the volume (or its data dir) is."""

    container_id: str
    root: str  # "/vol" or "/parent/_data"


class VolumeHelpers:
    """Creates and removes helper containers; one per call, each removed afterwards."""

    def __init__(self) -> None:
        self._ready: set[str] = set()  # hosts swept and holding the image, this process
        self._locks: dict[str, asyncio.Lock] = {}

    async def _prepare(self, engine: DockerHost) -> None:
        """Sweep a host's leftover helpers and import the image, once per host and process."""
        if engine.slug in self._ready:
            return
        async with self._locks.setdefault(engine.slug, asyncio.Lock()):
            if engine.slug in self._ready:
                return
            for container_id in await engine.containers_labelled(
                    f"{HELPER_LABEL}={HELPER_KIND}"):
                log.info("host %s: removing leftover volume helper %s", engine.slug,
                         container_id[:12])
                await engine.remove_helper(container_id)
            try:
                await engine.inspect_image(IMAGE)
            except NotFound:
                await engine.import_image(
                    _image_tar(), repository=IMAGE_REPOSITORY, tag=IMAGE_TAG,
                    change='CMD ["/chrontainer-volume-helper"]')
            self._ready.add(engine.slug)

    @asynccontextmanager
    async def _helper(self, engine: DockerHost, volume: str, bind: str,
                      root: str) -> AsyncIterator[Helper]:
        await self._prepare(engine)
        name = f"chrontainer-volume-helper-{secrets.token_hex(4)}"
        body = {
            "Image": IMAGE,
            "Labels": {HELPER_LABEL: HELPER_KIND, "chrontainer.volume": volume},
            "NetworkDisabled": True,
            "HostConfig": {"Binds": [bind], "NetworkMode": "none"},
        }
        try:
            container_id = await engine.create_helper(name, body)
        except NotFound:
            # The image went since (an image prune): import it again, once.
            self._ready.discard(engine.slug)
            await self._prepare(engine)
            container_id = await engine.create_helper(name, body)
        try:
            yield Helper(container_id=container_id, root=root)
        finally:
            # Shielded: a cancelled request must still take its helper away.
            try:
                await asyncio.shield(engine.remove_helper(container_id))
            except ChrontainerError as err:
                log.warning("host %s: volume helper %s not removed: %s", engine.slug,
                            container_id[:12], err)

    def mount(self, engine: DockerHost, volume: str, *,
              writable: bool = False) -> AbstractAsyncContextManager[Helper]:
        """A helper with ``volume`` mounted at ``/vol`` (read-only unless ``writable``)."""
        bind = f"{volume}:{VOLUME_ROOT}:{'rw' if writable else 'ro'}"
        return self._helper(engine, volume, bind, VOLUME_ROOT)

    def parent_of(self, engine: DockerHost, volume: str,
                  mountpoint: str) -> AbstractAsyncContextManager[Helper]:
        """A helper with the local-driver volume's parent directory bound at ``/parent``.

        There the volume's data directory is an ordinary directory, not a mount point, so an
        archive can replace it as a whole: an entry ``_data`` that is a file removes the old
        tree, and the entries that follow (``_data/``, ``_data/...``) rebuild it. That is how
        a restore makes a volume's contents equal to an archive, deleting what the archive
        does not have, without running a process.

        Raises:
            Conflict: The mountpoint is not a local-driver data directory.
        """
        parent, data = posixpath.split(mountpoint.rstrip("/"))
        if data != LOCAL_DATA_DIR or not posixpath.isabs(parent):
            raise Conflict(f"volume {volume}: its files are not in a local data directory "
                           f"({mountpoint}); restore into a new volume instead")
        root = posixpath.join(PARENT_ROOT, LOCAL_DATA_DIR)
        return self._helper(engine, volume, f"{parent}:{PARENT_ROOT}:rw", root)
