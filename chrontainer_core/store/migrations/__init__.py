"""Alembic migration scripts; run them through :mod:`chrontainer_core.store.migrate`."""

from typing import Final

# The newest revision. Kept here so the daemon can tell "schema is current" without importing
# alembic; a test checks it against alembic's own idea of the head, so it cannot drift.
HEAD: Final = "0011"
