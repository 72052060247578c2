"""Container archives (``/containers/{id}/archive``) and image import: what the volume file
browser, backup and restore read and write through a helper container.

The archive endpoints work on a container that was created and never started: the engine mounts
its volumes and binds for the duration of the call. That is how volumes are read and written
without running anything (see ``chrontainer_core/volumes/helper.py``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ..errors import EngineError, HostUnreachable, NotFound
from . import parse
from .connection import _LOWER_ERRORS, EngineConnection, _map_error

# Chunk size of archive reads: big enough to keep the per-chunk overhead low, small enough to
# keep memory flat while a backup streams.
CHUNK: Final = 64 * 1024
# Go's os.FileMode type bits, as the engine's path stat reports them.
_MODE_DIR: Final = 1 << 31
_MODE_SYMLINK: Final = 1 << 27
_STAT_HEADER: Final = "X-Docker-Container-Path-Stat"


@dataclass(frozen=True, slots=True, kw_only=True)
class PathStat:
    """What the engine says about one path inside a container (``HEAD .../archive``)."""

    name: str
    size: int
    mode: int  # Go os.FileMode bits (type bits high, permission bits low)
    mtime: datetime | None
    link_target: str  # "" unless the path is a symbolic link

    @property
    def is_dir(self) -> bool:
        return bool(self.mode & _MODE_DIR)

    @property
    def is_symlink(self) -> bool:
        return bool(self.mode & _MODE_SYMLINK)


class ArchiveCalls(EngineConnection):
    """The engine calls of this concept, mixed into ``DockerHost``."""

    async def stat_path(self, container_id: str, path: str) -> PathStat:
        """``HEAD /containers/{id}/archive?path=``: a path's type, size, mode and link target.

        The engine resolves symbolic links in the path's parent directories (inside the
        container's root), never in its last component.

        Raises:
            NotFound: No such path (or container).
        """
        what = f"path {path} in container {container_id[:12]}"
        try:
            async with self._response(what, f"containers/{container_id}/archive", "HEAD",
                                      params={"path": path}) as response:
                raw = response.headers.get(_STAT_HEADER, "")
        except HostUnreachable as err:
            # A failed HEAD has no body, yet aiodocker parses the (JSON-typed) error body of
            # every failure: the status is lost in a JSONDecodeError. The engine answered, so
            # this is its "no such path or container" (404), not an unreachable host.
            if isinstance(err.__cause__, json.JSONDecodeError):
                raise NotFound(f"{what}: not found") from err
            raise
        try:
            doc = json.loads(base64.b64decode(raw))
        except (binascii.Error, ValueError) as err:
            raise EngineError(f"host {self.slug}: {what}: unreadable path stat") from err
        if not isinstance(doc, dict):
            raise NotFound(f"{what}: not found")
        return PathStat(
            name=str(doc.get("name", "")),
            size=int(doc.get("size", 0)),
            mode=int(doc.get("mode", 0)),
            mtime=parse.parse_time(doc.get("mtime")),
            link_target=str(doc.get("linkTarget", "")),
        )

    @asynccontextmanager
    async def get_archive(self, container_id: str, path: str) -> AsyncIterator[
            AsyncIterator[bytes]]:
        """``GET /containers/{id}/archive?path=``: a tar of ``path``, as chunks while they
        arrive. Leaving the context early closes the connection (the engine stops).

        The tar's entries are named after the path's last component (``vol/...``), or ``./...``
        for a path ending in ``/.`` (its contents).

        Raises:
            NotFound: No such path (or container).
        """
        what = f"archive of {path} in container {container_id[:12]}"
        async with self._response(what, f"containers/{container_id}/archive",
                                  params={"path": path}, stream=True) as response:
            yield self._chunks(what, response.content.iter_chunked(CHUNK))

    async def _chunks(self, what: str, source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        try:
            async for chunk in source:
                yield chunk
        except _LOWER_ERRORS as err:
            raise _map_error(self.slug, what, err) from err

    async def put_archive(
        self, container_id: str, path: str, tar: AsyncIterable[bytes] | bytes, *,
        no_overwrite_dir_non_dir: bool = False,
    ) -> None:
        """``PUT /containers/{id}/archive?path=``: extract a tar (plain or gzip) into ``path``.

        Where an entry meets an existing path, the engine replaces it (a whole directory tree
        included) unless both are directories, which merge; ``no_overwrite_dir_non_dir``
        makes that replacement an error instead.

        Raises:
            NotFound: ``path`` (or the container) does not exist.
            InvalidInput: The engine refused the archive (or a read-only destination).
        """
        what = f"extract into {path} in container {container_id[:12]}"
        params = {"path": path,
                  "noOverwriteDirNonDir": "1" if no_overwrite_dir_non_dir else "0"}
        async with self._response(what, f"containers/{container_id}/archive", "PUT",
                                  params=params, data=tar,
                                  headers={"Content-Type": "application/x-tar"},
                                  stream=True) as response:
            try:
                await response.read()
            except _LOWER_ERRORS as err:
                raise _map_error(self.slug, what, err) from err

    async def import_image(self, tar: bytes, *, repository: str, tag: str,
                           change: str | None = None) -> str:
        """``POST /images/create?fromSrc=-``: an image whose filesystem is ``tar``; returns
        its id. ``change`` is a Dockerfile instruction applied to it (``CMD ["x"]``; the
        engine takes CMD, ENTRYPOINT, ENV, EXPOSE, ONBUILD, USER, VOLUME and WORKDIR).

        Raises:
            EngineError: The engine reported a failure in its progress stream.
        """
        what = f"import image {repository}:{tag}"
        params: dict[str, Any] = {"fromSrc": "-", "repo": repository, "tag": tag}
        if change:
            params["changes"] = change
        async with self._response(what, "images/create", "POST", params=params, data=tar,
                                  headers={"Content-Type": "application/x-tar"}) as response:
            try:
                body = await response.read()
            except _LOWER_ERRORS as err:
                raise _map_error(self.slug, what, err) from err
        image_id = ""
        for line in body.splitlines():
            if not line.strip():
                continue
            doc = json.loads(line)
            if "error" in doc:
                raise EngineError(f"host {self.slug}: {what}: {doc['error']}")
            image_id = str(doc.get("status", image_id))
        if not image_id.startswith("sha256:"):
            raise EngineError(f"host {self.slug}: {what} returned no image id")
        return image_id

    async def containers_labelled(self, label: str) -> list[str]:
        """Ids of every container (any state) carrying ``label`` (``key`` or ``key=value``)."""
        _, docs = await self._request(
            "list containers", "containers/json",
            params={"all": "1", "filters": json.dumps({"label": [label]})})
        return [str(d["Id"]) for d in docs or ()]

    async def create_helper(self, name: str, body: Mapping[str, Any]) -> str:
        """``POST /containers/create?name=`` for a helper container; returns its id."""
        _, doc = await self._request(f"create helper {name}", "containers/create", "POST",
                                     params={"name": name}, data=dict(body))
        if not isinstance(doc, dict) or not doc.get("Id"):
            raise EngineError(f"host {self.slug}: create of {name} returned no id")
        return str(doc["Id"])

    async def remove_helper(self, container_id: str) -> None:
        """Remove a helper container (never its volumes); one already gone is fine."""
        with suppress(NotFound):
            await self._request(f"remove helper {container_id[:12]}",
                                f"containers/{container_id}", "DELETE",
                                params={"force": "1", "v": "0"})
