"""Which container am I: chrontainer_core.updates.selfid.

Proves: container ids are found in cgroup v1 paths (Docker's ``/docker/<id>``, systemd's
``docker-<id>.scope``, podman's ``libpod-<id>.scope``), in the engine's bind mounts of
/etc/hostname|hosts|resolv.conf (Docker and podman layouts; cgroup v2's ``0::/`` says nothing),
and as a 12-hex hostname prefix; a bare host, a custom hostname, mounts of *other*
containers' directories and garbage give nothing; a real container's own /proc files name
exactly its id.
"""

from __future__ import annotations

import pytest

from chrontainer_core.updates.selfid import own_container_ids, read_own_container_ids

from ..live import TEST_LABEL, Engine, docker, unique
from ..live import test_image as image_name

ID = "451f953dabbda2e58882428c1a96e5180700460626d4a10073196b7c35a13521"
OTHER = "9c1b2c0e8f6d4a3b2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d"

CGROUP_V1_DOCKER = "\n".join(
    f"{n}:{c}:/docker/{ID}" for n, c in enumerate(
        ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
         "name=systemd"], start=1)) + f"\n0::/docker/{ID}\n"
CGROUP_V1_SYSTEMD = (f"12:pids:/system.slice/docker-{ID}.scope\n"
                     f"1:name=systemd:/system.slice/docker-{ID}.scope\n")
CGROUP_V2_HOST_NS = f"0::/system.slice/docker-{ID}.scope\n"
CGROUP_PODMAN = f"0::/machine.slice/libpod-{ID}.scope/container\n"
CGROUP_V2_PRIVATE = "0::/\n"
CGROUP_HOST = "\n".join(f"{n}:{c}:/" for n, c in enumerate(["cpu", "memory"], start=1)) + \
    "\n4:memory:/user.slice/user-1000.slice/session-3.scope\n0::/init.scope\n"

MOUNTINFO_DOCKER = f"""\
22 1 0:21 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/A
74 22 0:45 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
91 74 254:0 /var/lib/docker/containers/{ID}/resolv.conf /etc/resolv.conf rw - ext4 /dev/vda rw
92 74 254:0 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw
93 74 254:0 /var/lib/docker/containers/{ID}/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw
"""
# data-root on its own file system: the mount root is relative to that file system.
MOUNTINFO_DATA_ROOT = f"""\
93 74 8:17 /docker/containers/{ID}/hosts /etc/hosts rw,relatime - xfs /dev/sdb1 rw
"""
MOUNTINFO_PODMAN = f"""\
601 600 0:52 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/containers/storage/overlay/l/X
612 601 0:25 /containers/storage/overlay-containers/{ID}/userdata/hostname /etc/hostname rw \
- tmpfs tmpfs rw
613 601 0:25 /containers/storage/overlay-containers/{ID}/userdata/resolv.conf /etc/resolv.conf \
rw - tmpfs tmpfs rw
"""
# A log shipper that mounts the host's container directories: other containers' files, at
# other mount points, are not "me".
MOUNTINFO_SHIPPER = f"""\
95 74 254:0 /var/lib/docker/containers /var/lib/docker/containers ro,relatime - ext4 /dev/vda rw
96 74 254:0 /var/lib/docker/containers/{OTHER}/hostname /mnt/other/hostname ro - ext4 /dev/vda rw
"""
MOUNTINFO_HOST = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
25 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw,size=4009488k
"""


@pytest.mark.parametrize(("cgroup", "mountinfo"), [
    (CGROUP_V1_DOCKER, ""),
    (CGROUP_V1_SYSTEMD, MOUNTINFO_HOST),
    (CGROUP_V2_HOST_NS, ""),
    (CGROUP_PODMAN, ""),
    (CGROUP_V2_PRIVATE, MOUNTINFO_DOCKER),
    (CGROUP_V2_PRIVATE, MOUNTINFO_DATA_ROOT),
    (CGROUP_V2_PRIVATE, MOUNTINFO_PODMAN),
    (CGROUP_V1_DOCKER, MOUNTINFO_DOCKER + MOUNTINFO_SHIPPER),
])
def test_full_id_from_cgroup_or_mounts(cgroup: str, mountinfo: str) -> None:
    assert own_container_ids(cgroup, mountinfo, "web-1") == frozenset({ID})


@pytest.mark.parametrize(("cgroup", "mountinfo", "hostname"), [
    (CGROUP_HOST, MOUNTINFO_HOST, "build-server"),
    (CGROUP_V2_PRIVATE, MOUNTINFO_HOST, ""),
    (CGROUP_V2_PRIVATE, MOUNTINFO_SHIPPER, "shipper"),
    ("", "", ""),
    ("garbage\n::\n0:x\n", "1 2 3\n\n", "451f953dabb"),  # 11 hex: not a short id
    (f"0::/docker/{ID[:63]}\n", "", "451f953dabbdz"),  # truncated id, 13 chars
])
def test_nothing_outside_a_container(cgroup: str, mountinfo: str, hostname: str) -> None:
    assert own_container_ids(cgroup, mountinfo, hostname) == frozenset()


def test_hostname_is_a_prefix() -> None:
    ids = own_container_ids(CGROUP_V2_PRIVATE, MOUNTINFO_HOST, "451F953DABBD\n")
    assert ids == frozenset({"451f953dabbd"})
    assert any(ID.startswith(x) for x in ids)
    assert not any(OTHER.startswith(x) for x in ids)
    both = own_container_ids(CGROUP_V2_PRIVATE, MOUNTINFO_DOCKER, ID[:12])
    assert both == frozenset({ID, ID[:12]})


def test_reading_this_process() -> None:
    ids = read_own_container_ids()
    assert isinstance(ids, frozenset)
    assert all(len(x) in (12, 64) for x in ids)


@pytest.mark.live
@pytest.mark.parametrize("hostname", [None, "custom-name"])
async def test_a_real_container_finds_itself(local_engine: Engine, hostname: str | None) -> None:
    name = unique("selfid")
    args = ["run", "-d", "--name", name, "--label", f"{TEST_LABEL}=1", "--network", "none"]
    if hostname:
        args += ["--hostname", hostname]
    engine_id = await docker(local_engine, *args, image_name(), "sleep", "300")
    try:
        script = "cat /proc/self/cgroup; echo ====; cat /proc/self/mountinfo; echo ====; hostname"
        out = await docker(local_engine, "exec", name, "sh", "-c", script)
    finally:
        await docker(local_engine, "rm", "-f", name, check=False)
    cgroup, mountinfo, seen_hostname = out.split("====\n")
    assert seen_hostname.strip() == (hostname or engine_id[:12])
    # Its own /proc files name exactly the id the engine gave it.
    ids = own_container_ids(cgroup, mountinfo, seen_hostname)
    assert ids == ({engine_id} if hostname else {engine_id, engine_id[:12]})
    # With cgroup v2's private namespace the mounts alone still find it.
    assert own_container_ids("0::/\n", mountinfo, "") == {engine_id}
