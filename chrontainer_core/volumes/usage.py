"""Which containers use a volume: read from the container cache, never from the engine."""

from __future__ import annotations

from collections.abc import Iterable

from ..models import Container


def volume_users(containers: Iterable[Container], name: str) -> list[Container]:
    """The containers (any state) among ``containers`` that mount the volume ``name``."""
    return [c for c in containers
            if any(m.type == "volume" and m.name == name for m in c.mounts)]
