"""Alembic migration scripts; run them through :mod:`chrontainer_core.store.migrate`."""
