"""Engine JSON -> typed models. CamelCase ends here.

Every function takes the engine's decoded JSON for one object and returns a model from
``chrontainer_core.models``. Nothing outside ``chrontainer_core.docker`` sees engine JSON except
the inspect view, which hands the document through unmodified on purpose.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..identity import container_key
from ..metrics.calc import sample_from_engine, stats_from_engine
from ..models import (
    Container,
    ContainerState,
    ContainerStats,
    DiskUsage,
    DiskUsageCategory,
    EngineVersion,
    EnvVar,
    Health,
    HostInfo,
    HubSearchResult,
    Image,
    ImageDiskUsage,
    ImageHistoryEntry,
    Mount,
    NetworkAttachment,
    PortBinding,
    ProcessList,
    PruneResult,
    RepositoryUsage,
    RestartPolicy,
    StatsSample,
)

JSON = dict[str, Any]

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_NUMBER = "com.docker.compose.container-number"
COMPOSE_ONEOFF = "com.docker.compose.oneoff"

# The engine writes this for "never" (e.g. FinishedAt of a container that never stopped).
_ZERO_TIME_PREFIX = "0001-01-01"


def parse_time(value: str | None) -> datetime | None:
    """Parse an engine RFC 3339 timestamp (nanosecond precision) into an aware UTC datetime."""
    if not value or value.startswith(_ZERO_TIME_PREFIX):
        return None
    text = value.rstrip("Z")
    offset = ""
    if "+" in text[10:]:
        text, offset = text.rsplit("+", 1)
        offset = "+" + offset
    elif text.count("-") > 2:
        text, offset = text.rsplit("-", 1)
        offset = "-" + offset
    if "." in text:
        base, frac = text.split(".", 1)
        text = f"{base}.{frac[:6]}"
    parsed = datetime.fromisoformat(text + (offset or "+00:00"))
    return parsed.astimezone(UTC)


def _state(state: JSON) -> ContainerState:
    try:
        return ContainerState(str(state.get("Status", "")).lower())
    except ValueError:
        return ContainerState.DEAD


def _health(state: JSON) -> Health | None:
    health = state.get("Health") or {}
    status = health.get("Status")
    if not status or status == "none":
        return None
    try:
        return Health(status)
    except ValueError:
        return None


def _ports(ports: JSON | None) -> tuple[PortBinding, ...]:
    """Parse ``NetworkSettings.Ports``.

    Shape: ``{"80/tcp": [{"HostIp": "", "HostPort": "8080"}] | None}``.
    """
    out: list[PortBinding] = []
    for spec, bindings in sorted((ports or {}).items()):
        port_text, _, proto = spec.partition("/")
        port = int(port_text)
        if not bindings:
            out.append(PortBinding(container_port=port, protocol=proto or "tcp"))
            continue
        for binding in bindings:
            host_port = binding.get("HostPort")
            out.append(
                PortBinding(
                    container_port=port,
                    protocol=proto or "tcp",
                    host_ip=binding.get("HostIp") or None,
                    host_port=int(host_port) if host_port else None,
                )
            )
    return tuple(out)


def _networks(networks: JSON | None) -> tuple[NetworkAttachment, ...]:
    return tuple(
        NetworkAttachment(
            network=name,
            ip_address=net.get("IPAddress") or None,
            ipv6_address=net.get("GlobalIPv6Address") or None,
            gateway=net.get("Gateway") or None,
            mac_address=net.get("MacAddress") or None,
            aliases=tuple(net.get("Aliases") or ()),
        )
        for name, net in sorted((networks or {}).items())
    )


def _mounts(mounts: list[JSON] | None) -> tuple[Mount, ...]:
    return tuple(
        Mount(
            type=m.get("Type", ""),
            source=m.get("Source", ""),
            destination=m.get("Destination", ""),
            name=m.get("Name") or None,
            mode=m.get("Mode", ""),
            rw=bool(m.get("RW", True)),
        )
        for m in mounts or ()
    )


def _env(env: list[str] | None) -> tuple[EnvVar, ...]:
    out = []
    for item in env or ():
        name, _, value = item.partition("=")
        out.append(EnvVar(name=name, value=value))
    return tuple(out)


def parse_container(host: str, doc: JSON) -> Container:
    """Parse ``GET /containers/{id}/json``.

    The key is computed as if the container were its service's only replica; the cache
    recomputes keys across the host (``identity.rekey``) because only it sees the replicas.
    """
    config = doc.get("Config") or {}
    state = doc.get("State") or {}
    host_config = doc.get("HostConfig") or {}
    settings = doc.get("NetworkSettings") or {}
    labels: dict[str, str] = dict(config.get("Labels") or {})
    name = str(doc.get("Name", "")).lstrip("/")
    number = labels.get(COMPOSE_NUMBER)
    restart = host_config.get("RestartPolicy") or {}
    exit_code = state.get("ExitCode")
    container_state = _state(state)
    project = labels.get(COMPOSE_PROJECT) or None
    service = labels.get(COMPOSE_SERVICE) or None
    oneoff = labels.get(COMPOSE_ONEOFF, "").lower() == "true"
    compose_number = int(number) if number and number.isdigit() else None
    return Container(
        host=host,
        id=doc["Id"],
        name=name,
        key=container_key(
            name=name,
            labels=labels,
            project=project,
            service=service,
            number=compose_number,
            oneoff=oneoff,
            replicas=1,
        ),
        image=str(config.get("Image", "")),
        image_id=str(doc.get("Image", "")),
        command=" ".join([str(doc.get("Path", "")), *map(str, doc.get("Args") or ())]).strip(),
        created=parse_time(doc.get("Created")) or datetime.fromtimestamp(0, UTC),
        state=container_state,
        health=_health(state),
        exit_code=int(exit_code) if exit_code is not None else None,
        started_at=parse_time(state.get("StartedAt")),
        finished_at=parse_time(state.get("FinishedAt")),
        restart_count=int(doc.get("RestartCount") or 0),
        oom_killed=bool(state.get("OOMKilled")),
        tty=bool(config.get("Tty")),
        labels=labels,
        compose_project=project,
        compose_service=service,
        compose_number=compose_number,
        compose_oneoff=oneoff,
        ports=_ports(settings.get("Ports")),
        networks=_networks(settings.get("Networks")),
        mounts=_mounts(doc.get("Mounts")),
        env=_env(config.get("Env")),
        restart_policy=RestartPolicy(
            name=restart.get("Name") or "no",
            maximum_retry_count=int(restart.get("MaximumRetryCount") or 0),
        ),
        network_mode=str(host_config.get("NetworkMode") or ""),
    )


def parse_version(doc: JSON) -> EngineVersion:
    """Parse ``GET /version``."""
    return EngineVersion(
        version=str(doc.get("Version", "")),
        api_version=str(doc.get("ApiVersion", "")),
        os=str(doc.get("Os", "")),
        arch=str(doc.get("Arch", "")),
    )


def parse_stats(doc: JSON) -> ContainerStats:
    """Parse ``GET /containers/{id}/stats?stream=false`` (the math lives in metrics.calc)."""
    return stats_from_engine(doc, read_at=parse_time(doc.get("read")) or datetime.now(UTC))


def parse_stats_sample(doc: JSON) -> StatsSample | None:
    """Parse one ``stats?stream=false(&one-shot=true)`` reading into its raw counters.

    None when the engine has no reading: for a container that is not running it answers with
    zeroed counters and the zero time ``0001-01-01T00:00:00Z`` as ``read``.
    """
    read_at = parse_time(doc.get("read"))
    if read_at is None:
        return None
    return sample_from_engine(doc, read_at=read_at)


def parse_api_version(text: str) -> tuple[int, int]:
    """``"1.41"`` or ``"v1.41"`` -> ``(1, 41)``; ``(0, 0)`` when unknown (treated as oldest)."""
    major, _, minor = text.strip().lstrip("v").partition(".")
    if not (major.isdigit() and minor.isdigit()):
        return (0, 0)
    return (int(major), int(minor))


def parse_top(doc: JSON) -> ProcessList:
    """Parse ``GET /containers/{id}/top``."""
    return ProcessList(
        titles=tuple(str(t) for t in doc.get("Titles") or ()),
        processes=tuple(tuple(str(c) for c in row) for row in doc.get("Processes") or ()),
    )


def parse_info(doc: JSON) -> HostInfo:
    """Parse ``GET /info``."""
    return HostInfo(
        name=str(doc.get("Name", "")),
        os=str(doc.get("OperatingSystem", "")),
        os_type=str(doc.get("OSType", "")),
        kernel=str(doc.get("KernelVersion", "")),
        architecture=str(doc.get("Architecture", "")),
        cpus=int(doc.get("NCPU") or 0),
        memory=int(doc.get("MemTotal") or 0),
        engine_version=str(doc.get("ServerVersion", "")),
        cgroup_version=str(doc.get("CgroupVersion", "")),
        storage_driver=str(doc.get("Driver", "")),
        containers=int(doc.get("Containers") or 0),
        containers_running=int(doc.get("ContainersRunning") or 0),
        containers_paused=int(doc.get("ContainersPaused") or 0),
        containers_stopped=int(doc.get("ContainersStopped") or 0),
        images=int(doc.get("Images") or 0),
    )


def _category(entries: list[tuple[int, bool]]) -> DiskUsageCategory:
    """Sum (size, in_use) pairs: everything not in use counts as reclaimable."""
    return DiskUsageCategory(
        count=len(entries),
        size=sum(size for size, _ in entries),
        reclaimable=sum(size for size, used in entries if not used),
    )


def parse_disk_usage(doc: JSON, *, read_at: datetime) -> DiskUsage:
    """Parse ``GET /system/df``.

    Image sizes count shared layers once per image, so the images total uses the engine's
    ``LayersSize`` (the real bytes on disk) when present; reclaimable is the unique size of
    images no container uses.
    """
    images = [
        (int(i.get("Size") or 0) - max(int(i.get("SharedSize") or 0), 0),
         int(i.get("Containers") or 0) > 0)
        for i in doc.get("Images") or ()
    ]
    image_cat = _category(images)
    layers = doc.get("LayersSize")
    if layers is not None:
        image_cat = DiskUsageCategory(count=image_cat.count, size=int(layers),
                                      reclaimable=min(image_cat.reclaimable, int(layers)))
    containers = [
        (int(c.get("SizeRw") or 0), str(c.get("State", "")) == "running")
        for c in doc.get("Containers") or ()
    ]
    volumes = []
    for v in doc.get("Volumes") or ():
        usage = v.get("UsageData") or {}
        # -1 means "not computed" (non-local drivers): count the volume, not its size.
        volumes.append((max(int(usage.get("Size") or 0), 0),
                        int(usage.get("RefCount") or 0) > 0))
    cache = [
        (int(b.get("Size") or 0), bool(b.get("InUse")))
        for b in doc.get("BuildCache") or ()
    ]
    return DiskUsage(
        read_at=read_at,
        images=image_cat,
        containers=_category(containers),
        volumes=_category(volumes),
        build_cache=_category(cache),
    )


def parse_image_prune(host: str, doc: JSON | None) -> PruneResult:
    """``POST /images/prune``'s answer: ``ImagesDeleted`` entries (``Deleted`` or ``Untagged``)
    and ``SpaceReclaimed``; the engine sends ``null`` for an empty list."""
    doc = doc or {}
    entries = doc.get("ImagesDeleted") or ()
    return PruneResult(
        host=host,
        deleted=tuple(str(e["Deleted"]) for e in entries if e.get("Deleted")),
        untagged=tuple(str(e["Untagged"]) for e in entries if e.get("Untagged")),
        reclaimed_bytes=int(doc.get("SpaceReclaimed") or 0),
    )


# --- images ----------------------------------------------------------------------------------

# What the engine writes in RepoTags / RepoDigests of an image that has none left.
_NONE_TAG = "<none>:<none>"
_NONE_DIGEST = "<none>@<none>"
NO_REPOSITORY = "<none>"


def split_reference(ref: str) -> tuple[str, str]:
    """``repo:tag`` -> ``(repo, tag)`` and ``repo@digest`` -> ``(repo, digest)``.

    The tag's colon is the last one after the last ``/``: a registry port
    (``127.0.0.1:5999/team/app:v1``) is part of the repository. ``("repo", "")`` when there is
    neither.
    """
    if "@" in ref:
        repo, _, digest = ref.partition("@")
        return repo, digest
    slash, colon = ref.rfind("/"), ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:]
    return ref, ""


def _unix_time(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value or 0), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.fromtimestamp(0, UTC)


def parse_image_summary(host: str, doc: JSON) -> Image:
    """Parse one entry of ``GET /images/json`` (or of ``/system/df``'s ``Images``).

    Tags and digests are sorted, so ``repository`` (that of the first tag, else of the first
    digest) does not depend on the engine's order. ``containers`` stays empty: the image
    service fills it from the container cache.
    """
    tags = sorted(str(t) for t in doc.get("RepoTags") or () if t and t != _NONE_TAG)
    digests = sorted(str(d) for d in doc.get("RepoDigests") or () if d and d != _NONE_DIGEST)
    first = tags[0] if tags else digests[0] if digests else None
    return Image(
        host=host,
        id=str(doc.get("Id", "")),
        tags=tuple(tags),
        digests=tuple(digests),
        repository=split_reference(first)[0] if first else NO_REPOSITORY,
        size=max(int(doc.get("Size") or 0), 0),
        created=_unix_time(doc.get("Created")),
        dangling=not tags,
        labels={str(k): str(v) for k, v in (doc.get("Labels") or {}).items()},
    )


def parse_image_history(docs: list[JSON] | None) -> list[ImageHistoryEntry]:
    """Parse ``GET /images/{name}/history`` (newest layer first, as the engine sends it)."""
    return [
        ImageHistoryEntry(
            id=str(d.get("Id") or "<missing>"),
            created=_unix_time(d.get("Created")),
            created_by=str(d.get("CreatedBy") or ""),
            size=max(int(d.get("Size") or 0), 0),
            comment=str(d.get("Comment") or ""),
            tags=tuple(str(t) for t in d.get("Tags") or () if t and t != _NONE_TAG),
        )
        for d in docs or ()
    ]


def parse_image_delete(docs: list[JSON] | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``DELETE /images/{name}``'s answer -> ``(untagged references, deleted ids)``."""
    entries = docs or ()
    return (tuple(str(e["Untagged"]) for e in entries if e.get("Untagged")),
            tuple(str(e["Deleted"]) for e in entries if e.get("Deleted")))


def parse_hub_search(docs: list[JSON] | None) -> list[HubSearchResult]:
    """Parse ``GET /images/search``: the engine relays Docker Hub's v1 search results
    (``name``, ``description``, ``star_count``, ``is_official``, ``is_automated``)."""
    return [
        HubSearchResult(
            name=str(d.get("name") or ""),
            description=str(d.get("description") or ""),
            stars=max(int(d.get("star_count") or 0), 0),
            official=bool(d.get("is_official")),
            automated=bool(d.get("is_automated")),
        )
        for d in docs or ()
        if d.get("name")
    ]


def parse_image_disk_usage(host: str, doc: JSON) -> ImageDiskUsage:
    """Per-repository image disk use from ``GET /system/df``.

    Each image counts once, under its :attr:`Image.repository`. A repository's ``size`` sums
    its images' full sizes (what ``docker images`` shows, shared base layers included, so the
    repositories may add up to more than the host's total); its ``reclaimable`` sums only the
    *unique* size (``Size - SharedSize``) of its images no container uses, because removing an
    image frees just the layers no other image shares. The host's ``total`` is the engine's
    ``LayersSize`` (every layer once: the real bytes on disk), and its ``reclaimable`` the
    unique sizes of all unused images, at most the total.
    """
    repos: dict[str, list[int]] = {}  # repository -> [images, size, reclaimable]
    reclaimable_total = 0
    for entry in doc.get("Images") or ():
        image = parse_image_summary(host, entry)
        unique_size = image.size - max(int(entry.get("SharedSize") or 0), 0)
        unused = int(entry.get("Containers") or 0) <= 0
        row = repos.setdefault(image.repository, [0, 0, 0])
        row[0] += 1
        row[1] += image.size
        if unused:
            row[2] += max(unique_size, 0)
            reclaimable_total += max(unique_size, 0)
    layers = doc.get("LayersSize")
    total = int(layers) if layers is not None else sum(r[1] for r in repos.values())
    usage = sorted(
        (RepositoryUsage(repository=name, images=n, size=size, reclaimable=free)
         for name, (n, size, free) in repos.items()),
        key=lambda r: (-r.size, r.repository),
    )
    return ImageDiskUsage(host=host, total=total, reclaimable=min(reclaimable_total, total),
                          repositories=tuple(usage))
