"""Safe container updates against the real engine and a real local registry (issue 9).

Each test publishes a v1 image to the session's plain registry, runs a container from the
registry reference, publishes a v2 under the same tag, and updates (or checks) through the
daemon-mode runtime.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chrontainer_core import Chrontainer
from chrontainer_core.errors import Conflict, RegistryUnreachable, UpdateFailed
from chrontainer_core.models import BulkTarget
from chrontainer_core.scheduling.jobs import (
    RunResult,
    Schedule,
    ScheduleAction,
    Target,
    TargetKind,
    Trigger,
    TriggerKind,
)
from chrontainer_core.updates.models import JournalStatus, UpdateState

from ..images import build
from ..live import TEST_LABEL, Engine, docker, free_port, unique, wait_for
from ..registry import TestRegistry

pytestmark = pytest.mark.usefixtures("clean_engines")


@pytest.fixture
async def daemon(daemon: Chrontainer) -> Chrontainer:
    """The daemon of tests/conftest.py with a 1 s grace period (an update of a container
    without a healthcheck waits all of it) and no scheduled check during a test."""
    assert daemon.settings is not None
    await daemon.settings.update({"update_grace_seconds": 1, "update_check_cron": ""})
    return daemon


async def publish(engine: Engine, registry: TestRegistry, repo: str, tag: str,
                  *steps: str) -> str:
    """Build an image FROM the test image with ``steps`` and push it as ``repo:tag``."""
    local = f"ct-upd/{unique('img')}:1"
    await build(engine, local, *steps)
    try:
        return await registry.push(engine, local, repo, tag)
    finally:
        await docker(engine, "rmi", local, check=False)


async def run_from(engine: Engine, image: str, *options: str, name: str | None = None) -> str:
    """Pull ``image`` and run a labelled container of it; returns its name."""
    name = name or unique("upd")
    await docker(engine, "pull", "-q", image)
    await docker(engine, "run", "-d", "--name", name, "--label", f"{TEST_LABEL}=1",
                 "--stop-timeout", "1", *options, image)
    return name


async def inspect(engine: Engine, ref: str) -> dict[str, Any]:
    doc = json.loads(await docker(engine, "inspect", ref))
    return dict(doc[0])


async def named(engine: Engine, prefix: str) -> list[str]:
    """Names of every container whose name starts with ``prefix`` (transient ones too)."""
    out = await docker(engine, "ps", "-a", "--format", "{{.Names}}")
    return sorted(n for n in out.split() if n.startswith(prefix))


def manifest_requests(registry: TestRegistry, repo: str) -> int:
    needle = re.compile(rf'"(?:HEAD|GET) /v2/{re.escape(repo)}/manifests/')
    return sum(bool(needle.search(line))
               for line in registry.log_path.read_text(errors="replace").splitlines())


def endpoints(doc: dict[str, Any]) -> dict[str, tuple[list[str], Any]]:
    """Each network's aliases (without the engine's short-id alias) and IPAM config."""
    short = doc["Id"][:12]
    return {net: (sorted(a for a in ep.get("Aliases") or () if a != short),
                  ep.get("IPAMConfig"))
            for net, ep in doc["NetworkSettings"]["Networks"].items()}


async def test_update_applies_v2_defaults_and_keeps_every_user_setting(
        daemon: Chrontainer, local_engine: Engine, plain_registry: TestRegistry) -> None:
    repo = unique("app")
    ref = await publish(local_engine, plain_registry, repo, "stable",
                        "ENV A=1 B=2", "LABEL x=1", 'CMD ["sleep", "3600"]')
    nets = [unique("unet"), unique("unet")]
    octet = free_port() % 200 + 20
    subnets = [f"172.29.{octet}.0/24", f"172.28.{octet}.0/24"]
    for net, subnet in zip(nets, subnets, strict=True):
        await docker(local_engine, "network", "create", "--label", f"{TEST_LABEL}=1",
                     "--subnet", subnet, net)
    try:
        name = await run_from(
            local_engine, ref, "-e", "B=3", "-e", "C=4", "--label", "y=2",
            "--restart", "unless-stopped", "--memory", "64m", "--network", nets[0],
            "--ip", f"172.29.{octet}.10", "--network-alias", "web-a")
        await docker(local_engine, "network", "connect", "--alias", "web-b", "--ip",
                     f"172.28.{octet}.10", nets[1], name)
        before = await inspect(local_engine, name)
        await publish(local_engine, plain_registry, repo, "stable",
                      "ENV A=9 B=2", "LABEL x=2", 'CMD ["sleep", "7200"]')
        await wait_for(lambda: any(c.name == name for c in
                                   daemon.hosts.get(local_engine.slug).containers()))

        summary = await daemon.updates.check(targets=[BulkTarget(host=local_engine.slug,
                                                                 ref=name)])
        status = daemon.updates.status(local_engine.slug, name)
        assert summary.available == 1, status
        assert status is not None and status.state is UpdateState.AVAILABLE

        outcome = await daemon.updates.update_now(local_engine.slug, name)
        assert outcome.updated and outcome.container_id != before["Id"]
        after = await inspect(local_engine, name)
        assert after["Id"] == outcome.container_id and after["State"]["Running"]
        env = after["Config"]["Env"]
        assert {"A=9", "B=3", "C=4"} <= set(env) and "A=1" not in env
        assert after["Config"]["Labels"]["x"] == "2" and after["Config"]["Labels"]["y"] == "2"
        assert after["Config"]["Cmd"] == ["sleep", "7200"]
        assert after["HostConfig"] == before["HostConfig"]
        assert endpoints(after) == endpoints(before)
        assert await named(local_engine, name) == [name]  # the old one and no leftovers gone
        # Its key kept its status, now current.
        await wait_for(lambda: (s := daemon.updates.status(local_engine.slug, name)) is not None
                       and s.state is UpdateState.UP_TO_DATE, what="re-check after update")
        entries, _ = await daemon.updates.history(host=local_engine.slug)
        assert entries[0].name == name and entries[0].status is JournalStatus.DONE
    finally:
        await docker(local_engine, "rm", "-f", name, check=False)
        for net in nets:
            await docker(local_engine, "network", "rm", net, check=False)


async def test_unreachable_registry_leaves_the_container_untouched(
        daemon: Chrontainer, local_engine: Engine) -> None:
    image = f"127.0.0.1:{free_port()}/{unique('gone')}:v1"
    await docker(local_engine, "tag", "chrontainer-test/busybox:latest", image)
    name = unique("upd")
    try:
        await docker(local_engine, "run", "-d", "--name", name, "--label", f"{TEST_LABEL}=1",
                     "--network", "none", image, "sleep", "3600")
        before = await inspect(local_engine, name)
        await wait_for(lambda: any(c.name == name for c in
                                   daemon.hosts.get(local_engine.slug).containers()))
        with pytest.raises(RegistryUnreachable) as caught:
            await daemon.updates.update_now(local_engine.slug, name)
        assert "unreachable" in caught.value.message
        after = await inspect(local_engine, name)
        assert after["Id"] == before["Id"] and after["State"]["Running"]
        assert await named(local_engine, name) == [name]
        summary = await daemon.updates.check(targets=[BulkTarget(host=local_engine.slug,
                                                                 ref=name)])
        assert summary.errors == 0 and summary.local == 1  # never pulled: no RepoDigest
    finally:
        await docker(local_engine, "rm", "-f", name, check=False)
        await docker(local_engine, "rmi", image, check=False)


async def test_unhealthy_v2_is_rolled_back_to_v1_under_its_name(
        daemon: Chrontainer, local_engine: Engine, plain_registry: TestRegistry) -> None:
    repo = unique("hc")
    ref = await publish(local_engine, plain_registry, repo, "stable",
                        'CMD ["sleep", "3600"]')
    name = await run_from(local_engine, ref, "--network", "none")
    try:
        before = await inspect(local_engine, name)
        await publish(local_engine, plain_registry, repo, "stable", 'CMD ["sleep", "3600"]',
                      "HEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD false")
        assert daemon.settings is not None
        await daemon.settings.update({"update_grace_seconds": 60})
        await wait_for(lambda: any(c.name == name for c in
                                   daemon.hosts.get(local_engine.slug).containers()))
        with pytest.raises(UpdateFailed) as caught:
            await daemon.updates.update_now(local_engine.slug, name)
        assert caught.value.details["rolled_back"] is True
        assert "unhealthy" in caught.value.message
        after = await inspect(local_engine, name)
        assert after["Id"] == before["Id"] and after["State"]["Running"]
        assert after["Image"] == before["Image"]
        assert await named(local_engine, name) == [name]
        entries, _ = await daemon.updates.history(host=local_engine.slug)
        assert entries[0].status is JournalStatus.ROLLED_BACK
    finally:
        await docker(local_engine, "rm", "-f", name, check=False)


async def test_three_containers_on_one_image_make_one_registry_request(
        daemon: Chrontainer, local_engine: Engine, plain_registry: TestRegistry) -> None:
    repo = unique("three")
    ref = await publish(local_engine, plain_registry, repo, "v1", 'CMD ["sleep", "3600"]')
    names = [await run_from(local_engine, ref, "--network", "none") for _ in range(3)]
    try:
        await wait_for(lambda: {c.name for c in daemon.hosts.get(local_engine.slug)
                                .containers()} >= set(names))
        before = manifest_requests(plain_registry, repo)
        summary = await daemon.updates.check(
            targets=[BulkTarget(host=local_engine.slug, ref=n) for n in names])
        assert summary.checked == 3 and summary.up_to_date == 3
        assert summary.registry_requests == 1
        assert manifest_requests(plain_registry, repo) - before == 1

        # A check of the whole host forgets the results of containers that are gone.
        await docker(local_engine, "rm", "-f", names[0])
        await wait_for(lambda: all(c.name != names[0] for c in
                                   daemon.hosts.get(local_engine.slug).containers()))
        await daemon.updates.check(host=local_engine.slug)
        assert daemon.updates.status(local_engine.slug, names[0]) is None
        assert all(daemon.updates.status(local_engine.slug, n) is not None for n in names[1:])
    finally:
        await docker(local_engine, "rm", "-f", *names, check=False)


async def test_pinned_and_network_joined_and_own_containers(
        daemon: Chrontainer, local_engine: Engine, plain_registry: TestRegistry) -> None:
    repo = unique("pin")
    ref = await publish(local_engine, plain_registry, repo, "v1", 'CMD ["sleep", "3600"]')
    host = local_engine.slug
    main = await run_from(local_engine, ref, "--network", "none")
    repo_digest = next(d for d in (await inspect(local_engine, ref))["RepoDigests"]
                       if repo in d)
    joiner = unique("join")
    pinned = await run_from(local_engine, repo_digest, "--network", "none")
    try:
        await docker(local_engine, "run", "-d", "--name", joiner, "--label", f"{TEST_LABEL}=1",
                     "--network", f"container:{main}", ref)
        await wait_for(lambda: {c.name for c in daemon.hosts.get(host).containers()}
                       >= {main, joiner, pinned})
        before = manifest_requests(plain_registry, repo)
        summary = await daemon.updates.check(
            targets=[BulkTarget(host=host, ref=pinned)])
        assert summary.pinned == 1 and manifest_requests(plain_registry, repo) == before

        with pytest.raises(Conflict) as caught:
            await daemon.updates.start(host, main)
        assert joiner in caught.value.message and caught.value.details["joined"] == [joiner]
        daemon.updates.own_container_ids = frozenset({(await inspect(local_engine, pinned))
                                                      ["Id"]})
        with pytest.raises(Conflict) as caught:
            await daemon.updates.update_now(host, pinned)
        assert "Chrontainer itself runs in" in caught.value.message
        assert (await inspect(local_engine, main))["State"]["Running"]
    finally:
        daemon.updates.own_container_ids = frozenset()
        await docker(local_engine, "rm", "-f", joiner, main, pinned, check=False)


async def test_stopped_container_is_updated_and_stays_stopped(
        daemon: Chrontainer, local_engine: Engine, plain_registry: TestRegistry) -> None:
    repo = unique("stopped")
    ref = await publish(local_engine, plain_registry, repo, "v1", 'CMD ["sleep", "3600"]')
    name = await run_from(local_engine, ref, "--network", "none")
    try:
        await docker(local_engine, "stop", name)
        # Up to date: nothing is recreated.
        await wait_for(lambda: any(c.name == name for c in
                                   daemon.hosts.get(local_engine.slug).containers()))
        same = await daemon.updates.update_now(local_engine.slug, name)
        assert not same.updated
        await publish(local_engine, plain_registry, repo, "v1", 'CMD ["sleep", "60"]')
        outcome = await daemon.updates.update_now(local_engine.slug, name)
        assert outcome.updated
        after = await inspect(local_engine, name)
        assert after["Id"] == outcome.container_id and not after["State"]["Running"]
        assert after["Config"]["Cmd"] == ["sleep", "60"]
        assert await named(local_engine, name) == [name]
    finally:
        await docker(local_engine, "rm", "-f", name, check=False)


async def test_a_schedule_updates_its_container_by_key(
        daemon: Chrontainer, local_engine: Engine, plain_registry: TestRegistry) -> None:
    repo = unique("sched")
    ref = await publish(local_engine, plain_registry, repo, "v1", 'CMD ["sleep", "3600"]')
    name = await run_from(local_engine, ref, "--network", "none")
    try:
        await publish(local_engine, plain_registry, repo, "v1", 'CMD ["sleep", "1800"]')
        await wait_for(lambda: any(c.name == name for c in
                                   daemon.hosts.get(local_engine.slug).containers()))
        assert daemon.schedules is not None
        schedule = await daemon.schedules.create(Schedule(
            id=0, name="update it", enabled=True, action=ScheduleAction.UPDATE,
            target=Target(kind=TargetKind.CONTAINER, host=local_engine.slug, key=name),
            trigger=Trigger(kind=TriggerKind.ONCE, at=datetime.now(UTC) + timedelta(days=1))))
        run = await daemon.schedules.run_now(schedule.id)
        run = await daemon.schedules.wait_run(run.id, 120)
        assert run.result is RunResult.OK, run.error
        assert run.detail is not None and run.detail.startswith(f"updated {name} to ")
        after = await inspect(local_engine, name)
        assert after["Config"]["Cmd"] == ["sleep", "1800"] and after["State"]["Running"]
        entries, _ = await daemon.audit.list(action="container.update")
        assert entries[0].actor.kind.value == "schedule" and entries[0].error is None
    finally:
        await docker(local_engine, "rm", "-f", name, check=False)


async def test_check_results_survive_a_restart_by_container_key(
        daemon_config: Any, local_engine: Engine, plain_registry: TestRegistry,
        clean_engines: None) -> None:
    repo = unique("persist")
    ref = await publish(local_engine, plain_registry, repo, "v1", 'CMD ["sleep", "3600"]')
    name = await run_from(local_engine, ref, "--network", "none")
    try:
        await publish(local_engine, plain_registry, repo, "v1", 'CMD ["sleep", "60"]')
        async with Chrontainer.from_config(daemon_config) as first:
            await wait_for(lambda: any(c.name == name for c in
                                       first.hosts.get(local_engine.slug).containers()))
            await first.updates.check(targets=[BulkTarget(host=local_engine.slug, ref=name)])
            checked = first.updates.status(local_engine.slug, name)
            assert checked is not None and checked.state is UpdateState.AVAILABLE
        async with Chrontainer.from_config(daemon_config) as second:
            again = second.updates.status(local_engine.slug, name)
            assert again == checked  # loaded from the database, not checked again
            await wait_for(lambda: any(c.name == name for c in
                                       second.hosts.get(local_engine.slug).containers()))
            listing = await second.containers.list()
            item = next(doc for doc in listing.items_json if doc["name"] == name)
            assert item["update"]["state"] == "available"
    finally:
        await docker(local_engine, "rm", "-f", name, check=False)
