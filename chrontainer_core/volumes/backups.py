"""Volume backup (a .tar.gz streamed end to end) and restore (an uploaded archive into a new
volume, or replacing an existing volume's contents).

Backup: a read-only helper reads the volume through the engine's archive API; the tar is
compressed on the fly, one batch of about 1 MiB at a time, so memory stays flat whatever the
volume's size.

Restore, in this order, so that a bad upload changes nothing:

1. the target is checked (an existing volume needs ``confirm`` = its name; running users are
   refused unless ``stop_containers``), before the upload is read;
2. the upload is spooled to a temporary file, stopping at the size limit;
3. the whole archive is validated (``archive_check``): escaping names and links, forbidden
   types, limits, damage and truncation;
4. the target is checked again (the upload took time), users are stopped if asked, and the
   archive is written, rebuilt from what the check read (``rebase``): into a new volume; or
   over an existing one by replacing the local driver's data directory, after a snapshot of
   the old contents that is put back if the write fails midway;
5. stopped containers are started again, whatever happened.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from ..actor import Actor
from ..audit import AuditTrail
from ..containers import ContainerFilter, ContainerService
from ..docker.host import DockerHost
from ..errors import Busy, ChrontainerError, Conflict, EngineError, NotFound
from ..hosts import HostManager
from ..models import Container, ContainerAction, ContainerState, Volume
from . import spool
from .archive_check import ArchiveSummary, check_archive
from .helper import PARENT_ROOT, VOLUME_ROOT, VolumeHelpers
from .models import RestoreResult
from .rebase import build_replacement, placeholder, rebuild
from .service import VolumeService, check_name
from .usage import volume_users

log = logging.getLogger(__name__)

MIB: Final = 1024 * 1024
# Raw tar bytes compressed per thread hop: the loop never compresses, memory holds one batch.
COMPRESS_BATCH: Final = MIB
# gzip (wbits 31) at level 3: speed over ratio, a Raspberry Pi streams it.
GZIP_LEVEL: Final = 3
_ACTIVE: Final = frozenset({ContainerState.RUNNING, ContainerState.PAUSED,
                            ContainerState.RESTARTING})


@dataclass(frozen=True, slots=True, kw_only=True)
class VolumeBackup:
    """A backup being streamed: the download's file name and the .tar.gz bytes."""

    filename: str  # "<volume>-<host>-<UTC YYYYmmdd-HHMMSS>.tar.gz"
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Target:
    volume: Volume | None  # None: it does not exist yet
    running: tuple[Container, ...]  # users that are running, paused or restarting


class VolumeBackups:
    """Backup and restore of volumes; each call is audited.

    Args:
        hosts: the hosts and their engines.
        audit: the audit trail.
        volumes: the volume service (creates the target of a restore into a new volume).
        helpers: the helper containers volumes are read and written through.
        containers: the container service (its cache names a volume's users; it stops and
            starts them).
        limits: the current (upload bytes, expanded bytes) limits of a restore.
        spool_dir: where uploads and snapshots are kept while a restore runs (made on use);
            None: the system's temporary directory.
        fail_after: a test seam: called with the bytes sent so far while a replace streams
            the new contents to the engine; raising there fails the write midway.
    """

    def __init__(self, hosts: HostManager, audit: AuditTrail, volumes: VolumeService,
                 helpers: VolumeHelpers, *, containers: ContainerService,
                 limits: Callable[[], tuple[int, int]], spool_dir: Path | None = None,
                 fail_after: Callable[[int], None] | None = None) -> None:
        self._hosts = hosts
        self._audit = audit
        self._volumes = volumes
        self._helpers = helpers
        self._containers = containers
        self._limits = limits
        self.spool_dir = spool_dir
        self._fail_after = fail_after
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    @property
    def upload_limit(self) -> int:
        """The largest upload a restore accepts, in bytes (a setting)."""
        return self._limits()[0]

    # -- backup ---------------------------------------------------------------------------------

    def backup(self, host: str, name: str, *,
               actor: Actor | None = None) -> AbstractAsyncContextManager[VolumeBackup]:
        """A volume as a .tar.gz stream; leaving the context early ends the engine's stream
        and removes the helper.

        Raises:
            NotFound: Unknown host or volume.
            InvalidInput: ``name`` cannot be a volume name.
        """
        return self._backup(host, name, actor or Actor.library())

    @asynccontextmanager
    async def _backup(self, host: str, name: str, actor: Actor) -> AsyncIterator[VolumeBackup]:
        engine = self._hosts.get(host).host
        async with self._audit.track(actor, "volume.backup", f"{host}/{name}"):
            # Before the helper: binding an unknown name would create that volume.
            await self._volumes.inspect(host, name)
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            async with self._helpers.mount(engine, name) as helper, \
                    engine.get_archive(helper.container_id, f"{VOLUME_ROOT}/.") as chunks:
                gzipped = _gzipped(chunks)
                try:
                    yield VolumeBackup(filename=f"{name}-{host}-{stamp}.tar.gz",
                                       chunks=gzipped)
                finally:
                    await gzipped.aclose()  # type: ignore[attr-defined]

    # -- restore --------------------------------------------------------------------------------

    async def restore(self, host: str, name: str, source: AsyncIterable[bytes], *,
                      confirm: str | None = None, stop_containers: bool = False,
                      actor: Actor | None = None) -> RestoreResult:
        """Restore an archive (.tar.gz or .tar) into a volume; see the module docstring.

        Args:
            host: host slug.
            name: the volume; created (driver local) when it does not exist.
            source: the archive's bytes.
            confirm: must equal ``name`` to replace an existing volume's contents.
            stop_containers: stop the running containers using the volume for the restore,
                and start them again afterwards (else they make it a conflict).
            actor: who asked (audit).

        Raises:
            TooLarge: The upload, its expanded size or its entry count is over the limit.
            InvalidInput: ``field="archive"``: an entry escapes the volume or has a forbidden
                type, or the archive is damaged or truncated. Nothing was written.
            Conflict: The volume exists and ``confirm`` is not its name
                (``details["confirm"]``), running containers use it
                (``details["containers"]``), or it is not a plain local volume.
            Busy: Another restore of this volume is running.
            NotFound: Unknown host.
            EngineError: The write failed; the message says whether the old contents were
                put back.
        """
        actor = actor or Actor.library()
        check_name(name)
        engine = self._hosts.get(host).host
        key = (host, name)
        lock = self._locks.setdefault(key, asyncio.Lock())
        if lock.locked():
            raise Busy(f"volume {name} on host {host} is being restored already")
        try:
            async with lock, self._audit.track(actor, "volume.restore", f"{host}/{name}"):
                return await self._restore(engine, name, source, confirm=confirm,
                                           stop_containers=stop_containers, actor=actor)
        finally:
            if not lock.locked():
                self._locks.pop(key, None)

    async def _restore(self, engine: DockerHost, name: str, source: AsyncIterable[bytes], *,
                       confirm: str | None, stop_containers: bool,
                       actor: Actor) -> RestoreResult:
        host = engine.slug
        # Refuse before reading a possibly large upload; checked again once it is read.
        await self._target(engine, name, confirm=confirm, stop_containers=stop_containers)
        upload_limit, expanded_limit = self._limits()
        archive, _ = await spool.write_all(source, self.spool_dir, ".upload",
                                           limit=upload_limit)
        try:
            # Blocking (reads and inflates the whole file): in a thread.
            summary = await asyncio.to_thread(check_archive, archive, max_bytes=expanded_limit)
            target = await self._target(engine, name, confirm=confirm,
                                        stop_containers=stop_containers)
            stopped = await self._stop(host, target.running, actor)
            try:
                if target.volume is None:
                    await self._into_new(engine, name, archive, actor)
                else:
                    await self._replace(engine, target.volume, archive)
            finally:
                await self._start(host, stopped, actor)
        finally:
            await asyncio.to_thread(spool.remove, archive)
        return _result(host, name, summary, created=target.volume is None,
                       stopped=tuple(c.name for c in stopped))

    async def _target(self, engine: DockerHost, name: str, *, confirm: str | None,
                      stop_containers: bool) -> _Target:
        try:
            volume = await engine.inspect_volume(name)
        except NotFound:
            return _Target(volume=None, running=())
        if confirm != name:
            raise Conflict(f"volume {name} exists on host {engine.slug}: restoring replaces "
                           f"its contents; confirm={name} replaces them",
                           details={"confirm": name})
        if volume.driver != "local" or volume.options:
            raise Conflict(f"volume {name}: replace works for plain local volumes (this one "
                           f"has driver {volume.driver} and options "
                           f"{sorted(volume.options) or 'none'}); restore into a new volume")
        listing = await self._containers.list(ContainerFilter(host=engine.slug))
        running = tuple(c for c in volume_users(listing.items, name) if c.state in _ACTIVE)
        if running and not stop_containers:
            names = [c.name for c in running]
            raise Conflict(f"volume {name} is in use by running containers: "
                           f"{', '.join(names)}; stop them first or use stop_containers",
                           details={"containers": names})
        return _Target(volume=volume, running=running)

    async def _stop(self, host: str, running: tuple[Container, ...],
                    actor: Actor) -> list[Container]:
        stopped: list[Container] = []
        try:
            for c in running:
                await self._containers.action(host, c.id, ContainerAction.STOP, actor=actor)
                stopped.append(c)
        except BaseException:
            await self._start(host, stopped, actor)
            raise
        return stopped

    async def _start(self, host: str, stopped: list[Container], actor: Actor) -> None:
        for c in stopped:
            try:
                # Shielded: a cancelled restore must still bring its containers back.
                await asyncio.shield(self._containers.action(host, c.id, ContainerAction.START,
                                                             actor=actor))
            except ChrontainerError as err:
                log.warning("host %s: container %s not started again after a volume restore: "
                            "%s", host, c.name, err.message)

    async def _into_new(self, engine: DockerHost, name: str, archive: Path,
                        actor: Actor) -> None:
        handle, rebuilt = await spool.temp_file(self.spool_dir, ".rebuilt")
        handle.close()  # written by name, in the thread
        try:
            # Blocking (rewrites every member): in a thread.
            await asyncio.to_thread(rebuild, archive, rebuilt)
            await self._volumes.create(engine.slug, name=name, driver="local", actor=actor)
            await self._fill_new(engine, name, rebuilt, actor)
        finally:
            await asyncio.to_thread(spool.remove, rebuilt)

    async def _fill_new(self, engine: DockerHost, name: str, rebuilt: Path,
                        actor: Actor) -> None:
        try:
            async with self._helpers.mount(engine, name, writable=True) as helper:
                await engine.put_archive(helper.container_id, VOLUME_ROOT,
                                         spool.read_chunks(rebuilt))
        except BaseException:
            # A half-written new volume is of no use: take it away again.
            try:
                await asyncio.shield(self._volumes.remove(engine.slug, name, actor=actor))
            except ChrontainerError as err:
                log.warning("host %s: volume %s, half restored, not removed: %s",
                            engine.slug, name, err.message)
            raise

    async def _replace(self, engine: DockerHost, volume: Volume, archive: Path) -> None:
        snapshot: Path | None = None
        replacement: Path | None = None
        try:
            async with self._helpers.parent_of(engine, volume.name, volume.mountpoint) as h:
                async with engine.get_archive(h.container_id, h.root) as chunks:
                    snapshot, _ = await spool.write_all(chunks, self.spool_dir, ".snapshot")
                handle, replacement = await spool.temp_file(self.spool_dir, ".replace")
                handle.close()  # written by name, in the thread
                # Blocking (rewrites every member): in a thread.
                await asyncio.to_thread(build_replacement, archive, replacement)
                try:
                    await engine.put_archive(
                        h.container_id, PARENT_ROOT,
                        spool.read_chunks(replacement, progress=self._fail_after))
                except (ChrontainerError, asyncio.CancelledError) as err:
                    await asyncio.shield(self._roll_back(engine, volume.name, h.container_id,
                                                         snapshot, err))
                    raise
        finally:
            await asyncio.to_thread(spool.remove, snapshot, replacement)

    async def _roll_back(self, engine: DockerHost, name: str, helper_id: str, snapshot: Path,
                         err: BaseException) -> None:
        """Put the snapshot back after a failed replace; raises the error to report."""
        reason = err.message if isinstance(err, ChrontainerError) else "cancelled"
        try:
            await engine.put_archive(helper_id, PARENT_ROOT,
                                     spool.read_chunks(snapshot, head=placeholder()))
        except ChrontainerError as again:
            log.error("host %s: volume %s: restore failed (%s) and the old contents could not "
                      "be put back: %s", engine.slug, name, reason, again.message)
            raise EngineError(
                f"host {engine.slug}: restore of volume {name} failed ({reason}) and putting "
                f"the old contents back failed too ({again.message}): the volume is "
                "incomplete") from err
        log.warning("host %s: volume %s: restore failed (%s); the old contents were put back",
                    engine.slug, name, reason)
        if isinstance(err, ChrontainerError):
            raise EngineError(f"host {engine.slug}: restore of volume {name} failed "
                              f"({reason}); the old contents were put back") from err


def _result(host: str, name: str, summary: ArchiveSummary, *, created: bool,
            stopped: tuple[str, ...]) -> RestoreResult:
    return RestoreResult(host=host, volume=name, created=created, replaced=not created,
                         entries=summary.entries, bytes=summary.bytes, stopped=stopped)


async def _gzipped(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``chunks`` gzip-compressed, one batch at a time in a thread."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    batch = bytearray()
    async for chunk in chunks:
        batch += chunk
        if len(batch) >= COMPRESS_BATCH:
            data, batch = bytes(batch), bytearray()
            out = await asyncio.to_thread(compressor.compress, data)
            if out:
                yield out
    yield await asyncio.to_thread(_last, compressor, bytes(batch))


def _last(compressor: zlib._Compress, data: bytes) -> bytes:
    return compressor.compress(data) + compressor.flush()
