"""Which container this process runs in, so Chrontainer never updates (and so removes) itself.

Three clues, none sufficient everywhere:

- ``/proc/self/cgroup``: with cgroup v1 (or v2 with the host's cgroup namespace) the path names
  the container: ``/docker/<id>``, ``/system.slice/docker-<id>.scope``, podman's
  ``libpod-<id>.scope``. With cgroup v2 and a private namespace (the default) it is just
  ``0::/``.
- ``/proc/self/mountinfo``: engines bind-mount ``/etc/hostname``, ``/etc/hosts`` and
  ``/etc/resolv.conf`` from the container's own directory (Docker:
  ``<data-root>/containers/<id>/hostname``; podman: ``.../overlay-containers/<id>/userdata/
  hostname``), whatever the cgroup version.
- The hostname: Docker sets it to the first 12 hex characters of the id unless the user chose
  another. It is returned as that 12-character *prefix*: callers match ids with
  ``container_id.startswith(x)`` for every ``x`` returned (full ids match themselves).
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Final

__all__ = ["own_container_ids", "read_own_container_ids"]

_ID: Final = r"[0-9a-f]{64}"
_CGROUP: Final = re.compile(
    rf"(?:/docker/|/docker-|/libpod-|/crio-|/cri-containerd-)({_ID})(?:\.scope)?(?:/|$)")
# The mount's root (field 4) is the file inside the engine's container directory; its mount
# point (field 5) is the /etc file it provides. Requiring both keeps a container that mounts
# some other container's directory (a log shipper, say) from being taken for that container.
_MOUNT_ROOT: Final = re.compile(
    rf"[/-]containers/({_ID})/(?:userdata/)?(?:hostname|hosts|resolv\.conf)$")
_MOUNT_POINTS: Final = frozenset({"/etc/hostname", "/etc/hosts", "/etc/resolv.conf"})
_SHORT_ID: Final = re.compile(r"[0-9a-f]{12}")
# Files whose presence says "this is a container" (Docker; podman), so that a bare host whose
# name happens to be 12 hex characters is not mistaken for a container.
_CONTAINER_MARKERS: Final = ("/.dockerenv", "/run/.containerenv")


def own_container_ids(cgroup: str, mountinfo: str, hostname: str) -> frozenset[str]:
    """The container ids (or id prefixes) this process may be running in.

    Args:
        cgroup: The text of ``/proc/self/cgroup``.
        mountinfo: The text of ``/proc/self/mountinfo``.
        hostname: The host name; pass "" when it cannot be a container id.

    Returns:
        Full 64-hex ids found in cgroup paths and in the engine's bind mounts, plus the
        hostname when it is 12 hex characters (a prefix: compare with ``id.startswith``).
        Empty when nothing points to a container.
    """
    found: set[str] = set()
    for line in cgroup.splitlines():
        # hierarchy-id:controllers:path; the path may itself contain ':'.
        parts = line.split(":", 2)
        if len(parts) == 3:
            found.update(_CGROUP.findall(parts[2].strip()))
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[4] in _MOUNT_POINTS:
            match = _MOUNT_ROOT.search(fields[3])
            if match:
                found.add(match.group(1))
    name = hostname.strip().lower()
    if _SHORT_ID.fullmatch(name):
        found.add(name)
    return frozenset(found)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def read_own_container_ids() -> frozenset[str]:
    """:func:`own_container_ids` of this process; empty outside a container or when unreadable.

    Blocking (a few tiny /proc reads): call it once, through ``asyncio.to_thread``.
    """
    in_container = any(Path(marker).exists() for marker in _CONTAINER_MARKERS)
    hostname = socket.gethostname() if in_container else ""
    return own_container_ids(_read("/proc/self/cgroup"), _read("/proc/self/mountinfo"),
                             hostname)
