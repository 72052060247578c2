"""Unit tests: engine JSON -> models."""

from __future__ import annotations

from datetime import UTC, datetime

from chrontainer_core.docker.parse import parse_container, parse_time, parse_top, parse_version
from chrontainer_core.models import ContainerState, Health

INSPECT = {
    "Id": "397e1911025d6dcc9cafe7ce3a1b458e345e77b7f821088e3c8619effd5d16e3",
    "Created": "2026-11-25T18:11:18.670138711Z",
    "Path": "sleep",
    "Args": ["1000"],
    "State": {
        "Status": "running", "Running": True, "Paused": False, "OOMKilled": False,
        "ExitCode": 0, "StartedAt": "2026-11-25T18:11:19.182772538Z",
        "FinishedAt": "0001-01-01T00:00:00Z",
        "Health": {"Status": "healthy", "FailingStreak": 0, "Log": []},
    },
    "Image": "sha256:3b2289be91fb",
    "Name": "/web-1",
    "RestartCount": 2,
    "HostConfig": {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 5}},
    "Mounts": [{"Type": "volume", "Name": "data", "Source": "/var/lib/docker/volumes/data/_data",
                "Destination": "/data", "Mode": "z", "RW": True}],
    "Config": {
        "Image": "nginx:1.25", "Tty": False, "Env": ["A=1", "EMPTY=", "EQ=x=y"],
        "Labels": {"com.docker.compose.project": "proj", "com.docker.compose.service": "web",
                   "com.docker.compose.container-number": "1"},
    },
    "NetworkSettings": {
        "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "18080"},
                             {"HostIp": "::", "HostPort": "18080"}], "443/tcp": None},
        "Networks": {"proj_default": {"IPAddress": "172.18.0.2", "Gateway": "172.18.0.1",
                                      "MacAddress": "02:42:ac:12:00:02", "Aliases": ["web"]}},
    },
}


def test_parse_container_fields() -> None:
    c = parse_container("nas", INSPECT)
    assert c.host == "nas" and c.name == "web-1" and c.key == "proj_web"
    assert c.state is ContainerState.RUNNING and c.health is Health.HEALTHY
    assert c.image == "nginx:1.25" and c.command == "sleep 1000"
    assert c.started_at == datetime(2026, 11, 25, 18, 11, 19, 182772, tzinfo=UTC)
    assert c.finished_at is None and c.restart_count == 2
    assert c.restart_policy.name == "on-failure" and c.restart_policy.maximum_retry_count == 5
    assert [(e.name, e.value) for e in c.env] == [("A", "1"), ("EMPTY", ""), ("EQ", "x=y")]
    assert [(p.container_port, p.host_ip, p.host_port) for p in c.ports] == [
        (443, None, None), (80, "0.0.0.0", 18080), (80, "::", 18080)
    ]
    assert c.networks[0].network == "proj_default" and c.networks[0].aliases == ("web",)
    assert c.mounts[0].name == "data" and c.mounts[0].destination == "/data"
    assert c.compose_project == "proj" and c.compose_number == 1


def test_parse_minimal_and_unknown_state() -> None:
    c = parse_container("h", {"Id": "x" * 64, "Name": "/plain", "State": {"Status": "weird"}})
    assert c.key == "plain" and c.state is ContainerState.DEAD and c.health is None
    assert c.ports == () and c.env == ()


def test_parse_time_variants() -> None:
    assert parse_time("0001-01-01T00:00:00Z") is None
    assert parse_time(None) is None
    assert parse_time("2024-01-02T03:04:05.123456789+02:00") == datetime(
        2024, 1, 2, 1, 4, 5, 123456, tzinfo=UTC
    )
    assert parse_time("2024-01-02T03:04:05Z") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_parse_version_and_top() -> None:
    v = parse_version({"Version": "20.10.24", "ApiVersion": "1.41", "Os": "linux", "Arch": "amd64"})
    assert (v.version, v.api_version) == ("20.10.24", "1.41")
    top = parse_top({"Titles": ["PID", "CMD"], "Processes": [["1", "sleep 1"]]})
    assert top.titles == ("PID", "CMD") and top.processes == (("1", "sleep 1"),)


def test_parse_info_and_disk_usage() -> None:
    from chrontainer_core.docker.parse import parse_disk_usage, parse_info

    info = parse_info({"Name": "nas", "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
                       "OSType": "linux", "KernelVersion": "6.1.0", "Architecture": "aarch64",
                       "NCPU": 4, "MemTotal": 8 << 30, "ServerVersion": "24.0.7",
                       "CgroupVersion": "2", "Driver": "overlay2", "Containers": 5,
                       "ContainersRunning": 3, "ContainersPaused": 0, "ContainersStopped": 2,
                       "Images": 7})
    assert (info.cpus, info.memory, info.containers_running, info.images) == (4, 8 << 30, 3, 7)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    df = parse_disk_usage({
        "LayersSize": 1000,
        "Images": [{"Size": 600, "SharedSize": 100, "Containers": 1},
                   {"Size": 500, "SharedSize": 100, "Containers": 0},
                   {"Size": 50, "SharedSize": -1, "Containers": 0}],
        "Containers": [{"SizeRw": 10, "State": "running"}, {"SizeRw": 5, "State": "exited"}],
        "Volumes": [{"UsageData": {"Size": 200, "RefCount": 1}},
                    {"UsageData": {"Size": 30, "RefCount": 0}},
                    {"UsageData": {"Size": -1, "RefCount": 0}}],
        "BuildCache": [{"Size": 7, "InUse": False}, {"Size": 3, "InUse": True}],
    }, read_at=now)
    assert (df.images.count, df.images.size, df.images.reclaimable) == (3, 1000, 450)
    assert (df.containers.size, df.containers.reclaimable) == (15, 5)
    assert (df.volumes.count, df.volumes.size, df.volumes.reclaimable) == (3, 230, 30)
    assert (df.build_cache.size, df.build_cache.reclaimable) == (10, 7)
    empty = parse_disk_usage({"LayersSize": 0, "Images": None, "Containers": None,
                              "Volumes": None, "BuildCache": None}, read_at=now)
    assert empty.images.count == 0 and empty.build_cache.size == 0
