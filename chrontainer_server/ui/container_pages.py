"""One container's pages: logs viewer, inspect, processes."""

from __future__ import annotations

from aiohttp import web

__all__ = ["setup"]


def setup(app: web.Application) -> None:
    """Add the container pages' routes."""
