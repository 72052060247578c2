"""Volumes: list, inspect, create, remove, prune (``/volumes``).

The engine's volume JSON is parsed here into :class:`~chrontainer_core.models.Volume`; its
CamelCase ends in this module.

Pruning changed meaning in API 1.42 (Engine 23): since then ``POST /volumes/prune`` removes only
anonymous volumes unless the filter ``all=true`` is given; before, it removed every unused
volume and did not know that filter. Chrontainer's prune means the same on every engine
(:func:`prune_filters` decides how to ask), so on an older engine an "anonymous only" prune is
done here: the unused anonymous volumes are listed and removed one by one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from ..errors import Conflict, EngineError, NotFound
from ..models import PruneResult, Volume
from .connection import JSON, EngineConnection
from .parse import parse_time

# The first API version whose volume prune spares named volumes unless asked with all=true.
PRUNE_ALL_FILTER_API: Final = (1, 42)
# What the engine names a volume it generated (an image's VOLUME, ``-v /path``).
_ANONYMOUS: Final = re.compile(r"[0-9a-f]{64}")


def is_anonymous(name: str) -> bool:
    """Whether ``name`` is one the engine generated (64 lowercase hex characters)."""
    return bool(_ANONYMOUS.fullmatch(name))


def _strings(value: Any) -> dict[str, str]:
    """A JSON object of strings (the engine sends ``null`` for none)."""
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items()}


def parse_volume(host: str, doc: JSON) -> Volume:
    """One entry of ``GET /volumes`` or ``GET /volumes/{name}`` (sizes and users left out)."""
    name = str(doc.get("Name", ""))
    return Volume(
        host=host,
        name=name,
        driver=str(doc.get("Driver") or ""),
        mountpoint=str(doc.get("Mountpoint") or ""),
        created=parse_time(doc.get("CreatedAt")),
        scope=str(doc.get("Scope") or "local"),
        labels=_strings(doc.get("Labels")),
        options=_strings(doc.get("Options")),
        anonymous=is_anonymous(name),
    )


def parse_volume_sizes(df: JSON) -> dict[str, int]:
    """Bytes per volume name from ``GET /system/df`` (``Volumes[].UsageData.Size``); volumes
    whose size the engine does not know (``-1``: other drivers) are left out."""
    sizes: dict[str, int] = {}
    for doc in df.get("Volumes") or ():
        usage = doc.get("UsageData") or {}
        size = usage.get("Size")
        if isinstance(size, int) and size >= 0 and doc.get("Name"):
            sizes[str(doc["Name"])] = size
    return sizes


def parse_volume_prune(host: str, doc: JSON | None) -> PruneResult:
    """``POST /volumes/prune``'s answer (``VolumesDeleted`` is ``null`` when empty)."""
    doc = doc or {}
    return PruneResult(
        host=host,
        deleted=tuple(str(n) for n in doc.get("VolumesDeleted") or ()),
        untagged=(),
        reclaimed_bytes=int(doc.get("SpaceReclaimed") or 0),
    )


def prune_filters(api: tuple[int, int], *, all_unused: bool,
                  label: str | None) -> dict[str, list[str]] | None:
    """The filters of ``POST /volumes/prune`` that prune what was asked on an engine speaking
    ``api``; None when the engine cannot be asked to spare named volumes (API < 1.42 and
    ``all_unused`` false): the caller then removes the anonymous ones itself."""
    wanted: dict[str, list[str]] = {}
    if label is not None:
        wanted["label"] = [label]
    if api >= PRUNE_ALL_FILTER_API:
        if all_unused:
            wanted["all"] = ["true"]
        return wanted
    return wanted if all_unused else None


def unused_anonymous(docs: Iterable[Mapping[str, Any]]) -> list[str]:
    """The anonymous volumes among a ``dangling=true`` listing's entries, by name."""
    return sorted(str(d["Name"]) for d in docs if is_anonymous(str(d.get("Name", ""))))


class VolumeCalls(EngineConnection):
    """The engine calls of this concept, mixed into ``DockerHost``."""

    async def _volume_docs(self, filters: dict[str, list[str]] | None = None) -> list[JSON]:
        params = {"filters": json.dumps(filters)} if filters else None
        _, doc = await self._request("list volumes", "volumes", params=params)
        return list((doc or {}).get("Volumes") or ())

    async def list_volumes(self) -> list[Volume]:
        """``GET /volumes``: every volume (sizes and containers left empty)."""
        return [parse_volume(self.slug, d) for d in await self._volume_docs()]

    async def volume_sizes(self) -> dict[str, int]:
        """Bytes used per volume name, from ``GET /system/df`` (can be slow: it walks every
        local volume); volumes of unknown size are left out."""
        return parse_volume_sizes(await self._system_df())

    async def inspect_volume(self, name: str) -> Volume:
        """``GET /volumes/{name}``.

        Raises:
            NotFound: No such volume.
        """
        _, doc = await self._request(f"volume {name}", f"volumes/{name}")
        if not isinstance(doc, dict):
            raise EngineError(f"host {self.slug}: inspect of volume {name} returned no document")
        return parse_volume(self.slug, doc)

    async def volume_drivers(self) -> list[str]:
        """The volume drivers the engine has (``GET /info`` ``Plugins.Volume``: ``local`` and
        every enabled volume plugin)."""
        _, doc = await self._request("info", "info")
        plugins = doc.get("Plugins") if isinstance(doc, dict) else None
        names = plugins.get("Volume") if isinstance(plugins, dict) else None
        return [str(n) for n in names or ()]

    async def create_volume(self, name: str, driver: str, driver_opts: Mapping[str, str],
                            labels: Mapping[str, str]) -> Volume:
        """``POST /volumes/create`` (an empty ``name``: the engine generates one).

        Note that the engine answers a create of an existing name with that volume, unchanged:
        callers check for the name first.

        Raises:
            NotFound: Unknown driver (a plugin that is not installed).
            InvalidInput: The engine refused the name or options.
        """
        body = {"Name": name, "Driver": driver, "DriverOpts": dict(driver_opts),
                "Labels": dict(labels)}
        _, doc = await self._request(f"create volume {name}".rstrip(), "volumes/create",
                                     "POST", data=body)
        if not isinstance(doc, dict):
            raise EngineError(f"host {self.slug}: create of volume {name} returned no document")
        return parse_volume(self.slug, doc)

    async def remove_volume(self, name: str, *, force: bool = False) -> None:
        """``DELETE /volumes/{name}`` (``force``: the engine's force, for driver-level errors;
        it does not remove a volume a container uses).

        Raises:
            NotFound: No such volume.
            Conflict: A container uses it (the engine's message names the container ids).
        """
        params = {"force": "true"} if force else None
        await self._request(f"remove volume {name}", f"volumes/{name}", "DELETE",
                            params=params)

    async def prune_volumes(self, *, all_unused: bool, label: str | None = None) -> PruneResult:
        """Remove unused volumes: anonymous ones only, or every unused one (``all_unused``);
        only those carrying ``label`` (``key`` or ``key=value``) when given.

        The same on every engine (see the module docstring): before API 1.42, anonymous-only
        is done here, removing each unused anonymous volume and summing the sizes the engine
        reported for them.
        """
        filters = prune_filters(await self.api_version(), all_unused=all_unused, label=label)
        if filters is not None:
            params = {"filters": json.dumps(filters)} if filters else None
            _, doc = await self._request("prune volumes", "volumes/prune", "POST",
                                         params=params)
            return parse_volume_prune(self.slug, doc)
        wanted = {"dangling": ["true"], **({"label": [label]} if label is not None else {})}
        names = unused_anonymous(await self._volume_docs(wanted))
        if not names:
            return PruneResult(host=self.slug, deleted=(), untagged=(), reclaimed_bytes=0)
        sizes = await self.volume_sizes()
        deleted: list[str] = []
        for name in names:
            try:
                await self.remove_volume(name)
            except (NotFound, Conflict):
                continue  # gone meanwhile, or a container started using it: not unused
            deleted.append(name)
        return PruneResult(host=self.slug, deleted=tuple(deleted), untagged=(),
                           reclaimed_bytes=sum(sizes.get(n, 0) for n in deleted))
