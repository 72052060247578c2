"""Volumes against the real engines: create with driver options and labels, the list's fields
(size from disk use, containers using a volume), removal refused while a container uses it,
prune of anonymous volumes only vs every unused one (on both engines, always restricted to
this test's own label: the engines are shared), the remote host, an offline host in the
envelope, and bad input (clear errors, nothing changed)."""

from __future__ import annotations

import pytest

from chrontainer_core import Chrontainer
from chrontainer_core.errors import Conflict, InvalidInput, NotFound
from chrontainer_core.models import HostSpec, HostStatus
from chrontainer_core.volumes.service import VolumeFilter

from ..live import TEST_LABEL, Engine, docker, run_container, unique
from ..live import test_image as image_name

pytestmark = pytest.mark.live

LABELS = {TEST_LABEL: "1"}


async def volume_names(engine: Engine) -> set[str]:
    return set((await docker(engine, "volume", "ls", "-q")).split())


async def fill(engine: Engine, volume: str, kib: int) -> None:
    """Write ``kib`` KiB of random bytes into ``volume`` with a throwaway labelled container."""
    network = ["--network", engine.network] if engine.network else []
    await docker(engine, "run", "--rm", "--label", f"{TEST_LABEL}=1", *network,
                 "-v", f"{volume}:/d", image_name(), "sh", "-c",
                 f"dd if=/dev/urandom of=/d/blob bs=1024 count={kib} 2>/dev/null")


async def test_create_with_driver_options_and_labels_and_list_fields(
        library: Chrontainer, local_engine: Engine) -> None:
    volumes = library.volumes
    tmpfs, plain = unique("ctvol"), unique("ctvol")
    created = await volumes.create(
        "local", name=tmpfs, driver="local",
        driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"},
        labels={**LABELS, "purpose": "a tmpfs test"})
    assert created.name == tmpfs and created.driver == "local" and not created.anonymous
    assert created.options == {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
    assert created.labels == {**LABELS, "purpose": "a tmpfs test"}
    await volumes.create("local", name=plain, labels=LABELS)
    await fill(local_engine, plain, 300)

    listing = await volumes.list(VolumeFilter(host="local", name=tmpfs[:-2].upper()))
    assert [v.name for v in listing.items] == [tmpfs]
    listed = listing.items[0]
    assert listed.mountpoint.endswith(f"/{tmpfs}/_data") and listed.created is not None
    assert listed.labels["purpose"] == "a tmpfs test" and listed.options["type"] == "tmpfs"
    assert listing.hosts["local"].status is HostStatus.ONLINE

    filled = await volumes.get("local", plain)
    assert filled.size is not None and filled.size >= 300 * 1024
    assert filled.containers == ()  # the writer was removed (--rm)
    by_size = await volumes.list(VolumeFilter(host="local", name="ctvol-"), sort="-size")
    names = [v.name for v in by_size.items]
    assert names.index(plain) < names.index(tmpfs)

    entries, _ = await library.audit.list(action="volume.create")
    assert {e.target for e in entries} >= {f"local/{tmpfs}", f"local/{plain}"}

    # An existing name is refused before the engine (which would return the old volume).
    with pytest.raises(Conflict):
        await volumes.create("local", name=tmpfs, labels={"other": "1"})
    assert (await volumes.get("local", tmpfs)).labels == created.labels


async def test_generated_name(library: Chrontainer, local_engine: Engine) -> None:
    created = await library.volumes.create("local", labels=LABELS)
    assert created.anonymous and len(created.name) == 64
    assert created.name in await volume_names(local_engine)
    entries, _ = await library.audit.list(action="volume.create")
    assert entries[0].target == f"local/{created.name}"


async def test_in_use_volume_is_not_removed(library: Chrontainer, local_engine: Engine) -> None:
    volumes = library.volumes
    name = unique("ctvol")
    await volumes.create("local", name=name, labels=LABELS)
    # A stopped container counts as a user.
    cid, cname = await run_container(local_engine, start=False, options=("-v", f"{name}:/d"))
    assert (await volumes.get("local", name)).containers == (cname,)
    in_use = await volumes.list(VolumeFilter(host="local", name=name, in_use=True))
    assert [v.containers for v in in_use.items] == [(cname,)]
    assert (await volumes.list(VolumeFilter(host="local", name=name, in_use=False))).items == []

    for force in (False, True):
        with pytest.raises(Conflict) as err:
            await volumes.remove("local", name, force=force)
        assert err.value.message == f"volume {name} is in use by {cname}"
        assert err.value.details == {"containers": [cname]}
        assert name in await volume_names(local_engine)
    entries, _ = await library.audit.list(action="volume.remove")
    assert entries[0].result == "error" and entries[0].target == f"local/{name}"

    await docker(local_engine, "rm", "-f", cid)
    await volumes.remove("local", name)
    assert name not in await volume_names(local_engine)
    with pytest.raises(NotFound):
        await volumes.get("local", name)
    with pytest.raises(NotFound):
        await volumes.remove("local", name)


@pytest.mark.parametrize("engine_fixture", ["local_engine", "remote_engine"])
async def test_prune_anonymous_only_then_every_unused(
        library: Chrontainer, engine_fixture: str, request: pytest.FixtureRequest) -> None:
    engine: Engine = request.getfixturevalue(engine_fixture)
    volumes = library.volumes
    token = unique("prune")
    label = f"chrontainer.test.prune={token}"
    labels = ["--label", f"{TEST_LABEL}=1", "--label", label]
    anonymous = await docker(engine, "volume", "create", *labels)
    used_anonymous = await docker(engine, "volume", "create", *labels)
    named = await docker(engine, "volume", "create", *labels, unique("ctvol"))
    other = await docker(engine, "volume", "create", "--label", f"{TEST_LABEL}=1",
                         unique("ctvol"))  # not carrying this test's label: never touched
    await fill(engine, anonymous, 64)
    await run_container(engine, start=False, options=("-v", f"{used_anonymous}:/d"))

    result = await volumes.prune(engine.slug, label=label)
    assert result.deleted == (anonymous,) and result.host == engine.slug
    assert result.reclaimed_bytes >= 64 * 1024
    left = await volume_names(engine)
    assert anonymous not in left and {used_anonymous, named, other} <= left

    result = await volumes.prune(engine.slug, all_unused=True, label=label)
    assert result.deleted == (named,)
    left = await volume_names(engine)
    assert named not in left and {used_anonymous, other} <= left

    again = await volumes.prune(engine.slug, all_unused=True, label=label)
    assert again.deleted == () and again.reclaimed_bytes == 0
    entries, _ = await library.audit.list(action="volume.prune")
    assert entries[0].target == engine.slug and entries[0].result == "ok"


async def test_remote_host_and_cross_host_list(library: Chrontainer,
                                               remote_engine: Engine) -> None:
    volumes = library.volumes
    name = unique("ctvol")
    await volumes.create("remote", name=name, labels=LABELS)
    await fill(remote_engine, name, 16)
    everywhere = await volumes.list(VolumeFilter(name=name))
    assert [(v.host, v.name) for v in everywhere.items] == [("remote", name)]
    assert set(everywhere.hosts) == {"local", "remote"}
    assert everywhere.items[0].size is not None and everywhere.items[0].size >= 16 * 1024
    assert (await volumes.list(VolumeFilter(host="local", name=name))).items == []
    assert (await volumes.get("remote", name)).host == "remote"
    with pytest.raises(NotFound):
        await volumes.get("local", name)
    await volumes.remove("remote", name)
    assert name not in await volume_names(remote_engine)


async def test_an_offline_host_does_not_fail_the_list(clean_engines: None,
                                                      local_engine: Engine) -> None:
    name = unique("ctvol")
    await docker(local_engine, "volume", "create", "--label", f"{TEST_LABEL}=1", name)
    async with Chrontainer.connect(hosts=[
        HostSpec(slug="local", name="Local", url=local_engine.url),
        HostSpec(slug="dead", name="Dead", url="tcp://127.0.0.1:9"),
    ]) as ch:
        listing = await ch.volumes.list(VolumeFilter(name=name))
    assert [v.name for v in listing.items] == [name]
    assert listing.hosts["dead"].status is HostStatus.OFFLINE and listing.hosts["dead"].error
    assert listing.hosts["local"].status is HostStatus.ONLINE


async def test_bad_input_changes_nothing(library: Chrontainer, local_engine: Engine) -> None:
    volumes = library.volumes
    before = await volume_names(local_engine)
    name = unique("ctvol")
    cases = [
        ({"name": "bad name"}, "name"),
        ({"name": "-dash"}, "name"),
        ({"name": "../escape"}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": name, "driver": "no such/"}, "driver"),
        ({"name": name, "driver": "nosuchdriver"}, "driver"),  # the engine has no such plugin
        ({"name": name, "labels": {"a=b": "1"}}, "labels"),
        ({"name": name, "labels": {"a": "line\nbreak"}}, "labels"),
        ({"name": name, "driver_opts": {"": "x"}}, "driver_opts"),
    ]
    for kwargs, field in cases:
        with pytest.raises(InvalidInput) as err:
            await volumes.create("local", **kwargs)  # type: ignore[arg-type]
        assert err.value.field == field, kwargs
    assert await volume_names(local_engine) == before
    with pytest.raises(NotFound):
        await volumes.create("nope", name=name)
    with pytest.raises(NotFound):
        await volumes.get("nope", name)
    with pytest.raises(NotFound):
        await volumes.list(VolumeFilter(host="nope"))
    with pytest.raises(InvalidInput) as err:
        await volumes.list(sort="bogus")
    assert err.value.field == "sort"
    with pytest.raises(InvalidInput) as err:
        await volumes.get("local", "a/b")
    assert err.value.field == "name"
    with pytest.raises(InvalidInput) as err:
        await volumes.prune("local", label="=nokey")
    assert err.value.field == "label"
    assert await volume_names(local_engine) == before
