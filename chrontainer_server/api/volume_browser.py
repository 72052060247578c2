"""The read-only volume file browser: directory listings and text previews."""

from __future__ import annotations

from .spec import ApiRoutes

__all__ = ["routes"]

routes = ApiRoutes(tag="volumes")
