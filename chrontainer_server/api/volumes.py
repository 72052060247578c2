"""Volumes: the cross-host list, inspect, create, delete and prune."""

from __future__ import annotations

from .spec import ApiRoutes

__all__ = ["routes"]

routes = ApiRoutes(tag="volumes")
