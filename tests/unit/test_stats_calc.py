"""Unit tests: stats math for cgroup v1 and v2 documents (recorded shapes, trimmed)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chrontainer_core.metrics.calc import (
    block_totals,
    cpu_percent,
    memory_used,
    network_totals,
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
