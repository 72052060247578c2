"""Container archives (``/containers/{id}/archive``) and image import: what the volume
file browser, backup and restore read and write through a helper container."""

from __future__ import annotations

from .connection import EngineConnection


class ArchiveCalls(EngineConnection):
    """The engine calls of this concept, mixed into ``DockerHost``."""
