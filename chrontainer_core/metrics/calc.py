"""Pure stats math: engine stats documents -> ContainerStats, StatsSample, ContainerMetrics.

CPU % and I/O rates need two samples. The engine's ``stream=false`` reading carries the
previous sample in ``precpu_stats`` but makes the engine wait about two seconds for it
(:func:`stats_from_engine`, the on-demand stats view). The sampler instead takes a fast
``one-shot`` reading whose ``precpu_stats`` is empty and pairs it with its own previous sample
of the same container (:func:`sample_from_engine`, :func:`metrics_between`).

Memory "used" excludes the page cache the way the Docker CLI does, because cache is reclaimable
and would make every container look full: cgroup v1 subtracts ``total_inactive_file``, cgroup v2
(no ``total_*`` keys) ``inactive_file``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..models import ContainerMetrics, ContainerStats, StatsSample

JSON = dict[str, Any]


def cpu_percent(cpu: JSON, precpu: JSON) -> tuple[float, int]:
    """CPU use in percent of one core times the online CPUs, and the online CPU count."""
    usage = (cpu.get("cpu_usage") or {}).get("total_usage") or 0
    pre_usage = (precpu.get("cpu_usage") or {}).get("total_usage") or 0
    system = cpu.get("system_cpu_usage") or 0
    pre_system = precpu.get("system_cpu_usage") or 0
    online = online_cpus(cpu)
    cpu_delta = usage - pre_usage
    system_delta = system - pre_system
    if cpu_delta <= 0 or system_delta <= 0:
        return 0.0, online
    return cpu_delta / system_delta * online * 100.0, online


def online_cpus(cpu: JSON) -> int:
    """CPUs the container may use; cgroup v2 and API >= 1.27 report ``online_cpus``.

    Older cgroup v1 readings only have ``percpu_usage`` (one entry per CPU); never below 1.
    """
    online = cpu.get("online_cpus") or len((cpu.get("cpu_usage") or {}).get("percpu_usage") or ())
    return int(online or 1)


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


def memory_percent(used: int, limit: int) -> float:
    """Memory use in percent of the limit (0 when the engine reports no limit)."""
    return round(used / limit * 100.0, 2) if limit else 0.0


def stats_from_engine(doc: JSON, *, read_at: datetime) -> ContainerStats:
    """Compute a ContainerStats from one ``stream=false`` engine stats document.

    The counters are read like any sample; CPU % comes from the engine's own previous
    reading in ``precpu_stats``.
    """
    sample = sample_from_engine(doc, read_at=read_at)
    cpu, online = cpu_percent(doc.get("cpu_stats") or {}, doc.get("precpu_stats") or {})
    return ContainerStats(
        read_at=read_at,
        cpu_percent=round(cpu, 2),
        online_cpus=online,
        memory_used=sample.memory_used,
        memory_limit=sample.memory_limit,
        memory_percent=memory_percent(sample.memory_used, sample.memory_limit),
        net_rx=sample.net_rx,
        net_tx=sample.net_tx,
        block_read=sample.block_read,
        block_write=sample.block_write,
        pids=sample.pids,
    )


def sample_from_engine(doc: JSON, *, read_at: datetime) -> StatsSample:
    """Extract the cumulative counters of one (one-shot) engine stats document."""
    cpu = doc.get("cpu_stats") or {}
    memory = doc.get("memory_stats") or {}
    rx, tx = network_totals(doc.get("networks"))
    read, write = block_totals(doc.get("blkio_stats"))
    return StatsSample(
        read_at=read_at,
        cpu_total=int((cpu.get("cpu_usage") or {}).get("total_usage") or 0),
        # Absent when the engine could not read /proc/stat (or the container just stopped).
        system_cpu=int(cpu.get("system_cpu_usage") or 0),
        online_cpus=online_cpus(cpu),
        memory_used=memory_used(memory),
        memory_limit=int(memory.get("limit") or 0),
        net_rx=rx,
        net_tx=tx,
        block_read=read,
        block_write=write,
        pids=int((doc.get("pids_stats") or {}).get("current") or 0),
    )


def cpu_percent_between(previous: StatsSample, current: StatsSample) -> float | None:
    """CPU use between two samples, in percent of one core times the online CPUs.

    None when it cannot be known: no host CPU time passed between the samples, or the
    container's counter went backwards (it restarted, so the two samples are of different runs).
    """
    cpu_delta = current.cpu_total - previous.cpu_total
    system_delta = current.system_cpu - previous.system_cpu
    if cpu_delta < 0 or system_delta <= 0 or previous.system_cpu <= 0:
        return None
    return round(cpu_delta / system_delta * current.online_cpus * 100.0, 2)


def rate(previous: int, current: int, seconds: float) -> float | None:
    """Bytes per second between two cumulative totals; None when unknowable.

    A total that went down means the counter restarted (container restart, interface
    recreated): a negative rate would be nonsense, so the rate is unknown until the next sample.
    """
    if seconds <= 0 or current < previous:
        return None
    return round((current - previous) / seconds, 1)


def metrics_between(previous: StatsSample | None, current: StatsSample) -> ContainerMetrics:
    """The metrics shown for ``current``; rates and CPU need ``previous`` (else None).

    Args:
        previous: the sampler's previous sample of the same container run, if any.
        current: the sample just taken.
    """
    used, limit = current.memory_used, current.memory_limit
    cpu = net_rx = net_tx = blk_read = blk_write = None
    if previous is not None:
        # The engine's read times, not ours: they say when the counters were really read.
        seconds = (current.read_at - previous.read_at).total_seconds()
        cpu = cpu_percent_between(previous, current)
        net_rx = rate(previous.net_rx, current.net_rx, seconds)
        net_tx = rate(previous.net_tx, current.net_tx, seconds)
        blk_read = rate(previous.block_read, current.block_read, seconds)
        blk_write = rate(previous.block_write, current.block_write, seconds)
    return ContainerMetrics(
        read_at=current.read_at,
        cpu_percent=cpu,
        memory_used=used,
        memory_limit=limit,
        memory_percent=memory_percent(used, limit),
        net_rx_rate=net_rx,
        net_tx_rate=net_tx,
        block_read_rate=blk_read,
        block_write_rate=blk_write,
        pids=current.pids,
    )
