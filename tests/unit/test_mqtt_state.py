"""Unit tests: the JSON state payloads of the MQTT bridge and the stats deadband (pure)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chrontainer_core.models import (
    Container,
    ContainerMetrics,
    ContainerState,
    DiskUsage,
    DiskUsageCategory,
    Health,
    HostDetails,
    HostInfo,
    HostState,
    HostStatus,
    Operation,
    OperationStatus,
)
from chrontainer_core.scheduling.jobs import (
    RunResult,
    RunTrigger,
    Schedule,
    ScheduleAction,
    ScheduleRun,
    Target,
    TargetKind,
    Trigger,
    TriggerKind,
)
from chrontainer_core.updates.models import UpdateCheck, UpdateState
from chrontainer_mqtt.state import (
    EVENT_TYPES,
    StatsDeadband,
    container_event,
    container_state,
    container_stats,
    host_state,
    schedule_state,
    to_payload,
    update_state,
)

T0 = datetime(2026, 3, 1, 12, 0, 5, 123456, tzinfo=UTC)
MIB = 1024 * 1024
LOCAL = "sha256:" + "1" * 64
REMOTE = "sha256:" + "2" * 64


def make_container(**changes: Any) -> Container:
    base = Container(host="local", id="a" * 64, name="web", key="web", image="nginx:1.27",
                     image_id="sha256:" + "b" * 64, command="nginx", created=T0,
                     state=ContainerState.RUNNING, started_at=T0, restart_count=2,
                     labels={"org.opencontainers.image.version": "1.27.0"})
    return replace(base, **changes)


def check(state: UpdateState, **changes: Any) -> UpdateCheck:
    return UpdateCheck(host="local", key="web", image="nginx:1.27", state=state, checked_at=T0,
                       **changes)


def operation(status: OperationStatus = OperationStatus.RUNNING,
              percent: float | None = 42.25) -> Operation:
    return Operation(id="op1", kind="container.update", host="local", target="web",
                     actor="admin", status=status, started_at=T0, percent=percent)


# --- containers ----------------------------------------------------------------------------------


def test_container_state_running() -> None:
    state = container_state(make_container())
    assert state == {
        "name": "web", "key": "web", "host": "local", "id": "a" * 12, "image": "nginx:1.27",
        "state": "running", "running": True, "paused": False, "health": None,
        "healthy": None, "started_at": "2026-03-01T12:00:05Z", "exit_code": None,
        "restart_count": 2,
    }


def test_container_state_paused_stopped_unhealthy() -> None:
    paused = container_state(make_container(state=ContainerState.PAUSED))
    assert (paused["state"], paused["running"], paused["paused"]) == ("paused", True, True)
    assert paused["started_at"] == "2026-03-01T12:00:05Z"
    stopped = container_state(make_container(state=ContainerState.EXITED, exit_code=137))
    assert (stopped["running"], stopped["paused"], stopped["exit_code"]) == (False, False, 137)
    assert stopped["started_at"] is None  # the last start is no "started at" of a stopped one
    sick = container_state(make_container(health=Health.UNHEALTHY))
    assert (sick["health"], sick["healthy"]) == ("unhealthy", False)
    fine = container_state(make_container(health=Health.HEALTHY))
    assert (fine["health"], fine["healthy"]) == ("healthy", True)


def test_to_payload_is_compact_sorted_json() -> None:
    text = to_payload({"b": 1, "a": [1, 2], "c": None})
    assert text == '{"a":[1,2],"b":1,"c":null}'
    assert json.loads(to_payload(container_state(make_container())))["key"] == "web"


def test_container_stats_units_and_unknowns() -> None:
    m = ContainerMetrics(read_at=T0, cpu_percent=3.14159, memory_used=512 * MIB + 200_000,
                         memory_limit=2048 * MIB, memory_percent=25.0099,
                         net_rx_rate=10 * 1024.0, net_tx_rate=None, block_read_rate=None,
                         block_write_rate=None, pids=1)
    assert container_stats(m) == {"cpu_percent": 3.1, "memory_mib": 512.2,
                                  "memory_percent": 25.0, "net_rx_kib_s": 10.0,
                                  "net_tx_kib_s": None}
    first = replace(m, cpu_percent=None, net_rx_rate=None)
    assert container_stats(first)["cpu_percent"] is None


# --- deadband ------------------------------------------------------------------------------------


def stats(**changes: float | None) -> dict[str, float | None]:
    base: dict[str, float | None] = {"cpu_percent": 10.0, "memory_mib": 500.0,
                                     "memory_percent": 20.0, "net_rx_kib_s": 100.0,
                                     "net_tx_kib_s": 0.5}
    return {**base, **changes}


def test_deadband_publishes_first_and_moved_values_only() -> None:
    band = StatsDeadband()
    assert band.should_publish("local/web", stats())
    assert not band.should_publish("local/web", stats())
    assert not band.should_publish("local/web", stats(cpu_percent=10.9))  # < 1 point
    assert band.should_publish("local/web", stats(cpu_percent=11.5))
    # Compared with what was last published (11.5), not with the last sample.
    assert not band.should_publish("local/web", stats(cpu_percent=12.0))
    # memory: 1 MiB or 1 % (of 500 MiB: 5 MiB) -> the larger band applies.
    assert not band.should_publish("local/web", stats(cpu_percent=11.5, memory_mib=504.0))
    assert band.should_publish("local/web", stats(cpu_percent=11.5, memory_mib=506.0))
    # rates: 1 KiB/s or 10 %.
    base = stats(cpu_percent=11.5, memory_mib=506.0)
    assert not band.should_publish("local/web", {**base, "net_rx_kib_s": 109.0})
    assert band.should_publish("local/web", {**base, "net_rx_kib_s": 111.0})
    base = {**base, "net_rx_kib_s": 111.0}
    assert not band.should_publish("local/web", {**base, "net_tx_kib_s": 1.4})  # < 1 KiB/s
    assert band.should_publish("local/web", {**base, "net_tx_kib_s": 1.6})


def test_deadband_none_and_value_always_publish() -> None:
    band = StatsDeadband()
    assert band.should_publish("h/c", stats(cpu_percent=None))
    assert band.should_publish("h/c", stats(cpu_percent=0.1))  # None -> value
    assert band.should_publish("h/c", stats(cpu_percent=None))  # value -> None
    assert not band.should_publish("h/c", stats(cpu_percent=None))


def test_deadband_keeps_idents_apart_and_forgets() -> None:
    band = StatsDeadband()
    assert band.should_publish("h/a", stats())
    assert band.should_publish("h/b", stats())
    assert not band.should_publish("h/a", stats())
    band.forget("h/a")
    assert band.should_publish("h/a", stats())
    assert not band.should_publish("h/b", stats())
    band.forget("h/unknown")  # forgetting what was never seen is fine


# --- updates -------------------------------------------------------------------------------------


def test_update_state_up_to_date_shows_the_version_label() -> None:
    state = update_state(make_container(),
                         check(UpdateState.UP_TO_DATE, local_digest=LOCAL, remote_digest=LOCAL),
                         operation=None)
    assert state == {"installed_version": "1.27.0", "latest_version": "1.27.0",
                     "title": "nginx:1.27", "release_summary": None, "in_progress": False,
                     "update_percentage": None}


def test_update_state_available_shows_digests() -> None:
    state = update_state(make_container(),
                         check(UpdateState.AVAILABLE, local_digest=LOCAL, remote_digest=REMOTE),
                         operation=None)
    assert (state["installed_version"], state["latest_version"]) == ("1" * 12, "2" * 12)
    assert state["release_summary"]
    assert state["in_progress"] is False


def test_update_state_without_news_has_latest_equal_installed() -> None:
    no_label = make_container(labels={})
    for c, state in ((no_label, UpdateState.LOCAL), (no_label, UpdateState.PINNED),
                     (make_container(), UpdateState.ERROR)):
        out = update_state(c, check(state, local_digest=LOCAL if state is not
                                    UpdateState.LOCAL else None, error="registry down"),
                           operation=None)
        assert out["latest_version"] == out["installed_version"], state
        assert out["installed_version"]
    local = update_state(no_label, check(UpdateState.LOCAL), operation=None)
    assert local["installed_version"] == "b" * 12  # the image id, no digest known
    pinned = update_state(no_label, check(UpdateState.PINNED, local_digest=LOCAL),
                          operation=None)
    assert pinned["installed_version"] == "1" * 12
    error = update_state(make_container(), check(UpdateState.ERROR, error="registry down"),
                         operation=None)
    assert "registry down" in error["release_summary"]
    nothing = update_state(make_container(), None, operation=None)
    assert nothing["installed_version"] == nothing["latest_version"] == "1.27.0"


def test_update_state_in_progress_from_a_running_operation() -> None:
    c = make_container()
    avail = check(UpdateState.AVAILABLE, local_digest=LOCAL, remote_digest=REMOTE)
    running = update_state(c, avail, operation=operation())
    assert (running["in_progress"], running["update_percentage"]) == (True, 42.2)
    unknown = update_state(c, avail, operation=operation(percent=None))
    assert (unknown["in_progress"], unknown["update_percentage"]) == (True, None)
    done = update_state(c, avail, operation=operation(OperationStatus.SUCCEEDED, 100.0))
    assert (done["in_progress"], done["update_percentage"]) == (False, None)


# --- events --------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["start", "die", "stop", "oom", "destroy", "pause"])
def test_lifecycle_actions_are_events(action: str) -> None:
    c = make_container()
    event = container_event(action, c, T0)
    assert event is not None
    assert event["event_type"] == action
    assert event["time"] == "2026-03-01T12:00:05Z"
    assert event["name"] == "web"


def test_health_status_becomes_healthy_or_unhealthy() -> None:
    healthy = container_event("health_status: healthy", make_container(), T0)
    sick = container_event("health_status: unhealthy", None, T0)
    assert healthy is not None and healthy["event_type"] == "healthy"
    assert sick is not None and sick == {"event_type": "unhealthy",
                                         "time": "2026-03-01T12:00:05Z"}
    assert {"healthy", "unhealthy"} <= set(EVENT_TYPES)


@pytest.mark.parametrize("action", ["sync", "exec_start: sh", "exec_create: ls", "attach",
                                    "top", "resize", "health_status: starting", ""])
def test_noise_is_no_event(action: str) -> None:
    assert container_event(action, make_container(), T0) is None


# --- hosts ---------------------------------------------------------------------------------------


def test_host_state_counts_and_details() -> None:
    h = HostState(slug="local", name="Local", url="unix:///x", status=HostStatus.ONLINE,
                  engine_version="20.10.24")
    cs = [make_container(), make_container(id="b" * 64, state=ContainerState.PAUSED),
          make_container(id="c" * 64, state=ContainerState.EXITED),
          make_container(id="d" * 64, state=ContainerState.CREATED),
          make_container(id="e" * 64, host="other")]
    assert host_state(h, containers=cs, details=None) == {
        "name": "Local", "online": True, "status": "online", "containers": 4, "running": 1,
        "paused": 1, "stopped": 2, "images": None, "disk_usage_gib": None,
        "docker_version": "20.10.24", "error": None,
    }
    gib = 1024 ** 3
    info = HostInfo(name="m", os="Debian", os_type="linux", kernel="6", architecture="x86_64",
                    cpus=2, memory=gib, engine_version="20.10.24", cgroup_version="2",
                    storage_driver="overlay2", containers=4, containers_running=1,
                    containers_paused=1, containers_stopped=2, images=9)
    du = DiskUsage(read_at=T0, images=DiskUsageCategory(count=9, size=gib, reclaimable=0),
                   containers=DiskUsageCategory(count=4, size=gib // 2, reclaimable=0),
                   volumes=DiskUsageCategory(count=1, size=gib // 4, reclaimable=0),
                   build_cache=DiskUsageCategory(count=0, size=gib // 4, reclaimable=0))
    full = host_state(h, containers=cs, details=HostDetails(host=h, info=info, disk_usage=du))
    assert (full["images"], full["disk_usage_gib"]) == (9, 2.0)
    down = host_state(replace(h, status=HostStatus.OFFLINE, error="refused"), containers=[],
                      details=None)
    assert (down["online"], down["status"], down["error"]) == (False, "offline", "refused")


# --- schedules -----------------------------------------------------------------------------------


def make_schedule(**changes: Any) -> Schedule:
    base = Schedule(id=3, name="Nightly", enabled=True,
                    target=Target(kind=TargetKind.CONTAINER, host="local", key="web"),
                    action=ScheduleAction.RESTART,
                    trigger=Trigger(kind=TriggerKind.CRON, cron="0 3 * * *"),
                    next_run_at=T0 + timedelta(hours=1))
    return replace(base, **changes)


def test_schedule_state_durations() -> None:
    s = make_schedule()
    never = schedule_state(s, None)
    assert never == {"name": "Nightly", "enabled": True, "action": "restart",
                     "target": "container web on local", "next_run": "2026-03-01T13:00:05Z",
                     "last_run": None, "last_result": None, "last_duration": None,
                     "last_error": None}
    running = ScheduleRun(id=1, schedule_id=3, trigger=RunTrigger.SCHEDULE, scheduled_for=T0,
                          started_at=T0)
    out = schedule_state(s, running)
    assert (out["last_result"], out["last_duration"]) == ("running", None)
    failed = replace(running, finished_at=T0 + timedelta(seconds=75, milliseconds=260),
                     result=RunResult.ERROR, error="no such container")
    out = schedule_state(replace(s, enabled=False, next_run_at=None), failed)
    assert (out["last_result"], out["last_duration"], out["last_error"]) == \
        ("error", 75.3, "no such container")
    assert (out["enabled"], out["next_run"], out["last_run"]) == \
        (False, None, "2026-03-01T12:00:05Z")


def test_deadband_resends_steady_stats_after_max_silence_and_when_forced() -> None:
    now = [100.0]
    band = StatsDeadband(max_silence=30.0, clock=lambda: now[0])
    steady = {"cpu_percent": 5.0}
    assert band.should_publish("a", steady)
    now[0] += 29.9
    assert not band.should_publish("a", steady)
    now[0] += 0.1
    assert band.should_publish("a", steady)  # 30 s without a publish
    assert not band.should_publish("a", steady)
    assert band.should_publish("a", steady, force=True)
    now[0] += 29.9
    assert not band.should_publish("a", steady)  # the forced publish counts as sent
