"""Fresh SQLite databases at the schema's head, without running alembic for each test.

A migration run takes about 0.3 s and hundreds of tests each need a fresh database: the schema
is migrated once per session into a template file, and each test gets a copy of it (after a
run, the template is one file in rollback-journal mode, so a file copy is the whole database).
Tests of the migrations themselves (tests/core/test_store.py) still run alembic.
"""

from __future__ import annotations

import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from chrontainer_core.store import migrate

_PREFIX = "sqlite+aiosqlite:///"
_template: Path | None = None


def migrated(database_url: str) -> None:
    """Create the SQLite database of ``database_url`` at the schema's head (a copy of the
    session's template); like ``migrate.upgrade``, leave one that exists alone (a test
    restarting a server on its data, which an earlier call made at the head)."""
    global _template
    if not database_url.startswith(_PREFIX):
        raise ValueError(f"not a SQLite URL: {database_url}")
    target = Path(database_url.removeprefix(_PREFIX))
    if target.exists():
        return
    if _template is None:
        path = Path(tempfile.mkdtemp(prefix="ct-db-template-")) / "template.db"
        # In a thread of its own: alembic runs an event loop, and callers may be inside one.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(migrate.upgrade, _PREFIX + str(path)).result()
        _template = path
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_template, target)
