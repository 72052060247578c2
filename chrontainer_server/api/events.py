"""Events: see issue 5 (being built)."""

from __future__ import annotations

from .spec import ApiRoutes

routes = ApiRoutes(tag="events")
