"""Container tags and web-UI links: what users attach to a container key (daemon mode only).

A tag is a name and a ``#rrggbb`` colour; a container key carries any number of tags and at most
one web-UI link (http or https). Both refer to containers by host slug + container key (DESIGN
§3a), never by container id, so they survive ``docker rm`` + ``docker run`` with the same name;
a rename (through Chrontainer or the docker CLI, seen as :class:`ContainerRenamed`) moves them
to the new key (:meth:`TagService.move_key`, called by the runtime's
:class:`~chrontainer_core.renames.RenameFollower`).

Everything is held in memory (one daemon per database; hundreds of rows at most), so reads are
dict lookups cheap enough for a 200-row container list: :meth:`TagService.tags`,
:meth:`TagService.meta` and the prebuilt JSON forms. A write goes to the database in one
transaction, then to memory, then publishes :class:`ContainerMetaChanged` for each affected key.
Every write is audited.

The voluptuous validators (:class:`TagName`, :class:`Colour`, :class:`WebUrl`, :data:`TAG_IDS`)
are shared with the HTTP API's schemas, so both refuse the same input.

Example::

    tag = await ch.tags.create("media", "#1E88E5", actor=actor)       # colour -> "#1e88e5"
    await ch.tags.set_tags("local", "jellyfin", [tag.id], actor=actor)
    await ch.tags.set_link("local", "jellyfin", "http://nas:8096", actor=actor)
    ch.tags.meta("local", "jellyfin").web_url                          # "http://nas:8096"
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

import voluptuous as vol
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from .actor import Actor
from .audit import AuditTrail
from .bus import Bus, ContainerMetaChanged, ContainerRenamed
from .errors import Conflict, InvalidInput, NotFound
from .models import Container, ContainerMeta, Tag
from .serialize import to_jsonable
from .store.db import Database
from .store.tables import ContainerLinkRow, ContainerTagRow, TagRow, utc_now
from .tag_rules import TAG_IDS, Colour, TagName, WebUrl
from .validate import format_path

__all__ = ["TagService"]

log = logging.getLogger(__name__)

Key = tuple[str, str]  # (host slug, container key)
Resolve = Callable[[str, str], Awaitable[Container]]
# The JSON form of a key's meta in a container list: (tags, web_url); shared, never mutated.
MetaJson = tuple[list[dict[str, Any]], str | None]
_NO_META_JSON: Final[MetaJson] = ([], None)


def _check(validator: Callable[[Any], Any], value: object, field: str) -> Any:
    """Run a validator; a failure becomes InvalidInput naming ``field``."""
    try:
        return validator(value)
    except vol.Invalid as err:
        path = format_path([field, *err.path])
        raise InvalidInput(f"{path}: {err.msg}", field=path) from err


def _fold(name: str) -> str:
    return name.casefold()


class TagService:
    """Tags and web-UI links by container key, in memory and in the database.

    Args:
        db: The database holding the tags, container_tags and container_links tables.
        audit: Where every write is recorded.
        bus: Where :class:`ContainerMetaChanged` is published.
        resolve: Resolves ``(host, ref)`` to a container (``ContainerService.get``): it decides
            unknown hosts and refs (NotFound) and ambiguous refs.
    """

    def __init__(self, db: Database, *, audit: AuditTrail, bus: Bus, resolve: Resolve) -> None:
        self._db = db
        self._audit = audit
        self._bus = bus
        self._resolve = resolve
        # One writer at a time: the uniqueness check, the transaction and the memory update of
        # one write must not interleave with another's.
        self._lock = asyncio.Lock()
        self._tags: dict[int, Tag] = {}
        self._tagged: dict[Key, frozenset[int]] = {}
        self._links: dict[Key, str] = {}
        # Read-side views of the three maps above, rebuilt by _rebuild() after every change.
        self._sorted: list[Tag] = []
        self._carriers: dict[int, frozenset[Key]] = {}
        self._keys_by_name: dict[str, frozenset[Key]] = {}
        self._meta: dict[Key, ContainerMeta] = {}
        self._meta_json: dict[Key, MetaJson] = {}

    # -- reading (synchronous: memory only) ---------------------------------------------------

    def tags(self) -> list[Tag]:
        """Every tag, sorted by name (case-insensitively)."""
        return list(self._sorted)

    def get(self, tag_id: int) -> Tag:
        """One tag.

        Raises:
            NotFound: No tag has this id.
        """
        tag = self._tags.get(tag_id)
        if tag is None:
            raise NotFound(f"no tag {tag_id}", details={"id": tag_id})
        return tag

    def meta(self, host: str, key: str) -> ContainerMeta:
        """The tags (sorted by name) and web-UI link of a container key."""
        return self._meta.get((host, key)) or ContainerMeta(host=host, key=key)

    def meta_json(self, host: str, key: str) -> MetaJson:
        """``(tags JSON, web_url)`` of a container key, prebuilt; shared: never mutate it."""
        return self._meta_json.get((host, key), _NO_META_JSON)

    def keys_tagged(self, name: str) -> frozenset[Key]:
        """The ``(host, key)`` pairs carrying the tag named ``name`` (case-insensitive, exact);
        empty for an unknown name."""
        return self._keys_by_name.get(_fold(name), frozenset())

    def carriers(self, tag_id: int) -> frozenset[Key]:
        """The ``(host, key)`` pairs carrying a tag (keys of removed containers included)."""
        return self._carriers.get(tag_id, frozenset())

    # -- lifecycle ----------------------------------------------------------------------------

    async def load(self) -> None:
        """Read every tag, container tag and link into memory (at start)."""
        async with self._db.session() as session:
            tag_rows = (await session.scalars(select(TagRow))).all()
            tagged_rows = (await session.scalars(select(ContainerTagRow))).all()
            link_rows = (await session.scalars(select(ContainerLinkRow))).all()
        self._tags = {r.id: Tag(id=r.id, name=r.name, colour=r.colour) for r in tag_rows}
        tagged: dict[Key, set[int]] = {}
        for r in tagged_rows:
            tagged.setdefault((r.host, r.container_key), set()).add(r.tag_id)
        self._tagged = {k: frozenset(v) for k, v in tagged.items()}
        self._links = {(r.host, r.container_key): r.url for r in link_rows}
        self._rebuild()

    # -- writing ------------------------------------------------------------------------------

    async def create(self, name: str, colour: str, *, actor: Actor | None = None) -> Tag:
        """Create a tag.

        Raises:
            InvalidInput: A bad name or colour (``field`` names it).
            Conflict: The name is taken (case-insensitively).
        """
        name = _check(TagName(), name, "name")
        colour = _check(Colour(), colour, "colour")
        async with self._audit.track(actor or Actor.library(), "tag.create", name), self._lock:
            self._check_free(name)
            try:
                async with self._db.session() as session:
                    row = TagRow(name=name, colour=colour, created_at=utc_now())
                    session.add(row)
                    await session.flush()
                    tag = Tag(id=row.id, name=name, colour=colour)
            except IntegrityError as err:
                raise Conflict(f"a tag named '{name}' exists", details={"field": "name"}) from err
            self._tags[tag.id] = tag
            self._rebuild()
        return tag

    async def update(self, tag_id: int, *, name: str | None = None, colour: str | None = None,
                     actor: Actor | None = None) -> Tag:
        """Rename a tag and/or change its colour; every key carrying it is told.

        Raises:
            InvalidInput: A bad name or colour.
            NotFound: No tag has this id.
            Conflict: The new name is another tag's (case-insensitively).
        """
        new_name = _check(TagName(), name, "name") if name is not None else None
        new_colour = _check(Colour(), colour, "colour") if colour is not None else None
        async with self._audit.track(actor or Actor.library(), "tag.update",
                                     f"tag/{tag_id}") as scope, self._lock:
            old = self.get(tag_id)
            scope.target = old.name
            tag = Tag(id=tag_id, name=new_name or old.name, colour=new_colour or old.colour)
            if tag == old:
                return tag
            if _fold(tag.name) != _fold(old.name):
                self._check_free(tag.name)
            try:
                async with self._db.session() as session:
                    await session.execute(update(TagRow).where(TagRow.id == tag_id)
                                          .values(name=tag.name, colour=tag.colour))
            except IntegrityError as err:
                raise Conflict(f"a tag named '{tag.name}' exists",
                               details={"field": "name"}) from err
            self._tags[tag_id] = tag
            self._rebuild()
        self._publish(self.carriers(tag_id))
        return tag

    async def delete(self, tag_id: int, *, actor: Actor | None = None) -> None:
        """Delete a tag; it disappears from every container carrying it.

        Raises:
            NotFound: No tag has this id.
        """
        async with self._audit.track(actor or Actor.library(), "tag.delete",
                                     f"tag/{tag_id}") as scope, self._lock:
            scope.target = self.get(tag_id).name
            affected = self.carriers(tag_id)
            async with self._db.session() as session:
                # Explicit, not left to ON DELETE CASCADE: SQLite enforces it only per connection.
                await session.execute(delete(ContainerTagRow)
                                      .where(ContainerTagRow.tag_id == tag_id))
                await session.execute(delete(TagRow).where(TagRow.id == tag_id))
            del self._tags[tag_id]
            for key in affected:
                self._set_memory_tags(key, self._tagged.get(key, frozenset()) - {tag_id})
            self._rebuild()
        self._publish(affected)

    async def set_tags(self, host: str, ref: str, tag_ids: Iterable[int], *,
                       actor: Actor | None = None) -> ContainerMeta:
        """Replace the tag set of a container's key (an empty list clears it).

        Args:
            host: Host slug.
            ref: Container ref (§3a); the tags go to its stable key.
            tag_ids: The ids of every tag it should carry.
            actor: Who asked.

        Raises:
            InvalidInput: Not a list of tag ids, or too many.
            NotFound: An unknown host, container or tag id.
            AmbiguousRef: ``ref`` matches several containers.
        """
        ids = frozenset(_check(TAG_IDS, list(tag_ids), "tags"))
        async with self._audit.track(actor or Actor.library(), "container.set_tags",
                                     f"{host}/{ref}") as scope:
            c = await self._resolve(host, ref)
            key = (host, c.key)
            scope.target = f"{host}/{c.key}"
            async with self._lock:
                unknown = sorted(ids - self._tags.keys())
                if unknown:
                    raise NotFound(f"no tag {unknown[0]}",
                                   details={"field": "tags", "ids": unknown})
                if ids == self._tagged.get(key, frozenset()):
                    return self.meta(*key)
                async with self._db.session() as session:
                    await session.execute(delete(ContainerTagRow).where(
                        ContainerTagRow.host == host, ContainerTagRow.container_key == c.key))
                    session.add_all(ContainerTagRow(host=host, container_key=c.key, tag_id=i)
                                    for i in ids)
                self._set_memory_tags(key, ids)
                self._rebuild()
        self._publish([key])
        return self.meta(*key)

    async def set_link(self, host: str, ref: str, url: str | None, *,
                       actor: Actor | None = None) -> ContainerMeta:
        """Set (or, with None, clear) the web-UI link of a container's key.

        Raises:
            InvalidInput: Not an http(s) URL with a host (see :class:`WebUrl`).
            NotFound: An unknown host or container.
            AmbiguousRef: ``ref`` matches several containers.
        """
        url = _check(WebUrl(), url, "url") if url is not None else None
        async with self._audit.track(actor or Actor.library(), "container.set_link",
                                     f"{host}/{ref}") as scope:
            c = await self._resolve(host, ref)
            key = (host, c.key)
            scope.target = f"{host}/{c.key}"
            async with self._lock:
                if url == self._links.get(key):
                    return self.meta(*key)
                async with self._db.session() as session:
                    if url is None:
                        await session.execute(delete(ContainerLinkRow).where(
                            ContainerLinkRow.host == host,
                            ContainerLinkRow.container_key == c.key))
                    else:
                        # merge: update the key's row when there is one, insert it otherwise.
                        await session.merge(ContainerLinkRow(host=host, container_key=c.key,
                                                             url=url, updated_at=utc_now()))
                if url is None:
                    self._links.pop(key, None)
                else:
                    self._links[key] = url
                self._rebuild()
        self._publish([key])
        return self.meta(*key)

    async def move_key(self, event: ContainerRenamed) -> None:
        """Move a renamed key's tags and link to its new key, replacing what the new key had.

        The new key may carry leftovers of a removed container of that name; the renamed
        container brings its own tags along, as a user expects.
        """
        old, new = (event.host, event.old_key), (event.host, event.new_key)
        if old not in self._tagged and old not in self._links:
            return
        async with self._audit.track(Actor.system(), "container.move_meta",
                                     f"{event.host}/{event.new_key}"), self._lock:
            async with self._db.session() as session:
                tags, links = ContainerTagRow, ContainerLinkRow
                await session.execute(delete(tags).where(
                    tags.host == event.host, tags.container_key == event.new_key))
                await session.execute(delete(links).where(
                    links.host == event.host, links.container_key == event.new_key))
                await session.execute(update(tags).where(
                    tags.host == event.host, tags.container_key == event.old_key,
                ).values(container_key=event.new_key))
                await session.execute(update(links).where(
                    links.host == event.host, links.container_key == event.old_key,
                ).values(container_key=event.new_key))
            self._set_memory_tags(new, self._tagged.pop(old, frozenset()))
            link = self._links.pop(old, None)
            if link is None:
                self._links.pop(new, None)
            else:
                self._links[new] = link
            self._rebuild()
        log.info("host %s: tags and link of %s moved to %s", event.host, event.old_key,
                 event.new_key)
        self._publish([old, new])

    # -- helpers ------------------------------------------------------------------------------

    def _check_free(self, name: str) -> None:
        folded = _fold(name)
        if any(_fold(t.name) == folded for t in self._tags.values()):
            raise Conflict(f"a tag named '{name}' exists", details={"field": "name"})

    def _set_memory_tags(self, key: Key, ids: frozenset[int]) -> None:
        if ids:
            self._tagged[key] = ids
        else:
            self._tagged.pop(key, None)

    def _publish(self, keys: Iterable[Key]) -> None:
        for host, key in sorted(set(keys)):
            self._bus.publish(ContainerMetaChanged(host=host, key=key))

    def _rebuild(self) -> None:
        """Recompute the read-side views from the base maps (after load and every write).

        Whole rebuilds keep the views trivially consistent; with hundreds of rows they cost
        less than the database write that precedes them.
        """
        self._sorted = sorted(self._tags.values(), key=lambda t: (_fold(t.name), t.id))
        rank = {t.id: i for i, t in enumerate(self._sorted)}
        tag_json = {t.id: to_jsonable(t) for t in self._sorted}
        carriers: dict[int, set[Key]] = {}
        for key, ids in self._tagged.items():
            for i in ids:
                carriers.setdefault(i, set()).add(key)
        self._carriers = {i: frozenset(keys) for i, keys in carriers.items()}
        self._keys_by_name = {_fold(self._tags[i].name): keys
                              for i, keys in self._carriers.items()}
        self._meta = {}
        self._meta_json = {}
        for key in self._tagged.keys() | self._links.keys():
            ordered = sorted(self._tagged.get(key, ()), key=rank.__getitem__)
            url = self._links.get(key)
            self._meta[key] = ContainerMeta(host=key[0], key=key[1], web_url=url,
                                            tags=tuple(self._tags[i] for i in ordered))
            self._meta_json[key] = ([tag_json[i] for i in ordered], url)
