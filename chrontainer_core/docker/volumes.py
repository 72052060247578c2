"""Volumes: list, inspect, create, remove, prune (``/volumes``)."""

from __future__ import annotations

from .connection import EngineConnection


class VolumeCalls(EngineConnection):
    """The engine calls of this concept, mixed into ``DockerHost``."""
