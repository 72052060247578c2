"""DockerHost: one Docker Engine connection with typed calls; the docker package is the only
place that imports aiodocker.

The connection, the raw request helpers and the error mapping live in ``connection.py``
(:class:`EngineConnection`). The calls of containers, images, logs, events and pulls are here;
volumes, networks and container archives (the volume file browser, backup and restore) keep
their calls in their own mixin modules, so that each Docker concept stays a small module.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiodocker.exceptions import DockerError

from ..errors import (
    EngineError,
    HostUnreachable,
    InvalidInput,
    NotFound,
    RegistryError,
    RegistryUnreachable,
)
from ..models import (
    Container,
    ContainerStats,
    DiskUsage,
    HostInfo,
    HubSearchResult,
    Image,
    ImageDiskUsage,
    ImageHistoryEntry,
    LogRecord,
    LogStream,
    ProcessList,
    PruneResult,
    StatsSample,
)
from . import parse
from .archive import ArchiveCalls
from .connection import _LOWER_ERRORS, JSON, EngineConnection, _map_error
from .networks import NetworkCalls
from .volumes import VolumeCalls

log = logging.getLogger(__name__)

# The first API version whose stats endpoint accepts one-shot=true.
ONE_SHOT_API = (1, 41)
# Seconds an engine may take to relay a Docker Hub search (it may hang on DNS when offline).
HUB_SEARCH_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineEvent:
    """One entry of the engine's ``/events`` stream."""

    type: str
    action: str
    id: str
    attributes: Mapping[str, str]
    time_nano: int


class DockerHost(VolumeCalls, NetworkCalls, ArchiveCalls, EngineConnection):
    """A connection to one Docker engine (``unix://`` or ``tcp://``) and its typed calls.

    Args:
        spec: the host's slug, display name, URL and TLS material (``tcp://`` with TLS is
            spoken as ``https://``).
        connect_timeout: seconds to establish a connection.
        request_timeout: seconds for a whole non-streaming request.
    """

    # -- engine ---------------------------------------------------------------------------

    async def info(self) -> HostInfo:
        """``GET /info``: the machine and engine behind this host."""
        _, doc = await self._request("info", "info")
        return parse.parse_info(doc)

    async def info_raw(self) -> JSON:
        """``GET /info`` unmodified (update checks read its ``RegistryConfig``)."""
        _, doc = await self._request("info", "info")
        if not isinstance(doc, dict):
            raise EngineError(f"host {self.slug}: info returned no document")
        return doc

    async def disk_usage(self) -> DiskUsage:
        """``GET /system/df`` summed per category; slow on big hosts, so callers cache it."""
        return parse.parse_disk_usage(await self._system_df(), read_at=datetime.now(UTC))

    async def image_disk_usage(self) -> ImageDiskUsage:
        """``GET /system/df``'s images per repository (see parse.parse_image_disk_usage)."""
        return parse.parse_image_disk_usage(self.slug, await self._system_df())

    async def prune_images(self, *, dangling_only: bool, label: str | None = None) -> PruneResult:
        """``POST /images/prune``: dangling images, or every image no container uses; only
        those carrying ``label`` (``key`` or ``key=value``) when given."""
        wanted: dict[str, list[str]] = {"dangling": ["true" if dangling_only else "false"]}
        if label is not None:
            wanted["label"] = [label]
        filters = json.dumps(wanted)
        _, doc = await self._request("prune images", "images/prune", "POST",
                                     params={"filters": filters})
        return parse.parse_image_prune(self.slug, doc)

    # -- images ---------------------------------------------------------------------------------
    # ``ref`` below is always something the engine itself listed (an id, or one of an image's
    # RepoTags/RepoDigests): the image service resolves what users type before calling these.

    async def list_images(self) -> list[Image]:
        """``GET /images/json``: every top-level image (``containers`` left empty)."""
        _, docs = await self._request("list images", "images/json")
        return [parse.parse_image_summary(self.slug, d) for d in docs or ()]

    async def inspect_image(self, ref: str) -> JSON:
        """The engine's image inspect document, unmodified (for the inspect view)."""
        _, doc = await self._request(f"image {ref}", f"images/{ref}/json")
        if not isinstance(doc, dict):
            raise EngineError(f"host {self.slug}: inspect of image {ref} returned no document")
        return doc

    async def image_history(self, ref: str) -> list[ImageHistoryEntry]:
        """``GET /images/{ref}/history``: the image's layers, newest first."""
        _, docs = await self._request(f"image {ref} history", f"images/{ref}/history")
        return parse.parse_image_history(docs)

    async def remove_image(
        self, ref: str, *, force: bool
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """``DELETE /images/{ref}``: a tag only untags unless it was the last one.

        Returns:
            ``(untagged references, deleted layer ids)``.

        Raises:
            Conflict: The engine refused (a container uses it, several repositories reference
                it without force, ...); the message is the engine's.
        """
        _, docs = await self._request(f"remove image {ref}", f"images/{ref}", "DELETE",
                                      params={"force": str(force).lower(), "noprune": "false"})
        return parse.parse_image_delete(docs)

    async def tag_image(self, ref: str, repository: str, tag: str) -> None:
        """``POST /images/{ref}/tag``: add ``repository:tag`` to an image (moving the tag if
        another image had it)."""
        await self._request(f"tag image {ref}", f"images/{ref}/tag", "POST",
                            params={"repo": repository, "tag": tag})

    async def search_images(self, term: str, *, limit: int) -> list[HubSearchResult]:
        """``GET /images/search``: the engine asks Docker Hub (its configured index).

        The engine may wait long on DNS or a dead network, so the wait is bounded by
        :data:`HUB_SEARCH_TIMEOUT`.

        Raises:
            RegistryUnreachable: The engine could not reach Docker Hub, or not in time; the
                message carries the engine's reason.
            HostUnreachable: The engine itself did not answer.
        """
        unreachable = f"Docker Hub is unreachable from host {self.slug}"
        try:
            async with asyncio.timeout(HUB_SEARCH_TIMEOUT):
                _, docs = await self._request("search images", "images/search",
                                              params={"term": term, "limit": str(limit)})
        except TimeoutError as err:
            raise RegistryUnreachable(
                f"{unreachable}: no answer within {HUB_SEARCH_TIMEOUT:.0f} s",
                details={"registry": "docker.io"}) from err
        except EngineError as err:
            # The engine reports every failure to reach the index as a 500 with its reason.
            cause = err.__cause__
            reason = str(cause.message) if isinstance(cause, DockerError) else err.message
            raise RegistryUnreachable(f"{unreachable}: {reason.strip()}",
                                      details={"registry": "docker.io"}) from err
        return parse.parse_hub_search(docs)

    # -- containers -------------------------------------------------------------------------

    async def container_ids(self) -> list[str]:
        """Ids of every container, running or not."""
        _, docs = await self._request("list containers", "containers/json", params={"all": "1"})
        return [str(d["Id"]) for d in docs]

    async def inspect_raw(self, ref: str) -> JSON:
        """The engine's inspect document, unmodified (for the inspect view)."""
        _, doc = await self._request(f"container {ref}", f"containers/{ref}/json")
        if not isinstance(doc, dict):
            raise EngineError(f"host {self.slug}: inspect of {ref} returned no document")
        return doc

    async def inspect(self, ref: str) -> Container:
        """Inspect a container and parse it."""
        return parse.parse_container(self.slug, await self.inspect_raw(ref))

    async def container_action(
        self, container_id: str, action: str, *, params: Mapping[str, Any] | None = None
    ) -> bool:
        """``POST /containers/{id}/{action}``; False when the engine says 304 (no change)."""
        status, _ = await self._request(
            f"container {container_id} {action}",
            f"containers/{container_id}/{action}",
            "POST",
            params=params,
        )
        return status != 304

    async def create_container(self, name: str, body: Mapping[str, Any]) -> str:
        """``POST /containers/create?name=``; returns the new container's id.

        A taken name is a Conflict, an image the engine does not have is NotFound.
        """
        _, doc = await self._request(
            f"create container {name}", "containers/create", "POST",
            params={"name": name}, data=dict(body),
        )
        if not isinstance(doc, dict) or not doc.get("Id"):
            raise EngineError(f"host {self.slug}: create of {name} returned no id")
        return str(doc["Id"])

    async def connect_network(
        self, network: str, container_id: str, endpoint: Mapping[str, Any] | None
    ) -> None:
        """``POST /networks/{network}/connect`` with the container's endpoint settings.

        An unknown container is NotFound. Beware: for a container that is not running, the
        engine (20.10) stores an unknown network without complaint; the start then fails.
        """
        await self._request(
            f"connect {container_id} to network {network}", f"networks/{network}/connect",
            "POST", data={"Container": container_id, "EndpointConfig": dict(endpoint or {})},
        )

    async def remove(self, container_id: str, *, force: bool, volumes: bool) -> None:
        """``DELETE /containers/{id}``; anonymous volumes go too when ``volumes``."""
        await self._request(
            f"container {container_id} remove",
            f"containers/{container_id}",
            "DELETE",
            params={"force": str(force).lower(), "v": str(volumes).lower()},
        )

    async def stats(self, container_id: str) -> ContainerStats:
        """One stats reading; ``precpu_stats`` makes it a two-sample CPU figure."""
        _, doc = await self._request(
            f"container {container_id} stats",
            f"containers/{container_id}/stats",
            params={"stream": "false"},
        )
        if not isinstance(doc, dict):
            # The engine answers 200 with an empty body when the container went away mid-read.
            raise NotFound(f"container {container_id} is gone")
        return parse.parse_stats(doc)

    async def stats_sample(self, container_id: str) -> StatsSample | None:
        """One raw stats reading, without the engine's own second sample.

        ``stream=false`` alone makes the engine wait for a second sample (about 2 s per
        container); ``one-shot=true`` (API >= 1.41) answers at once with empty ``precpu_stats``,
        so the caller computes CPU % and rates from its own previous sample. Older engines get
        plain ``stream=false`` (slow, same result). None when the container is not running.
        """
        params = {"stream": "false"}
        if await self.api_version() >= ONE_SHOT_API:
            params["one-shot"] = "true"
        _, doc = await self._request(
            f"container {container_id} stats",
            f"containers/{container_id}/stats",
            params=params,
        )
        return parse.parse_stats_sample(doc) if isinstance(doc, dict) else None

    async def top(self, container_id: str, ps_args: str | None = None) -> ProcessList:
        params = {"ps_args": ps_args} if ps_args else None
        try:
            _, doc = await self._request(
                f"container {container_id} top", f"containers/{container_id}/top", params=params
            )
        except EngineError as err:
            # The engine reports ps refusing its arguments as a 500; that is the caller's input.
            if ps_args and "ps: " in err.message:
                raise InvalidInput(
                    f"ps_args: ps refused them: {err.message.rsplit('] ', 1)[-1]}",
                    field="ps_args",
                ) from err
            raise
        return parse.parse_top(doc)

    async def logs(
        self,
        container_id: str,
        *,
        tty: bool,
        tail: int | None = None,
        since: int | None = None,
        timestamps: bool = False,
        follow: bool = False,
    ) -> AsyncIterator[LogRecord]:
        """Stream log lines; stdout and stderr stay apart (a tty container has only stdout).

        Leaving the iteration (``aclose``) closes the engine connection, which ends a follow.
        """
        params: dict[str, str] = {
            "stdout": "true",
            "stderr": "true",
            "follow": str(follow).lower(),
            "timestamps": str(timestamps).lower(),
            "tail": "all" if tail is None else str(tail),
        }
        if since is not None:
            params["since"] = str(since)
        what = f"container {container_id} logs"
        async with self._response(
            what, f"containers/{container_id}/logs", params=params, stream=True
        ) as response:
            frames = _raw_frames(response) if tty else _multiplexed_frames(response)
            splitter = _LineSplitter(timestamps)
            try:
                async for stream, chunk in frames:
                    for record in splitter.feed(stream, chunk):
                        yield record
            except _LOWER_ERRORS as err:
                raise _map_error(self.slug, what, err) from err
            for record in splitter.flush():
                yield record

    # -- events -------------------------------------------------------------------------------

    async def events(self, *, since: int | None = None) -> AsyncIterator[EngineEvent]:
        """Follow ``/events`` until the connection drops (then raises HostUnreachable)."""
        params: dict[str, str] = {}
        if since is not None:
            params["since"] = str(since)
        async with self._response("events", "events", params=params, stream=True) as response:
            try:
                async for raw in response.content:
                    if not raw.strip():
                        continue
                    doc = json.loads(raw)
                    actor = doc.get("Actor") or {}
                    yield EngineEvent(
                        type=str(doc.get("Type", "")),
                        action=str(doc.get("Action", "")),
                        id=str(actor.get("ID", "")),
                        attributes=dict(actor.get("Attributes") or {}),
                        time_nano=int(doc.get("timeNano") or 0),
                    )
            except _LOWER_ERRORS as err:
                raise _map_error(self.slug, "events", err) from err
        raise HostUnreachable(f"host {self.slug}: the events stream ended")

    # -- pulls --------------------------------------------------------------------------------

    async def pull_image(
        self, from_image: str, tag: str, *, auth: str | None = None
    ) -> AsyncIterator[JSON]:
        """``POST /images/create``: pull an image, yielding the engine's progress documents
        (``{"status", "id", "progressDetail", "progress"}``, or ``{"error", "errorDetail"}``
        when the pull fails midway) as they arrive; ``chrontainer_core.pulls`` reads them.

        Leaving the iteration early (``aclose``, or cancelling the consumer) closes the
        connection, which makes the engine abort the pull.

        Args:
            from_image: The ``fromImage`` name (``ImageReference.engine_from_image``).
            tag: A tag or a digest (``ImageReference.engine_tag``).
            auth: The ``X-Registry-Auth`` header value; None pulls anonymously.

        Raises:
            RegistryError: The engine refused the pull at once (unknown manifest, credentials
                missing or refused, registry unreachable); the message is the engine's own, for
                the caller to classify (it knows the image and the registry).
            HostUnreachable: The engine itself did not answer.
        """
        # Whatever the engine answers (rather than fails to answer) is the registry's doing.
        async with self._response(
            f"pull {from_image}:{tag}", "images/create", "POST",
            params={"fromImage": from_image, "tag": tag},
            headers={"X-Registry-Auth": auth} if auth else None,
            stream=True, refusal=RegistryError,
        ) as response:
            async for raw in response.content:
                if raw.strip():
                    doc: JSON = json.loads(raw)
                    yield doc


async def _multiplexed_frames(
    response: aiohttp.ClientResponse,
) -> AsyncIterator[tuple[LogStream, bytes]]:
    """Demultiplex a non-tty log stream: 8-byte header (stream, 0, 0, 0, big-endian size)."""
    content = response.content
    while True:
        try:
            header = await content.readexactly(8)
        except asyncio.IncompleteReadError:
            return
        kind, size = struct.unpack(">BxxxL", header)
        payload = await content.readexactly(size) if size else b""
        yield (LogStream.STDERR if kind == 2 else LogStream.STDOUT), payload


async def _raw_frames(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[LogStream, bytes]]:
    """A tty container's log is one raw stream, reported as stdout."""
    async for chunk in response.content.iter_any():
        yield LogStream.STDOUT, chunk


class _LineSplitter:
    """Reassemble lines per stream: a frame may hold part of a line or several lines."""

    def __init__(self, timestamps: bool) -> None:
        self._timestamps = timestamps
        self._pending: dict[LogStream, bytes] = {}

    def feed(self, stream: LogStream, chunk: bytes) -> list[LogRecord]:
        data = self._pending.pop(stream, b"") + chunk
        *lines, rest = data.split(b"\n")
        if rest:
            self._pending[stream] = rest
        return [self._record(stream, line) for line in lines]

    def flush(self) -> list[LogRecord]:
        pending, self._pending = self._pending, {}
        return [self._record(stream, rest) for stream, rest in pending.items()]

    def _record(self, stream: LogStream, raw: bytes) -> LogRecord:
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        t = None
        if self._timestamps:
            stamp, _, rest = text.partition(" ")
            try:
                t = parse.parse_time(stamp)
                text = rest
            except ValueError:
                t = None
        return LogRecord(t=t, stream=stream, line=text)
