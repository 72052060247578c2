"""What the containers dashboard shows: its filters, its rows and groups, a row's details.

Pure functions and small view models, no I/O: :mod:`.dashboard` fetches from the core and
renders these with the ``containers_*.html`` templates. Text that the page's script also
computes (CPU and memory cells updated live from ``metrics.sampled``) is formatted the same
way in ``static/containers.js`` (sizes by ``size()`` in ``static/api.js``); keep both in step.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import voluptuous as vol

from chrontainer_core import Container, ContainerMetrics, ContainerState
from chrontainer_core.containers import ContainerFilter
from chrontainer_core.models import ContainerMeta, HostState, Tag
from chrontainer_core.tag_rules import WebUrl
from chrontainer_core.updates.models import UpdateCheck, UpdateState

__all__ = [
    "ACTIONS_BY_STATE",
    "DashboardQuery",
    "DetailsView",
    "EnvRow",
    "Group",
    "HealthEntry",
    "PortLink",
    "Row",
    "duration",
    "engine_address",
    "env_rows",
    "group_key",
    "group_rows",
    "health_log",
    "make_row",
    "port_links",
    "row_dom_id",
    "safe_web_url",
    "search_text",
    "size",
    "update_note",
]

GROUPINGS: Final = ("host", "project")
MAX_QUERY: Final = 256
# Shown masked (until revealed) to operators and admins: names that usually hold secrets.
SECRET_NAME: Final = re.compile(
    r"PASS|PWD|SECRET|TOKEN|KEY|CREDENTIAL|AUTH|PRIVATE|SALT|COOKIE|SESSION|DSN", re.IGNORECASE
)
HEALTH_ENTRIES: Final = 5
HEALTH_OUTPUT_CHARS: Final = 500
# What each state allows; the shared actions menu shows only these (stale rows: none).
# Keep in step with chrontainer_core.containers' transition rules.
_STOPPED_ACTIONS: Final = ("start", "restart", "rename", "remove")
ACTIONS_BY_STATE: Final[Mapping[ContainerState, tuple[str, ...]]] = {
    ContainerState.RUNNING: ("stop", "restart", "pause", "kill", "rename", "remove"),
    ContainerState.PAUSED: ("unpause", "stop", "restart", "rename", "remove"),
    ContainerState.RESTARTING: ("stop", "kill", "rename", "remove"),
    ContainerState.EXITED: _STOPPED_ACTIONS,
    ContainerState.CREATED: _STOPPED_ACTIONS,
    ContainerState.DEAD: ("rename", "remove"),
    ContainerState.REMOVING: (),
}


def _clip(value: str | None) -> str:
    return (value or "").strip()[:MAX_QUERY]


@dataclass(frozen=True, slots=True, kw_only=True)
class DashboardQuery:
    """The page's filters (a GET form); empty strings mean "any".

    Attributes:
        host: a host slug.
        state: a container state.
        label: ``key`` or ``key=value``.
        image: a case-insensitive substring of the image.
        tag: a tag name (case-insensitive).
        q: free text, a case-insensitive substring of the name, image or compose project.
        group: ``host`` (default) or ``project``.
    """

    host: str = ""
    state: str = ""
    label: str = ""
    image: str = ""
    tag: str = ""
    q: str = ""
    group: str = "host"

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> DashboardQuery:
        """Read the filters from a query string; values that cannot be valid are dropped.

        A page must never fail on a hand-edited URL: an unknown state or grouping is ignored
        rather than refused.
        """
        state = _clip(query.get("state"))
        group = _clip(query.get("group"))
        return cls(
            host=_clip(query.get("host")),
            state=state if state in {s.value for s in ContainerState} else "",
            label=_clip(query.get("label")),
            image=_clip(query.get("image")),
            tag=_clip(query.get("tag")),
            q=_clip(query.get("q")),
            group=group if group in GROUPINGS else "host",
        )

    @property
    def filtered(self) -> bool:
        """True when any filter (not the grouping) narrows the list."""
        return any((self.host, self.state, self.label, self.image, self.tag, self.q))

    def encoded(self) -> str:
        """The filters as a query string (without ``?``), defaults left out."""
        pairs = {k: getattr(self, k) for k in ("q", "host", "state", "label", "image", "tag")}
        if self.group != "host":
            pairs["group"] = self.group
        return urlencode({k: v for k, v in pairs.items() if v})

    def matches(self, c: Container, meta: ContainerMeta) -> bool:
        """Whether a container (with its tags) passes every filter."""
        base = ContainerFilter(
            host=self.host or None,
            state=ContainerState(self.state) if self.state else None,
            label=self.label or None,
        )
        if not base.matches(c):
            return False
        if self.image and self.image.lower() not in c.image.lower():
            return False
        if self.tag and not any(t.name.casefold() == self.tag.casefold() for t in meta.tags):
            return False
        return not self.q or self.q.lower() in search_text(c)


def search_text(c: Container) -> str:
    """What the free-text search looks in (also sent to the page for instant filtering)."""
    return " ".join(filter(None, (c.name, c.image, c.compose_project))).lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class PortLink:
    """A published port; ``href`` is set for TCP ports (a guess that it speaks HTTP)."""

    label: str
    href: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One container as its dashboard row shows it."""

    c: Container
    dom_id: str
    group: str
    meta: ContainerMeta
    cpu: str
    memory: str
    uptime: str
    ports: tuple[PortLink, ...]
    actions: bool
    search: str
    web_url: str | None
    update: UpdateCheck | None = None

    @property
    def update_available(self) -> bool:
        """The last check found a newer image: the row shows the update badge."""
        return self.update is not None and self.update.state is UpdateState.AVAILABLE


@dataclass(frozen=True, slots=True, kw_only=True)
class Group:
    """Rows under one heading: a host, or a compose project."""

    key: str
    label: str
    rows: list[Row]
    host: HostState | None = None


def row_dom_id(host: str, container_id: str) -> str:
    """The row's stable DOM id; the script derives the same from an event's host and id."""
    return f"c-{host}-{container_id[:12]}"


def engine_address(host: HostState, browser_host: str) -> str:
    """Where a published port of ``host`` is reachable from the browser.

    A ``tcp://`` engine publishes on its own address; a local socket's engine runs on the
    machine the browser reached this server at.
    """
    address = browser_host
    if host.url.startswith("tcp://"):
        address = urlsplit("http://" + host.url.removeprefix("tcp://")).hostname or browser_host
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


def port_links(c: Container, address: str) -> tuple[PortLink, ...]:
    """Published ports once each (the engine lists IPv4 and IPv6 bindings separately)."""
    seen: set[tuple[int, str]] = set()
    links: list[PortLink] = []
    for p in sorted(c.ports, key=lambda p: (p.host_port or 0, p.protocol)):
        if p.host_port is None or (p.host_port, p.protocol) in seen:
            continue
        seen.add((p.host_port, p.protocol))
        suffix = "" if p.protocol == "tcp" else f"/{p.protocol}"
        href = f"http://{address}:{p.host_port}" if p.protocol == "tcp" else None
        links.append(PortLink(label=f"{p.host_port}:{p.container_port}{suffix}", href=href))
    return tuple(links)


def accepts(validator: Callable[[Any], Any], value: object) -> bool:
    """True when the core's validator accepts ``value``.

    What is rendered as a link or written into CSS is checked again here, by the very rule
    that checked it on the way in (:mod:`chrontainer_core.tag_rules`), never a copy of it.
    """
    try:
        validator(value)
    except vol.Invalid:
        return False
    return True


def safe_web_url(url: str | None) -> str | None:
    """A web-UI link only if it is http(s): anything else (javascript:) is never a link."""
    return url if accepts(WebUrl(), url) else None


def duration(since: datetime, now: datetime) -> str:
    """A short relative duration: ``45 s``, ``12 min``, ``3 h``, ``5 d``."""
    seconds = max(int((now - since).total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def size(n: int) -> str:
    """Bytes in binary units with one decimal: ``512 B``, ``12.3 MiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover - the loop returns at GiB


def make_row(
    c: Container,
    *,
    metrics: ContainerMetrics | None,
    meta: ContainerMeta,
    group: str,
    address: str,
    now: datetime | None = None,
    update: UpdateCheck | None = None,
) -> Row:
    """Everything the row template needs, computed once."""
    running = c.state is ContainerState.RUNNING
    uptime = ""
    if running and c.started_at is not None:
        uptime = duration(c.started_at, now or datetime.now(UTC))
    cpu = "—"
    if metrics is not None and metrics.cpu_percent is not None:
        cpu = f"{metrics.cpu_percent:.1f} %"
    return Row(
        c=c,
        dom_id=row_dom_id(c.host, c.id),
        group=group,
        meta=meta,
        cpu=cpu if running else "—",
        memory=size(metrics.memory_used) if running and metrics is not None else "—",
        uptime=uptime,
        ports=port_links(c, address),
        # A stale row's host is offline: nothing can be done to it until it is back.
        actions=not c.stale and bool(ACTIONS_BY_STATE.get(c.state)),
        search=search_text(c),
        web_url=safe_web_url(meta.web_url),
        update=update,
    )


# What a check found, for people; never an alarm: only "available" gets the row's badge.
_UPDATE_NOTES: Final = {
    UpdateState.UP_TO_DATE: "up to date",
    UpdateState.AVAILABLE: "a newer image is published",
    UpdateState.PINNED: "pinned to a digest: never updated",
    UpdateState.LOCAL: "a local image: no registry to check",
    UpdateState.ERROR: "could not check",
}


def update_note(check: UpdateCheck | None) -> str:
    """One line on a container's last update check (``not checked yet`` without one)."""
    if check is None:
        return "not checked yet"
    note = _UPDATE_NOTES[check.state]
    if check.state is UpdateState.ERROR and check.error:
        note = f"{note}: {check.error}"
    return note


def group_key(c: Container, grouping: str) -> str:
    """The heading a container goes under: its host, or its compose project ("" for none)."""
    return c.host if grouping == "host" else (c.compose_project or "")


def group_rows(
    rows: Iterable[Row], grouping: str, hosts: Mapping[str, HostState], *, every_host: bool
) -> list[Group]:
    """Rows in groups sorted by heading (containers outside any project last).

    With ``every_host`` (an unfiltered list grouped by host) a host without containers gets
    its heading too, so an empty or offline host is visible and a new container has a place.
    """
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    if grouping == "host":
        ordered = sorted(set(groups) | (set(hosts) if every_host else set()))
        return [Group(key=k, label=hosts[k].name if k in hosts else k, rows=groups.get(k, []),
                      host=hosts.get(k)) for k in ordered]
    keys = sorted(groups, key=lambda k: (k == "", k.lower()))
    return [Group(key=k, label=k or "No compose project", rows=groups[k]) for k in keys]


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvRow:
    """An environment variable as the details show it; ``value`` is None when not sent."""

    name: str
    value: str | None
    secret: bool


def env_rows(c: Container, *, hide_values: bool) -> list[EnvRow]:
    """Environment variables for the details: viewers get names only (values never sent)."""
    return [EnvRow(name=v.name, value=None if hide_values else v.value,
                   secret=bool(SECRET_NAME.search(v.name))) for v in c.env]


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthEntry:
    """One healthcheck run from the inspect document's ``State.Health.Log``."""

    start: str
    exit_code: str
    output: str


def health_log(document: Mapping[str, Any]) -> list[HealthEntry]:
    """The last few healthcheck runs, newest first; tolerant of missing or odd fields."""
    state = document.get("State")
    health = state.get("Health") if isinstance(state, dict) else None
    log = health.get("Log") if isinstance(health, dict) else None
    if not isinstance(log, list):
        return []
    entries = []
    for item in reversed(log[-HEALTH_ENTRIES:]):
        if not isinstance(item, dict):
            continue
        output = str(item.get("Output") or "").strip()
        entries.append(HealthEntry(
            start=str(item.get("Start") or "")[:19].replace("T", " "),
            exit_code=str(item.get("ExitCode", "")),
            output=output[:HEALTH_OUTPUT_CHARS],
        ))
    return entries


@dataclass(frozen=True, slots=True, kw_only=True)
class DetailsView:
    """What the details fragment shows of one container."""

    c: Container
    dom_id: str
    env: list[EnvRow]
    hide_values: bool
    health: list[HealthEntry]
    health_error: str | None
    meta: ContainerMeta
    all_tags: list[Tag]
    ports: tuple[PortLink, ...]
    web_url: str | None
    update: UpdateCheck | None = None

    @property
    def update_note(self) -> str:
        """What the last update check found, for people."""
        return update_note(self.update)
