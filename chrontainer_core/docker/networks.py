"""Networks: list, inspect, create, remove, connect, disconnect, prune (``/networks``)."""

from __future__ import annotations

from .connection import EngineConnection


class NetworkCalls(EngineConnection):
    """The engine calls of this concept, mixed into ``DockerHost``."""
