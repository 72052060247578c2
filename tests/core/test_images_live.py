"""Images through the core against the real engines: list filters and sorting, the containers
using an image, removal refused while in use (with and without force), bulk removal, pruning
(dangling only vs all unused, limited to this module's label so other tests' images stay),
history, tagging, disk use per repository, the offline Docker Hub search, and hosts that are
offline or unknown.

Images are built locally (``docker build`` FROM the test image, labelled); those shared by
several tests are built once per module and removed at its end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from chrontainer_core import Chrontainer, HostSpec
from chrontainer_core.errors import Conflict, InvalidInput, NotFound, RegistryUnreachable
from chrontainer_core.images import ImageFilter
from chrontainer_core.models import HostStatus

from ..images import build, container_of, drop, image_ids
from ..live import TEST_LABEL, Engine, docker, unique

pytestmark = pytest.mark.live


@dataclass(frozen=True)
class Built:
    """The module's shared images: repository ``repo`` with v1 (three layers over the base)
    and v2 (bigger) on the local engine, and ``repo:remote`` on the remote one."""

    repo: str
    v1: str
    v2: str
    remote: str


@pytest.fixture(scope="module")
async def built(clean_engines: None, local_engine: Engine,
                remote_engine: Engine) -> AsyncIterator[Built]:
    repo = f"{unique('ctimg')}/app"
    token = repo.split("/")[0]
    v1 = await build(local_engine, f"{repo}:v1", f"RUN echo {token} > /one",
                     "RUN echo two > /two")
    v2 = await build(local_engine, f"{repo}:v2",
                     f"RUN echo {token} > /one && dd if=/dev/zero of=/big bs=1024 count=300")
    remote = await build(remote_engine, f"{repo}:remote", f"RUN echo {token} > /r")
    try:
        yield Built(repo=repo, v1=v1, v2=v2, remote=remote)
    finally:
        await drop(local_engine, v1, v2)
        await drop(remote_engine, remote)


async def test_list_filters_and_sorting(library: Chrontainer, built: Built) -> None:
    images = library.images
    mine = (await images.list(ImageFilter(repository=built.repo.upper()))).items
    assert {(i.host, i.id) for i in mine} == {("local", built.v1), ("local", built.v2),
                                              ("remote", built.remote)}
    v1 = next(i for i in mine if i.id == built.v1)
    assert v1.tags == (f"{built.repo}:v1",) and v1.repository == built.repo
    assert not v1.dangling and v1.size > 0 and v1.created.tzinfo is not None

    local = await images.list(ImageFilter(host="local", repository=built.repo))
    assert {i.id for i in local.items} == {built.v1, built.v2}
    assert set(local.hosts) == {"local"} and local.hosts["local"].status is HostStatus.ONLINE
    both = await images.list(ImageFilter(repository=built.repo))
    assert set(both.hosts) == {"local", "remote"}

    tagged = await images.list(ImageFilter(repository=built.repo, tag="V2"))
    assert [i.id for i in tagged.items] == [built.v2]
    v2 = tagged.items[0]
    assert v2.size > v1.size + 300_000 - 1
    big = await images.list(ImageFilter(repository=built.repo, min_size=v2.size))
    assert [i.id for i in big.items] == [built.v2]
    small = await images.list(ImageFilter(repository=built.repo, max_size=v2.size - 1))
    assert built.v2 not in {i.id for i in small.items} and built.v1 in {i.id for i in small.items}
    assert not (await images.list(ImageFilter(repository=built.repo, dangling=True))).items

    future = datetime.now(UTC) + timedelta(days=1)
    assert not (await images.list(ImageFilter(repository=built.repo,
                                              created_after=future))).items
    recent = await images.list(ImageFilter(repository=built.repo,
                                           created_after=datetime.now(UTC) - timedelta(hours=1),
                                           created_before=future))
    assert len(recent.items) == 3

    by_size = await images.list(ImageFilter(repository=built.repo), sort="-size")
    sizes = [i.size for i in by_size.items]
    assert sizes == sorted(sizes, reverse=True) and by_size.items[0].id == built.v2
    by_tag = await images.list(ImageFilter(repository=built.repo), sort="tag")
    assert [i.tags[0].rsplit(":", 1)[1] for i in by_tag.items] == ["remote", "v1", "v2"]
    with pytest.raises(InvalidInput) as err:
        await images.list(sort="name")
    assert err.value.field == "sort"
    with pytest.raises(NotFound):
        await images.list(ImageFilter(host="nope"))


async def test_an_offline_host_does_not_fail_the_list(local_engine: Engine,
                                                      built: Built) -> None:
    async with Chrontainer.connect(hosts=[
        HostSpec(slug="local", name="Local", url=local_engine.url),
        HostSpec(slug="dead", name="Dead", url="tcp://127.0.0.1:9"),
    ]) as ch:
        listing = await ch.images.list(ImageFilter(repository=built.repo))
    assert {i.id for i in listing.items} == {built.v1, built.v2}
    assert listing.hosts["dead"].status is HostStatus.OFFLINE
    assert listing.hosts["dead"].error
    assert listing.hosts["local"].status is HostStatus.ONLINE


async def test_addressing(library: Chrontainer, built: Built) -> None:
    images = library.images
    hex_id = built.v1.removeprefix("sha256:")
    for ref in (built.v1, hex_id, hex_id[:12], f"sha256:{hex_id[:16]}", f"{built.repo}:v1",
                f"docker.io/{built.repo}:v1"):
        assert (await images.get("local", ref)).id == built.v1, ref
    with pytest.raises(NotFound):
        await images.get("local", f"{built.repo}:v9")
    with pytest.raises(NotFound):
        await images.get("local", built.repo)  # = :latest, which does not exist
    with pytest.raises(NotFound):
        await images.get("nope", f"{built.repo}:v1")
    with pytest.raises(InvalidInput):
        await images.get("local", "Not A Ref")
    inspect = await images.inspect("local", f"{built.repo}:v1")
    assert inspect["Id"] == built.v1 and inspect["Config"]["Labels"][TEST_LABEL] == "1"


async def test_history_of_a_multi_layer_image(library: Chrontainer, built: Built) -> None:
    history = await library.images.history("local", f"{built.repo}:v1")
    assert history[0].id == built.v1 and f"{built.repo}:v1" in history[0].tags
    commands = [h.created_by for h in history]
    assert any("echo two > /two" in c for c in commands)
    assert any("/one" in c for c in commands)
    # Newest first, the imported base last.
    assert history[-1].comment == "Imported from -"
    assert [h.created for h in history] == sorted((h.created for h in history), reverse=True)


async def test_in_use_image_is_refused_with_the_containers_named(
    library: Chrontainer, local_engine: Engine, built: Built
) -> None:
    images = library.images
    tag = f"{built.repo}:inuse"
    image_id = await build(local_engine, tag, f"RUN echo {unique()} > /inuse")
    made: list[str] = []
    try:
        stopped = await container_of(local_engine, tag, running=False)
        made.append(stopped)
        image = await images.get("local", tag)
        assert image.containers == (stopped,)
        listed = (await images.list(ImageFilter(host="local", repository=built.repo,
                                                tag="inuse"))).items
        assert listed[0].containers == (stopped,)
        by_count = await images.list(ImageFilter(host="local", repository=built.repo),
                                     sort="-containers")
        assert by_count.items[0].id == image_id

        with pytest.raises(Conflict) as err:
            await images.remove("local", tag)
        assert err.value.details == {"containers": [stopped]}
        assert stopped in err.value.message
        assert image_id in await image_ids(local_engine)

        running = await container_of(local_engine, tag, running=True)
        made.append(running)
        with pytest.raises(Conflict) as err:
            await images.remove("local", tag, force=True)
        assert err.value.details == {"containers": [running]}
        with pytest.raises(Conflict) as err:
            await images.remove("local", image_id)
        assert err.value.details == {"containers": sorted([running, stopped])}
        assert image_id in await image_ids(local_engine)
        entries, _ = await library.audit.list(action="image.remove")
        assert entries and entries[0].result == "error"

        # Only a stopped container left: force removes it (as `docker rmi -f` does).
        await docker(local_engine, "rm", "-f", running)
        removal = await images.remove("local", tag, force=True)
        assert removal.untagged == (tag,) and image_id in removal.deleted
        assert image_id not in await image_ids(local_engine)
    finally:
        for name in made:
            await docker(local_engine, "rm", "-f", name, check=False)
        await drop(local_engine, tag)


async def test_remove_unused_and_bulk(library: Chrontainer, local_engine: Engine,
                                      built: Built) -> None:
    images = library.images
    a, b, c = (f"{built.repo}:bulk-{n}" for n in "abc")
    ids = [await build(local_engine, ref, f"RUN echo {unique()} > /b") for ref in (a, b, c)]
    try:
        # A second tag only untags; the last one deletes.
        await docker(local_engine, "tag", a, f"{built.repo}:bulk-a2")
        first = await images.remove("local", f"{built.repo}:bulk-a2")
        assert first.untagged == (f"{built.repo}:bulk-a2",) and first.deleted == ()
        results = await images.bulk_remove([("local", a), ("local", f"{built.repo}:nope"),
                                            ("nope", b), ("local", ids[1])])
        assert [r.ok for r in results] == [True, False, False, True]
        assert ids[0] in results[0].deleted and results[0].untagged == (a,)
        assert results[1].error is not None and results[1].error["code"] == "not_found"
        assert results[2].error is not None and results[2].error["code"] == "not_found"
        assert ids[1] in results[3].deleted
        remaining = await image_ids(local_engine)
        assert ids[0] not in remaining and ids[1] not in remaining and ids[2] in remaining
    finally:
        await drop(local_engine, a, b, c)


async def test_prune_dangling_only_then_all_unused(
    library: Chrontainer, local_engine: Engine, built: Built
) -> None:
    images = library.images
    mark = f"ct.prune={unique()}"
    tag, used_tag = f"{built.repo}:prune", f"{built.repo}:prune-used"
    old = await build(local_engine, tag, f"RUN echo {unique()} > /p", label=mark)
    # Rebuilding the tag with other content leaves the old image untagged: dangling.
    new = await build(local_engine, tag, f"RUN echo {unique()} > /p", label=mark)
    used = await build(local_engine, used_tag, f"RUN echo {unique()} > /p", label=mark)
    user = ""
    try:
        user = await container_of(local_engine, used_tag, running=False)
        dangling = await images.list(ImageFilter(host="local", dangling=True))
        assert old in {i.id for i in dangling.items}
        assert next(i for i in dangling.items if i.id == old).repository == "<none>"

        result = await images.prune("local", dangling_only=True, label=mark)
        assert old in result.deleted and result.reclaimed_bytes > 0
        remaining = await image_ids(local_engine)
        assert old not in remaining and new in remaining and used in remaining

        result = await images.prune("local", dangling_only=False, label=mark)
        assert result.untagged == (tag,) and new in result.deleted
        assert result.reclaimed_bytes > 0
        remaining = await image_ids(local_engine)
        assert new not in remaining and used in remaining  # a container uses it
        assert built.v1 in remaining  # not carrying the mark: untouched
        with pytest.raises(InvalidInput) as err:
            await images.prune("local", label="=x")
        assert err.value.field == "label"
    finally:
        if user:
            await docker(local_engine, "rm", "-f", user)
        await drop(local_engine, tag, used_tag, old, new)


async def test_tag(library: Chrontainer, local_engine: Engine, built: Built) -> None:
    images = library.images
    target = f"127.0.0.1:5999/{built.repo}"
    try:
        image = await images.tag("local", f"{built.repo}:v1", target, "v7")
        assert image.id == built.v1 and f"{target}:v7" in image.tags
        assert (await images.get("local", f"{target}:v7")).id == built.v1
        before = await docker(local_engine, "images", "--format", "{{.Repository}}:{{.Tag}}")
        for repo, tag, field in ((target, "bad tag", "tag"), ("Upper/Case", "v1", "repository"),
                                 (f"{target}:v1", "v2", "repository"), (target, "", "tag")):
            with pytest.raises(InvalidInput) as err:
                await images.tag("local", built.v1, repo, tag)
            assert err.value.field == field
        after = await docker(local_engine, "images", "--format", "{{.Repository}}:{{.Tag}}")
        assert sorted(before.split()) == sorted(after.split())
        with pytest.raises(NotFound):
            await images.tag("local", f"{built.repo}:v9", target, "v8")
        entries, _ = await library.audit.list(action="image.tag")
        assert any(e.result == "ok" and f"{target}:v7" in e.target for e in entries)
    finally:
        await drop(local_engine, f"{target}:v7")


async def test_disk_usage_per_repository(library: Chrontainer, local_engine: Engine,
                                         built: Built) -> None:
    usage = await library.images.disk_usage("local")
    [mine] = [r for r in usage.repositories if r.repository == built.repo]
    v2 = await library.images.get("local", f"{built.repo}:v2")
    assert mine.images >= 2 and mine.size >= v2.size
    # Neither image is used; v2's own 300 KiB layer at least is reclaimable.
    assert mine.reclaimable >= 300 * 1024
    assert 0 < usage.reclaimable <= usage.total
    assert [r.size for r in usage.repositories] == sorted(
        (r.size for r in usage.repositories), reverse=True)
    with pytest.raises(NotFound):
        await library.images.disk_usage("nope")


async def test_hub_search_offline_is_a_clear_error(library: Chrontainer) -> None:
    with pytest.raises(RegistryUnreachable) as err:
        await library.images.search_hub("local", "nginx", limit=5)
    assert err.value.code == "registry_unreachable"
    assert err.value.message.startswith("Docker Hub is unreachable from host local: ")
    assert len(err.value.message) > len("Docker Hub is unreachable from host local: ")
    with pytest.raises(RegistryUnreachable):
        await library.images.search_hub(None, "nginx")  # the first online host
    for term, limit, field in (("", 5, "term"), ("x" * 256, 5, "term"), ("a\nb", 5, "term"),
                               ("nginx", 0, "limit"), ("nginx", 101, "limit")):
        with pytest.raises(InvalidInput) as bad:
            await library.images.search_hub("local", term, limit=limit)
        assert bad.value.field == field
