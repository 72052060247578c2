"""Unit tests: stats math for cgroup v1 and v2 documents (recorded shapes, trimmed).

The first half covers the on-demand reading (the engine pairs two samples), the second the
sampler's one-shot readings paired with its own previous sample.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from chrontainer_core.docker.parse import parse_api_version, parse_stats_sample
from chrontainer_core.metrics.calc import (
    block_totals,
    cpu_percent,
    cpu_percent_between,
    memory_used,
    metrics_between,
    network_totals,
    rate,
    stats_from_engine,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)

# Recorded from Engine 20.10 on cgroup v1 (trimmed to the fields we read).
V1 = {
    "read": "2026-11-25T18:11:21.463284143Z",
    "pids_stats": {"current": 3},
    "blkio_stats": {"io_service_bytes_recursive": [
        {"major": 8, "minor": 0, "op": "Read", "value": 4096},
        {"major": 8, "minor": 0, "op": "Write", "value": 8192},
        {"major": 8, "minor": 0, "op": "Sync", "value": 12288},
        {"major": 8, "minor": 0, "op": "Total", "value": 12288},
    ]},
    "cpu_stats": {"cpu_usage": {"total_usage": 71567809, "percpu_usage": [64826938, 6740871]},
                  "system_cpu_usage": 615910000000, "online_cpus": 2},
    "precpu_stats": {"cpu_usage": {"total_usage": 44842575}, "system_cpu_usage": 613930000000,
                     "online_cpus": 2},
    "memory_stats": {"usage": 2265088, "limit": 25276510208,
                     "stats": {"total_inactive_file": 1523712, "inactive_file": 1523712,
                               "cache": 1540096}},
    "networks": {"eth0": {"rx_bytes": 736, "tx_bytes": 10}, "eth1": {"rx_bytes": 4, "tx_bytes": 6}},
}

# cgroup v2 shape (as Engine 20.10+ reports on a unified hierarchy): no total_* keys,
# lowercase blkio ops, no percpu_usage.
V2 = {
    "pids_stats": {"current": 1, "limit": 4915},
    "blkio_stats": {"io_service_bytes_recursive": [
        {"major": 254, "minor": 0, "op": "read", "value": 1000},
        {"major": 254, "minor": 0, "op": "write", "value": 2000},
    ]},
    "cpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000}, "system_cpu_usage": 10_000_000_000,
                  "online_cpus": 4},
    "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000_000},
                     "system_cpu_usage": 6_000_000_000},
    "memory_stats": {"usage": 10_000_000, "limit": 100_000_000,
                     "stats": {"inactive_file": 4_000_000, "active_file": 1_000_000,
                               "anon": 5_000_000}},
}


def test_v1_document() -> None:
    s = stats_from_engine(V1, read_at=NOW)
    # (71567809-44842575) / (615910000000-613930000000) * 2 * 100
    assert s.cpu_percent == pytest.approx(2.7, abs=0.01)
    assert s.memory_used == 2265088 - 1523712
    assert s.memory_percent == pytest.approx((2265088 - 1523712) / 25276510208 * 100, abs=0.01)
    assert (s.net_rx, s.net_tx) == (740, 16)
    assert (s.block_read, s.block_write) == (4096, 8192)
    assert s.pids == 3 and s.online_cpus == 2


def test_v2_document() -> None:
    s = stats_from_engine(V2, read_at=NOW)
    assert s.cpu_percent == pytest.approx(100.0)  # 1e9/4e9 * 4 cores
    assert s.memory_used == 6_000_000 and s.memory_percent == pytest.approx(6.0)
    assert (s.block_read, s.block_write) == (1000, 2000)
    assert (s.net_rx, s.net_tx) == (0, 0) and s.pids == 1


def test_first_sample_and_stopped_container_are_zero() -> None:
    assert cpu_percent({"cpu_usage": {"total_usage": 5}}, {}) == (0.0, 1)
    stopped = {"read": "0001-01-01T00:00:00Z", "memory_stats": {}, "cpu_stats": {},
               "precpu_stats": {}}
    s = stats_from_engine(stopped, read_at=NOW)
    assert (s.cpu_percent, s.memory_used, s.memory_percent) == (0.0, 0, 0.0)


def test_memory_without_cache_stats_uses_usage() -> None:
    assert memory_used({"usage": 500, "stats": {}}) == 500
    # an inactive_file larger than usage (seen transiently) must not go negative
    assert memory_used({"usage": 500, "stats": {"inactive_file": 900}}) == 500


def test_totals_helpers() -> None:
    assert network_totals(None) == (0, 0)
    assert block_totals({"io_service_bytes_recursive": None}) == (0, 0)


# --- the sampler's two-sample math -------------------------------------------------------------


def _v2_one_shot(read: str, *, cpu: int, system: int, rx: int, tx: int, rd: int, wr: int) -> dict:
    """A ``one-shot`` reading from Engine 20.10 on a unified (cgroup v2) hierarchy.

    Every key is the engine's (values vary per call): ``preread`` is the zero time and
    ``precpu_stats`` is empty (no ``system_cpu_usage``), ``memory_stats.stats`` holds the v2
    ``memory.stat`` keys (``anon``, ``file``, ``inactive_file``, ...; no ``total_*``, no
    ``max_usage``), blkio ops are lowercase with the other blkio lists null, and
    ``cpu_usage`` has no ``percpu_usage``.
    """
    return {
        "read": read,
        "preread": "0001-01-01T00:00:00Z",
        "pids_stats": {"current": 11, "limit": 28484},
        "blkio_stats": {
            "io_service_bytes_recursive": [
                {"major": 259, "minor": 0, "op": "read", "value": rd},
                {"major": 259, "minor": 0, "op": "write", "value": wr},
            ],
            "io_serviced_recursive": None, "io_queue_recursive": None,
            "io_service_time_recursive": None, "io_wait_time_recursive": None,
            "io_merged_recursive": None, "io_time_recursive": None, "sectors_recursive": None,
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": {
            "cpu_usage": {"total_usage": cpu, "usage_in_kernelmode": cpu // 4,
                          "usage_in_usermode": cpu - cpu // 4},
            "system_cpu_usage": system,
            "online_cpus": 8,
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        },
        "precpu_stats": {
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        },
        "memory_stats": {
            "usage": 52981760,
            "stats": {
                "active_anon": 11100160, "active_file": 40472576, "anon": 11100160,
                "anon_thp": 0, "file": 40898560, "file_dirty": 0, "file_mapped": 35635200,
                "file_writeback": 0, "inactive_anon": 0, "inactive_file": 425984,
                "kernel_stack": 180224, "pgactivate": 0, "pgdeactivate": 0, "pgfault": 6008,
                "pglazyfree": 0, "pglazyfreed": 0, "pgmajfault": 349, "pgrefill": 0,
                "pgscan": 0, "pgsteal": 0, "shmem": 0, "slab": 551600,
                "slab_reclaimable": 272376, "slab_unreclaimable": 279224, "sock": 0,
                "thp_collapse_alloc": 0, "thp_fault_alloc": 0, "unevictable": 0,
                "workingset_activate": 0, "workingset_nodereclaim": 0, "workingset_refault": 0,
            },
            "limit": 24973926400,
        },
        "name": "/web",
        "id": "4fa6e0f0c678" * 5 + "abcd",
        "networks": {"eth0": {"rx_bytes": rx, "rx_packets": 84, "rx_errors": 0, "rx_dropped": 0,
                              "tx_bytes": tx, "tx_packets": 3, "tx_errors": 0, "tx_dropped": 0}},
    }


V2_FIRST = _v2_one_shot("2026-10-23T07:40:12.013599427Z", cpu=329_660_000,
                        system=20_575_320_000_000, rx=9_996, tx=0, rd=40_738_816, wr=1_392_640)
# 15 s later: 0.6 s of CPU over 8 CPUs x 15 s of host time = 0.5 % of the host = 4 % of a core.
V2_SECOND = _v2_one_shot("2026-10-23T07:40:27.013599427Z", cpu=929_660_000,
                         system=20_695_320_000_000, rx=39_996, tx=15_000, rd=40_738_816 + 1_500_000,
                         wr=1_392_640)

# One-shot readings recorded from this project's Engine 20.10 on cgroup v1 (trimmed): note
# the empty precpu_stats and the total_* memory keys.
V1_FIRST = {
    "read": "2026-11-25T18:33:41.491720058Z", "preread": "0001-01-01T00:00:00Z",
    "pids_stats": {"current": 1},
    "blkio_stats": {"io_service_bytes_recursive": []},
    "cpu_stats": {"cpu_usage": {"total_usage": 34873585, "percpu_usage": [19455508, 15418077]},
                  "system_cpu_usage": 3260600000000, "online_cpus": 2},
    "precpu_stats": {"cpu_usage": {"total_usage": 0}},
    "memory_stats": {"usage": 1175552, "limit": 25276510208,
                     "stats": {"cache": 573440, "inactive_file": 4096,
                               "total_inactive_file": 4096, "total_cache": 573440}},
    "networks": {"eth0": {"rx_bytes": 486, "tx_bytes": 0}},
}
V1_SECOND = {
    **V1_FIRST,
    "read": "2026-11-25T18:33:42.491720058Z",
    # A busy loop: one full core for the second (2 CPUs -> 2e9 ns of host time).
    "cpu_stats": {"cpu_usage": {"total_usage": 34873585 + 1_000_000_000,
                                "percpu_usage": [19455508, 1015418077]},
                  "system_cpu_usage": 3260600000000 + 2_000_000_000, "online_cpus": 2},
    "networks": {"eth0": {"rx_bytes": 486 + 100, "tx_bytes": 50}},
}


def _sample(doc: dict):  # type: ignore[no-untyped-def]
    sample = parse_stats_sample(doc)
    assert sample is not None
    return sample


def test_v2_one_shot_sample_counters() -> None:
    s = _sample(V2_FIRST)
    assert s.read_at == datetime(2026, 10, 23, 7, 40, 12, 13599, tzinfo=UTC)
    assert (s.cpu_total, s.system_cpu, s.online_cpus) == (329_660_000, 20_575_320_000_000, 8)
    # usage minus inactive_file (v2 has no total_inactive_file)
    assert s.memory_used == 52981760 - 425984 and s.memory_limit == 24973926400
    assert (s.block_read, s.block_write) == (40_738_816, 1_392_640)
    assert (s.net_rx, s.net_tx, s.pids) == (9_996, 0, 11)


def test_v2_first_sample_has_unknown_rates() -> None:
    m = metrics_between(None, _sample(V2_FIRST))
    assert m.cpu_percent is None
    assert (m.net_rx_rate, m.net_tx_rate, m.block_read_rate, m.block_write_rate) == (
        None, None, None, None)
    assert m.memory_used == 52981760 - 425984 and m.pids == 11
    assert m.memory_percent == pytest.approx((52981760 - 425984) / 24973926400 * 100, abs=0.01)


def test_v2_two_samples() -> None:
    m = metrics_between(_sample(V2_FIRST), _sample(V2_SECOND))
    assert m.cpu_percent == pytest.approx(4.0)
    assert m.net_rx_rate == pytest.approx(2_000.0) and m.net_tx_rate == pytest.approx(1_000.0)
    assert m.block_read_rate == pytest.approx(100_000.0) and m.block_write_rate == 0.0
    assert m.read_at == _sample(V2_SECOND).read_at


def test_v1_two_one_shot_samples() -> None:
    first, second = _sample(V1_FIRST), _sample(V1_SECOND)
    assert first.memory_used == 1175552 - 4096 and first.online_cpus == 2
    m = metrics_between(first, second)
    assert m.cpu_percent == pytest.approx(100.0)  # one busy core of two
    assert (m.net_rx_rate, m.net_tx_rate) == (100.0, 50.0)
    assert (m.block_read_rate, m.block_write_rate) == (0.0, 0.0)


def test_counter_reset_after_restart_is_unknown_not_negative() -> None:
    before = _sample(V2_SECOND)
    # The container restarted: its counters began again from zero, the host's did not.
    after = _sample(_v2_one_shot("2026-10-23T07:40:42Z", cpu=1_000_000, system=20_815_320_000_000,
                                 rx=100, tx=0, rd=0, wr=0))
    m = metrics_between(before, after)
    assert m.cpu_percent is None
    assert m.net_rx_rate is None and m.net_tx_rate is None and m.block_read_rate is None
    assert m.memory_used > 0


def test_rates_need_time_and_host_cpu_to_pass() -> None:
    s = _sample(V2_FIRST)
    assert metrics_between(s, s).cpu_percent is None  # no host time passed: unknown
    assert rate(10, 20, 0.0) is None and rate(20, 10, 1.0) is None and rate(10, 30, 2.0) == 10.0
    no_system = replace(s, system_cpu=0)
    assert cpu_percent_between(no_system, _sample(V2_SECOND)) is None


def test_stopped_container_reading_is_no_sample() -> None:
    stopped = {"read": "0001-01-01T00:00:00Z", "preread": "0001-01-01T00:00:00Z",
               "pids_stats": {}, "blkio_stats": {}, "cpu_stats": {"cpu_usage": {}},
               "precpu_stats": {"cpu_usage": {}}, "memory_stats": {}}
    assert parse_stats_sample(stopped) is None
    assert parse_stats_sample({}) is None


def test_api_version() -> None:
    assert parse_api_version("v1.41") == (1, 41) and parse_api_version("1.43") == (1, 43)
    assert parse_api_version("auto") == (0, 0) and parse_api_version("") == (0, 0)
    assert parse_api_version("v1.40") < (1, 41) <= parse_api_version("v1.41")
