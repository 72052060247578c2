"""Persistence: the async database handle, the tables, migrations and repositories."""

from chrontainer_core.store.db import Database, bump_change_counter, read_change_counter
from chrontainer_core.store.hosts import HostRepository
from chrontainer_core.store.lock import InstanceLock

__all__ = [
    "Database",
    "HostRepository",
    "InstanceLock",
    "bump_change_counter",
    "read_change_counter",
]
