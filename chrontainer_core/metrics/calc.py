"""Pure stats math: one engine stats document -> ContainerStats.

CPU % needs two samples; the engine's ``stream=false`` reading carries the previous sample in
``precpu_stats``, so one request suffices. Memory "used" excludes the page cache the way the
Docker CLI does, because cache is reclaimable and would make every container look full.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..models import ContainerStats

JSON = dict[str, Any]


def cpu_percent(cpu: JSON, precpu: JSON) -> tuple[float, int]:
    """CPU use in percent of one core times the online CPUs, and the online CPU count."""
    usage = (cpu.get("cpu_usage") or {}).get("total_usage") or 0
    pre_usage = (precpu.get("cpu_usage") or {}).get("total_usage") or 0
    system = cpu.get("system_cpu_usage") or 0
    pre_system = precpu.get("system_cpu_usage") or 0
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or ())
    online = int(online or 1)
    cpu_delta = usage - pre_usage
    system_delta = system - pre_system
    if cpu_delta <= 0 or system_delta <= 0:
        return 0.0, online
    return cpu_delta / system_delta * online * 100.0, online


def memory_used(memory: JSON) -> int:
    """Memory in use excluding page cache.

    The cache is cgroup v1 ``total_inactive_file`` or v2 ``inactive_file``.
    """
    usage = int(memory.get("usage") or 0)
    stats = memory.get("stats") or {}
    # cgroup v1 reports the hierarchy total; v2 only has inactive_file.
    inactive = stats.get("total_inactive_file", stats.get("inactive_file"))
    if inactive is not None and int(inactive) < usage:
        return usage - int(inactive)
    return usage


def network_totals(networks: JSON | None) -> tuple[int, int]:
    """Bytes received and sent, summed over every interface."""
    rx = tx = 0
    for net in (networks or {}).values():
        rx += int(net.get("rx_bytes") or 0)
        tx += int(net.get("tx_bytes") or 0)
    return rx, tx


def block_totals(blkio: JSON | None) -> tuple[int, int]:
    """Bytes read and written (cgroup v1 reports ``Read``, v2 ``read``)."""
    read = write = 0
    for entry in (blkio or {}).get("io_service_bytes_recursive") or ():
        op = str(entry.get("op", "")).lower()
        if op == "read":
            read += int(entry.get("value") or 0)
        elif op == "write":
            write += int(entry.get("value") or 0)
    return read, write


def stats_from_engine(doc: JSON, *, read_at: datetime) -> ContainerStats:
    """Compute a ContainerStats from one engine stats document."""
    cpu, online = cpu_percent(doc.get("cpu_stats") or {}, doc.get("precpu_stats") or {})
    memory = doc.get("memory_stats") or {}
    used = memory_used(memory)
    limit = int(memory.get("limit") or 0)
    rx, tx = network_totals(doc.get("networks"))
    read, write = block_totals(doc.get("blkio_stats"))
    return ContainerStats(
        read_at=read_at,
        cpu_percent=round(cpu, 2),
        online_cpus=online,
        memory_used=used,
        memory_limit=limit,
        memory_percent=round(used / limit * 100.0, 2) if limit else 0.0,
        net_rx=rx,
        net_tx=tx,
        block_read=read,
        block_write=write,
        pids=int((doc.get("pids_stats") or {}).get("current") or 0),
    )
