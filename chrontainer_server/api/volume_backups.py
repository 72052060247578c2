"""Volume backup (a streamed .tar.gz download) and restore (a streamed upload)."""

from __future__ import annotations

from .spec import ApiRoutes

__all__ = ["routes"]

routes = ApiRoutes(tag="volumes")
