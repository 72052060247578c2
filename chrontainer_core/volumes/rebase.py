"""The archives a restore sends to the engine: rebuilt from the checked archive, so the engine
extracts exactly the names that were checked. A replace sends its archive to a local volume's
parent directory (see
:meth:`~chrontainer_core.volumes.helper.VolumeHelpers.parent_of`).

A replace makes the volume's contents equal to an archive: the tar sent to ``/parent`` starts
with a regular file ``_data`` (the engine removes the old tree to put it there), then the
directory ``_data``, then every member of the archive below ``_data/``. A rollback sends the
same file ``_data`` followed by the snapshot taken before (``GET`` of ``/parent/_data``,
whose entries already are ``_data/...``).
"""

from __future__ import annotations

import tarfile
import time
from pathlib import Path
from typing import Final

from .archive_check import TarSource, normalise
from .helper import LOCAL_DATA_DIR

# Only extended attributes cross over from a member's pax header: the rest (path, linkpath,
# size, ids) is written again from the renamed member, and tarfile lets an old pax value win.
_KEPT_PAX_PREFIX: Final = "SCHILY.xattr."


def _placeholder() -> tarfile.TarInfo:
    info = tarfile.TarInfo(LOCAL_DATA_DIR)
    info.size, info.mode, info.mtime = 0, 0o600, int(time.time())
    return info


def placeholder() -> bytes:
    """The tar header of the empty regular file ``_data`` that replaces the old tree."""
    return _placeholder().tobuf(format=tarfile.PAX_FORMAT)


def rebuild(archive: Path, out: Path) -> None:
    """Write to ``out`` ``archive``'s entries (an archive
    :func:`~chrontainer_core.volumes.archive_check.check_archive` passed) under the names that
    check read, for extraction into a new volume's root.

    The engine then extracts exactly what was checked: Python's and Go's tar readers could
    otherwise disagree on a crafted archive (pax overrides, odd headers) that one of them reads
    as harmless. Blocking: run it in a thread.
    """
    _write(archive, out, prefix=None)


def build_replacement(archive: Path, out: Path) -> None:
    """Write to ``out`` the tar that replaces a volume's data directory with ``archive``'s
    entries (an archive :func:`~chrontainer_core.volumes.archive_check.check_archive` passed).

    Blocking: run it in a thread.
    """
    _write(archive, out, prefix=LOCAL_DATA_DIR)


def _write(archive: Path, out: Path, *, prefix: str | None) -> None:
    """Rewrite ``archive``'s members into ``out``, each name normalised and, with ``prefix``,
    below that directory, after the placeholder file and the directory itself."""
    with (
        archive.open("rb") as raw,
        out.open("wb") as sink,
        tarfile.open(fileobj=TarSource(raw), mode="r|") as source,  # type: ignore[call-overload]
        tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as target,
    ):
        if prefix is not None:
            target.addfile(_placeholder())
            root = tarfile.TarInfo(prefix)
            root.type, root.mode, root.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
            # The archive's own root entry ("."), where it has one, comes again below and
            # sets the directory's mode, owner and time.
            target.addfile(root)

        def under(name: str) -> str:
            if prefix is None:
                return name or "."
            return f"{prefix}/{name}" if name else prefix

        for member in source:
            info = tarfile.TarInfo(under(normalise(member.name)))
            info.type, info.mode, info.mtime = member.type, member.mode, member.mtime
            info.uid, info.gid, info.uname, info.gname = (member.uid, member.gid,
                                                          member.uname, member.gname)
            info.pax_headers = {k: v for k, v in member.pax_headers.items()
                                if k.startswith(_KEPT_PAX_PREFIX)}
            if member.issym():
                info.linkname = member.linkname
            elif member.islnk():
                info.linkname = under(normalise(member.linkname))
            if member.isreg():
                info.size = member.size
                target.addfile(info, source.extractfile(member))
            else:
                target.addfile(info)
