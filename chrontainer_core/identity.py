"""Container identity (DESIGN §3a): the key that survives recreation.

Schedules, scopes, tags, links and MQTT entities refer to ``host slug + container key``, never
to a container id, because ids change every time a container is recreated (updates, compose).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Container

ID_LABEL = "chrontainer.id"
# Chrontainer's own short-lived helper containers (created, never started: the volume file
# browser, backup and restore read and write through them) carry this label. They are no
# user's containers: container lists leave them out.
HELPER_LABEL = "chrontainer.helper"

# During an update the new container is created, and the old one renamed, under a transient
# name: "<name>-chrontainer-new-<8 hex>" / "-old-". Such a container is keyed by its own name
# and counts as no compose replica, so the original key stays with whichever container holds
# the original name, and renames to and from transient names move nothing (see events.py).
_TRANSIENT = re.compile(r"-chrontainer-(?:new|old)-[0-9a-f]{8}$")


def transient_name(name: str, role: str, token: str) -> str:
    """The transient name of an update's ``role`` ("new" or "old") container."""
    return f"{name}-chrontainer-{role}-{token}"


def is_transient(name: str) -> bool:
    """Whether ``name`` is an update's transient name (see :func:`transient_name`)."""
    return _TRANSIENT.search(name) is not None


def container_key(
    *,
    name: str,
    labels: Mapping[str, str],
    project: str | None,
    service: str | None,
    number: int | None,
    oneoff: bool,
    replicas: int,
) -> str:
    """Return the stable key of a container.

    Order: the ``chrontainer.id`` label; else compose ``project_service`` (with ``_N`` only
    when the service runs more than one replica; one-off ``compose run`` containers are
    excluded because they are throwaway); else the container name.
    """
    if is_transient(name):
        return name
    explicit = labels.get(ID_LABEL, "").strip()
    if explicit:
        return explicit
    if project and service and not oneoff:
        base = f"{project}_{service}"
        if replicas > 1 and number is not None:
            return f"{base}_{number}"
        return base
    return name


def compose_group(
    project: str | None, service: str | None, oneoff: bool
) -> tuple[str, str] | None:
    """The (project, service) a container counts as a replica of, or None."""
    if project and service and not oneoff:
        return (project, service)
    return None


def rekey(containers: list[Container]) -> list[Container]:
    """Recompute keys across one host's containers, where the replica count decides ``_N``."""
    replicas: dict[tuple[str, str], int] = {}
    for c in containers:
        group = compose_group(c.compose_project, c.compose_service, c.compose_oneoff)
        if group is not None and not is_transient(c.name):
            replicas[group] = replicas.get(group, 0) + 1
    out = []
    for c in containers:
        group = compose_group(c.compose_project, c.compose_service, c.compose_oneoff)
        key = container_key(
            name=c.name,
            labels=c.labels,
            project=c.compose_project,
            service=c.compose_service,
            number=c.compose_number,
            oneoff=c.compose_oneoff,
            replicas=replicas.get(group, 1) if group else 1,
        )
        out.append(c if key == c.key else replace(c, key=key))
    return out
