"""Images across hosts: listing with filters and sorting, addressing, inspect and history,
removal (single and bulk), tagging, pruning, disk use per repository and Docker Hub search.

Pulling is a long operation and lives with the operations (``pulls``), not here.

Addressing an image (``ref``): its full id (``sha256:<hex>``) or bare 64-hex id, then a
reference matching one of its tags or digests (``nginx`` = ``nginx:latest`` =
``docker.io/library/nginx:latest``; ``repo@sha256:...``), then a unique id prefix of at least 12
hex characters (``sha256:`` optional). The engine is then always called with the id or with the
tag/digest exactly as it listed it, never with what the user typed.

Which containers use an image comes from the container cache (it already follows every host),
never from extra engine calls per image.
"""

from __future__ import annotations

import asyncio
import builtins
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from .actor import Actor
from .audit import AuditTrail
from .containers import MIN_PREFIX, ContainerFilter, ContainerService
from .docker.events import HostWatcher
from .docker.parse import split_reference
from .errors import AmbiguousRef, ChrontainerError, Conflict, InvalidInput, NotFound
from .hosts import HostManager
from .models import (
    Container,
    ContainerState,
    HostState,
    HostStatus,
    HubSearchResult,
    Image,
    ImageDiskUsage,
    ImageHistoryEntry,
    ImageRemoval,
    PruneResult,
)
from .registries.reference import ImageReference
from .validate import check_label_filter

__all__ = [
    "SORT_KEYS",
    "BulkImageResult",
    "ImageFilter",
    "ImageListing",
    "ImageService",
    "resolve_image",
]

# Seconds a cross-host list waits for one engine's image list: a hung host must not hold up
# the others (its images are then missing and its status says why).
LIST_TIMEOUT: Final = 5.0
MAX_SEARCH_LIMIT: Final = 100
MAX_SEARCH_TERM: Final = 255
_HEX: Final = re.compile(r"^[0-9a-f]+$")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
# Containers in these states keep their image even from a forced removal (the engine refuses).
_ACTIVE: Final = frozenset({ContainerState.RUNNING, ContainerState.PAUSED,
                            ContainerState.RESTARTING})


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageFilter:
    """List filters, all optional. ``repository`` and ``tag`` are case-insensitive substrings
    of any of the image's repositories / tags; sizes are bytes (inclusive); times are aware."""

    host: str | None = None
    repository: str | None = None
    tag: str | None = None
    dangling: bool | None = None
    min_size: int | None = None
    max_size: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    def matches(self, image: Image) -> bool:
        if self.host is not None and image.host != self.host:
            return False
        if self.dangling is not None and image.dangling != self.dangling:
            return False
        if self.min_size is not None and image.size < self.min_size:
            return False
        if self.max_size is not None and image.size > self.max_size:
            return False
        if self.created_after is not None and image.created < self.created_after:
            return False
        if self.created_before is not None and image.created > self.created_before:
            return False
        if self.repository is not None:
            wanted = self.repository.lower()
            if not any(wanted in repo.lower() for repo in repositories_of(image)):
                return False
        if self.tag is not None:
            wanted = self.tag.lower()
            if not any(wanted in split_reference(t)[1].lower() for t in image.tags):
                return False
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageListing:
    """A cross-host image list and each host's status (the container listing's envelope)."""

    items: list[Image]
    hosts: dict[str, HostState]


@dataclass(frozen=True, slots=True, kw_only=True)
class BulkImageResult:
    """One item of a bulk removal: what it removed, or why it failed (``error``: code,
    message, details)."""

    host: str
    ref: str
    ok: bool
    error: dict[str, object] | None = None
    untagged: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()


def repositories_of(image: Image) -> builtins.list[str]:
    """Every repository an image is known under (from its tags and digests)."""
    repos = [split_reference(r)[0] for r in (*image.tags, *image.digests)]
    return repos or [image.repository]


def _first_tag(image: Image) -> str:
    return split_reference(image.tags[0])[1] if image.tags else ""


SORT_KEYS: Final[dict[str, Callable[[Image], Any]]] = {
    "repository": lambda i: (i.repository.lower(), _first_tag(i)),
    "tag": lambda i: (_first_tag(i), i.repository.lower()),
    "size": lambda i: i.size,
    "created": lambda i: i.created,
    "containers": lambda i: len(i.containers),
}


def _sorter(sort: str) -> tuple[Callable[[Image], Any], bool]:
    """The key function of ``sort`` (``"-size"``: descending) and whether to reverse."""
    name, reverse = (sort[1:], True) if sort.startswith("-") else (sort, False)
    key = SORT_KEYS.get(name)
    if key is None:
        raise InvalidInput(
            f"sort: unknown key {sort[:40]!r}; use one of {', '.join(SORT_KEYS)} "
            "(a leading '-' sorts descending)", field="sort")
    # host and id break ties, so equal keys keep a stable order between requests.
    return (lambda i: (key(i), i.host, i.id)), reverse


def _same_name(a: ImageReference, b: ImageReference) -> bool:
    return a.registry == b.registry and a.repository == b.repository


def _parsed(text: str) -> ImageReference | None:
    try:
        return ImageReference.parse(text)
    except InvalidInput:
        return None


def _by_reference(images: Sequence[Image], wanted: ImageReference) -> tuple[Image, str] | None:
    for image in images:
        if wanted.digest is not None:
            for digest_ref in image.digests:
                found = _parsed(digest_ref)
                if found and _same_name(found, wanted) and found.digest == wanted.digest:
                    return image, digest_ref
            continue
        for tag_ref in image.tags:
            found = _parsed(tag_ref)
            if found and _same_name(found, wanted) and found.tag == wanted.tag:
                return image, tag_ref
    return None


def resolve_image(images: Iterable[Image], ref: str) -> tuple[Image, str] | None:
    """Address an image (see the module docstring).

    Returns:
        The image and the engine's own name for what was addressed (its id, or the tag or
        digest reference exactly as the engine lists it); None when nothing matches.

    Raises:
        AmbiguousRef: An id prefix matches several images.
        InvalidInput: ``ref`` is neither an id (prefix) nor a valid reference.
    """
    pool = list(images)
    hex_part = ref.removeprefix("sha256:")
    is_hex = bool(_HEX.match(hex_part))
    if is_hex and len(hex_part) == 64:
        for image in pool:
            if image.id == f"sha256:{hex_part}":
                return image, image.id
        return None
    try:
        wanted: ImageReference | None = ImageReference.parse(ref, field="ref")
    except InvalidInput:
        if not (is_hex and len(hex_part) >= MIN_PREFIX):
            raise
        wanted = None
    if wanted is not None and (hit := _by_reference(pool, wanted)) is not None:
        return hit
    if is_hex and len(hex_part) >= MIN_PREFIX:
        hits = [i for i in pool if i.id.removeprefix("sha256:").startswith(hex_part)]
        if len(hits) > 1:
            raise AmbiguousRef(
                f"'{ref}' matches {len(hits)} images",
                details={"matches": [{"id": i.id, "tags": list(i.tags)} for i in hits]})
        if hits:
            return hits[0], hits[0].id
    return None


def _users(containers: Iterable[Container]) -> dict[str, builtins.list[Container]]:
    """Containers by the id of the image they use."""
    by_image: dict[str, builtins.list[Container]] = {}
    for c in containers:
        by_image.setdefault(c.image_id, []).append(c)
    return by_image


def _names(containers: Iterable[Container]) -> tuple[str, ...]:
    return tuple(sorted(c.name for c in containers))


def _used_by(ref: str, names: Sequence[str], reason: str = "") -> Conflict:
    listed = ", ".join(names)
    message = (f"image {ref} is used by container{'s' if len(names) > 1 else ''} {listed}: "
               f"remove {'them' if len(names) > 1 else 'it'} first")
    if reason:
        message += f" ({reason})"
    return Conflict(message, details={"containers": list(names)})


class ImageService:
    """Image operations on the engines the host manager holds; each mutating call is audited.

    Args:
        hosts: the hosts and their engines.
        audit: the audit trail.
        containers: the container service, whose cache names the containers using an image
            (without it, each host's watcher is read directly).
    """

    def __init__(self, hosts: HostManager, audit: AuditTrail, *,
                 containers: ContainerService | None = None) -> None:
        self._hosts = hosts
        self._audit = audit
        self._containers = containers

    # -- reading --------------------------------------------------------------------------------

    async def list(self, flt: ImageFilter | None = None, *,
                   sort: str = "repository") -> ImageListing:
        """The images of every host (or of ``flt.host``), filtered and sorted.

        Never fails or waits long because of one host: a host known to be offline is not
        asked, and one that does not answer within :data:`LIST_TIMEOUT` is left out; the
        ``hosts`` envelope says which and why.

        Args:
            flt: filters (see :class:`ImageFilter`).
            sort: one of :data:`SORT_KEYS`; a leading ``-`` sorts descending.

        Raises:
            InvalidInput: Unknown sort key (``field="sort"``).
            NotFound: Unknown ``flt.host``.
        """
        flt = flt or ImageFilter()
        key, reverse = _sorter(sort)
        watchers = [self._hosts.get(flt.host)] if flt.host else self._hosts.watchers()
        per_host = await asyncio.gather(*(self._host_images(w) for w in watchers))
        items = [i for images, _ in per_host for i in images if flt.matches(i)]
        items.sort(key=key, reverse=reverse)
        return ImageListing(items=items, hosts={w.slug: state
                                                for w, (_, state) in zip(watchers, per_host,
                                                                         strict=True)})

    async def _host_images(self, watcher: HostWatcher) -> tuple[builtins.list[Image], HostState]:
        state = watcher.state()
        if watcher.live and state.status is HostStatus.OFFLINE:
            return [], state
        try:
            async with asyncio.timeout(LIST_TIMEOUT):
                images = await watcher.host.list_images()
                users = _users(await self._host_containers(watcher.slug))
        except TimeoutError:
            return [], replace(state, status=HostStatus.OFFLINE,
                               error=f"host {watcher.slug}: the image list took too long")
        except ChrontainerError as err:
            return [], replace(state, status=HostStatus.OFFLINE, error=err.message)
        return [self._with_users(i, users) for i in images], watcher.state()

    async def _host_containers(self, host: str) -> builtins.list[Container]:
        if self._containers is not None:
            return (await self._containers.list(ContainerFilter(host=host))).items
        return await self._hosts.get(host).current()

    @staticmethod
    def _with_users(image: Image, users: dict[str, builtins.list[Container]]) -> Image:
        found = users.get(image.id)
        return replace(image, containers=_names(found)) if found else image

    async def _resolve(self, host: str, ref: str) -> tuple[Image, str, builtins.list[Container]]:
        """The image ``ref`` addresses on ``host``, the engine's name for it, and the
        containers (from the cache) using it."""
        watcher = self._hosts.get(host)
        hit = resolve_image(await watcher.host.list_images(), ref)
        if hit is None:
            raise NotFound(f"no image '{ref}' on host '{host}'",
                           details={"host": host, "ref": ref})
        image, engine_ref = hit
        users = _users(await self._host_containers(host)).get(image.id, [])
        return replace(image, containers=_names(users)), engine_ref, users

    async def get(self, host: str, ref: str) -> Image:
        """One image, with the containers using it.

        Raises:
            NotFound: Unknown host or image.
            AmbiguousRef: An id prefix matching several images.
            InvalidInput: ``ref`` is no id and no valid reference (``field="ref"``).
        """
        image, _, _ = await self._resolve(host, ref)
        return image

    async def inspect(self, host: str, ref: str) -> dict[str, Any]:
        """The engine's inspect document of an image, unmodified."""
        image, _, _ = await self._resolve(host, ref)
        return await self._hosts.get(host).host.inspect_image(image.id)

    async def history(self, host: str, ref: str) -> builtins.list[ImageHistoryEntry]:
        """An image's layers, newest first (``<missing>`` ids: layers pulled from a registry)."""
        image, _, _ = await self._resolve(host, ref)
        return await self._hosts.get(host).host.image_history(image.id)

    async def disk_usage(self, host: str) -> ImageDiskUsage:
        """Disk use of a host's images per repository, with what removing unused ones frees
        (the engine's ``/system/df`` numbers: see ``parse.parse_image_disk_usage``)."""
        return await self._hosts.get(host).host.image_disk_usage()

    async def search_hub(self, host: str | None, term: str, *,
                         limit: int = 25) -> builtins.list[HubSearchResult]:
        """Search Docker Hub through a host's engine (``GET /images/search``).

        Args:
            host: the host whose engine asks Docker Hub; None: the first online host.
            term: what to search for.
            limit: at most this many results (1-100).

        Raises:
            InvalidInput: Empty or overlong term, limit out of range, no host at all.
            RegistryUnreachable: The engine cannot reach Docker Hub (e.g. offline).
        """
        text = term.strip()
        if not text or len(text) > MAX_SEARCH_TERM or _CONTROL.search(text):
            raise InvalidInput(f"term: expected 1-{MAX_SEARCH_TERM} printable characters",
                               field="term")
        if not 1 <= limit <= MAX_SEARCH_LIMIT:
            raise InvalidInput(f"limit: expected 1-{MAX_SEARCH_LIMIT}", field="limit")
        slug = host if host is not None else self._default_host()
        return await self._hosts.get(slug).host.search_images(text, limit=limit)

    def _default_host(self) -> str:
        states = self._hosts.states()
        if not states:
            raise InvalidInput("host: no host is configured", field="host")
        online = [s for s in states if s.status is HostStatus.ONLINE]
        return (online or states)[0].slug

    # -- changing -------------------------------------------------------------------------------

    async def remove(self, host: str, ref: str, *, force: bool = False,
                     actor: Actor | None = None) -> ImageRemoval:
        """Remove an image, or untag it when ``ref`` is one of several tags.

        An image any container uses (running or stopped) is refused; with ``force``, only one
        a running (or paused) container uses is refused, as the engine refuses it too.

        Raises:
            Conflict: In use (``details["containers"]`` names the containers), or the engine
                refused otherwise (e.g. an id tagged in several repositories, without force).
            NotFound: Unknown host or image.
        """
        actor = actor or Actor.library()
        async with self._audit.track(actor, "image.remove", f"{host}/{ref}"):
            return await self._remove(host, ref, force=force)

    async def _remove(self, host: str, ref: str, *, force: bool) -> ImageRemoval:
        image, engine_ref, users = await self._resolve(host, ref)
        if force:
            # The cache may not have seen a start of a moment ago, and a forced removal of a
            # tag the engine would then only untag (the image stays, in use): ask the engine.
            users = await self._current(host, users)
        blocking = [c for c in users if c.state in _ACTIVE] if force else users
        if blocking:
            raise _used_by(ref, _names(blocking))
        try:
            untagged, deleted = await self._hosts.get(host).host.remove_image(engine_ref,
                                                                              force=force)
        except Conflict as err:
            # A container the cache has not seen yet (created a moment ago): name it if the
            # cache knows it by now, else pass the engine's reason on.
            names = _names(_users(await self._host_containers(host)).get(image.id, []))
            if names:
                raise _used_by(ref, names, err.message) from err
            raise Conflict(err.message, details={"containers": []}) from err
        return ImageRemoval(host=host, ref=ref, untagged=untagged, deleted=deleted)

    async def _current(self, host: str, users: Sequence[Container]) -> builtins.list[Container]:
        """``users`` as the engine sees them now (those it no longer knows are left out)."""
        engine = self._hosts.get(host).host

        async def fresh(c: Container) -> Container | None:
            if c.state in _ACTIVE:
                return c  # already blocks
            try:
                return await engine.inspect(c.id)
            except NotFound:
                return None

        found = await asyncio.gather(*(fresh(c) for c in users))
        return [c for c in found if c is not None]

    async def bulk_remove(self, targets: Sequence[tuple[str, str]], *, force: bool = False,
                          actor: Actor | None = None) -> builtins.list[BulkImageResult]:
        """Remove several images; each item succeeds or fails on its own.

        Items run one after the other: two items may name the same image (a tag and its id).
        """
        results = []
        for host, ref in targets:
            try:
                removal = await self.remove(host, ref, force=force, actor=actor)
            except ChrontainerError as err:
                results.append(BulkImageResult(
                    host=host, ref=ref, ok=False,
                    error={"code": err.code, "message": err.message, "details": err.details}))
                continue
            results.append(BulkImageResult(host=host, ref=ref, ok=True,
                                           untagged=removal.untagged, deleted=removal.deleted))
        return results

    async def tag(self, host: str, ref: str, repository: str, tag: str, *,
                  actor: Actor | None = None) -> Image:
        """Add ``repository:tag`` to an image (a tag another image had moves to this one).

        Raises:
            InvalidInput: ``field="repository"`` or ``"tag"``: not valid in an image reference.
            NotFound: Unknown host or image.
        """
        actor = actor or Actor.library()
        new_ref = _check_tag(repository, tag)
        async with self._audit.track(actor, "image.tag", f"{host}/{ref} -> {new_ref}"):
            image, _, _ = await self._resolve(host, ref)
            await self._hosts.get(host).host.tag_image(image.id, repository, tag)
            return await self.get(host, new_ref)

    async def prune(self, host: str, *, dangling_only: bool = False, label: str | None = None,
                    actor: Actor | None = None) -> PruneResult:
        """Remove unused images on a host: only dangling ones, or every image no container
        uses (the default, like ``docker image prune -a``).

        Args:
            host: host slug.
            dangling_only: only untagged images.
            label: only images carrying this label (``key`` or ``key=value``).
            actor: who asked (audit).

        Raises:
            NotFound: Unknown host.
            InvalidInput: A malformed label (``field="label"``).
            HostUnreachable: The engine did not answer.
        """
        actor = actor or Actor.library()
        check_label_filter(label)
        engine = self._hosts.get(host).host
        async with self._audit.track(actor, "host.prune_images", host):
            return await engine.prune_images(dangling_only=dangling_only, label=label)


def _check_tag(repository: str, tag: str) -> str:
    """Validate a new tag with the reference grammar; returns ``repository:tag``."""
    ImageReference.parse(repository, field="repository")
    if split_reference(repository)[1]:
        raise InvalidInput("repository: give the repository without a tag or digest "
                           "(the tag is its own field)", field="repository")
    if not tag or ":" in tag or "/" in tag or "@" in tag:
        raise InvalidInput(f"tag: {tag[:80]!r} is not a valid tag (letters, digits, _ . -; "
                           "up to 128, not starting with . or -)", field="tag")
    ImageReference.parse(f"{repository}:{tag}", field="tag")
    return f"{repository}:{tag}"

