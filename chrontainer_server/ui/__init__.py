"""The web UI: server-rendered pages (Jinja2), static files and the settings form.

``setup(app)`` adds every page route; see :mod:`chrontainer_server.ui.views`.
"""

from .views import setup

__all__ = ["setup"]
