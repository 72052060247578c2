"""Test accounts: an admin and an API key, made directly in the database (no HTTP)."""

from __future__ import annotations

from chrontainer_core.store.db import Database
from chrontainer_server.auth.apikeys import ApiKeyStore
from chrontainer_server.auth.passwords import Passwords
from chrontainer_server.auth.roles import Role
from chrontainer_server.auth.users import UserRepository

ADMIN = "admin"
ADMIN_PASSWORD = "admin-test-password"


async def admin_api_key(database_url: str, *, username: str = ADMIN) -> str:
    """Create (or reuse) an admin account and return a fresh admin API key for it."""
    db = Database(database_url)
    try:
        users = UserRepository(db, Passwords())
        found = await users.find(username)
        user = found[0] if found else await users.create(username, ADMIN_PASSWORD, Role.ADMIN)
        secret, _ = await ApiKeyStore(db).create(user.id, name="tests", role_ceiling=Role.ADMIN)
        return secret
    finally:
        await db.close()


def bearer(secret: str) -> dict[str, str]:
    """The Authorization header of an API key."""
    return {"Authorization": f"Bearer {secret}"}
