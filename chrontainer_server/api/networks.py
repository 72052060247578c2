"""Networks: the cross-host list, inspect, create, delete, connect, disconnect and prune."""

from __future__ import annotations

from .spec import ApiRoutes

__all__ = ["routes"]

routes = ApiRoutes(tag="networks")
